//! State the gateway keeps between requests: the engines behind the domain modules' store
//! traits.
//!
//! Each domain module (consent, grants, payments, idempotency, events, staff, audit) owns the trait
//! of its store; this module owns the implementations, one folder per engine: `sqlite` (the
//! embedded default: one node, one file under the data directory, survives restarts) and
//! `postgres` (cluster mode: many stateless gateways on one database). [`Stores`] is the set
//! of them a gateway or a staff command opens from `[storage]`.

mod memory;
pub mod postgres;
pub mod redis;
mod scratch;
pub mod sqlite;
#[cfg(test)]
pub mod test_support;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

pub use memory::MemoryReplayStore;

use crate::{
    audit::AuditStore,
    consent::ConsentStore,
    events::EventStore,
    grants::{GrantStore, SessionStore},
    idempotency::IdempotencyStore,
    payments::PaymentStore,
    staff::StopStore,
};

/// Every durable store, opened on one engine. Cheap to clone.
#[derive(Clone)]
pub struct Stores {
    pub consents: Arc<dyn ConsentStore>,
    pub grants: Arc<dyn GrantStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub replay: Arc<dyn ReplayStore>,
    pub stops: Arc<dyn StopStore>,
    pub payments: Arc<dyn PaymentStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub events: Arc<dyn EventStore>,
    pub audit: Arc<dyn AuditStore>,
    /// Keys every instance shares; `None` where they live in files (the embedded default).
    pub secrets: Option<Arc<dyn SecretStore>>,
    pub engine: Engine,
}

/// The engine behind a [`Stores`], for health checks and pool figures.
#[derive(Clone, Debug)]
pub enum Engine {
    Sqlite(sqlite::SqliteDb),
    Postgres(sqlx::PgPool),
}

impl Engine {
    /// Answers within `within` whether the database takes a query. On SQLite both paths
    /// are asked: a reader, and the group commit on the writing connection (a stuck or
    /// stopped writer would leave reads answering while every payment waits).
    pub async fn ping(&self, within: Duration) -> Result<(), StoreError> {
        let query = async {
            match self {
                Self::Sqlite(db) => {
                    sqlx::query("SELECT 1").execute(&db.reader).await.map_err(StoreError::from)?;
                    db.batch.write(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(StoreError::from)).await
                }
                Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop).map_err(StoreError::from),
            }
        };
        match tokio::time::timeout(within, query).await {
            Ok(done) => done,
            Err(_) => Err(StoreError::Timeout(format!("no answer within {within:?}"))),
        }
    }

    /// Connection pool figures for `/metrics`: in use, idle, and the configured maximum.
    pub fn record_pool_metrics(&self) {
        let (size, idle, max) = match self {
            // The writer and its readers together.
            Self::Sqlite(db) => {
                let (w, r) = (db.writer.pool(), &db.reader);
                (
                    w.size() + r.size(),
                    w.num_idle() + r.num_idle(),
                    w.options().get_max_connections() + r.options().get_max_connections(),
                )
            }
            Self::Postgres(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        metrics::gauge!("scenegate_db_pool_connections", "state" => "in_use").set(f64::from(size.saturating_sub(idle)));
        metrics::gauge!("scenegate_db_pool_connections", "state" => "idle").set(f64::from(idle));
        metrics::gauge!("scenegate_db_pool_max_connections").set(f64::from(max));
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(_) => f.write_str("sqlite"),
            Self::Postgres(_) => f.write_str("postgres"),
        }
    }
}

/// Settings the stores take from the gateway file.
#[derive(Clone, Copy, Debug)]
pub struct StoreSettings {
    /// How long a request holds its `Idempotency-Key` before another may take it over.
    pub idempotency_lease: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self { idempotency_lease: Duration::from_secs(crate::idempotency::LEASE_SECS.unsigned_abs()) }
    }
}

/// One step of the database schema, applied once and recorded (`_sqlx_migrations`), in
/// version order. Each domain module owns its tables' statements; the composition root
/// (each engine's `MIGRATIONS`) gives each its version. Written `CREATE … IF NOT EXISTS`, so a
/// database created before migrations were recorded takes them without complaint.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub version: i64,
    pub description: &'static str,
    pub statements: &'static [&'static str],
}

/// The steps as sqlx's migrator, which records them in `_sqlx_migrations` (on PostgreSQL
/// under an advisory lock, so instances starting together migrate once).
fn migrator(steps: &[Step], tolerate_later_steps: bool) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr as _;
    let migrations = steps
        .iter()
        .map(|step| {
            let sql = sqlx::AssertSqlSafe(step.statements.join(";\n")).into_sql_str();
            sqlx::migrate::Migration::new(
                step.version,
                step.description.into(),
                sqlx::migrate::MigrationType::Simple,
                sql,
                false,
            )
        })
        .collect();
    let mut migrator = sqlx::migrate::Migrator::with_migrations(migrations);
    migrator.set_ignore_missing(tolerate_later_steps);
    migrator
}

