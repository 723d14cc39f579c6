//! The audit chains on PostgreSQL, appended to by every instance of the cluster. An append
//! locks its chains' head rows (`FOR UPDATE`, always in chain-name order, so two appenders
//! never wait on each other crosswise) and moves them in the same transaction: two instances
//! appending at once queue on the head, and the `(chain, seq)` key refuses a fork outright.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use sqlx::{PgConnection, PgPool};

use super::err;
use crate::audit::{
    AuditStore, Chain, CheckpointSigner, Head, NewRecord, PartnerState, Record,
    chain::{CHECKPOINT, RecordRow},
};
use crate::store::StoreError;

pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_heads (
        chain TEXT PRIMARY KEY,
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL,
        checkpoint_seq BIGINT NOT NULL DEFAULT 0,
        checkpoint_at BIGINT NOT NULL DEFAULT 0
    )",
    "INSERT INTO audit_heads (chain, seq, hash) VALUES
        ('access', 0, '0000000000000000000000000000000000000000000000000000000000000000'),
        ('records', 0, '0000000000000000000000000000000000000000000000000000000000000000')
     ON CONFLICT (chain) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS audit_records (
        chain TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (chain, seq)
    )",
    "CREATE INDEX IF NOT EXISTS audit_records_by_time ON audit_records (chain, at)",
    // Append-only by rule: an edit needs this trigger dropped first (and `audit verify`
    // still finds it).
    "CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$",
    "CREATE OR REPLACE TRIGGER audit_records_append_only BEFORE UPDATE ON audit_records
     FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()",
    "CREATE TABLE IF NOT EXISTS audit_partners (
        partner_id TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        state TEXT NOT NULL
    )",
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS audited BOOLEAN NOT NULL DEFAULT FALSE",
    "CREATE INDEX IF NOT EXISTS events_to_audit ON events (seq) WHERE NOT audited",
];

#[derive(Clone)]
pub struct PgAuditStore {
    pool: PgPool,
}

impl PgAuditStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Locks the heads of `chains` in name order and returns them.
async fn lock_heads(conn: &mut PgConnection, chains: &BTreeSet<Chain>) -> Result<HashMap<Chain, Head>, StoreError> {
    let names: Vec<&str> = chains.iter().map(|c| c.as_str()).collect();
    let rows: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT chain, seq, hash FROM audit_heads WHERE chain = ANY($1) ORDER BY chain FOR UPDATE")
            .bind(&names)
            .fetch_all(&mut *conn)
            .await
            .map_err(err)?;
    rows.into_iter()
        .map(|(chain, seq, hash)| {
            let chain = Chain::parse(&chain).ok_or_else(|| StoreError::Corrupt(format!("unknown chain `{chain}`")))?;
            Ok((chain, Head { seq, hash }))
        })
        .collect()
}

