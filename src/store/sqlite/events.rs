//! The outbox in the gateway's SQLite file: `events` (what happened, and whether a polling
//! partner acknowledged it) and `event_deliveries` (the webhook queue, one row per event).
//!
//! SQLite has one writer at a time, so the claim is a single `UPDATE … WHERE … IN (SELECT …)`
//! statement: atomic without row locks. A PostgreSQL version would use
//! `FOR UPDATE SKIP LOCKED` in the same place.

use super::SqliteDb;
use async_trait::async_trait;
use rusqlite::{Connection, params};
use sqlx::{Connection as _, Row, sqlite::SqliteRow};

use super::Columns;
use crate::store::StoreError;

use crate::events::{
    Claimed, DeadLetter, Delivery, DeliveryState, Event, EventId, EventStore, EventStoreError, Lease, NewEvent,
};

/// The outbox's tables, one statement per entry, idempotent: the gateway runs them with the
/// rest of its schema at startup.
pub const SCHEMA: &[&str] = &[
    // AUTOINCREMENT: a `seq` is never reused after a purge, so a polling cursor stays valid.
    "CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        partner_id TEXT NOT NULL,
        type TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        data TEXT NOT NULL,
        acked_at INTEGER
    )",
    "CREATE INDEX IF NOT EXISTS events_by_partner ON events (partner_id, seq) WHERE acked_at IS NULL",
    "CREATE INDEX IF NOT EXISTS events_by_created ON events (created_at)",
    // partner_id and subject_id are copied here so the per-subject order check stays in one index.
    "CREATE TABLE IF NOT EXISTS event_deliveries (
        event_seq INTEGER PRIMARY KEY REFERENCES events (seq),
        partner_id TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'skipped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        first_attempt_at INTEGER,
        lease_until INTEGER NOT NULL DEFAULT 0,
        lease_token TEXT,
        last_error TEXT,
        finished_at INTEGER
    )",
    "CREATE INDEX IF NOT EXISTS event_deliveries_due ON event_deliveries (next_at) WHERE state = 'pending'",
    "CREATE INDEX IF NOT EXISTS event_deliveries_by_subject
        ON event_deliveries (partner_id, subject_id, event_seq) WHERE state = 'pending'",
    "CREATE INDEX IF NOT EXISTS event_deliveries_dead ON event_deliveries (finished_at) WHERE state = 'dead'",
];

/// Every event's pending delivery written by the statement that writes the event: one
/// statement (atomic on its own) instead of two in a savepoint, on the writer's hot path.
pub const DELIVERY_TRIGGER: &[&str] = &["CREATE TRIGGER IF NOT EXISTS events_pending_delivery AFTER INSERT ON events
     BEGIN
       INSERT INTO event_deliveries (event_seq, partner_id, subject_id, state, next_at)
       VALUES (NEW.seq, NEW.partner_id, NEW.subject_id, 'pending', NEW.created_at);
     END"];

/// The claim's order, indexed (see `store::postgres::events::CLAIM_ORDER`).
pub const CLAIM_ORDER: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS event_deliveries_due_in_order ON event_deliveries (next_at, event_seq)
        WHERE state = 'pending'",
    "DROP INDEX IF EXISTS event_deliveries_due",
];

/// The trigger again, with the delivery due no earlier than its subject's pending ones (see
/// [`DEFER_LATER`]): while a receiver is down, a new event of a subject that already waits
/// does not become one more row the claim steps over on every round.
pub const DELIVERY_TRIGGER_IN_ORDER: &[&str] = &[
    "DROP TRIGGER IF EXISTS events_pending_delivery",
    "CREATE TRIGGER events_pending_delivery AFTER INSERT ON events
     BEGIN
       INSERT INTO event_deliveries (event_seq, partner_id, subject_id, state, next_at)
       VALUES (NEW.seq, NEW.partner_id, NEW.subject_id, 'pending', MAX(NEW.created_at, COALESCE(
         (SELECT MAX(next_at) FROM event_deliveries
          WHERE partner_id = NEW.partner_id AND subject_id = NEW.subject_id AND state = 'pending'),
         NEW.created_at)));
     END",
];

