//! Consents in the gateway's SQLite file. Updates are conditional on the version read, so a
//! customer's revocation and a partner's read racing each other can never lose the
//! revocation.

use super::SqliteDb;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use scenegate_adapter_contract::ConsentId;
use sqlx::Row;

use super::err;
use crate::consent::{
    Consent, ConsentStore,
    store::{created_record, status_event},
};
use crate::{events::Notify, store::StoreError};

pub struct SqliteConsentStore {
    db: SqliteDb,
}

impl SqliteConsentStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

fn decode(body: &str) -> Result<Consent, StoreError> {
    serde_json::from_str(body).map_err(StoreError::corrupt)
}

fn encode(c: &Consent) -> Result<String, StoreError> {
    serde_json::to_string(c).map_err(StoreError::corrupt)
}

/// The conditional update, inside a caller's transaction (on the writer thread): a payment
/// consumes its consent in the same transaction that records the payment, so the two can
/// never disagree. A change of status also appends a `consent.status_changed` event to the
/// outbox, in the same transaction, for the partner's webhook.
pub fn update_in(conn: &Connection, c: &Consent, version: i64, notify: Notify) -> Result<bool, StoreError> {
    let before: Option<String> = conn
        .prepare_cached("SELECT body FROM consents WHERE id = ?1 AND version = ?2")?
        .query_row(params![c.id.as_str(), version], |r| r.get(0))
        .optional()?;
    let Some(before) = before else { return Ok(false) };
    let status_changed = decode(&before)?.status != c.status;
    let updated = conn
        .prepare_cached(
            "UPDATE consents SET customer_id = ?1, version = version + 1, body = ?2 WHERE id = ?3 AND version = ?4",
        )?
        .execute(params![c.customer_id, encode(c)?, c.id.as_str(), version])?
        == 1;
    if updated && status_changed {
        super::events::append(conn, &status_event(c, notify), c.status_updated_at).map_err(StoreError::corrupt)?;
    }
    Ok(updated)
}

/// The consent and its version, inside a caller's transaction (on the writer thread).
pub fn get_in(conn: &Connection, id: &ConsentId) -> Result<Option<(Consent, i64)>, StoreError> {
    let row: Option<(String, i64)> = conn
        .prepare_cached("SELECT body, version FROM consents WHERE id = ?1")?
        .query_row(params![id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(body, version)| Ok((decode(&body)?, version))).transpose()
}

#[async_trait]
impl ConsentStore for SqliteConsentStore {
    async fn insert(&self, c: &Consent) -> Result<(), StoreError> {
        let (body, record, c) = (encode(c)?, created_record(c), c.clone());
        self.db
            .batch
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO consents (id, partner_id, customer_id, version, body) VALUES (?1, ?2, ?3, 1, ?4)",
                )?
                .execute(params![c.id.as_str(), c.partner_id, c.customer_id, body])?;
                super::audit::append_in(conn, std::slice::from_ref(&record))?;
                Ok(())
            })
            .await
    }

    async fn get(&self, id: &ConsentId) -> Result<Option<(Consent, i64)>, StoreError> {
        let row = sqlx::query("SELECT version, body FROM consents WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.db.reader)
            .await
            .map_err(err)?;
        row.map(|r| Ok((decode(r.get::<&str, _>("body"))?, r.get::<i64, _>("version")))).transpose()
    }

    async fn update(&self, c: &Consent, version: i64, notify: Notify) -> Result<bool, StoreError> {
        let c = c.clone();
        self.db.batch.write(move |conn| update_in(conn, &c, version, notify)).await
    }

    async fn list_for_partner(&self, partner_id: &str) -> Result<Vec<Consent>, StoreError> {
        let rows = sqlx::query("SELECT body FROM consents WHERE partner_id = ? ORDER BY rowid DESC")
            .bind(partner_id)
            .fetch_all(&self.db.reader)
            .await
            .map_err(err)?;
        rows.iter().map(|r| decode(r.get::<&str, _>("body"))).collect()
    }

    async fn list_for_customer(&self, customer_id: &str) -> Result<Vec<(Consent, i64)>, StoreError> {
        let rows = sqlx::query("SELECT version, body FROM consents WHERE customer_id = ? ORDER BY rowid DESC")
            .bind(customer_id)
            .fetch_all(&self.db.reader)
            .await
            .map_err(err)?;
        rows.iter().map(|r| Ok((decode(r.get::<&str, _>("body"))?, r.get::<i64, _>("version")))).collect()
    }
}
