//! The embedded default's state: one SQLite file under the data directory, one schema.

use std::path::Path;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::{ReplayStore, StoreError};

pub fn err(e: sqlx::Error) -> StoreError {
    StoreError(e.to_string())
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

/// Opens (creating if needed) the gateway's database and brings its schema up to date.
pub async fn open(path: &Path) -> Result<SqlitePool, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError(e.to_string()))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Consents are promises to customers: a crash must not lose an acknowledged change.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(std::time::Duration::from_secs(5));
    let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(err)?;
    apply(&pool, SCHEMA).await?;
    Ok(pool)
}

/// Runs a domain module's schema statements (each `CREATE … IF NOT EXISTS`, so reruns are
/// no-ops). Domain modules own their tables; the composition root applies them all.
pub async fn apply(pool: &SqlitePool, schema: &[&'static str]) -> Result<(), StoreError> {
    for statement in schema {
        sqlx::query(*statement).execute(pool).await.map_err(err)?;
    }
    Ok(())
}

#[derive(Clone)]
pub struct SqliteReplayStore {
    pool: SqlitePool,
}

impl SqliteReplayStore {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Drops expired records; called from a timer so the table stays the size of the window.
    pub async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM replay WHERE expires_at <= ?").bind(now).execute(&self.pool).await.map_err(err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ReplayStore for SqliteReplayStore {
    async fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        // One statement, so two racing callers cannot both win: the row is inserted, or an
        // expired row is taken over; a live row makes the upsert a no-op (0 rows changed).
        let done = sqlx::query(
            "INSERT INTO replay (key, expires_at) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at <= ?3",
        )
        .bind(key)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }
}
