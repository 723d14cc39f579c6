//! The embedded default's state: one SQLite file under the data directory. Each store a
//! domain module declares (its trait) has its SQLite implementation here, one file per
//! domain; transactions that span domains (a payment consuming its consent, linking its
//! idempotency key and writing its event) are composed from their `*_in` functions.
//!
//! A bound row count is written `LIMIT ?n + 0`, never `LIMIT ?n`: SQLite plans a bare
//! `LIMIT ?` with the value bound to it, so a cached statement is parsed and planned afresh
//! whenever that parameter is bound again (measured on the core mock's statement page, see
//! `page_sql` in `corebank-mock/src/routes/accounts.rs`); an expression keeps the plan.

pub mod audit;
pub mod consent;
pub mod events;
pub mod grants;
pub mod idempotency;
pub mod payments;
pub mod replay;
pub mod staff;
pub mod writer;

pub use audit::SqliteAuditStore;
pub use consent::SqliteConsentStore;
pub use events::SqliteEventStore;
pub use grants::SqliteGrantStore;
pub use idempotency::SqliteIdempotencyStore;
pub use payments::SqlitePaymentStore;
pub use replay::SqliteReplayStore;
pub use staff::SqliteStopStore;

use std::path::Path;

use scenegate_sqlite_batch::{GatedPool, InlineReads, WriteGate, WriterOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::{Step, StoreError};

pub fn err(e: sqlx::Error) -> StoreError {
    StoreError::from(e)
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS replay (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS consents (
        id TEXT PRIMARY KEY,
        partner_id TEXT NOT NULL,
        customer_id TEXT,
        version INTEGER NOT NULL,
        body TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS consents_by_customer ON consents (customer_id)",
    // Customer grants (src/grants): every key is the SHA-256 of a secret handed out.
    "CREATE TABLE IF NOT EXISTS auth_requests (
        key TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS auth_codes (
        key TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0,
        revoked INTEGER NOT NULL DEFAULT 0,
        retain_until INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS issued_tokens (
        jti TEXT PRIMARY KEY,
        code_key TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE INDEX IF NOT EXISTS issued_tokens_by_code ON issued_tokens (code_key)",
    "CREATE TABLE IF NOT EXISTS refresh_tokens (
        key TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        consent_id TEXT NOT NULL,
        code_key TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE INDEX IF NOT EXISTS refresh_tokens_by_code ON refresh_tokens (code_key)",
    "CREATE TABLE IF NOT EXISTS customer_sessions (
        key TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    )",
];

/// The foundation's tables: replay cache, consents, customer grants and sessions.
pub const FOUNDATION: Step = Step { version: 1, description: "foundation", statements: SCHEMA };

/// The gateway database's schema, step by step: each store file owns its statements, this
/// list orders them. A new table or column is a new step at the end, never an edit.
pub const MIGRATIONS: &[Step] = &[
    FOUNDATION,
    Step { version: 2, description: "staff emergency stops", statements: staff::SCHEMA },
    Step { version: 3, description: "idempotency keys", statements: idempotency::SCHEMA },
    Step { version: 4, description: "event outbox", statements: events::SCHEMA },
    Step { version: 5, description: "payments and refunds", statements: payments::SCHEMA },
    Step { version: 6, description: "pending one-time codes", statements: grants::SCHEMA },
    Step { version: 7, description: "audit trail", statements: audit::SCHEMA },
    Step { version: 8, description: "event deliveries written with their event", statements: events::DELIVERY_TRIGGER },
    Step { version: 9, description: "bulk payments", statements: payments::BULK_SCHEMA },
    Step {
        version: 10,
        description: "event deliveries due in their subject's order",
        statements: events::DELIVERY_TRIGGER_IN_ORDER,
    },
    Step { version: 11, description: "event deliveries claimed in order", statements: events::CLAIM_ORDER },
];

/// Applies every step not applied yet, in version order; refuses a database whose applied
/// steps differ from these (a changed migration is a new step, never an edit), and one with
/// steps this build does not know (written by a newer gateway).
pub async fn migrate(pool: &SqlitePool, steps: &[Step]) -> Result<(), StoreError> {
    run_steps(pool, steps, false).await
}

async fn run_steps(pool: &SqlitePool, steps: &[Step], tolerate_later_steps: bool) -> Result<(), StoreError> {
    super::migrator(steps, tolerate_later_steps)
        .run(pool)
        .await
        .map_err(|e| StoreError::Unavailable(format!("database migration failed: {e}")))
}

/// The gateway's SQLite file, opened three ways: the writer thread that commits the hot
/// paths' writes in groups, one pooled connection for the other writes, and a few that read.
///
/// SQLite lets one writer in at a time. With several connections writing, the ones that
/// find the file locked sleep in SQLite's busy handler (1, 2, 5, 10… ms) rather than queue,
/// so under concurrent payments most of the time went to those sleeps while the lock stood
/// free. So every write waits for one [`WriteGate`] first, first come first served: the
/// writer thread holds it for each batch, the pooled writer for each transaction. In WAL mode
/// the readers go on beside it. The readers are opened read-only, so a write sent to them by
/// mistake fails loudly.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    /// Writes off the hot paths (migrations, grants, the audit trail, purges), one
    /// transaction at a time behind the gate.
    pub writer: GatedPool,
    /// Connections that only read (a write here is an error).
    pub reader: SqlitePool,
    /// Read-only connections used on the caller's own thread, for reads an index bounds
    /// that sit on a hot path (a retry's idempotency record): no hand-off to sqlx's
    /// worker threads (`scenegate_sqlite_batch::reads`).
    pub point_reads: InlineReads,
    /// The hot paths' writes (payments, idempotency keys, single-use ids, the outbox),
    /// committed in groups on the writer thread ([`writer::GroupCommit`]).
    pub batch: writer::GroupCommit,
}

impl SqliteDb {
    pub async fn close(&self) {
        self.writer.pool().close().await;
        self.reader.close().await;
    }
}

/// True when SQLite refused a write for a unique key or primary key.
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// A result row of either driver on this file (sqlx on the readers, rusqlite on the writer
/// thread), read by column name, so one decoder per record serves both.
pub trait Columns {
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError>;
    fn opt_blob(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

impl Columns for sqlx::sqlite::SqliteRow {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        sqlx::Row::try_get(self, name).map_err(StoreError::corrupt)
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        sqlx::Row::try_get(self, name).map_err(StoreError::corrupt)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        sqlx::Row::try_get(self, name).map_err(StoreError::corrupt)
    }
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        sqlx::Row::try_get(self, name).map_err(StoreError::corrupt)
    }
    fn opt_blob(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::Row::try_get(self, name).map_err(StoreError::corrupt)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.get(name).map_err(StoreError::corrupt)
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.get(name).map_err(StoreError::corrupt)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.get(name).map_err(StoreError::corrupt)
    }
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.get(name).map_err(StoreError::corrupt)
    }
    fn opt_blob(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(name).map_err(StoreError::corrupt)
    }
}

/// How many read-only connections sit beside the writer.
const READERS: u32 = 4;
/// Longest a statement waits for its connection (the writer's queue included) before the
/// caller gets a `Timeout` (a 503), and for the file's lock when another process holds it.
const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens (creating if needed) the gateway's database and applies every pending step.
pub async fn open_migrated(path: &Path) -> anyhow::Result<SqliteDb> {
    use anyhow::Context as _;
    let db = open(path).await.with_context(|| format!("opening {}", path.display()))?;
    migrate(db.writer.pool(), MIGRATIONS).await.with_context(|| format!("migrating {}", path.display()))?;
    Ok(db)
}

/// Opens (creating if needed) the gateway's database with the foundation's tables only (the
/// gateway opens it through [`open_migrated`], with every step).
pub async fn open(path: &Path) -> Result<SqliteDb, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Consents are promises to customers: a crash must not lose an acknowledged change.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(WAIT);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(WAIT)
        .connect_with(options.clone())
        .await
        .map_err(err)?;
    // Only the foundation: the rest of a full gateway database is left as it is.
    run_steps(&pool, &[FOUNDATION], true).await?;
    let reader = SqlitePoolOptions::new()
        .max_connections(READERS)
        .acquire_timeout(WAIT)
        .connect_with(options.clone().create_if_missing(false).read_only(true))
        .await
        .map_err(err)?;
    let gate = WriteGate::default();
    let thread = WriterOptions { db: "gateway", busy_timeout: WAIT, foreign_keys: true };
    let batch = writer::GroupCommit::open(path, thread, gate.clone())?;
    let point_reads = InlineReads::open(path)?;
    Ok(SqliteDb { writer: GatedPool::new(pool, gate, WAIT), reader, point_reads, batch })
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, StatementStatus};

    /// How often SQLite parsed and planned a cached statement again over reads with two
    /// different row counts.
    fn reprepares(sql: &str) -> i32 {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3);").unwrap();
        for limit in [1, 2, 1, 3] {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            let rows: Vec<i64> = stmt.query_map([limit], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            assert_eq!(rows.len(), usize::try_from(limit).unwrap());
        }
        conn.prepare_cached(sql).unwrap().get_status(StatementStatus::RePrepare)
    }

    /// Why the stores write `LIMIT ?n + 0` (see the module's doc): if SQLite stops planning a
    /// bare `LIMIT ?` with its bound value, the first assertion says the workaround can go.
    #[test]
    fn a_bound_limit_written_as_an_expression_keeps_its_plan() {
        assert!(reprepares("SELECT x FROM t ORDER BY x LIMIT ?1") > 0, "a bare LIMIT ? is planned per value");
        assert_eq!(reprepares("SELECT x FROM t ORDER BY x LIMIT ?1 + 0"), 0);
    }
}
