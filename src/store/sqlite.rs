//! The embedded default's state: one SQLite file under the data directory.

use std::path::Path;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::{ReplayStore, StoreError};

#[derive(Clone)]
pub struct SqliteReplayStore {
    pool: SqlitePool,
}

fn err(e: sqlx::Error) -> StoreError {
    StoreError(e.to_string())
}

impl SqliteReplayStore {
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError(e.to_string()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(err)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS replay (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)")
            .execute(&pool)
            .await
            .map_err(err)?;
        Ok(Self { pool })
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
