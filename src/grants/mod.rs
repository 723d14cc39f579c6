//! Customer grants: what the authorisation-code flow keeps between requests.
//!
//! Pushed authorisation requests (RFC 9126), authorisation codes, refresh tokens, the set of
//! revoked access tokens, customer browser sessions and the login throttle. Every secret
//! handed out (request handle, code, refresh token, session id) is 256 random bits, and only
//! its SHA-256 is stored. State sits behind the traits in [`store`] and [`throttle`]: SQLite
//! and in-process by default; Redis or PostgreSQL can follow without touching callers.

pub mod store;
pub mod throttle;

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use store::{GrantStore, ScaStore, SessionStore};
pub use throttle::{LocalThrottle, LoginThrottle, ThrottleKey};

use crate::{
    auth::Clock,
    auth::OAuthError,
    error::ApiError,
    kept::{ChangeMarks, Forget, Kept, Observation},
    store::StoreError,
};

/// Lifetime of a pushed authorisation request (`expires_in` of the PAR answer); FAPI 2.0
/// wants it under 600 s.
pub const REQUEST_TTL_SECS: i64 = 590;
/// Lifetime of an authorisation code (FAPI 2.0: at most 60 s).
pub const CODE_TTL_SECS: i64 = 60;
/// A customer session ends after this long without a request...
pub const SESSION_IDLE_SECS: i64 = 15 * 60;
/// ...and in any case this long after login.
pub const SESSION_ABSOLUTE_SECS: i64 = 60 * 60;
/// How long the customer has to type a one-time code (the core's codes live 300 s).
pub const SCA_TTL_SECS: i64 = 300;
/// `request_uri` = this prefix + the random handle.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// What a partner pushed to `/oauth2/par`, all of it checked there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRequest {
    pub client_id: String,
    /// One of the partner's registered `redirect_uris`, exactly.
    pub redirect_uri: String,
    pub code_challenge: String,
    pub state: String,
    pub consent_id: String,
    /// `zh-CN` or `en`.
    pub locale: String,
    pub expires_at: i64,
}

/// What an authorisation code stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub consent_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub customer_id: String,
    pub expires_at: i64,
}

/// A refresh token's record. It expires with its consent, never later, and is not rotated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshGrant {
    pub client_id: String,
    pub consent_id: String,
    /// Key of the code it was issued from: a replay of that code revokes it.
    pub code_key: String,
    pub expires_at: i64,
    pub revoked: bool,
}

/// A payment consent the customer approved, waiting for the one-time code the core sent
/// (strong customer authentication). Kept server-side under the customer's session; the
/// code itself is never stored, only the core's id for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaChallenge {
    pub customer_id: String,
    pub consent_id: String,
    /// The core account number the customer chose to pay from.
    pub debtor: String,
    /// The core's id of the code it sent.
    pub otp_id: String,
    /// Where the code went, as the core masked it (`138****0001`).
    pub masked_mobile: String,
    /// The authorisation request being answered (already used up at the decision).
    pub request: PushedRequest,
    pub expires_at: i64,
}

/// A logged-in customer's browser session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub customer_id: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
}

impl Session {
    pub fn live_at(&self, now: i64) -> bool {
        now - self.last_seen < SESSION_IDLE_SECS && now - self.created_at < SESSION_ABSOLUTE_SECS
    }
}

