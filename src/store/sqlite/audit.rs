//! The audit chains in the gateway's SQLite database. Every write runs in a `BEGIN IMMEDIATE`
//! transaction: SQLite's one writer at a time is what keeps a chain from forking here.

use std::collections::{BTreeMap, HashMap};

use super::SqliteDb;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

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

/// Links `records` to their chains' heads and stores them, inside the writer thread's
/// transaction (which holds the write lock, so a chain cannot fork).
pub(super) fn append_in(conn: &Connection, records: &[NewRecord]) -> Result<Vec<Record>, StoreError> {
    let mut heads: HashMap<Chain, Head> = HashMap::new();
    let mut out = Vec::with_capacity(records.len());
    let mut insert = conn.prepare_cached(
        "INSERT INTO audit_records (chain, seq, at, actor, action, subject, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for new in records {
        let head = match heads.get(&new.chain) {
            Some(head) => head.clone(),
            None => head_in(conn, new.chain)?,
        };
        let r = new.link(&head);
        insert.execute(params![
            r.chain.as_str(),
            r.seq,
            r.at,
            r.actor,
            r.action,
            r.subject,
            r.detail,
            r.prev_hash,
            r.hash
        ])?;
        heads.insert(r.chain, r.head());
        out.push(r);
    }
    for (chain, head) in heads {
        let checkpoint = out.iter().rev().find(|r| r.chain == chain && r.action == CHECKPOINT);
        conn.prepare_cached(
            "UPDATE audit_heads SET seq = ?2, hash = ?3,
                checkpoint_seq = COALESCE(?4, checkpoint_seq), checkpoint_at = COALESCE(?5, checkpoint_at)
             WHERE chain = ?1",
        )?
        .execute(params![
            chain.as_str(),
            head.seq,
            head.hash,
            checkpoint.map(|c| c.seq),
            checkpoint.map(|c| c.at)
        ])?;
    }
    Ok(out)
}

const HEAD: &str = "SELECT seq, hash FROM audit_heads WHERE chain = ?1";
const CHECKPOINT_STATE: &str = "SELECT seq, checkpoint_seq, checkpoint_at FROM audit_heads WHERE chain = ?1";

fn head_in(conn: &Connection, chain: Chain) -> Result<Head, StoreError> {
    Ok(conn
        .prepare_cached(HEAD)?
        .query_row(params![chain.as_str()], |r| Ok(Head { seq: r.get(0)?, hash: r.get(1)? }))?)
}

/// Whether a checkpoint is due: the chain grew since the last one, which is old enough.
fn checkpoint_due((seq, checkpoint_seq, checkpoint_at): (i64, i64, i64), now: i64, every: i64) -> bool {
    seq > checkpoint_seq && now - checkpoint_at >= every
}

#[async_trait]
impl AuditStore for SqliteAuditStore {
    async fn append(&self, records: &[NewRecord]) -> Result<Vec<Record>, StoreError> {
        let records = records.to_vec();
        self.db.batch.write(move |conn| append_in(conn, &records)).await
    }

    async fn absorb_events(&self, max: u32) -> Result<u64, StoreError> {
        self.db
            .batch
            .write(move |conn| {
                let rows: Vec<(i64, String, String, String, String, i64, String)> = conn
                    .prepare_cached(
                        "SELECT seq, id, partner_id, type, subject_id, created_at, data FROM events
                         WHERE audited = 0 ORDER BY seq LIMIT ?1 + 0",
                    )?
                    .query_map(params![max], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let Some(last) = rows.last().map(|r| r.0) else { return Ok(0) };
                let records: Vec<NewRecord> = rows.into_iter().map(crate::audit::event_record).collect();
                append_in(conn, &records)?;
                // The write lock is held: every unaudited event up to `last` was read above.
                conn.prepare_cached("UPDATE events SET audited = 1 WHERE audited = 0 AND seq <= ?1")?
                    .execute(params![last])?;
                Ok(records.len() as u64)
            })
            .await
    }

    async fn checkpoint(
        &self,
        chain: Chain,
        now: i64,
        every_secs: i64,
        sign: &CheckpointSigner<'_>,
    ) -> Result<bool, StoreError> {
        // Looked at beside the writer first: most ticks have nothing to sign.
        let state: (i64, i64, i64) =
            sqlx::query_as(CHECKPOINT_STATE).bind(chain.as_str()).fetch_one(&self.db.reader).await.map_err(err)?;
        if !checkpoint_due(state, now, every_secs) {
            return Ok(false);
        }
        // The head to sign, read under the write lock; signed here (the signer is the
        // caller's); appended only if the chain has not moved since, else left to the next tick.
        let head = self
            .db
            .batch
            .write(move |conn| {
                let state = conn
                    .prepare_cached(CHECKPOINT_STATE)?
                    .query_row(params![chain.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                if !checkpoint_due(state, now, every_secs) {
                    return Ok(None);
                }
                head_in(conn, chain).map(Some)
            })
            .await?;
        let Some(head) = head else { return Ok(false) };
        let record = sign(chain, &head, now).map_err(StoreError::Unavailable)?;
        self.db
            .batch
            .write(move |conn| {
                if head_in(conn, chain)? != head {
                    return Ok(false);
                }
                append_in(conn, std::slice::from_ref(&record))?;
                Ok(true)
            })
            .await
    }

    async fn head(&self, chain: Chain) -> Result<Head, StoreError> {
        let (seq, hash) = sqlx::query_as(HEAD).bind(chain.as_str()).fetch_one(&self.db.reader).await.map_err(err)?;
        Ok(Head { seq, hash })
    }

    async fn read(&self, chain: Chain, after_seq: i64, limit: u32) -> Result<Vec<Record>, StoreError> {
        let rows: Vec<RecordRow> = sqlx::query_as(
            "SELECT chain, seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_records
             WHERE chain = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3 + 0",
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
        let (id, expected, record) = (id.to_owned(), expected.map(str::to_owned), record.clone());
        let state = state
            .map(|s| Ok::<_, StoreError>((s.digest.clone(), serde_json::to_string(s).map_err(StoreError::corrupt)?)))
            .transpose()?;
        self.db
            .batch
            .write(move |conn| {
                let recorded: Option<String> = conn
                    .prepare_cached("SELECT digest FROM audit_partners WHERE partner_id = ?1")?
                    .query_row(params![id], |r| r.get(0))
                    .optional()?;
                if recorded != expected {
                    return Ok(false);
                }
                append_in(conn, std::slice::from_ref(&record))?;
                match &state {
                    Some((digest, text)) => conn
                        .prepare_cached(
                            "INSERT INTO audit_partners (partner_id, digest, state) VALUES (?1, ?2, ?3)
                             ON CONFLICT (partner_id) DO UPDATE SET digest = excluded.digest, state = excluded.state",
                        )?
                        .execute(params![id, digest, text])?,
                    None => {
                        conn.prepare_cached("DELETE FROM audit_partners WHERE partner_id = ?1")?.execute(params![id])?
                    }
                };
                Ok(true)
            })
            .await
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
