//! Idempotency records in the gateway's SQLite database.

use super::SqliteDb;
use async_trait::async_trait;
use sqlx::{Row, SqliteConnection, sqlite::SqliteRow};

use super::err;
use crate::idempotency::{Begin, Claim, IdempotencyKey, IdempotencyStore, LEASE_SECS, RETENTION_SECS, StoredResponse};
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

/// Links the resource a claim created to its record, inside the transaction that writes
/// the resource: after a crash, whoever takes the key over finds it and resumes it.
pub async fn link_in(conn: &mut SqliteConnection, claim: &Claim, resource_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE idempotency SET resource_id = ?1 WHERE partner_id = ?2 AND key = ?3")
        .bind(resource_id)
        .bind(&claim.partner_id)
        .bind(claim.key.as_str())
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    Ok(())
}

const SELECT: &str = "SELECT fingerprint, resource_id, lease_until, status, headers, body, expires_at
     FROM idempotency WHERE partner_id = ?1 AND key = ?2";

/// What a live record decides on its own, whoever else is writing: the key was used for
/// another request, or it was answered and the answer is replayed. `None` when the record
/// has expired or is still in flight (the claim decides those under the write lock).
fn settled(r: &SqliteRow, fingerprint: &str, now: i64) -> Option<Begin> {
    if r.get::<i64, _>("expires_at") <= now {
        return None;
    }
    if r.get::<&str, _>("fingerprint") != fingerprint {
        return Some(Begin::Reused);
    }
    let status = r.get::<Option<i64>, _>("status")?;
    let headers: Vec<(String, String)> =
        serde_json::from_str(r.get::<Option<&str>, _>("headers").unwrap_or("[]")).unwrap_or_default();
    Some(Begin::Replay(StoredResponse {
        status: u16::try_from(status).unwrap_or(500),
        headers,
        body: r.get::<Option<Vec<u8>>, _>("body").unwrap_or_default(),
    }))
}

/// Decides a key under the write lock (in the writer's group commit, so a read and a claim
/// cannot interleave with another claimer's): claims it, takes over a dead holder's, or says
/// why not.
async fn claim_in(
    conn: &mut SqliteConnection,
    partner_id: &str,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: i64,
    lease_secs: i64,
) -> Result<Begin, StoreError> {
    let claim = |resume: Option<String>| Claim { partner_id: partner_id.to_owned(), key: key.clone(), resume };
    // A new key (or one past its retention) is claimed by one statement, the common case.
    let taken = sqlx::query(
        "INSERT INTO idempotency (partner_id, key, fingerprint, lease_until, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (partner_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
           resource_id = NULL, lease_until = excluded.lease_until, status = NULL, headers = NULL, body = NULL,
           created_at = excluded.created_at, expires_at = excluded.expires_at
         WHERE idempotency.expires_at <= ?5",
    )
    .bind(partner_id)
    .bind(key.as_str())
    .bind(fingerprint)
    .bind(now + lease_secs)
    .bind(now)
    .bind(now + RETENTION_SECS)
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    if taken.rows_affected() == 1 {
        return Ok(Begin::Claimed(claim(None)));
    }
    // A live record: used for another request, answered, in flight, or its holder died.
    let row = sqlx::query(SELECT).bind(partner_id).bind(key.as_str()).fetch_one(&mut *conn).await.map_err(err)?;
    let outcome = if let Some(settled) = settled(&row, fingerprint, now) {
        settled
    } else if row.get::<i64, _>("lease_until") > now {
        Begin::InFlight { retry_after: (row.get::<i64, _>("lease_until") - now).clamp(1, lease_secs) }
    } else {
        // The holder died: take the key over and resume what it created.
        sqlx::query("UPDATE idempotency SET lease_until = ?1 WHERE partner_id = ?2 AND key = ?3")
            .bind(now + lease_secs)
            .bind(partner_id)
            .bind(key.as_str())
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        Begin::Claimed(claim(row.get::<Option<String>, _>("resource_id")))
    };
    Ok(outcome)
}

#[async_trait]
impl IdempotencyStore for SqliteIdempotencyStore {
    async fn begin(
        &self,
        partner_id: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: i64,
    ) -> Result<Begin, StoreError> {
        // A key answered before (a retry) or used for another request is settled for good
        // until it expires: a plain read decides it, beside the writer.
        let row = sqlx::query(SELECT).bind(partner_id).bind(key.as_str()).fetch_optional(&self.db.reader).await;
        if let Some(settled) = row.map_err(err)?.as_ref().and_then(|r| settled(r, fingerprint, now)) {
            return Ok(settled);
        }
        let (partner_id, key, fingerprint, lease_secs) =
            (partner_id.to_owned(), key.clone(), fingerprint.to_owned(), self.lease_secs);
        self.db
            .batch
            .write(move |conn| {
                let (partner_id, key, fingerprint) = (partner_id.clone(), key.clone(), fingerprint.clone());
                Box::pin(async move { claim_in(conn, &partner_id, &key, &fingerprint, now, lease_secs).await })
            })
            .await
    }

    async fn link(&self, claim: &Claim, resource_id: &str) -> Result<(), StoreError> {
        let mut conn = self.db.writer.acquire().await.map_err(err)?;
        link_in(&mut conn, claim, resource_id).await
    }

    async fn complete(&self, claim: &Claim, response: &StoredResponse, _now: i64) -> Result<(), StoreError> {
        let headers = serde_json::to_string(&response.headers).map_err(StoreError::corrupt)?;
        let (claim, status, body) = (claim.clone(), i64::from(response.status), response.body.clone());
        self.db
            .batch
            .write(move |conn| {
                let (claim, headers, body) = (claim.clone(), headers.clone(), body.clone());
                Box::pin(async move {
                    sqlx::query(
                        "UPDATE idempotency SET status = ?1, headers = ?2, body = ?3 WHERE partner_id = ?4 AND key = ?5",
                    )
                    .bind(status)
                    .bind(headers)
                    .bind(body)
                    .bind(&claim.partner_id)
                    .bind(claim.key.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(err)?;
                    Ok(())
                })
            })
            .await
    }

    async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency WHERE partner_id = ?1 AND key = ?2 AND resource_id IS NULL")
            .bind(&claim.partner_id)
            .bind(claim.key.as_str())
            .execute(&self.db.writer)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency WHERE expires_at <= ?1")
            .bind(now)
            .execute(&self.db.writer)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}
