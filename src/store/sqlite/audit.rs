//! The audit chains in the gateway's SQLite database. Every write runs in a `BEGIN IMMEDIATE`
//! transaction: SQLite's one writer at a time is what keeps a chain from forking here.

use std::collections::{BTreeMap, HashMap};

use super::SqliteDb;
use async_trait::async_trait;
use sqlx::Connection as _;
use sqlx::SqliteConnection;

use super::err;
use crate::audit::{
    AuditStore, Chain, CheckpointSigner, Head, NewRecord, PartnerState, Record,
    chain::{CHECKPOINT, RecordRow},
};
use crate::store::StoreError;

pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_heads (
        chain TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        checkpoint_seq INTEGER NOT NULL DEFAULT 0,
        checkpoint_at INTEGER NOT NULL DEFAULT 0
    )",
    "INSERT INTO audit_heads (chain, seq, hash) VALUES
        ('access', 0, '0000000000000000000000000000000000000000000000000000000000000000'),
        ('records', 0, '0000000000000000000000000000000000000000000000000000000000000000')
     ON CONFLICT (chain) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS audit_records (
        chain TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (chain, seq)
    )",
    "CREATE INDEX IF NOT EXISTS audit_records_by_time ON audit_records (chain, at)",
    // Append-only by rule, not only by convention: an edit needs this trigger dropped first
    // (and `audit verify` still finds it).
    "CREATE TRIGGER IF NOT EXISTS audit_records_append_only BEFORE UPDATE ON audit_records
     BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
    "CREATE TABLE IF NOT EXISTS audit_partners (
        partner_id TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        state TEXT NOT NULL
    )",
    "ALTER TABLE events ADD COLUMN audited INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS events_to_audit ON events (seq) WHERE audited = 0",
];

#[derive(Clone)]
pub struct SqliteAuditStore {
    db: SqliteDb,
}

