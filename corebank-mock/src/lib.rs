//! A mock of the bank's core systems, reached by the gateway over real HTTP.
//!
//! It speaks the core's own wire format (a `ret_code` envelope, `_fen` integer amounts, basis
//! points, Beijing-time `yyyyMMddHHmmss` strings), unlike the gateway's, so the gateway's
//! normalising is exercised for real. Behind it is a double-entry ledger in SQLite: every
//! movement is one txn with two postings that net to zero, balances are sums of postings, and
//! `GET /core/ledger/check` audits that at any time.
//!
//! A request goes: `routes` (path table, parameter checks) → `ledger` (the only writer of
//! money; `payment` adds a payment's checks on top of it) or a plain query → `wire`
//! (envelope) / `error` (the one refusal mapping).

mod clock;
mod db;
mod error;
mod faults;
mod ledger;
mod otp;
mod params;
mod password;
mod payment;
mod routes;
mod seed;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;

pub use wire::LedgerCheck;

/// The password every seeded demo customer logs in with (by mobile number or customer number).
pub const DEMO_PASSWORD: &str = "Scenegate#2026";

#[derive(Debug, Clone, Default)]
pub struct CoreBankConfig {
    /// Folder for `corebank.sqlite`; `None` keeps the ledger in memory (tests).
    pub data_dir: Option<PathBuf>,
    /// Write the demo customers, products and six months of history into an empty core.
    pub seed: bool,
}

/// Handle to one core; clones share the connection pool, the clock and the faults.
#[derive(Clone, Debug)]
pub struct CoreBank {
    pool: SqlitePool,
    clock: clock::Clock,
    faults: Arc<faults::Faults>,
}

impl CoreBank {
    /// Creates the folder, database and schema as needed, then seeds once when asked and empty.
    pub async fn open(cfg: CoreBankConfig) -> anyhow::Result<CoreBank> {
        let pool = db::connect(cfg.data_dir.as_deref()).await?;
        seed::ensure_gl(&mut *pool.acquire().await?).await?;
        if cfg.seed {
            seed::seed_once(&pool).await?;
        }
        Ok(CoreBank { pool, clock: clock::Clock::default(), faults: Arc::default() })
    }

    /// Mock-only, for tests: moves this core's clock (and every clone's) forward, e.g. past
    /// a one-time code's expiry or into the next day's payment limit. Whole seconds.
    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(i64::try_from(by.as_secs()).unwrap_or(i64::MAX));
    }

    /// Audits the whole ledger; the same report `GET /core/ledger/check` serves.
    pub async fn ledger_check(&self) -> anyhow::Result<LedgerCheck> {
        ledger::check(&self.pool).await
    }
}

/// Every `/core/...` route, with the core as state. Shared by [`serve`] and tests.
pub fn router(core: CoreBank) -> axum::Router {
    routes::router(core)
}

/// Serves until the listener fails; bind port 0 in tests and read the address back.
pub async fn serve(listener: tokio::net::TcpListener, core: CoreBank) -> std::io::Result<()> {
    axum::serve(listener, router(core)).await
}
