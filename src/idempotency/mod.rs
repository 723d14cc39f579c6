//! `Idempotency-Key` on every money-moving POST: a retry of the same request gets the first
//! answer again (`Idempotent-Replayed: true`), never a second payment.
//!
//! A key is scoped to its partner and kept [`RETENTION_SECS`]. The first request with a key
//! inserts an *in-flight* record holding a lease; the resource it creates (payment, refund,
//! consent) is linked to the record in the same transaction that writes the resource, and the
//! final answer is stored before it is sent (a payment's with its settlement, in the same
//! write: `payments::SettledAnswer`). Concurrent requests with the key see the lease and get
//! 409 `idempotency_in_flight`; a request whose owner crashed takes the record over when the
//! lease lapses and resumes the linked resource rather than creating another. The same key
//! with a different method, path or body is 422 `idempotency_key_reused`.
//!
//! A payment's key is *deferred* instead ([`IdempotencyStore::defer`]): nothing is written
//! before the payment, whose batched transaction inserts the key's record with it, and
//! refuses the payment if another request has the key (`StoreError::Conflict`). That saves
//! the busiest money call a commit of its own; the pipeline then asks [`IdempotencyStore::begin`]
//! what the key holds only when the request was refused, so a retry still replays, waits or
//! is refused exactly as if its key had been claimed first. (A signed copy sent while its
//! first copy's payment is not yet written finds the first's in-flight marker in the replay
//! store and is told it is in flight: `in_flight_marker` in the pipeline.)

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::store::StoreError;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header on a replay.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key is remembered after its first use.
pub const RETENTION_SECS: i64 = 24 * 3600;
/// How long a request may hold a key before another may take it over. Longer than any one
/// request can take (the gateway's request timeout is 10 s by default).
pub const LEASE_SECS: i64 = 30;
const MAX_KEY_CHARS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the `Idempotency-Key` header is required on this request")]
    Missing,
    #[error("the `Idempotency-Key` header must be 1 to 255 characters of A-Z, a-z, 0-9, `.`, `_`, `:` or `-`")]
    Malformed,
}

/// A checked `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(header: Option<&str>) -> Result<Self, KeyError> {
        let value = header.ok_or(KeyError::Missing)?;
        let ok = !value.is_empty()
            && value.len() <= MAX_KEY_CHARS
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
        if ok { Ok(Self(value.to_owned())) } else { Err(KeyError::Malformed) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What makes two requests "the same": method, path and a digest of the exact body bytes.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(Sha256::digest(body));
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A request that holds a key, or will with its resource: it must finish with
/// [`IdempotencyStore::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub partner_id: String,
    pub key: IdempotencyKey,
    /// A resource a crashed earlier holder already created under this key, to be resumed.
    pub resume: Option<String>,
    /// Set when the key is not held yet: the transaction that writes the resource claims it.
    pub deferred: Option<Deferred>,
}

impl Claim {
    /// A key held by this request (its record written by [`IdempotencyStore::begin`]).
    pub fn held(partner_id: &str, key: &IdempotencyKey, resume: Option<String>) -> Self {
        Self { partner_id: partner_id.to_owned(), key: key.clone(), resume, deferred: None }
    }

    /// A claim whose record is written with its resource, holding a lease of `lease_secs`.
    pub fn deferred(partner_id: &str, key: &IdempotencyKey, fingerprint: &str, now: i64, lease_secs: i64) -> Self {
        let deferred = Deferred {
            fingerprint: fingerprint.to_owned(),
            created_at: now,
            lease_until: now + lease_secs,
            expires_at: now + RETENTION_SECS,
        };
        Self { partner_id: partner_id.to_owned(), key: key.clone(), resume: None, deferred: Some(deferred) }
    }
}

/// What the transaction that writes a deferred claim's resource writes of its key: the
/// record [`IdempotencyStore::begin`] would have, already holding its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    pub fingerprint: String,
    pub created_at: i64,
    pub lease_until: i64,
    pub expires_at: i64,
}

/// What a deferred claim meets when a live record has its key.
pub fn key_taken() -> StoreError {
    StoreError::Conflict("another request holds this idempotency key".into())
}

/// A key's record as the engines read it: what [`Record::says`] decides on, and the
/// resource a claim taking the key over resumes.
pub struct Record {
    pub fingerprint: String,
    pub resource_id: Option<String>,
    pub lease_until: i64,
    pub answer: Option<StoredResponse>,
    pub expires_at: i64,
}

impl Record {
    /// Within its retention: a record past it is as good as none.
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at > now
    }

    /// What the record says to a request with `fingerprint` at `now`, in every engine's
    /// `peek` and `begin`: used for another request, answered (replay), or in flight; `None`
    /// when the key is free to claim (no longer live) or to take over (its holder died,
    /// leaving at most `resource_id`).
    pub fn says(self, fingerprint: &str, now: i64, lease_secs: i64) -> Option<Begin> {
        if !self.is_live(now) {
            None
        } else if self.fingerprint != fingerprint {
            Some(Begin::Reused)
        } else if let Some(answer) = self.answer {
            Some(Begin::Replay(answer))
        } else if self.lease_until > now {
            Some(Begin::InFlight { retry_after: (self.lease_until - now).clamp(1, lease_secs) })
        } else {
            None
        }
    }
}

/// A stored answer, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The headers that belong to the answer itself (content type, its signature).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StoredResponse {
    /// The headers as every engine keeps them: a JSON array of name and value pairs.
    pub fn headers_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(&self.headers).map_err(StoreError::corrupt)
    }
}

/// What the first look at a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is this request's now.
    Claimed(Claim),
    /// Answered before: replay it.
    Replay(StoredResponse),
    /// Another request holds the key; try again in `retry_after` seconds.
    InFlight { retry_after: i64 },
    /// Used before with another method, path or body.
    Reused,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// A claim on `key` that writes nothing yet: the store that records the request's
    /// resource claims the key in the same transaction (the engines' `link_in`), taking a
    /// free key or one past its retention, and fails with `StoreError::Conflict` when a live
    /// record has it. The caller then asks [`Self::begin`] what that record holds.
    fn defer(&self, partner_id: &str, key: &IdempotencyKey, fingerprint: &str, now: i64) -> Claim;
    /// What the key's record says, claiming nothing: answered (replay), in flight, used for
    /// another request, or `None` when the key is free (no record, one past its retention,
    /// or one whose holder died and may be taken over with [`Self::begin`]).
    async fn peek(
        &self,
        partner_id: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: i64,
    ) -> Result<Option<Begin>, StoreError>;
    /// Claims `key` for this request, or says why not. Atomic across concurrent callers and
    /// gateway instances.
    async fn begin(
        &self,
        partner_id: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: i64,
    ) -> Result<Begin, StoreError>;
    /// Records the resource a claim created. Engines do this inside the transaction that
    /// writes the resource (each engine's `link_in`); this is the same on its own.
    async fn link(&self, claim: &Claim, resource_id: &str) -> Result<(), StoreError>;
    /// Stores the answer sent; later requests with the key replay it.
    async fn complete(&self, claim: &Claim, response: &StoredResponse, now: i64) -> Result<(), StoreError>;
    /// Lets go of a claim that produced no resource and no answer worth keeping (the request
    /// was refused before anything was written), so the partner may retry with the same key.
    async fn release(&self, claim: &Claim) -> Result<(), StoreError>;
    /// Forgets keys past their retention.
    async fn purge(&self, now: i64) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests;
