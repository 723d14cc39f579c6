//! The gateway's own keys in the shared database (cluster mode): one row per name.
//!
//! Whoever can read this table can sign the gateway's tokens: grant it to the gateway's
//! role only, and back it up as carefully as the key files of the embedded default.

use async_trait::async_trait;
use sqlx::PgPool;

use super::err;
use crate::store::{SecretStore, StoreError};

#[derive(Clone)]
pub struct PgSecretStore {
    pool: PgPool,
}

impl PgSecretStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SecretStore for PgSecretStore {
    async fn get_or_insert(&self, name: &str, candidate: &str, now: i64) -> Result<String, StoreError> {
        // The insert loses quietly to a row another instance wrote first; then read what won.
        sqlx::query(
            "INSERT INTO gateway_secrets (name, body, version, updated_at) VALUES ($1, $2, 1, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        self.get(name).await?.map(|(body, _)| body).ok_or(StoreError::NotFound)
    }

    async fn get(&self, name: &str) -> Result<Option<(String, i64)>, StoreError> {
        sqlx::query_as("SELECT body, version FROM gateway_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }

    async fn replace(&self, name: &str, value: &str, version: i64, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE gateway_secrets SET body = $2, version = version + 1, updated_at = $4
             WHERE name = $1 AND version = $3",
        )
        .bind(name)
        .bind(value)
        .bind(version)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }
}
