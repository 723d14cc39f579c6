//! Where grants are kept. Keys are SHA-256 hex of the secrets; single use is enforced by
//! conditional updates (`… WHERE used = 0`), so racing callers cannot both win.

use async_trait::async_trait;

use super::{CodeGrant, PushedRequest, RefreshGrant, ScaChallenge, Session};
use crate::store::StoreError;

/// Codes are kept this long past their expiry, so a late replay still revokes what they issued.
pub(crate) const CODE_RETENTION_SECS: i64 = 86_400;

#[async_trait]
pub trait GrantStore: ScaStore + Send + Sync {
    async fn put_request(&self, key: &str, req: &PushedRequest) -> Result<(), StoreError>;
    /// The request, if not used and not expired at `now`.
    async fn request(&self, key: &str, now: i64) -> Result<Option<PushedRequest>, StoreError>;
    /// Marks the request used; true for exactly one caller, and only before it expires.
    async fn consume_request(&self, key: &str, now: i64) -> Result<bool, StoreError>;

    async fn put_code(&self, key: &str, grant: &CodeGrant) -> Result<(), StoreError>;
    /// The code and whether it was already used.
    async fn code(&self, key: &str) -> Result<Option<(CodeGrant, bool)>, StoreError>;
    /// Marks the code used; true for exactly one caller.
    async fn use_code(&self, key: &str) -> Result<bool, StoreError>;
    /// Revokes every access and refresh token issued from the code, and marks the code.
    async fn revoke_code(&self, key: &str) -> Result<(), StoreError>;
    async fn code_revoked(&self, key: &str) -> Result<bool, StoreError>;

    /// Remembers an access token issued from a code, so a replay of the code can revoke it.
    async fn record_access(&self, jti: &str, code_key: &str, expires_at: i64) -> Result<(), StoreError>;
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    async fn put_refresh(&self, key: &str, grant: &RefreshGrant) -> Result<(), StoreError>;
    async fn refresh(&self, key: &str) -> Result<Option<RefreshGrant>, StoreError>;

    async fn purge(&self, now: i64) -> Result<u64, StoreError>;
}

/// Pending strong customer authentications (one-time codes), keyed by the SHA-256 of the
/// customer's session id: a session has at most one, and a new one replaces it.
#[async_trait]
pub trait ScaStore: Send + Sync {
    async fn put_sca(&self, session_key: &str, challenge: &ScaChallenge) -> Result<(), StoreError>;
    /// The session's challenge, if not expired at `now`.
    async fn sca(&self, session_key: &str, now: i64) -> Result<Option<ScaChallenge>, StoreError>;
    /// Ends the session's challenge; true for exactly one caller.
    async fn delete_sca(&self, session_key: &str) -> Result<bool, StoreError>;
    async fn purge_sca(&self, now: i64) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn put_session(&self, key: &str, session: &Session) -> Result<(), StoreError>;
    async fn session(&self, key: &str) -> Result<Option<Session>, StoreError>;
    async fn touch_session(&self, key: &str, now: i64) -> Result<(), StoreError>;
    async fn delete_session(&self, key: &str) -> Result<(), StoreError>;
    async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError>;
}