/// 256 random bits, base64url without padding (43 characters).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a secret: hex SHA-256, so a copy of the database opens nothing.
pub fn key_of(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal without leaking where they differ (CSRF tokens, PKCE).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
pub fn valid_code_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// An S256 challenge: 43 to 128 characters of base64url.
pub fn valid_code_challenge(c: &str) -> bool {
    (43..=128).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// PKCE S256: `BASE64URL(SHA256(verifier)) == challenge`, compared in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    constant_time_eq(&URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())), challenge)
}

fn internal(e: StoreError) -> ApiError {
    ApiError::Store(e)
}

fn invalid_grant(reason: &str) -> ApiError {
    OAuthError::InvalidGrant(reason.to_owned()).into()
}

/// The customer-grant service the handlers use.
pub struct Grants {
    store: Arc<dyn GrantStore>,
    sessions: Arc<dyn SessionStore>,
    pub throttle: Arc<dyn LoginThrottle>,
    clock: Arc<dyn Clock>,
    /// `jti`s of access tokens known not to be revoked (see [`crate::kept`]), each under its
    /// consent's change marks: every revocable token is bound to a consent (it came from
    /// an authorisation code), so a consent-scoped call observes one subject for both. A
    /// revocation forgets them all, in every instance.
    live_tokens: Option<Arc<Kept<String, ()>>>,
}

/// Tokens remembered as live at most; past it the set starts again empty.
const MAX_LIVE_TOKENS: usize = 100_000;

impl Grants {
    pub fn new(
        store: Arc<dyn GrantStore>,
        sessions: Arc<dyn SessionStore>,
        throttle: Arc<dyn LoginThrottle>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, sessions, throttle, clock, live_tokens: None }
    }

    /// Remembers tokens found not revoked until the next revocation, which `marks` announce
    /// to every process that writes the store. `marks` must be the consents' own (see
    /// [`Grants::is_revoked`]).
    #[must_use]
    pub fn cached(mut self, marks: Arc<dyn ChangeMarks>) -> Self {
        self.live_tokens = Some(Arc::new(Kept::new(MAX_LIVE_TOKENS, marks)));
        self
    }

    /// Revokes a code's grant and every token it gave (all bound to `consent_id`); then no
    /// token is remembered as live. Unlike a consent change, a revocation that cannot be
    /// announced is still made (its tokens are refused at least here and by every instance
    /// not keeping them) and then reported as the failure it is.
    async fn revoke_code(&self, key: &str, consent_id: &str) -> Result<(), StoreError> {
        let Some(live) = &self.live_tokens else { return self.store.revoke_code(key).await };
        let announced = live.begin_change(consent_id).await;
        let outcome = announced.announced();
        let revoked = self.store.revoke_code(key).await;
        live.end_change(announced, Forget::<str>::All).await;
        revoked.and(outcome)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Whether an access token bound to a consent was revoked before its expiry (its code
    /// was replayed). `consent` is that consent's stamp ([`crate::consent::Consents::observe`]),
    /// observed before this is asked, on the marks this was [`Grants::cached`] with.
    pub async fn is_revoked(&self, jti: &str, consent: &Observation) -> Result<bool, ApiError> {
        let seen = match &self.live_tokens {
            Some(live) => {
                let seen = live.seen(consent);
                if live.get(jti, &seen).is_some() {
                    return Ok(false);
                }
                Some(seen)
            }
            None => None,
        };
        let revoked = self.store.is_revoked(jti).await.map_err(internal)?;
        if let (false, Some(live), Some(seen)) = (revoked, &self.live_tokens, seen) {
            live.keep(seen, jti.to_owned(), ());
        }
        Ok(revoked)
    }

    /// Stores a pushed request; returns its `request_uri` and lifetime.
    pub async fn push(&self, mut req: PushedRequest) -> Result<(String, i64), ApiError> {
        let handle = random_secret();
        req.expires_at = self.now() + REQUEST_TTL_SECS;
        self.store.put_request(&key_of(&handle), &req).await.map_err(internal)?;
        Ok((format!("{REQUEST_URI_PREFIX}{handle}"), REQUEST_TTL_SECS))
    }

    /// The pushed request behind `request_uri`, if it is unused, unexpired and `client_id`'s.
    pub async fn pushed(&self, client_id: &str, request_uri: &str) -> Result<Option<PushedRequest>, ApiError> {
        let Some(handle) = request_uri.strip_prefix(REQUEST_URI_PREFIX).filter(|h| !h.is_empty() && h.len() <= 128)
        else {
            return Ok(None);
        };
        let found = self.store.request(&key_of(handle), self.now()).await.map_err(internal)?;
        Ok(found.filter(|r| r.client_id == client_id))
    }

    /// Uses up a pushed request: true for exactly one caller.
    pub async fn consume(&self, request_uri: &str) -> Result<bool, ApiError> {
        let handle = request_uri.strip_prefix(REQUEST_URI_PREFIX).unwrap_or_default();
        self.store.consume_request(&key_of(handle), self.now()).await.map_err(internal)
    }

    /// Issues an authorisation code for an approved request.
    pub async fn issue_code(&self, req: &PushedRequest, customer_id: &str) -> Result<String, ApiError> {
        let code = random_secret();
        let grant = CodeGrant {
            client_id: req.client_id.clone(),
            consent_id: req.consent_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            customer_id: customer_id.to_owned(),
            expires_at: self.now() + CODE_TTL_SECS,
        };
        self.store.put_code(&key_of(&code), &grant).await.map_err(internal)?;
        Ok(code)
    }

    /// Redeems a code for `client_id` (RFC 6749 §4.1.3, RFC 7636 §4.6). Returns the grant and
    /// the code's key. A code presented a second time is refused and everything issued from
    /// it is revoked (RFC 6749 §4.1.2).
    pub async fn redeem_code(
        &self,
        client_id: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<(CodeGrant, String), ApiError> {
        let key = key_of(code);
        let Some((grant, used)) = self.store.code(&key).await.map_err(internal)? else {
            return Err(invalid_grant("the authorization code is invalid"));
        };
        if used {
            self.revoke_code(&key, &grant.consent_id).await.map_err(internal)?;
            tracing::warn!(partner = %grant.client_id, "authorization code replayed; its tokens are revoked");
            return Err(invalid_grant("the authorization code was already used"));
        }
        if grant.client_id != client_id {
            return Err(invalid_grant("the authorization code was issued to another client"));
        }
        if self.now() >= grant.expires_at {
            return Err(invalid_grant("the authorization code has expired"));
        }
        if grant.redirect_uri != redirect_uri {
            return Err(invalid_grant("`redirect_uri` differs from the authorization request's"));
        }
        if !valid_code_verifier(verifier) || !pkce_matches(verifier, &grant.code_challenge) {
            return Err(invalid_grant("`code_verifier` does not match the code challenge"));
        }
        // Atomic: of two racing redemptions exactly one gets here; the other is a replay.
        if !self.store.use_code(&key).await.map_err(internal)? {
            self.revoke_code(&key, &grant.consent_id).await.map_err(internal)?;
            return Err(invalid_grant("the authorization code was already used"));
        }
        Ok((grant, key))
    }

    /// Records tokens issued from a code. A refresh token is created when `refresh_until`
    /// is given. Fails (revoking what was just recorded) if the code was replayed meanwhile.
    pub async fn record_issued(
        &self,
        code_key: &str,
        client_id: &str,
        consent_id: &str,
        jti: &str,
        access_exp: i64,
        refresh_until: Option<i64>,
    ) -> Result<Option<String>, ApiError> {
        self.store.record_access(jti, code_key, access_exp).await.map_err(internal)?;
        let refresh = match refresh_until {
            Some(expires_at) => {
                let token = random_secret();
                let grant = RefreshGrant {
                    client_id: client_id.to_owned(),
                    consent_id: consent_id.to_owned(),
                    code_key: code_key.to_owned(),
                    expires_at,
                    revoked: false,
                };
                self.store.put_refresh(&key_of(&token), &grant).await.map_err(internal)?;
                Some(token)
            }
            None => None,
        };
        if self.store.code_revoked(code_key).await.map_err(internal)? {
            self.revoke_code(code_key, consent_id).await.map_err(internal)?;
            return Err(invalid_grant("the authorization code was already used"));
        }
        Ok(refresh)
    }

    /// A live refresh token of `client_id`.
    pub async fn refresh(&self, client_id: &str, token: &str) -> Result<RefreshGrant, ApiError> {
        let grant = self.store.refresh(&key_of(token)).await.map_err(internal)?;
        match grant {
            Some(g) if g.revoked => Err(invalid_grant("the refresh token has been revoked")),
            Some(g) if self.now() >= g.expires_at => Err(invalid_grant("the refresh token has expired")),
            Some(g) if g.client_id != client_id => Err(invalid_grant("the refresh token was issued to another client")),
            Some(g) => Ok(g),
            None => Err(invalid_grant("the refresh token is invalid")),
        }
    }

    /// Logs a customer in: a new session id (never one the browser brought) and CSRF token.
    pub async fn start_session(&self, customer_id: &str) -> Result<(String, Session), ApiError> {
        let id = random_secret();
        let now = self.now();
        let session =
            Session { customer_id: customer_id.to_owned(), csrf: random_secret(), created_at: now, last_seen: now };
        self.sessions.put_session(&key_of(&id), &session).await.map_err(internal)?;
        Ok((id, session))
    }

    /// The live session with this id, its idle timer restarted.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, ApiError> {
        if id.is_empty() || id.len() > 128 {
            return Ok(None);
        }
        let key = key_of(id);
        let now = self.now();
        match self.sessions.session(&key).await.map_err(internal)? {
            Some(s) if s.live_at(now) => {
                self.sessions.touch_session(&key, now).await.map_err(internal)?;
                Ok(Some(Session { last_seen: now, ..s }))
            }
            Some(_) => {
                self.sessions.delete_session(&key).await.map_err(internal)?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Logs the customer out: the session is gone on every instance at once.
    pub async fn end_session(&self, id: &str) -> Result<(), ApiError> {
        self.sessions.delete_session(&key_of(id)).await.map_err(internal)
    }

    /// Starts strong customer authentication for the session `session_id`, replacing any
    /// challenge it had; the challenge lives [`SCA_TTL_SECS`].
    pub async fn start_sca(&self, session_id: &str, mut challenge: ScaChallenge) -> Result<ScaChallenge, ApiError> {
        challenge.expires_at = self.now() + SCA_TTL_SECS;
        self.store.put_sca(&key_of(session_id), &challenge).await.map_err(internal)?;
        Ok(challenge)
    }

    /// The session's live challenge, if it is `customer_id`'s.
    pub async fn sca(&self, session_id: &str, customer_id: &str) -> Result<Option<ScaChallenge>, ApiError> {
        if session_id.is_empty() || session_id.len() > 128 {
            return Ok(None);
        }
        let found = self.store.sca(&key_of(session_id), self.now()).await.map_err(internal)?;
        Ok(found.filter(|c| c.customer_id == customer_id))
    }

    /// Ends the session's challenge; true for exactly one caller.
    pub async fn end_sca(&self, session_id: &str) -> Result<bool, ApiError> {
        self.store.delete_sca(&key_of(session_id)).await.map_err(internal)
    }

    /// Drops what has expired; called from a timer.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let now = self.now();
        Ok(self.store.purge(now).await? + self.store.purge_sca(now).await? + self.sessions.purge_sessions(now).await?)
    }
}

#[cfg(test)]
mod tests;
