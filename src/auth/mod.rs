//! Who is calling: partner client authentication at the token endpoint (RFC 7523
//! `private_key_jwt`) and the gateway's own access tokens (RFC 9068 JWTs, ES256).
//!
//! Algorithms are pinned on both sides: partners may sign with ES256 or PS256 only, and
//! access tokens are only ever ES256 under one of the gateway's published keys.

pub mod access_token;
pub mod client_assertion;
pub mod dpop;
pub mod jws;
pub mod signing;

use std::collections::BTreeSet;

/// Seconds since the epoch. Injected so tests can move time without sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        jiff::Timestamp::now().as_second()
    }
}

/// A clock tests set and move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn at(secs: i64) -> Self {
        Self(std::sync::atomic::AtomicI64::new(secs))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Why the token endpoint refused a request, named as RFC 6749 §5.2 names them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    /// The `DPoP` proof is missing where the client must send one, or is invalid (RFC 9449
    /// §5: `invalid_dpop_proof`).
    #[error("{0}")]
    InvalidDpopProof(String),
    /// The client must put the server's nonce in its DPoP proofs, and this one has none or a
    /// stale one (RFC 9449 §8: `use_dpop_nonce`); the answer carries a fresh `DPoP-Nonce`.
    #[error("the DPoP proof must carry the server's current nonce: retry with the one in the `DPoP-Nonce` header")]
    UseDpopNonce,
    /// The body is not form-encoded: answered 415 (`error` stays `invalid_request`, the
    /// nearest RFC 6749 code).
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    /// The code, refresh token or PKCE verifier is invalid, expired, replayed or another client's.
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnsupportedResponseType(String),
    /// The client may not use this grant or flow (e.g. not registered at level A2).
    #[error("{0}")]
    UnauthorizedClient(String),
    /// The client authenticated, but bank staff suspended it.
    #[error("partner is suspended")]
    PartnerSuspended,
    /// A check the request needs cannot be made now (the single-use store is unreachable):
    /// refused, never waved through. `error` is `temporarily_unavailable` (RFC 6749 §4.1.2.1).
    #[error("{0}")]
    Unavailable(String),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::UnsupportedMediaType(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InvalidScope(_) => "invalid_scope",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::Unavailable(_) => "temporarily_unavailable",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::PartnerSuspended => "unauthorized_client",
        }
    }
}

/// Scopes as the space-separated `scope` string of RFC 6749 §3.3.
pub fn scope_string(scopes: &BTreeSet<String>) -> String {
    scopes.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}