impl Stores {
    /// Every store on one SQLite database (already migrated).
    pub fn sqlite(pool: sqlite::SqliteDb, settings: StoreSettings) -> Self {
        let grants = Arc::new(sqlite::SqliteGrantStore::new(pool.clone()));
        Self {
            consents: Arc::new(sqlite::SqliteConsentStore::new(pool.clone())),
            grants: grants.clone(),
            sessions: grants,
            replay: Arc::new(sqlite::SqliteReplayStore::new(pool.clone())),
            stops: Arc::new(sqlite::SqliteStopStore::new(pool.clone())),
            payments: Arc::new(sqlite::SqlitePaymentStore::new(pool.clone())),
            idempotency: Arc::new(
                sqlite::SqliteIdempotencyStore::new(pool.clone()).with_lease(settings.idempotency_lease),
            ),
            events: Arc::new(sqlite::SqliteEventStore::new(pool.clone())),
            audit: Arc::new(sqlite::SqliteAuditStore::new(pool.clone())),
            secrets: None,
            engine: Engine::Sqlite(pool),
        }
    }

    /// Every store on one PostgreSQL database (already migrated), shared with the other
    /// instances of the cluster, keys included.
    pub fn postgres(pool: sqlx::PgPool, settings: StoreSettings) -> Self {
        let grants = Arc::new(postgres::PgGrantStore::new(pool.clone()));
        Self {
            consents: Arc::new(postgres::PgConsentStore::new(pool.clone())),
            grants: grants.clone(),
            sessions: grants,
            replay: Arc::new(postgres::PgReplayStore::new(pool.clone())),
            stops: Arc::new(postgres::PgStopStore::new(pool.clone())),
            payments: Arc::new(postgres::PgPaymentStore::new(pool.clone())),
            idempotency: Arc::new(
                postgres::PgIdempotencyStore::new(pool.clone()).with_lease(settings.idempotency_lease),
            ),
            events: Arc::new(postgres::PgEventStore::new(pool.clone())),
            audit: Arc::new(postgres::PgAuditStore::new(pool.clone())),
            secrets: Some(Arc::new(postgres::PgSecretStore::new(pool.clone()))),
            engine: Engine::Postgres(pool),
        }
    }

    /// Opens the configured engine, applying pending migrations.
    pub async fn open(storage: &crate::config::StorageConfig, settings: StoreSettings) -> anyhow::Result<Self> {
        match &storage.backend {
            crate::config::StorageBackend::Sqlite => {
                let pool = sqlite::open_migrated(&storage.data_dir.join("gateway.sqlite")).await?;
                Ok(Self::sqlite(pool, settings))
            }
            crate::config::StorageBackend::Postgres(pg) => {
                Ok(Self::postgres(postgres::open_migrated(pg).await?, settings))
            }
        }
    }

    /// Ends every connection (tests reopening the same files).
    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite(pool) => pool.close().await,
            Engine::Postgres(pool) => pool.close().await,
        }
    }
}

