//! Cluster mode's durable state: one PostgreSQL database shared by every gateway instance.
//! Each domain's store trait has its PostgreSQL implementation here, one file per domain,
//! mirroring `../sqlite`. Where SQLite serialises writers with `BEGIN IMMEDIATE`, these lock
//! the rows a decision depends on (`SELECT … FOR UPDATE`) or make the decision in one
//! conditional statement, so instances racing on the same consent, key or code cannot both
//! win.

pub mod audit;
pub mod consent;
pub mod events;
pub mod grants;
pub mod idempotency;
pub mod payments;
mod recorder;
pub mod replay;
pub mod scratch;
pub mod secrets;
pub mod staff;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use audit::PgAuditStore;
pub use consent::PgConsentStore;
pub use events::PgEventStore;
pub use grants::PgGrantStore;
pub use idempotency::PgIdempotencyStore;
pub use payments::PgPaymentStore;
pub use replay::PgReplayStore;
pub use scratch::ScratchDatabase;
pub use secrets::PgSecretStore;
pub use staff::PgStopStore;

use super::{Step, StoreError};
use crate::config::PostgresConfig;

pub fn err(e: sqlx::Error) -> StoreError {
    StoreError::from(e)
}

/// The foundation: single-use values, consents, customer grants and sessions, pending
/// one-time codes and staff stops. Integers are `BIGINT` (Unix seconds, minor units),
/// flags `BOOLEAN`; `seq` columns give the insertion order SQLite's `rowid` gives.
const FOUNDATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS replay (key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS replay_by_expiry ON replay (expires_at)",
    "CREATE TABLE IF NOT EXISTS consents (
        id TEXT PRIMARY KEY,
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        partner_id TEXT NOT NULL,
        customer_id TEXT,
        version BIGINT NOT NULL,
        body TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS consents_by_customer ON consents (customer_id, seq)",
    "CREATE INDEX IF NOT EXISTS consents_by_partner ON consents (partner_id, seq)",
    // Customer grants (src/grants): every key is the SHA-256 of a secret handed out.
    "CREATE TABLE IF NOT EXISTS auth_requests (
        key TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        used BOOLEAN NOT NULL DEFAULT FALSE
    )",
    "CREATE TABLE IF NOT EXISTS auth_codes (
        key TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        used BOOLEAN NOT NULL DEFAULT FALSE,
        revoked BOOLEAN NOT NULL DEFAULT FALSE,
        retain_until BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS issued_tokens (
        jti TEXT PRIMARY KEY,
        code_key TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT FALSE
    )",
    "CREATE INDEX IF NOT EXISTS issued_tokens_by_code ON issued_tokens (code_key)",
    "CREATE TABLE IF NOT EXISTS refresh_tokens (
        key TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        consent_id TEXT NOT NULL,
        code_key TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT FALSE
    )",
    "CREATE INDEX IF NOT EXISTS refresh_tokens_by_code ON refresh_tokens (code_key)",
    "CREATE TABLE IF NOT EXISTS customer_sessions (
        key TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS sca_challenges (
        session_key TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS partner_stops (
        partner_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        at BIGINT NOT NULL
    )",
];

/// Keys every instance must share (the token-signing keys, the pseudonym key): one row per
/// name, written once by whichever instance starts first, read by all.
const SHARED_SECRETS: &[&str] = &["CREATE TABLE IF NOT EXISTS gateway_secrets (
        name TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        version BIGINT NOT NULL DEFAULT 1,
        updated_at BIGINT NOT NULL
    )"];

/// The database's schema, step by step; a new table or column is a new step at the end.
pub const MIGRATIONS: &[Step] = &[
    Step { version: 1, description: "foundation", statements: FOUNDATION },
    Step { version: 2, description: "shared secrets", statements: SHARED_SECRETS },
    Step { version: 3, description: "idempotency keys", statements: idempotency::SCHEMA },
    Step { version: 4, description: "event outbox", statements: events::SCHEMA },
    Step { version: 5, description: "payments and refunds", statements: payments::SCHEMA },
    Step { version: 6, description: "audit trail", statements: audit::SCHEMA },
    Step { version: 7, description: "bulk payments", statements: payments::BULK_SCHEMA },
    Step { version: 8, description: "event deliveries claimed in order", statements: events::CLAIM_ORDER },
];

/// A pool to the configured database: at most `pool_size` connections, a bounded wait for
/// one (then `StoreError::Timeout`, answered 503), and a statement timeout on every
/// connection so a stuck query cannot hold a request past its deadline.
///
/// The same bound ends a transaction left idle by its client (the server's
/// `idle_in_transaction_session_timeout`): the gateway never waits on anything but the
/// database inside a transaction, so a transaction idle that long has lost its instance (a
/// network partition, a frozen VM). Without it the server would keep that transaction, and
/// the locks it took (a partner's daily-limit counter, which every instance's payments for
/// that partner must lock), until its TCP keepalive noticed, hours by default; every other
/// instance's payments for that partner would be refused meanwhile.
pub async fn connect(cfg: &PostgresConfig) -> Result<PgPool, StoreError> {
    let bound = cfg.statement_timeout.as_millis().to_string();
    let options: PgConnectOptions = cfg
        .url
        .parse::<PgConnectOptions>()
        .map_err(|e| StoreError::Unavailable(format!("storage.url is not a PostgreSQL URL: {e}")))?
        .application_name("scenegate")
        .options([("statement_timeout", bound.as_str()), ("idle_in_transaction_session_timeout", bound.as_str())]);
    PgPoolOptions::new()
        .max_connections(cfg.pool_size)
        .min_connections(0)
        .acquire_timeout(cfg.acquire_timeout)
        // A connection the server or a proxy dropped is found before a request uses it, within
        // the acquire timeout: a query on a connection whose peer went silent would otherwise
        // wait for the request's own timeout (tried: pinging only connections idle for a
        // second saved little and lost this).
        .test_before_acquire(true)
        .idle_timeout(Some(Duration::from_secs(300)))
        .connect_with(options)
        .await
        .map_err(err)
}