fn err(e: sqlx::Error) -> EventStoreError {
    match e {
        sqlx::Error::RowNotFound => EventStoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => EventStoreError::Conflict(db.to_string()),
        other => EventStoreError::Unavailable(other.to_string()),
    }
}

/// A delivery that failed holds back its subject's later ones (events of one subject are
/// delivered in order): they are deferred to its retry, so while a receiver is down the
/// claim query meets only deliveries it can take, instead of stepping over every blocked one
/// on each round (which grew with the backlog). The order check in the claim stays the
/// guarantee; this only keeps the blocked ones out of its way.
const DEFER_LATER: &str = "UPDATE event_deliveries SET next_at = MAX(next_at, ?1)
     WHERE partner_id = ?2 AND subject_id = ?3 AND state = 'pending' AND event_seq > ?4";

/// The writer thread's errors in the outbox's terms.
fn werr(e: rusqlite::Error) -> EventStoreError {
    StoreError::from(e).into()
}

/// Writes `event` and (by [`DELIVERY_TRIGGER_IN_ORDER`]) its pending delivery on the caller's
/// connection (the writer thread's); the delivery of an event of a partner that polls is
/// finished at once (`skipped`, see [`crate::events::Notify`]). Call it inside the
/// transaction that makes the change the event reports, so all commit or none does.
pub fn append(conn: &Connection, event: &NewEvent, now: i64) -> Result<EventId, EventStoreError> {
    let id = EventId::generate();
    let data = serde_json::to_string(&event.data).map_err(|e| EventStoreError::Corrupt(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO events (id, partner_id, type, subject_id, created_at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(werr)?
    .execute(params![id.as_str(), event.partner_id, event.event_type, event.subject_id, now, data])
    .map_err(werr)?;
    if event.notify == crate::events::Notify::Polling {
        conn.prepare_cached(
            "UPDATE event_deliveries SET state = 'skipped', next_at = ?2, finished_at = ?2 WHERE event_seq = ?1",
        )
        .map_err(werr)?
        .execute(params![conn.last_insert_rowid(), now])
        .map_err(werr)?;
    }
    Ok(id)
}

/// Leases up to `limit` due deliveries to `token` and reads them back with their events.
/// One statement chooses and leases, so it cannot interleave with another worker's claim.
/// An event is eligible only when no earlier event of its subject is still pending (leased
/// or not): that is what keeps one subject's events in order.
fn lease_due(
    conn: &Connection,
    now: i64,
    lease_secs: i64,
    limit: u32,
    token: &str,
) -> Result<Vec<Claimed>, EventStoreError> {
    let claimed = conn
        .prepare_cached(
            "UPDATE event_deliveries SET lease_until = ?1 + ?2, lease_token = ?3
             WHERE event_seq IN (
                SELECT d.event_seq FROM event_deliveries d
                WHERE d.state = 'pending' AND d.next_at <= ?1 AND d.lease_until <= ?1
                  AND NOT EXISTS (
                    SELECT 1 FROM event_deliveries p
                    WHERE p.partner_id = d.partner_id AND p.subject_id = d.subject_id
                      AND p.state = 'pending' AND p.event_seq < d.event_seq)
                ORDER BY d.next_at, d.event_seq
                LIMIT ?4 + 0)",
        )
        .map_err(werr)?
        .execute(params![now, lease_secs, token, limit])
        .map_err(werr)?;
    if claimed == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT e.id, e.seq, e.partner_id, e.type, e.subject_id, e.created_at, e.data,
                    d.attempts, d.first_attempt_at
             FROM event_deliveries d JOIN events e ON e.seq = d.event_seq
             WHERE d.lease_token = ?1 AND d.state = 'pending'
             ORDER BY d.event_seq",
        )
        .map_err(werr)?;
    let rows = stmt
        .query_map(params![token], |row| {
            Ok((|| {
                Ok::<_, EventStoreError>(Claimed {
                    event: event_from_row(row)?,
                    attempts: u32::try_from(row.int("attempts")?)
                        .map_err(|e| EventStoreError::Corrupt(e.to_string()))?,
                    first_attempt_at: row.opt_int("first_attempt_at")?,
                    lease: Lease(token.to_owned()),
                })
            })())
        })
        .map_err(werr)?;
    rows.map(|r| r.map_err(werr)?).collect()
}

/// A value bound into an outcome statement.
#[derive(Clone)]
enum Arg {
    Int(i64),
    Text(String),
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Int(n) => n.to_sql(),
            Self::Text(t) => t.to_sql(),
        }
    }
}

