//! Idempotency records in the gateway's SQLite database.

use super::SqliteDb;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Columns, err};
use crate::idempotency::{
    Begin, Claim, IdempotencyKey, IdempotencyStore, LEASE_SECS, RETENTION_SECS, Record, StoredResponse,
};
use crate::store::StoreError;

pub const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS idempotency (
        partner_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        resource_id TEXT,
        lease_until INTEGER NOT NULL,
        status INTEGER,
        headers TEXT,
        body BLOB,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (partner_id, key)
    )"];

#[derive(Clone)]
pub struct SqliteIdempotencyStore {
    pub(super) db: SqliteDb,
    lease_secs: i64,
}

impl SqliteIdempotencyStore {
    /// With the default lease ([`LEASE_SECS`]).
    pub fn new(db: SqliteDb) -> Self {
        Self { db, lease_secs: LEASE_SECS }
    }

    /// How long a request holds a key before another may take it over: longer than any
    /// request can run (the gateway's request timeout), short enough that a partner's retry
    /// after a crash is not kept waiting.
    pub fn with_lease(mut self, lease: std::time::Duration) -> Self {
        self.lease_secs = i64::try_from(lease.as_secs()).unwrap_or(LEASE_SECS).max(1);
        self
    }
}

/// Stores `response` as the answer under the claim's key, inside the caller's transaction
/// (a payment's settlement writes its answer with it).
pub fn complete_in(conn: &Connection, claim: &Claim, response: &StoredResponse) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE idempotency SET status = ?1, headers = ?2, body = ?3 WHERE partner_id = ?4 AND key = ?5",
    )?
    .execute(params![
        i64::from(response.status),
        response.headers_json()?,
        response.body,
        claim.partner_id,
        claim.key.as_str()
    ])?;
    Ok(())
}

/// Links the resource a claim created to its record, inside the transaction that writes
/// the resource: after a crash, whoever takes the key over finds it and resumes it. A
/// deferred claim writes its record here (a free key, or one past its retention), or fails
/// with `Conflict` if a live record has the key.
pub fn link_in(conn: &Connection, claim: &Claim, resource_id: &str) -> Result<(), StoreError> {
    let Some(d) = &claim.deferred else {
        conn.prepare_cached("UPDATE idempotency SET resource_id = ?1 WHERE partner_id = ?2 AND key = ?3")?
            .execute(params![resource_id, claim.partner_id, claim.key.as_str()])?;
        return Ok(());
    };
    let taken = conn
        .prepare_cached(
            "INSERT INTO idempotency (partner_id, key, fingerprint, resource_id, lease_until, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (partner_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
               resource_id = excluded.resource_id, lease_until = excluded.lease_until, status = NULL,
               headers = NULL, body = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at
             WHERE idempotency.expires_at <= ?6",
        )?
        .execute(params![
            claim.partner_id,
            claim.key.as_str(),
            d.fingerprint,
            resource_id,
            d.lease_until,
            d.created_at,
            d.expires_at
        ])?;
    if taken == 1 { Ok(()) } else { Err(crate::idempotency::key_taken()) }
}

const SELECT: &str = "SELECT fingerprint, resource_id, lease_until, status, headers, body, expires_at
     FROM idempotency WHERE partner_id = ?1 AND key = ?2";