/// What went wrong with a store, whatever the engine behind it: callers decide by kind
/// (a conflict is the caller's race to handle, unavailable and timeout are 503s with
/// `Retry-After`), never by an engine's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another writer got there first (a unique key, a changed version).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    /// The engine cannot be reached or refused to work (connection lost, disk full).
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// No connection or answer within the configured wait.
    #[error("state store timed out: {0}")]
    Timeout(String),
    /// A stored value this build cannot read.
    #[error("stored value is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when retrying later may succeed (the engine, not the data, is the problem).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout(_))
    }

    pub fn corrupt(e: impl std::fmt::Display) -> Self {
        Self::Corrupt(e.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut => Self::Timeout("no database connection free within the pool's wait".into()),
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(db.to_string()),
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c == "57014") => Self::Timeout(db.to_string()),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::TypeNotFound { .. } => {
                Self::Corrupt(e.to_string())
            }
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// The embedded default's writer thread speaks to SQLite through rusqlite
/// (`sqlite::writer`): its errors in the same kinds.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Self::NotFound,
            e if sqlite::is_unique_violation(&e) => Self::Conflict(e.to_string()),
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::InvalidColumnName(_) => Self::Corrupt(e.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// Remembers single-use values (assertion `jti`s, later authorisation codes) until they
/// expire, so each can be used once.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records `key` until `expires_at`. Returns false when `key` is already recorded and
    /// not yet expired: the caller must refuse the replay. Atomic across concurrent callers.
    async fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError>;
    /// Drops `key` before it expires: a marker whose holder let go (see the pipeline's
    /// deferred idempotency keys), so the next caller's `first_use` admits it.
    async fn forget(&self, key: &str) -> Result<(), StoreError>;
    /// Drops records expired at `now`; called from a timer so the store stays the size of
    /// the window. Engines that expire keys themselves return 0.
    async fn purge(&self, now: i64) -> Result<u64, StoreError>;
}

/// Secrets every gateway instance must share (the token-signing key set, the pseudonym
/// key), by name. Written once by whichever instance starts first; changed only by staff
/// (rotation), never generated per instance.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The stored value, or `candidate` when none was stored yet (then stored): racing
    /// instances all come back with the same one.
    async fn get_or_insert(&self, name: &str, candidate: &str, now: i64) -> Result<String, StoreError>;
    /// The value and its version (bumped on every change).
    async fn get(&self, name: &str) -> Result<Option<(String, i64)>, StoreError>;
    /// Replaces the value if it is still at `version`; false when another writer changed it.
    async fn replace(&self, name: &str, value: &str, version: i64, now: i64) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every replay store keeps (each engine's tests run it).
    pub(crate) async fn contract(store: &dyn ReplayStore) {
        assert!(store.first_use("a", 100, 10).await.unwrap());
        assert!(!store.first_use("a", 100, 50).await.unwrap(), "replay inside the window must be refused");
        assert!(store.first_use("b", 100, 50).await.unwrap());
        assert!(store.first_use("a", 200, 100).await.unwrap(), "an expired record no longer blocks");
        assert!(store.first_use("c", 300, 100).await.unwrap());
        store.forget("c").await.unwrap();
        store.forget("never-used").await.unwrap();
        assert!(store.first_use("c", 300, 101).await.unwrap(), "a forgotten record no longer blocks");
        assert!(!store.first_use("c", 300, 102).await.unwrap(), "and is recorded again");
    }

    #[tokio::test]
    async fn memory_store_keeps_the_contract() {
        contract(&MemoryReplayStore::default()).await;
    }

    #[tokio::test]
    async fn sqlite_store_keeps_the_contract_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.sqlite");
        contract(&sqlite::SqliteReplayStore::new(sqlite::open(&path).await.unwrap())).await;
        let reopened = sqlite::SqliteReplayStore::new(sqlite::open(&path).await.unwrap());
        assert!(!reopened.first_use("c", 300, 150).await.unwrap());
    }

    /// The embedded default's readers are opened read-only: a write sent to one by mistake
    /// fails instead of bypassing the writer's queue.
    #[tokio::test]
    async fn the_sqlite_readers_refuse_writes_and_the_writer_takes_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite::open_migrated(&dir.path().join("gw.sqlite")).await.unwrap();
        let write = "INSERT INTO replay (key, expires_at) VALUES ('k', 1)";
        assert!(sqlx::query(write).execute(&db.reader).await.is_err(), "a reader wrote");
        sqlx::query(write).execute(&mut *db.writer.acquire().await.unwrap()).await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM replay").fetch_one(&db.reader).await.unwrap();
        assert_eq!(n, 1, "the readers see the writer's commit");
    }

    #[tokio::test]
    async fn concurrent_first_uses_admit_exactly_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(sqlite::SqliteReplayStore::new(
            sqlite::open(&dir.path().join("gw.sqlite")).await.unwrap(),
        ));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let s = store.clone();
                tokio::spawn(async move { s.first_use("same", 100, 1).await.unwrap() })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            admitted += usize::from(t.await.unwrap());
        }
        assert_eq!(admitted, 1);
    }

    #[tokio::test]
    async fn the_gateway_database_migrates_in_order_once_and_adopts_an_older_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.sqlite");
        // A file written before steps were recorded: the foundation's tables, no history.
        {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
            let pool = sqlx::sqlite::SqlitePoolOptions::new().connect_with(options).await.unwrap();
            for statement in sqlite::FOUNDATION.statements {
                sqlx::query(*statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        let expected: Vec<i64> = sqlite::MIGRATIONS.iter().map(|s| s.version).collect();
        assert!(expected.windows(2).all(|w| w[0] < w[1]), "versions strictly increase: {expected:?}");
        for _ in 0..2 {
            let db = sqlite::open_migrated(&path).await.unwrap();
            let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&db.reader)
                .await
                .unwrap();
            assert_eq!(applied, expected, "every step once, also on a second open");
            db.close().await;
        }
    }
}