#[derive(Clone)]
pub struct SqliteEventStore {
    db: SqliteDb,
}

impl SqliteEventStore {
    /// `db` must already have [`SCHEMA`] applied.
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }

    /// One outcome for a leased delivery, in the writer's group commit. `sql` ends with the
    /// lease check (`WHERE event_seq = ? AND lease_token = ? AND state = 'pending'`), bound
    /// here after `args`, so an outcome lands only while the lease is ours.
    /// Records an attempt's outcome if the claim still holds the lease. `defer_later_until`:
    /// the subject's later deliveries wait at least until then (see [`DEFER_LATER`]).
    async fn finish(
        &self,
        claim: &Claimed,
        sql: &'static str,
        args: Vec<Arg>,
        defer_later_until: Option<i64>,
    ) -> Result<(), EventStoreError> {
        let (seq, lease, id) = (claim.event.seq, claim.lease.0.clone(), claim.event.id.clone());
        let (partner_id, subject_id) = (claim.event.partner_id.clone(), claim.event.subject_id.clone());
        self.db
            .batch
            .write(move |conn| {
                let mut values: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a as &dyn rusqlite::ToSql).collect();
                values.push(&seq);
                values.push(&lease);
                let done = conn.prepare_cached(sql).map_err(werr)?.execute(values.as_slice()).map_err(werr)?;
                if done != 1 {
                    return Err(EventStoreError::Conflict(format!("the lease on {id} passed to another worker")));
                }
                if let Some(until) = defer_later_until {
                    conn.prepare_cached(DEFER_LATER)
                        .map_err(werr)?
                        .execute(params![until, partner_id, subject_id, seq])
                        .map_err(werr)?;
                }
                Ok(())
            })
            .await
    }

    /// One event and its delivery by id.
    async fn fetch_one(&self, id: &EventId) -> Result<(Event, Delivery), EventStoreError> {
        let row = sqlx::query(
            "SELECT e.id, e.seq, e.partner_id, e.type, e.subject_id, e.created_at, e.data,
                    d.state, d.attempts, d.next_at, d.first_attempt_at, d.last_error, d.finished_at
             FROM events e JOIN event_deliveries d ON d.event_seq = e.seq
             WHERE e.id = ?",
        )
        .bind(id.as_str())
        .fetch_optional(&self.db.reader)
        .await
        .map_err(err)?
        .ok_or(EventStoreError::NotFound)?;
        Ok((event_from_row(&row)?, delivery_from_row(&row)?))
    }
}

fn event_from_row(row: &impl Columns) -> Result<Event, EventStoreError> {
    let corrupt = |e: &dyn std::fmt::Display| EventStoreError::Corrupt(e.to_string());
    Ok(Event {
        id: row.text("id")?.parse().map_err(|e| corrupt(&e))?,
        seq: row.int("seq")?,
        partner_id: row.text("partner_id")?,
        event_type: row.text("type")?,
        subject_id: row.text("subject_id")?,
        created_at: row.int("created_at")?,
        data: serde_json::from_str(&row.text("data")?).map_err(|e| corrupt(&e))?,
    })
}

