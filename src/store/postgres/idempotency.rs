//! Idempotency records on PostgreSQL. A key is claimed by inserting its row; a second
//! claimer's insert waits on the first's uncommitted row, then finds it and locks it
//! (`FOR UPDATE`) to decide replay, in flight, reuse or take-over.

use async_trait::async_trait;
use sqlx::{PgConnection, PgPool, Row};

use super::err;
use crate::idempotency::{
    Begin, Claim, IdempotencyKey, IdempotencyStore, LEASE_SECS, RETENTION_SECS, Record, StoredResponse,
};
use crate::store::StoreError;

pub const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS idempotency (
        partner_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        resource_id TEXT,
        lease_until BIGINT NOT NULL,
        status BIGINT,
        headers TEXT,
        body BYTEA,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (partner_id, key)
    )"];

#[derive(Clone)]
pub struct PgIdempotencyStore {
    pub(super) pool: PgPool,
    lease_secs: i64,
}

impl PgIdempotencyStore {
    /// With the default lease ([`LEASE_SECS`]).
    pub fn new(pool: PgPool) -> Self {
        Self { pool, lease_secs: LEASE_SECS }
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
/// the resource: after a crash, whoever takes the key over finds it and resumes it. A
/// deferred claim writes its record here, or fails with `Conflict` if a live one has the key.
pub async fn link_in(conn: &mut PgConnection, claim: &Claim, resource_id: &str) -> Result<(), StoreError> {
    if claim.deferred.is_some() && claim_deferred_in(conn, &[claim]).await?.is_empty() {
        return Err(crate::idempotency::key_taken());
    }
    sqlx::query("UPDATE idempotency SET resource_id = $1 WHERE partner_id = $2 AND key = $3")
        .bind(resource_id)
        .bind(&claim.partner_id)
        .bind(claim.key.as_str())
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    Ok(())
}

/// Stores `response` as the answer under the claim's key, on the caller's connection (a
/// payment's settlement writes its answer in its own transaction).
pub async fn complete_in(conn: &mut PgConnection, claim: &Claim, response: &StoredResponse) -> Result<(), StoreError> {
    let query =
        sqlx::query("UPDATE idempotency SET status = $1, headers = $2, body = $3 WHERE partner_id = $4 AND key = $5");
    bind_answer(query, claim, response)?.execute(&mut *conn).await.map_err(err)?;
    Ok(())
}

/// The `WITH` entry that stores answers under their claims' keys, read `from` a relation
/// with the columns `id` (the resource the key was linked to), `claim_partner`, `claim_key`,
/// `answer_status` (NULL: no answer to store for this row), `answer_headers` and
/// `answer_body`: changes and their answers written in one statement.
pub fn answers_from(from: &str) -> String {
    format!(
        "answered AS (
            UPDATE idempotency i SET status = a.answer_status, headers = a.answer_headers, body = a.answer_body
            FROM {from} a
            WHERE a.answer_status IS NOT NULL AND i.partner_id = a.claim_partner AND i.key = a.claim_key
                AND i.resource_id = a.id
         )"
    )
}

/// Binds an answer's status, headers and body, then the claim's partner and key.
pub fn bind_answer<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    claim: &'q Claim,
    response: &'q StoredResponse,
) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>, StoreError> {
    Ok(query
        .bind(i64::from(response.status))
        .bind(response.headers_json()?)
        .bind(response.body.as_slice())
        .bind(claim.partner_id.as_str())
        .bind(claim.key.as_str()))
}

/// Writes the records of deferred claims inside the caller's transaction, in one statement:
/// a free key, or one past its retention, is taken; a live record keeps its key. Returns
/// the `(partner, key)` pairs taken. Keys are taken in one sorted order (two transactions
/// taking overlapping keys queue, never deadlock); a key twice among `claims` is taken once.
pub async fn claim_deferred_in(
    conn: &mut PgConnection,
    claims: &[&Claim],
) -> Result<std::collections::HashSet<(String, String)>, StoreError> {
    let mut rows = std::collections::BTreeMap::new();
    for c in claims {
        if let Some(d) = &c.deferred {
            rows.entry((c.partner_id.as_str(), c.key.as_str())).or_insert(d);
        }
    }
    let taken: Vec<(String, String)> = sqlx::query_as(
        "INSERT INTO idempotency AS i (partner_id, key, fingerprint, lease_until, created_at, expires_at)
         SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[])
         ON CONFLICT (partner_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, resource_id = NULL,
            lease_until = EXCLUDED.lease_until, status = NULL, headers = NULL, body = NULL,
            created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
         WHERE i.expires_at <= EXCLUDED.created_at
         RETURNING partner_id, key",
    )
    // A map's keys and values come in one (sorted) order.
    .bind(rows.keys().map(|(partner, _)| *partner).collect::<Vec<&str>>())
    .bind(rows.keys().map(|(_, key)| *key).collect::<Vec<&str>>())
    .bind(rows.values().map(|d| d.fingerprint.as_str()).collect::<Vec<&str>>())
    .bind(rows.values().map(|d| d.lease_until).collect::<Vec<i64>>())
    .bind(rows.values().map(|d| d.created_at).collect::<Vec<i64>>())
    .bind(rows.values().map(|d| d.expires_at).collect::<Vec<i64>>())
    .fetch_all(&mut *conn)
    .await
    .map_err(err)?;
    Ok(taken.into_iter().collect())
}

