//! Single-use values on PostgreSQL, for a cluster without Redis: one upsert decides.

use async_trait::async_trait;
use sqlx::PgPool;

use super::err;
use crate::store::{ReplayStore, StoreError};

#[derive(Clone)]
pub struct PgReplayStore {
    pool: PgPool,
}

impl PgReplayStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl ReplayStore for PgReplayStore {
    async fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        // One statement, so two racing callers cannot both win: the row is inserted, or an
        // expired row is taken over; a live row makes the upsert a no-op (0 rows changed).
        let done = sqlx::query(
            "INSERT INTO replay (key, expires_at) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at <= $3",
        )
        .bind(key)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn forget(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM replay WHERE key = $1").bind(key).execute(&self.pool).await.map_err(err)?;
        Ok(())
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM replay WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}