/// The record as [`SELECT`] reads it.
fn record_of(r: &impl Columns) -> Result<Record, StoreError> {
    let answer = match r.opt_int("status")? {
        Some(status) => Some(StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            headers: serde_json::from_str(r.opt_text("headers")?.as_deref().unwrap_or("[]")).unwrap_or_default(),
            body: r.opt_blob("body")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(Record {
        fingerprint: r.text("fingerprint")?,
        resource_id: r.opt_text("resource_id")?,
        lease_until: r.int("lease_until")?,
        answer,
        expires_at: r.int("expires_at")?,
    })
}

/// Decides a key under the write lock (in the writer's group commit, so a read and a claim
/// cannot interleave with another claimer's): claims it, takes over a dead holder's, or says
/// why not.
fn claim_in(
    conn: &Connection,
    partner_id: &str,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: i64,
    lease_secs: i64,
) -> Result<Begin, StoreError> {
    let claim = |resume: Option<String>| Claim::held(partner_id, key, resume);
    // A new key (or one past its retention) is claimed by one statement, the common case.
    let taken = conn
        .prepare_cached(
            "INSERT INTO idempotency (partner_id, key, fingerprint, lease_until, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (partner_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
               resource_id = NULL, lease_until = excluded.lease_until, status = NULL, headers = NULL, body = NULL,
               created_at = excluded.created_at, expires_at = excluded.expires_at
             WHERE idempotency.expires_at <= ?5",
        )?
        .execute(params![partner_id, key.as_str(), fingerprint, now + lease_secs, now, now + RETENTION_SECS])?;
    if taken == 1 {
        return Ok(Begin::Claimed(claim(None)));
    }
    // A live record: used for another request, answered, in flight, or its holder died.
    let record =
        conn.prepare_cached(SELECT)?.query_row(params![partner_id, key.as_str()], |row| Ok(record_of(row)))??;
    let resume = record.resource_id.clone();
    if let Some(said) = record.says(fingerprint, now, lease_secs) {
        return Ok(said);
    }
    // The holder died: take the key over and resume what it created.
    conn.prepare_cached("UPDATE idempotency SET lease_until = ?1 WHERE partner_id = ?2 AND key = ?3")?
        .execute(params![now + lease_secs, partner_id, key.as_str()])?;
    Ok(Begin::Claimed(claim(resume)))
}

#[async_trait]
impl IdempotencyStore for SqliteIdempotencyStore {
    fn defer(&self, partner_id: &str, key: &IdempotencyKey, fingerprint: &str, now: i64) -> Claim {
        Claim::deferred(partner_id, key, fingerprint, now, self.lease_secs)
    }

    async fn peek(
        &self,
        partner_id: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: i64,
    ) -> Result<Option<Begin>, StoreError> {
        // One primary-key lookup, on this thread (a retry is decided by it).
        let record = self.db.point_reads.with(|c| {
            c.prepare_cached(SELECT)?.query_row(params![partner_id, key.as_str()], |row| Ok(record_of(row))).optional()
        })?;
        match record {
            Some(record) => Ok(record?.says(fingerprint, now, self.lease_secs)),
            None => Ok(None),
        }
    }

    async fn begin(
        &self,
        partner_id: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: i64,
    ) -> Result<Begin, StoreError> {
        // A key answered before (a retry), in flight or used for another request: a plain
        // read decides it, beside the writer. Only a claim (a free key, or a dead holder's)
        // waits for the write lock, where it is decided again.
        if let Some(said) = self.peek(partner_id, key, fingerprint, now).await? {
            return Ok(said);
        }
        let (partner_id, key, fingerprint, lease_secs) =
            (partner_id.to_owned(), key.clone(), fingerprint.to_owned(), self.lease_secs);
        self.db.batch.write(move |conn| claim_in(conn, &partner_id, &key, &fingerprint, now, lease_secs)).await
    }

    async fn link(&self, claim: &Claim, resource_id: &str) -> Result<(), StoreError> {
        let (claim, resource_id) = (claim.clone(), resource_id.to_owned());
        self.db.batch.write(move |conn| link_in(conn, &claim, &resource_id)).await
    }

    async fn complete(&self, claim: &Claim, response: &StoredResponse, _now: i64) -> Result<(), StoreError> {
        let (claim, response) = (claim.clone(), response.clone());
        self.db.batch.write(move |conn| complete_in(conn, &claim, &response)).await
    }

    async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency WHERE partner_id = ?1 AND key = ?2 AND resource_id IS NULL")
            .bind(&claim.partner_id)
            .bind(claim.key.as_str())
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency WHERE expires_at <= ?1")
            .bind(now)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}
