//! Emergency stops on PostgreSQL: every instance follows the same table.

use async_trait::async_trait;
use sqlx::PgPool;

use super::err;
use crate::staff::{Stop, StopStore};
use crate::store::StoreError;

#[derive(Clone)]
pub struct PgStopStore {
    pool: PgPool,
}

impl PgStopStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl StopStore for PgStopStore {
    async fn stop(&self, stop: &Stop) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO partner_stops (partner_id, reason, actor, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT(partner_id) DO NOTHING",
        )
        .bind(&stop.partner_id)
        .bind(&stop.reason)
        .bind(&stop.actor)
        .bind(stop.at)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn resume(&self, partner_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM partner_stops WHERE partner_id = $1")
            .bind(partner_id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list(&self) -> Result<Vec<Stop>, StoreError> {
        let rows: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT partner_id, reason, actor, at FROM partner_stops ORDER BY partner_id")
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        Ok(rows.into_iter().map(|(partner_id, reason, actor, at)| Stop { partner_id, reason, actor, at }).collect())
    }
}