impl SqliteAuditStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// Links `records` to their chains' heads and stores them; the caller's transaction holds
/// the write lock.
pub(super) async fn append_in(conn: &mut SqliteConnection, records: &[NewRecord]) -> Result<Vec<Record>, StoreError> {
    let mut heads: HashMap<Chain, Head> = HashMap::new();
    let mut out = Vec::with_capacity(records.len());
    for new in records {
        let head = match heads.get(&new.chain) {
            Some(head) => head.clone(),
            None => head_in(conn, new.chain).await?,
        };
        let r = new.link(&head);
        sqlx::query(
            "INSERT INTO audit_records (chain, seq, at, actor, action, subject, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(r.chain.as_str())
        .bind(r.seq)
        .bind(r.at)
        .bind(&r.actor)
        .bind(&r.action)
        .bind(&r.subject)
        .bind(&r.detail)
        .bind(&r.prev_hash)
        .bind(&r.hash)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
        heads.insert(r.chain, r.head());
        out.push(r);
    }
    for (chain, head) in heads {
        let checkpoint = out.iter().rev().find(|r| r.chain == chain && r.action == CHECKPOINT);
        sqlx::query(
            "UPDATE audit_heads SET seq = ?2, hash = ?3,
                checkpoint_seq = COALESCE(?4, checkpoint_seq), checkpoint_at = COALESCE(?5, checkpoint_at)
             WHERE chain = ?1",
        )
        .bind(chain.as_str())
        .bind(head.seq)
        .bind(&head.hash)
        .bind(checkpoint.map(|c| c.seq))
        .bind(checkpoint.map(|c| c.at))
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    }
    Ok(out)
}

async fn head_in(conn: &mut SqliteConnection, chain: Chain) -> Result<Head, StoreError> {
    let (seq, hash): (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE chain = ?1")
        .bind(chain.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(err)?;
    Ok(Head { seq, hash })
}

/// Whether a checkpoint is due: the chain grew since the last one, which is old enough.
async fn checkpoint_due(conn: &mut SqliteConnection, chain: Chain, now: i64, every: i64) -> Result<bool, StoreError> {
    let (seq, checkpoint_seq, checkpoint_at): (i64, i64, i64) =
        sqlx::query_as("SELECT seq, checkpoint_seq, checkpoint_at FROM audit_heads WHERE chain = ?1")
            .bind(chain.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?;
    Ok(seq > checkpoint_seq && now - checkpoint_at >= every)
}

#[async_trait]
impl AuditStore for SqliteAuditStore {
    async fn append(&self, records: &[NewRecord]) -> Result<Vec<Record>, StoreError> {
        let mut conn = self.db.writer.acquire().await.map_err(err)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let out = append_in(&mut tx, records).await?;
        tx.commit().await.map_err(err)?;
        Ok(out)
    }

    async fn absorb_events(&self, max: u32) -> Result<u64, StoreError> {
        let mut conn = self.db.writer.acquire().await.map_err(err)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let rows: Vec<(i64, String, String, String, String, i64, String)> = sqlx::query_as(
            "SELECT seq, id, partner_id, type, subject_id, created_at, data FROM events
             WHERE audited = 0 ORDER BY seq LIMIT ?1",
        )
        .bind(i64::from(max))
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
        let Some(last) = rows.last().map(|r| r.0) else { return Ok(0) };
        let records: Vec<NewRecord> = rows.into_iter().map(crate::audit::event_record).collect();
        append_in(&mut tx, &records).await?;
        // The write lock is held: every unaudited event up to `last` was read above.
        sqlx::query("UPDATE events SET audited = 1 WHERE audited = 0 AND seq <= ?1")
            .bind(last)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(records.len() as u64)
    }

    async fn checkpoint(
        &self,
        chain: Chain,
        now: i64,
        every_secs: i64,
        sign: &CheckpointSigner<'_>,
    ) -> Result<bool, StoreError> {
        // Looked at without the write lock first: most ticks have nothing to sign.
        if !checkpoint_due(&mut *self.db.writer.acquire().await.map_err(err)?, chain, now, every_secs).await? {
            return Ok(false);
        }
        let mut conn = self.db.writer.acquire().await.map_err(err)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        if !checkpoint_due(&mut tx, chain, now, every_secs).await? {
            return Ok(false);
        }
        let head = head_in(&mut tx, chain).await?;
        let record = sign(chain, &head, now).map_err(StoreError::Unavailable)?;
        append_in(&mut tx, &[record]).await?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn head(&self, chain: Chain) -> Result<Head, StoreError> {
        head_in(&mut *self.db.reader.acquire().await.map_err(err)?, chain).await
    }

    async fn read(&self, chain: Chain, after_seq: i64, limit: u32) -> Result<Vec<Record>, StoreError> {
        let rows: Vec<RecordRow> = sqlx::query_as(
            "SELECT chain, seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_records
             WHERE chain = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .bind(chain.as_str())
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.db.reader)
        .await
        .map_err(err)?;
        rows.into_iter().map(|row| Record::from_row(row).map_err(StoreError::Corrupt)).collect()
    }

    async fn partner_states(&self) -> Result<BTreeMap<String, PartnerState>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT partner_id, state FROM audit_partners")
            .fetch_all(&self.db.reader)
            .await
            .map_err(err)?;
        rows.into_iter()
            .map(|(id, state)| Ok((id, serde_json::from_str(&state).map_err(StoreError::corrupt)?)))
            .collect()
    }

    async fn record_partner(
        &self,
        id: &str,
        expected: Option<&str>,
        state: Option<&PartnerState>,
        record: &NewRecord,
    ) -> Result<bool, StoreError> {
        let mut conn = self.db.writer.acquire().await.map_err(err)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let recorded: Option<String> = sqlx::query_scalar("SELECT digest FROM audit_partners WHERE partner_id = ?1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
        if recorded.as_deref() != expected {
            return Ok(false);
        }
        append_in(&mut tx, std::slice::from_ref(record)).await?;
        match state {
            Some(s) => {
                let text = serde_json::to_string(s).map_err(StoreError::corrupt)?;
                sqlx::query(
                    "INSERT INTO audit_partners (partner_id, digest, state) VALUES (?1, ?2, ?3)
                     ON CONFLICT (partner_id) DO UPDATE SET digest = excluded.digest, state = excluded.state",
                )
                .bind(id)
                .bind(&s.digest)
                .bind(text)
                .execute(&mut *tx)
                .await
            }
            None => sqlx::query("DELETE FROM audit_partners WHERE partner_id = ?1").bind(id).execute(&mut *tx).await,
        }
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn prune_point(&self, chain: Chain, since: i64) -> Result<Option<i64>, StoreError> {
        let (first, keep_from, head): (Option<i64>, Option<i64>, i64) = sqlx::query_as(
            "SELECT (SELECT MIN(seq) FROM audit_records WHERE chain = ?1),
                    (SELECT MIN(seq) FROM audit_records WHERE chain = ?1 AND at >= ?2),
                    (SELECT seq FROM audit_heads WHERE chain = ?1)",
        )
        .bind(chain.as_str())
        .bind(since)
        .fetch_one(&self.db.reader)
        .await
        .map_err(err)?;
        let keep_from = keep_from.unwrap_or(head);
        let checkpoint: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM audit_records WHERE chain = ?1 AND action = ?2 AND seq <= ?3")
                .bind(chain.as_str())
                .bind(CHECKPOINT)
                .bind(keep_from)
                .fetch_one(&self.db.reader)
                .await
                .map_err(err)?;
        Ok(checkpoint.filter(|c| first.is_some_and(|f| *c > f)))
    }

    async fn prune_before(&self, chain: Chain, seq: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_records WHERE chain = ?1 AND seq < ?2")
            .bind(chain.as_str())
            .bind(seq)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}