/// Applies every pending step (under sqlx's advisory lock: instances starting together
/// migrate once); refuses a database changed by a newer gateway.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    super::migrator(MIGRATIONS, false)
        .run(pool)
        .await
        .map_err(|e| StoreError::Unavailable(format!("database migration failed: {e}")))
}

/// Connects and migrates: how the gateway and the staff commands open the database.
pub async fn open_migrated(cfg: &PostgresConfig) -> anyhow::Result<PgPool> {
    use anyhow::Context as _;
    let pool = connect(cfg).await.with_context(|| format!("connecting to {}", cfg.redacted_url()))?;
    migrate(&pool).await.with_context(|| format!("migrating {}", cfg.redacted_url()))?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use crate::staff::{Stop, StopStore};
    use crate::store::{ReplayStore, test_support::postgres_pool};

    #[tokio::test]
    async fn migrations_apply_once_even_when_instances_start_together() {
        let Some((pool, _db)) = postgres_pool().await else { return };
        let again: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { super::migrate(&pool).await })
            })
            .collect();
        for done in again {
            done.await.unwrap().unwrap();
        }
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(&pool).await.unwrap();
        let expected: Vec<i64> = super::MIGRATIONS.iter().map(|s| s.version).collect();
        assert_eq!(applied, expected);
    }

    #[tokio::test]
    async fn a_transaction_its_instance_left_idle_is_ended_and_lets_go_of_its_locks() {
        use std::time::Duration;
        let Some((pool, db)) = postgres_pool().await else { return };
        let cfg = crate::config::PostgresConfig {
            url: db.url().to_owned(),
            pool_size: 2,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_millis(300),
        };
        let instance = super::connect(&cfg).await.unwrap();
        let lock = "SELECT 1 FROM partner_stops WHERE partner_id = 'ptn_a' FOR UPDATE";
        sqlx::query("INSERT INTO partner_stops (partner_id, reason, actor, at) VALUES ('ptn_a', 'test', 'test', 0)")
            .execute(&pool)
            .await
            .unwrap();
        // The instance locks the row and goes silent, its transaction left open (to the
        // server, as a partitioned or frozen instance's would be).
        let mut silent = instance.begin().await.unwrap();
        sqlx::query(lock).execute(&mut *silent).await.unwrap();
        // Another session, with no timeouts of its own, waits for the row: the server ends
        // the silent transaction and lets go of its lock.
        let mut other = pool.begin().await.unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(10), sqlx::query(lock).execute(&mut *other)).await;
        waited.expect("the silent transaction's lock was let go").unwrap();
        let ended = sqlx::query("SELECT 1").execute(&mut *silent).await;
        assert!(ended.is_err(), "the silent transaction was ended by the server");
    }

    #[tokio::test]
    async fn the_replay_store_keeps_the_contract() {
        let Some((pool, _db)) = postgres_pool().await else { return };
        crate::store::tests::contract(&super::PgReplayStore::new(pool)).await;
    }

    #[tokio::test]
    async fn a_single_use_value_is_admitted_once_across_connections() {
        let Some((pool, _db)) = postgres_pool().await else { return };
        let stores: Vec<_> = (0..3).map(|_| std::sync::Arc::new(super::PgReplayStore::new(pool.clone()))).collect();
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let s = stores[i % 3].clone();
                tokio::spawn(async move { s.first_use("jti-1", 100, 1).await.unwrap() })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            admitted += usize::from(t.await.unwrap());
        }
        assert_eq!(admitted, 1);
        assert!(stores[0].first_use("jti-1", 200, 100).await.unwrap(), "expired records no longer block");
        assert_eq!(stores[1].purge(1_000).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn stops_are_shared() {
        let Some((pool, _db)) = postgres_pool().await else { return };
        let (cli, gateway) = (super::PgStopStore::new(pool.clone()), super::PgStopStore::new(pool));
        let stop = Stop { partner_id: "ptn_a".into(), reason: "leak".into(), actor: "ops".into(), at: 5 };
        assert!(cli.stop(&stop).await.unwrap());
        assert!(!cli.stop(&stop).await.unwrap());
        assert_eq!(gateway.list().await.unwrap(), vec![stop]);
        assert!(gateway.resume("ptn_a").await.unwrap());
        assert!(cli.list().await.unwrap().is_empty());
    }
}