fn delivery_from_row(row: &SqliteRow) -> Result<Delivery, EventStoreError> {
    let corrupt = |e: sqlx::Error| EventStoreError::Corrupt(e.to_string());
    let state: String = row.try_get("state").map_err(corrupt)?;
    Ok(Delivery {
        state: DeliveryState::parse(&state)
            .ok_or_else(|| EventStoreError::Corrupt(format!("unknown delivery state {state:?}")))?,
        attempts: row.try_get("attempts").map_err(corrupt)?,
        next_at: row.try_get("next_at").map_err(corrupt)?,
        first_attempt_at: row.try_get("first_attempt_at").map_err(corrupt)?,
        last_error: row.try_get("last_error").map_err(corrupt)?,
        finished_at: row.try_get("finished_at").map_err(corrupt)?,
    })
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn append(&self, event: &NewEvent, now: i64) -> Result<EventId, EventStoreError> {
        let event = event.clone();
        self.db.batch.write(move |conn| append(conn, &event, now)).await
    }

    async fn next_due(&self) -> Result<Option<i64>, EventStoreError> {
        sqlx::query_scalar(
            "SELECT next_at FROM event_deliveries d WHERE state = 'pending' AND NOT EXISTS (
                SELECT 1 FROM event_deliveries p WHERE p.partner_id = d.partner_id AND p.subject_id = d.subject_id
                  AND p.state = 'pending' AND p.event_seq < d.event_seq)
             ORDER BY next_at, event_seq LIMIT 1",
        )
        .fetch_optional(&self.db.reader)
        .await
        .map_err(err)
    }

    async fn claim_due(&self, now: i64, limit: u32, lease_secs: i64) -> Result<Vec<Claimed>, EventStoreError> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.db.batch.write(move |conn| lease_due(conn, now, lease_secs, limit, &token)).await
    }

    async fn mark_delivered(&self, claim: &Claimed, now: i64) -> Result<(), EventStoreError> {
        let q = "UPDATE event_deliveries SET state = 'delivered', attempts = attempts + 1,
                first_attempt_at = COALESCE(first_attempt_at, ?), finished_at = ?, lease_until = 0, lease_token = NULL
             WHERE event_seq = ? AND lease_token = ? AND state = 'pending'";
        self.finish(claim, q, vec![Arg::Int(now), Arg::Int(now)], None).await
    }

    async fn schedule_retry(
        &self,
        claim: &Claimed,
        next_at: i64,
        error: &str,
        now: i64,
    ) -> Result<(), EventStoreError> {
        let q = "UPDATE event_deliveries SET attempts = attempts + 1, next_at = ?, last_error = ?,
                first_attempt_at = COALESCE(first_attempt_at, ?), lease_until = 0, lease_token = NULL
             WHERE event_seq = ? AND lease_token = ? AND state = 'pending'";
        self.finish(claim, q, vec![Arg::Int(next_at), Arg::Text(error.to_owned()), Arg::Int(now)], Some(next_at)).await
    }

    async fn mark_dead(&self, claim: &Claimed, error: &str, now: i64) -> Result<(), EventStoreError> {
        let q = "UPDATE event_deliveries SET state = 'dead', attempts = attempts + 1, last_error = ?,
                first_attempt_at = COALESCE(first_attempt_at, ?), finished_at = ?, lease_until = 0, lease_token = NULL
             WHERE event_seq = ? AND lease_token = ? AND state = 'pending'";
        self.finish(claim, q, vec![Arg::Text(error.to_owned()), Arg::Int(now), Arg::Int(now)], None).await
    }

    async fn mark_skipped(&self, claims: &[&Claimed], now: i64) -> Result<Vec<i64>, EventStoreError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let leased: Vec<(i64, String)> = claims.iter().map(|c| (c.event.seq, c.lease.0.clone())).collect();
        self.db
            .batch
            .write(move |conn| {
                let mut skip = conn
                    .prepare_cached(
                        "UPDATE event_deliveries SET state = 'skipped', finished_at = ?1, lease_until = 0,
                            lease_token = NULL
                         WHERE event_seq = ?2 AND lease_token = ?3 AND state = 'pending'",
                    )
                    .map_err(werr)?;
                let mut marked = Vec::with_capacity(leased.len());
                for (seq, lease) in &leased {
                    if skip.execute(params![now, seq, lease]).map_err(werr)? == 1 {
                        marked.push(*seq);
                    }
                }
                Ok(marked)
            })
            .await
    }

    async fn dead_letters(&self, partner_id: Option<&str>, limit: u32) -> Result<Vec<DeadLetter>, EventStoreError> {
        let rows = sqlx::query(
            "SELECT e.id, e.seq, e.partner_id, e.type, e.subject_id, e.created_at, e.data,
                    d.attempts, d.last_error, d.finished_at
             FROM event_deliveries d JOIN events e ON e.seq = d.event_seq
             WHERE d.state = 'dead' AND (?1 IS NULL OR d.partner_id = ?1)
             ORDER BY d.finished_at, d.event_seq
             LIMIT ?2 + 0",
        )
        .bind(partner_id)
        .bind(limit)
        .fetch_all(&self.db.reader)
        .await
        .map_err(err)?;
        let corrupt = |e: sqlx::Error| EventStoreError::Corrupt(e.to_string());
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    event: event_from_row(row)?,
                    attempts: row.try_get("attempts").map_err(corrupt)?,
                    last_error: row.try_get("last_error").map_err(corrupt)?,
                    dead_at: row.try_get::<Option<i64>, _>("finished_at").map_err(corrupt)?.unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn redeliver(&self, id: &EventId, now: i64) -> Result<(), EventStoreError> {
        let done = sqlx::query(
            "UPDATE event_deliveries SET state = 'pending', attempts = 0, next_at = ?1, first_attempt_at = NULL,
                finished_at = NULL, lease_until = 0, lease_token = NULL
             WHERE state = 'dead' AND event_seq = (SELECT seq FROM events WHERE id = ?2)",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
        .await
        .map_err(err)?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let (_, delivery) = self.fetch_one(id).await?;
        Err(EventStoreError::Conflict(format!(
            "{id} is {}; only a dead letter can be redelivered",
            delivery.state.as_str()
        )))
    }

    async fn get(&self, id: &EventId) -> Result<(Event, Delivery), EventStoreError> {
        self.fetch_one(id).await
    }

    async fn list_for_partner(
        &self,
        partner_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, EventStoreError> {
        let rows = sqlx::query(
            "SELECT e.id, e.seq, e.partner_id, e.type, e.subject_id, e.created_at, e.data
             FROM events e
             WHERE e.partner_id = ?1 AND e.acked_at IS NULL AND e.seq > ?2
             ORDER BY e.seq
             LIMIT ?3 + 0",
        )
        .bind(partner_id)
        .bind(after.unwrap_or(0))
        .bind(limit)
        .fetch_all(&self.db.reader)
        .await
        .map_err(err)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn ack(&self, partner_id: &str, id: &EventId, now: i64) -> Result<(), EventStoreError> {
        let done = sqlx::query("UPDATE events SET acked_at = COALESCE(acked_at, ?1) WHERE id = ?2 AND partner_id = ?3")
            .bind(now)
            .bind(id.as_str())
            .bind(partner_id)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        if done.rows_affected() == 1 { Ok(()) } else { Err(EventStoreError::NotFound) }
    }

    async fn purge(&self, created_before: i64) -> Result<u64, EventStoreError> {
        let mut conn = self.db.writer.acquire().await.map_err(err)?;
        let mut tx = conn.begin().await.map_err(err)?;
        // Deliveries first (the rows that say whether an event is finished with), then the
        // events left without one: every event has a delivery row from `append`.
        sqlx::query(
            "DELETE FROM event_deliveries AS d
             WHERE d.state <> 'pending' AND EXISTS (
                SELECT 1 FROM events e
                WHERE e.seq = d.event_seq AND e.created_at < ?1
                  AND (e.acked_at IS NOT NULL OR d.state IN ('delivered', 'skipped')))",
        )
        .bind(created_before)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let done = sqlx::query(
            "DELETE FROM events
             WHERE created_at < ?1
               AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_seq = events.seq)",
        )
        .bind(created_before)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests;
