//! Consents on PostgreSQL. Updates are conditional on the version read, so a customer's
//! revocation and a partner's payment racing each other on two instances can never lose the
//! revocation; a payment locks its consent until it commits (shared under a recurring
//! consent, exclusively when it consumes a single one), so a revocation waits for the
//! payments under way and every later payment sees it.

use async_trait::async_trait;
use scenegate_adapter_contract::ConsentId;
use sqlx::{PgPool, Row};

use super::err;
use crate::consent::{
    Consent, ConsentStore,
    store::{created_record, status_event},
};
use crate::{events::Notify, store::StoreError};

pub struct PgConsentStore {
    pool: PgPool,
}

impl PgConsentStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn decode(body: &str) -> Result<Consent, StoreError> {
    serde_json::from_str(body).map_err(StoreError::corrupt)
}

fn encode(c: &Consent) -> Result<String, StoreError> {
    serde_json::to_string(c).map_err(StoreError::corrupt)
}

/// The conditional update, inside a caller's transaction: a payment consumes its consent in
/// the same transaction that records the payment, so the two can never disagree. A change of
/// status also appends a `consent.status_changed` event to the outbox, in the same
/// transaction, for the partner's webhook.
pub async fn update_in(
    conn: &mut sqlx::PgConnection,
    c: &Consent,
    version: i64,
    notify: Notify,
) -> Result<bool, StoreError> {
    let before: Option<String> = sqlx::query_scalar("SELECT body FROM consents WHERE id = $1 AND version = $2")
        .bind(c.id.as_str())
        .bind(version)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
    let Some(before) = before else { return Ok(false) };
    let status_changed = decode(&before)?.status != c.status;
    let done = sqlx::query(
        "UPDATE consents SET customer_id = $1, version = version + 1, body = $2 WHERE id = $3 AND version = $4",
    )
    .bind(&c.customer_id)
    .bind(encode(c)?)
    .bind(c.id.as_str())
    .bind(version)
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    let updated = done.rows_affected() == 1;
    if updated && status_changed {
        super::events::append(conn, &status_event(c, notify), c.status_updated_at)
            .await
            .map_err(StoreError::corrupt)?;
    }
    Ok(updated)
}

/// How a transaction locks the consent it reads until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Others may read and lock it shared too; an update waits for every holder.
    Share,
    /// For a transaction that updates it.
    Update,
}

/// The consent and its version, locked until the caller's transaction ends.
pub async fn lock_in(
    conn: &mut sqlx::PgConnection,
    id: &ConsentId,
    mode: LockMode,
) -> Result<Option<(Consent, i64)>, StoreError> {
    let sql = match mode {
        LockMode::Share => "SELECT version, body FROM consents WHERE id = $1 FOR SHARE",
        LockMode::Update => "SELECT version, body FROM consents WHERE id = $1 FOR UPDATE",
    };
    let row = sqlx::query(sql).bind(id.as_str()).fetch_optional(&mut *conn).await.map_err(err)?;
    row.map(|r| Ok((decode(r.get::<&str, _>("body"))?, r.get::<i64, _>("version")))).transpose()
}

/// The consents named, with their versions, locked in `ids`' order (sort it: two writers
/// locking overlapping sets in one order cannot deadlock) until the caller's transaction
/// ends. A consent that does not exist is absent from the answer.
pub async fn lock_all_in(
    conn: &mut sqlx::PgConnection,
    ids: &[String],
    mode: LockMode,
) -> Result<Vec<(Consent, i64)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The rows are locked as the sorted scan returns them.
    let sql = match mode {
        LockMode::Share => {
            "SELECT c.version, c.body FROM UNNEST($1::TEXT[]) WITH ORDINALITY AS k (id, n)
             JOIN consents c ON c.id = k.id ORDER BY k.n FOR SHARE OF c"
        }
        LockMode::Update => {
            "SELECT c.version, c.body FROM UNNEST($1::TEXT[]) WITH ORDINALITY AS k (id, n)
             JOIN consents c ON c.id = k.id ORDER BY k.n FOR UPDATE OF c"
        }
    };
    let rows = sqlx::query(sql).bind(ids).fetch_all(&mut *conn).await.map_err(err)?;
    rows.iter().map(|r| Ok((decode(r.get::<&str, _>("body"))?, r.get::<i64, _>("version")))).collect()
}

#[async_trait]
impl ConsentStore for PgConsentStore {
    async fn insert(&self, c: &Consent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("INSERT INTO consents (id, partner_id, customer_id, version, body) VALUES ($1, $2, $3, 1, $4)")
            .bind(c.id.as_str())
            .bind(&c.partner_id)
            .bind(&c.customer_id)
            .bind(encode(c)?)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        super::audit::append_in(&mut tx, &[created_record(c)]).await?;
        tx.commit().await.map_err(err)?;
        Ok(())
    }

    async fn get(&self, id: &ConsentId) -> Result<Option<(Consent, i64)>, StoreError> {
        let row = sqlx::query("SELECT version, body FROM consents WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| Ok((decode(r.get::<&str, _>("body"))?, r.get::<i64, _>("version")))).transpose()
    }

    async fn update(&self, c: &Consent, version: i64, notify: Notify) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        let updated = update_in(&mut tx, c, version, notify).await?;
        tx.commit().await.map_err(err)?;
        Ok(updated)
    }

    async fn list_for_partner(&self, partner_id: &str) -> Result<Vec<Consent>, StoreError> {
        let rows = sqlx::query("SELECT body FROM consents WHERE partner_id = $1 ORDER BY seq DESC")
            .bind(partner_id)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(|r| decode(r.get::<&str, _>("body"))).collect()
    }

    async fn list_for_customer(&self, customer_id: &str) -> Result<Vec<(Consent, i64)>, StoreError> {
        let rows = sqlx::query("SELECT version, body FROM consents WHERE customer_id = $1 ORDER BY seq DESC")
            .bind(customer_id)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(|r| Ok((decode(r.get::<&str, _>("body"))?, r.get::<i64, _>("version")))).collect()
    }
}
