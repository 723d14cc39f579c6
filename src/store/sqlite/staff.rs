//! Emergency stops in the gateway's SQLite database.

use super::SqliteDb;
use async_trait::async_trait;

use super::err;
use crate::staff::{Stop, StopStore};
use crate::store::StoreError;

pub const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS partner_stops (
        partner_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        at INTEGER NOT NULL
    )"];

#[derive(Clone)]
pub struct SqliteStopStore {
    pub(super) db: SqliteDb,
}

impl SqliteStopStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl StopStore for SqliteStopStore {
    async fn stop(&self, stop: &Stop) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO partner_stops (partner_id, reason, actor, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(partner_id) DO NOTHING",
        )
        .bind(&stop.partner_id)
        .bind(&stop.reason)
        .bind(&stop.actor)
        .bind(stop.at)
        .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn resume(&self, partner_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM partner_stops WHERE partner_id = ?1")
            .bind(partner_id)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list(&self) -> Result<Vec<Stop>, StoreError> {
        let rows: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT partner_id, reason, actor, at FROM partner_stops ORDER BY partner_id")
                .fetch_all(&self.db.reader)
                .await
                .map_err(err)?;
        Ok(rows.into_iter().map(|(partner_id, reason, actor, at)| Stop { partner_id, reason, actor, at }).collect())
    }
}
