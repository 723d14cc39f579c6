//! Single-use values (client-assertion `jti`s) in the gateway's SQLite file.

use super::SqliteDb;
use async_trait::async_trait;

use super::err;
use crate::store::{ReplayStore, StoreError};

#[derive(Clone)]
pub struct SqliteReplayStore {
    db: SqliteDb,
}

impl SqliteReplayStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ReplayStore for SqliteReplayStore {
    async fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        // One statement, so two racing callers cannot both win: the row is inserted, or an
        // expired row is taken over; a live row makes the upsert a no-op (0 rows changed).
        let key = key.to_owned();
        self.db
            .batch
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "INSERT INTO replay (key, expires_at) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at <= ?3",
                    )?
                    .execute(rusqlite::params![key, expires_at, now])?;
                Ok::<_, StoreError>(changed == 1)
            })
            .await
    }

    async fn forget(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.db
            .batch
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM replay WHERE key = ?1")?.execute(rusqlite::params![key])?;
                Ok::<_, StoreError>(())
            })
            .await
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM replay WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}
