//! Where events and their deliveries are kept: the operations the delivery worker, the
//! polling API and the operators' CLI need, independent of the database behind them.
//!
//! Writing an event is not here: it must happen on the caller's own transaction, whose type
//! is the backend's (see [`super::sqlite::append`]).

use async_trait::async_trait;

use super::{Event, EventId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStoreError {
    /// The database could not be reached or failed; worth retrying later.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// No such event, or not the caller's: the two answer alike, so ids cannot be probed.
    #[error("no such event")]
    NotFound,
    /// The event exists but is not in a state that allows this, or the caller's lease on
    /// it has passed to another worker.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored row could not be read back (bad JSON, unknown state): a bug, not a retry.
    #[error("stored event is unreadable: {0}")]
    Corrupt(String),
}

impl From<crate::store::StoreError> for EventStoreError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as S;
        match e {
            S::Conflict(m) => Self::Conflict(m),
            S::NotFound => Self::NotFound,
            S::Corrupt(m) => Self::Corrupt(m),
            S::Unavailable(m) | S::Timeout(m) => Self::Unavailable(m),
        }
    }
}

/// Where one event's webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or for an earlier event of its subject).
    Pending,
    /// The partner's endpoint answered 2xx.
    Delivered,
    /// Retries ran out (or the target is refused by policy); waits for an operator.
    Dead,
    /// The partner has no webhook URL: the event is only available by polling.
    Skipped,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            "skipped" => Some(Self::Skipped),
            _ => None,
        }
    }
}

/// A delivery's bookkeeping, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub state: DeliveryState,
    /// Attempts made so far (reset by a redelivery).
    pub attempts: u32,
    /// Unix seconds of the next attempt, when pending.
    pub next_at: i64,
    /// Unix seconds of the first attempt since the last (re)start: the retry horizon runs from here.
    pub first_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    /// Unix seconds when it became delivered, dead or skipped.
    pub finished_at: Option<i64>,
}

/// Proof that this worker holds an event for a while; the outcome must present it, so a
/// worker whose lease ran out (and whose event another worker took) cannot overwrite the
/// other's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease(pub String);

/// An event handed to one worker to deliver now.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub event: Event,
    /// Attempts made before this one.
    pub attempts: u32,
    pub first_attempt_at: Option<i64>,
    pub lease: Lease,
}

/// A delivery that gave up, with why.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub event: Event,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Unix seconds.
    pub dead_at: i64,
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Leases up to `limit` pending deliveries due at `now` for `lease_secs`. Never hands out
    /// an event while an earlier event of the same partner and subject is still pending, so a
    /// batch holds at most one event per subject. Atomic: two workers never get the same event
    /// while its lease runs.
    /// Writes an event on its own. Changes write theirs in their own transaction (each
    /// engine's `append` inside it); this is for an event that accompanies no other row.
    async fn append(&self, event: &super::NewEvent, now: i64) -> Result<EventId, EventStoreError>;

    /// When the earliest pending delivery that is not waiting behind an older one of its
    /// subject falls due, if any.
    async fn next_due(&self) -> Result<Option<i64>, EventStoreError>;

    async fn claim_due(&self, now: i64, limit: u32, lease_secs: i64) -> Result<Vec<Claimed>, EventStoreError>;

    /// The partner answered 2xx. `Conflict` when the lease was lost.
    async fn mark_delivered(&self, claim: &Claimed, now: i64) -> Result<(), EventStoreError>;

    /// The attempt failed; try again at `next_at`. Counts the attempt and keeps `error`.
    async fn schedule_retry(&self, claim: &Claimed, next_at: i64, error: &str, now: i64)
    -> Result<(), EventStoreError>;

    /// The attempt failed and no more will be made: dead-letter it.
    async fn mark_dead(&self, claim: &Claimed, error: &str, now: i64) -> Result<(), EventStoreError>;

    /// The partners have no webhook target; the events stay pollable. Not counted as an
    /// attempt. One write for all of them (a worker's round may claim many events of partners
    /// that poll); the `seq`s of those whose lease was still the claim's, which are the ones
    /// marked.
    async fn mark_skipped(&self, claims: &[&Claimed], now: i64) -> Result<Vec<i64>, EventStoreError>;

    /// Dead letters, oldest first, optionally for one partner.
    async fn dead_letters(&self, partner_id: Option<&str>, limit: u32) -> Result<Vec<DeadLetter>, EventStoreError>;

    /// Puts a dead letter back in the queue, due at `now`, with attempts and horizon reset.
    /// `Conflict` if it is not dead. It may then arrive after later events of its subject
    /// that were delivered meanwhile; receivers order by `created_at`.
    async fn redeliver(&self, id: &EventId, now: i64) -> Result<(), EventStoreError>;

    /// One event with its delivery, for operators (`events show`).
    async fn get(&self, id: &EventId) -> Result<(Event, Delivery), EventStoreError>;

    /// Polling: the partner's events not yet acknowledged, in order, after the event whose
    /// `seq` is `after` (none: from the start), at most `limit`.
    async fn list_for_partner(
        &self,
        partner_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, EventStoreError>;

    /// Polling: the partner has the event; it leaves the poll list. Acknowledging twice is
    /// fine; another partner's event is `NotFound`. Does not touch webhook delivery.
    async fn ack(&self, partner_id: &str, id: &EventId, now: i64) -> Result<(), EventStoreError>;

    /// Deletes events created before `created_before` that are finished with: acknowledged,
    /// or delivered (or skipped) by webhook, and not pending. Dead letters that nobody
    /// acknowledged stay for an operator. Returns how many events went.
    async fn purge(&self, created_before: i64) -> Result<u64, EventStoreError>;
}
