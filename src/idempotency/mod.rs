//! `Idempotency-Key` on every money-moving POST: a retry of the same request gets the first
//! answer again (`Idempotent-Replayed: true`), never a second payment.
//!
//! A key is scoped to its partner and kept [`RETENTION_SECS`]. The first request with a key
//! inserts an *in-flight* record holding a lease; the resource it creates (payment, refund,
//! consent) is linked to the record in the same transaction that writes the resource, and the
//! final answer is stored once sent. Concurrent requests with the key see the lease and get
//! 409 `idempotency_in_flight`; a request whose owner crashed takes the record over when the
//! lease lapses and resumes the linked resource rather than creating another. The same key
//! with a different method, path or body is 422 `idempotency_key_reused`.

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

/// A request that holds a key: it must finish with [`IdempotencyStore::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub partner_id: String,
    pub key: IdempotencyKey,
    /// A resource a crashed earlier holder already created under this key, to be resumed.
    pub resume: Option<String>,
}

/// A stored answer, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The headers that belong to the answer itself (content type, its signature).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
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
    /// Claims `key` for this request, or says why not. Atomic across concurrent callers and
    /// gateway instances.
    async fn begin(
        &self,
        partner_id: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: i64,
    ) -> Result<Begin, StoreError>;
    /// Stores the answer sent; later requests with the key replay it.
    /// Records the resource a claim created. Engines do this inside the transaction that
    /// writes the resource (each engine's `link_in`); this is the same on its own.
    async fn link(&self, claim: &Claim, resource_id: &str) -> Result<(), StoreError>;
    async fn complete(&self, claim: &Claim, response: &StoredResponse, now: i64) -> Result<(), StoreError>;
    /// Lets go of a claim that produced no resource and no answer worth keeping (the request
    /// was refused before anything was written), so the partner may retry with the same key.
    async fn release(&self, claim: &Claim) -> Result<(), StoreError>;
    /// Forgets keys past their retention.
    async fn purge(&self, now: i64) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests;
