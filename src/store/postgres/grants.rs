//! Customer grants on PostgreSQL. Keys are SHA-256 hex of the secrets; single use is one
//! conditional `UPDATE … WHERE NOT used`, so instances racing on the same code or request
//! URI cannot both win: the row lock makes the second see `used` and change nothing.

use async_trait::async_trait;
use sqlx::{PgPool, Row};

use super::err;
use crate::grants::{
    CodeGrant, GrantStore, PushedRequest, RefreshGrant, SESSION_ABSOLUTE_SECS, SESSION_IDLE_SECS, ScaChallenge,
    ScaStore, Session, SessionStore, store::CODE_RETENTION_SECS,
};
use crate::store::StoreError;

#[derive(Clone)]
pub struct PgGrantStore {
    pool: PgPool,
}

impl PgGrantStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(StoreError::corrupt)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(StoreError::corrupt)
}

#[async_trait]
impl GrantStore for PgGrantStore {
    async fn put_request(&self, key: &str, req: &PushedRequest) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO auth_requests (key, body, expires_at, used) VALUES ($1, $2, $3, FALSE)")
            .bind(key)
            .bind(to_json(req)?)
            .bind(req.expires_at)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn request(&self, key: &str, now: i64) -> Result<Option<PushedRequest>, StoreError> {
        let row = sqlx::query("SELECT body FROM auth_requests WHERE key = $1 AND NOT used AND expires_at > $2")
            .bind(key)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| from_json(r.get::<&str, _>("body"))).transpose()
    }

    async fn consume_request(&self, key: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE auth_requests SET used = TRUE WHERE key = $1 AND NOT used AND expires_at > $2")
            .bind(key)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn put_code(&self, key: &str, grant: &CodeGrant) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_codes (key, body, expires_at, used, revoked, retain_until) VALUES ($1, $2, $3, FALSE, FALSE, $4)",
        )
        .bind(key)
        .bind(to_json(grant)?)
        .bind(grant.expires_at)
        .bind(grant.expires_at + CODE_RETENTION_SECS)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn code(&self, key: &str) -> Result<Option<(CodeGrant, bool)>, StoreError> {
        let row = sqlx::query("SELECT body, used FROM auth_codes WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| Ok((from_json(r.get::<&str, _>("body"))?, r.get::<bool, _>("used")))).transpose()
    }

    async fn use_code(&self, key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE auth_codes SET used = TRUE WHERE key = $1 AND NOT used")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_code(&self, key: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("UPDATE auth_codes SET revoked = TRUE WHERE key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("UPDATE issued_tokens SET revoked = TRUE WHERE code_key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("UPDATE refresh_tokens SET revoked = TRUE WHERE code_key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn code_revoked(&self, key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT revoked FROM auth_codes WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        Ok(row.is_some_and(|r| r.get::<bool, _>("revoked")))
    }

    async fn record_access(&self, jti: &str, code_key: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO issued_tokens (jti, code_key, expires_at, revoked) VALUES ($1, $2, $3, FALSE)")
            .bind(jti)
            .bind(code_key)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT revoked FROM issued_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        Ok(row.is_some_and(|r| r.get::<bool, _>("revoked")))
    }

    async fn put_refresh(&self, key: &str, g: &RefreshGrant) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (key, client_id, consent_id, code_key, expires_at, revoked) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key)
        .bind(&g.client_id)
        .bind(&g.consent_id)
        .bind(&g.code_key)
        .bind(g.expires_at)
        .bind(g.revoked)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        // The code must outlive its refresh token, so a replay can still revoke it.
        sqlx::query("UPDATE auth_codes SET retain_until = GREATEST(retain_until, $1) WHERE key = $2")
            .bind(g.expires_at)
            .bind(&g.code_key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn refresh(&self, key: &str) -> Result<Option<RefreshGrant>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, consent_id, code_key, expires_at, revoked FROM refresh_tokens WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(row.map(|r| RefreshGrant {
            client_id: r.get("client_id"),
            consent_id: r.get("consent_id"),
            code_key: r.get("code_key"),
            expires_at: r.get("expires_at"),
            revoked: r.get::<bool, _>("revoked"),
        }))
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let mut n = 0;
        for sql in [
            "DELETE FROM auth_requests WHERE expires_at <= $1",
            "DELETE FROM auth_codes WHERE retain_until <= $1",
            "DELETE FROM issued_tokens WHERE expires_at <= $1",
            "DELETE FROM refresh_tokens WHERE expires_at <= $1",
        ] {
            n += sqlx::query(sql).bind(now).execute(&self.pool).await.map_err(err)?.rows_affected();
        }
        Ok(n)
    }
}

#[async_trait]
impl SessionStore for PgGrantStore {
    async fn put_session(&self, key: &str, s: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO customer_sessions (key, customer_id, csrf, created_at, last_seen) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key)
        .bind(&s.customer_id)
        .bind(&s.csrf)
        .bind(s.created_at)
        .bind(s.last_seen)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn session(&self, key: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query("SELECT customer_id, csrf, created_at, last_seen FROM customer_sessions WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        Ok(row.map(|r| Session {
            customer_id: r.get("customer_id"),
            csrf: r.get("csrf"),
            created_at: r.get("created_at"),
            last_seen: r.get("last_seen"),
        }))
    }

    async fn touch_session(&self, key: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE customer_sessions SET last_seen = GREATEST(last_seen, $1) WHERE key = $2")
            .bind(now)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn delete_session(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM customer_sessions WHERE key = $1").bind(key).execute(&self.pool).await.map_err(err)?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM customer_sessions WHERE last_seen <= $1 OR created_at <= $2")
            .bind(now - SESSION_IDLE_SECS)
            .bind(now - SESSION_ABSOLUTE_SECS)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ScaStore for PgGrantStore {
    async fn put_sca(&self, session_key: &str, c: &ScaChallenge) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sca_challenges (session_key, body, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT(session_key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at",
        )
        .bind(session_key)
        .bind(to_json(c)?)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn sca(&self, session_key: &str, now: i64) -> Result<Option<ScaChallenge>, StoreError> {
        let row = sqlx::query("SELECT body FROM sca_challenges WHERE session_key = $1 AND expires_at > $2")
            .bind(session_key)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| from_json(r.get::<&str, _>("body"))).transpose()
    }

    async fn delete_sca(&self, session_key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sca_challenges WHERE session_key = $1")
            .bind(session_key)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_sca(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sca_challenges WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}