/// Lets go, inside the caller's transaction, of the deferred keys it took for resources it
/// then refused: the keys are free again, as if never claimed.
pub async fn release_deferred_in(conn: &mut PgConnection, claims: &[&Claim]) -> Result<(), StoreError> {
    if claims.is_empty() {
        return Ok(());
    }
    let partners: Vec<&str> = claims.iter().map(|c| c.partner_id.as_str()).collect();
    let keys: Vec<&str> = claims.iter().map(|c| c.key.as_str()).collect();
    sqlx::query(
        "DELETE FROM idempotency i USING UNNEST($1::TEXT[], $2::TEXT[]) AS k (partner_id, key)
         WHERE i.partner_id = k.partner_id AND i.key = k.key AND i.resource_id IS NULL",
    )
    .bind(partners)
    .bind(keys)
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    Ok(())
}

/// A key's record, with the columns [`record_of`] reads.
macro_rules! record {
    () => {
        "SELECT fingerprint, resource_id, lease_until, status, headers, body, expires_at
         FROM idempotency WHERE partner_id = $1 AND key = $2"
    };
}
const RECORD: &str = record!();
const RECORD_FOR_UPDATE: &str = concat!(record!(), " FOR UPDATE");

fn record_of(r: &sqlx::postgres::PgRow) -> Record {
    let answer = r.get::<Option<i64>, _>("status").map(|status| StoredResponse {
        status: u16::try_from(status).unwrap_or(500),
        headers: serde_json::from_str(r.get::<Option<&str>, _>("headers").unwrap_or("[]")).unwrap_or_default(),
        body: r.get::<Option<Vec<u8>>, _>("body").unwrap_or_default(),
    });
    Record {
        fingerprint: r.get("fingerprint"),
        resource_id: r.get("resource_id"),
        lease_until: r.get("lease_until"),
        answer,
        expires_at: r.get("expires_at"),
    }
}

#[async_trait]
impl IdempotencyStore for PgIdempotencyStore {
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
        let row = sqlx::query(RECORD).bind(partner_id).bind(key.as_str()).fetch_optional(&self.pool).await;
        Ok(row.map_err(err)?.and_then(|r| record_of(&r).says(fingerprint, now, self.lease_secs)))
    }

    async fn begin(
        &self,
        partner_id: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: i64,
    ) -> Result<Begin, StoreError> {
        // The common case in one statement of its own (one round trip, no transaction around
        // it): a new key is claimed by its insert.
        let fresh = sqlx::query(
            "INSERT INTO idempotency (partner_id, key, fingerprint, lease_until, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (partner_id, key) DO NOTHING",
        )
        .bind(partner_id)
        .bind(key.as_str())
        .bind(fingerprint)
        .bind(now + self.lease_secs)
        .bind(now)
        .bind(now + RETENTION_SECS)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        if fresh.rows_affected() == 1 {
            return Ok(Begin::Claimed(Claim::held(partner_id, key, None)));
        }
        let mut tx = self.pool.begin().await.map_err(err)?;
        // The key exists: lock it, so deciding and taking over cannot interleave with another.
        let row = sqlx::query(RECORD_FOR_UPDATE).bind(partner_id).bind(key.as_str()).fetch_optional(&mut *tx).await;
        let claim = |resume: Option<String>| Claim::held(partner_id, key, resume);
        let outcome = match row.map_err(err)?.map(|r| record_of(&r)) {
            Some(record) if record.is_live(now) => {
                let resume = record.resource_id.clone();
                match record.says(fingerprint, now, self.lease_secs) {
                    Some(said) => said,
                    None => {
                        // The holder died: take the key over and resume what it created.
                        sqlx::query("UPDATE idempotency SET lease_until = $1 WHERE partner_id = $2 AND key = $3")
                            .bind(now + self.lease_secs)
                            .bind(partner_id)
                            .bind(key.as_str())
                            .execute(&mut *tx)
                            .await
                            .map_err(err)?;
                        Begin::Claimed(claim(resume))
                    }
                }
            }
            _ => {
                // Expired (or deleted by a purge after our insert lost): start it afresh.
                sqlx::query(
                    "INSERT INTO idempotency (partner_id, key, fingerprint, lease_until, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (partner_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,
                        resource_id = NULL, lease_until = EXCLUDED.lease_until, status = NULL, headers = NULL,
                        body = NULL, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
                )
                .bind(partner_id)
                .bind(key.as_str())
                .bind(fingerprint)
                .bind(now + self.lease_secs)
                .bind(now)
                .bind(now + RETENTION_SECS)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
                Begin::Claimed(claim(None))
            }
        };
        tx.commit().await.map_err(err)?;
        Ok(outcome)
    }

    async fn link(&self, claim: &Claim, resource_id: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        link_in(&mut conn, claim, resource_id).await
    }

    async fn complete(&self, claim: &Claim, response: &StoredResponse, _now: i64) -> Result<(), StoreError> {
        complete_in(&mut *self.pool.acquire().await.map_err(err)?, claim, response).await
    }

    async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency WHERE partner_id = $1 AND key = $2 AND resource_id IS NULL")
            .bind(&claim.partner_id)
            .bind(claim.key.as_str())
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}