/// Links `records` to the locked `heads` and stores them, moving the heads.
async fn append_locked(
    conn: &mut PgConnection,
    mut heads: HashMap<Chain, Head>,
    records: &[NewRecord],
) -> Result<Vec<Record>, StoreError> {
    let mut out = Vec::with_capacity(records.len());
    for new in records {
        let head = heads.get(&new.chain).ok_or_else(|| StoreError::Corrupt("audit head not locked".into()))?;
        let r = new.link(head);
        heads.insert(r.chain, r.head());
        out.push(r);
    }
    // One statement for the lot: the audit follower absorbs events in batches.
    let column = |f: fn(&Record) -> &str| out.iter().map(f).collect::<Vec<&str>>();
    sqlx::query(
        "INSERT INTO audit_records (chain, seq, at, actor, action, subject, detail, prev_hash, hash)
         SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[],
            $8::TEXT[], $9::TEXT[])",
    )
    .bind(column(|r| r.chain.as_str()))
    .bind(out.iter().map(|r| r.seq).collect::<Vec<i64>>())
    .bind(out.iter().map(|r| r.at).collect::<Vec<i64>>())
    .bind(column(|r| &r.actor))
    .bind(column(|r| &r.action))
    .bind(column(|r| &r.subject))
    .bind(column(|r| &r.detail))
    .bind(column(|r| &r.prev_hash))
    .bind(column(|r| &r.hash))
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    for chain in out.iter().map(|r| r.chain).collect::<BTreeSet<_>>() {
        let head = &heads[&chain];
        let checkpoint = out.iter().rev().find(|r| r.chain == chain && r.action == CHECKPOINT);
        sqlx::query(
            "UPDATE audit_heads SET seq = $2, hash = $3,
                checkpoint_seq = COALESCE($4, checkpoint_seq), checkpoint_at = COALESCE($5, checkpoint_at)
             WHERE chain = $1",
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

pub(super) async fn append_in(conn: &mut PgConnection, records: &[NewRecord]) -> Result<Vec<Record>, StoreError> {
    let heads = lock_heads(conn, &records.iter().map(|r| r.chain).collect()).await?;
    append_locked(conn, heads, records).await
}

async fn checkpoint_due(conn: &mut PgConnection, chain: Chain, now: i64, every: i64) -> Result<bool, StoreError> {
    let (seq, checkpoint_seq, checkpoint_at): (i64, i64, i64) =
        sqlx::query_as("SELECT seq, checkpoint_seq, checkpoint_at FROM audit_heads WHERE chain = $1")
            .bind(chain.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?;
    Ok(seq > checkpoint_seq && now - checkpoint_at >= every)
}

#[async_trait]
impl AuditStore for PgAuditStore {
    async fn append(&self, records: &[NewRecord]) -> Result<Vec<Record>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        let out = append_in(&mut tx, records).await?;
        tx.commit().await.map_err(err)?;
        Ok(out)
    }

    async fn absorb_events(&self, max: u32) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        // The head first: absorbers on other instances wait here, then see these events marked.
        let heads = lock_heads(&mut tx, &BTreeSet::from([Chain::Records])).await?;
        let rows: Vec<crate::audit::OutboxRow> = sqlx::query_as(
            "SELECT seq, id, partner_id, type, subject_id, created_at, data FROM events
             WHERE NOT audited ORDER BY seq LIMIT $1",
        )
        .bind(i64::from(max))
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let records: Vec<NewRecord> = rows.into_iter().map(crate::audit::event_record).collect();
        append_locked(&mut tx, heads, &records).await?;
        sqlx::query("UPDATE events SET audited = TRUE WHERE seq = ANY($1)")
            .bind(&seqs)
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
        // Looked at without a lock first: most ticks have nothing to sign.
        if !checkpoint_due(&mut *self.pool.acquire().await.map_err(err)?, chain, now, every_secs).await? {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await.map_err(err)?;
        let heads = lock_heads(&mut tx, &BTreeSet::from([chain])).await?;
        if !checkpoint_due(&mut tx, chain, now, every_secs).await? {
            return Ok(false);
        }
        let record = sign(chain, &heads[&chain], now).map_err(StoreError::Unavailable)?;
        append_locked(&mut tx, heads, &[record]).await?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn head(&self, chain: Chain) -> Result<Head, StoreError> {
        let (seq, hash): (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE chain = $1")
            .bind(chain.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(Head { seq, hash })
    }

    async fn read(&self, chain: Chain, after_seq: i64, limit: u32) -> Result<Vec<Record>, StoreError> {
        let rows: Vec<RecordRow> = sqlx::query_as(
            "SELECT chain, seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_records
             WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(chain.as_str())
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.into_iter().map(|row| Record::from_row(row).map_err(StoreError::Corrupt)).collect()
    }

    async fn partner_states(&self) -> Result<BTreeMap<String, PartnerState>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT partner_id, state FROM audit_partners").fetch_all(&self.pool).await.map_err(err)?;
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
        let mut tx = self.pool.begin().await.map_err(err)?;
        // The head serialises recorders: the digest read below is the latest one.
        let heads = lock_heads(&mut tx, &BTreeSet::from([record.chain])).await?;
        let recorded: Option<String> = sqlx::query_scalar("SELECT digest FROM audit_partners WHERE partner_id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
        if recorded.as_deref() != expected {
            return Ok(false);
        }
        append_locked(&mut tx, heads, std::slice::from_ref(record)).await?;
        match state {
            Some(s) => {
                let text = serde_json::to_string(s).map_err(StoreError::corrupt)?;
                sqlx::query(
                    "INSERT INTO audit_partners (partner_id, digest, state) VALUES ($1, $2, $3)
                     ON CONFLICT (partner_id) DO UPDATE SET digest = excluded.digest, state = excluded.state",
                )
                .bind(id)
                .bind(&s.digest)
                .bind(text)
                .execute(&mut *tx)
                .await
            }
            None => sqlx::query("DELETE FROM audit_partners WHERE partner_id = $1").bind(id).execute(&mut *tx).await,
        }
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn prune_point(&self, chain: Chain, since: i64) -> Result<Option<i64>, StoreError> {
        let (first, keep_from, head): (Option<i64>, Option<i64>, i64) = sqlx::query_as(
            "SELECT (SELECT MIN(seq) FROM audit_records WHERE chain = $1),
                    (SELECT MIN(seq) FROM audit_records WHERE chain = $1 AND at >= $2),
                    (SELECT seq FROM audit_heads WHERE chain = $1)",
        )
        .bind(chain.as_str())
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        let keep_from = keep_from.unwrap_or(head);
        let checkpoint: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM audit_records WHERE chain = $1 AND action = $2 AND seq <= $3")
                .bind(chain.as_str())
                .bind(CHECKPOINT)
                .bind(keep_from)
                .fetch_one(&self.pool)
                .await
                .map_err(err)?;
        Ok(checkpoint.filter(|c| first.is_some_and(|f| *c > f)))
    }

    async fn prune_before(&self, chain: Chain, seq: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_records WHERE chain = $1 AND seq < $2")
            .bind(chain.as_str())
            .bind(seq)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}
