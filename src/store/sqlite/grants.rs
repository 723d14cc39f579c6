//! Customer grants in the gateway's SQLite file. Keys are SHA-256 hex of the secrets;
//! single use is enforced by conditional updates (`… WHERE used = 0`), so racing callers
//! cannot both win.

use super::SqliteDb;
use async_trait::async_trait;
use sqlx::Connection as _;
use sqlx::Row;

use super::err;
use crate::grants::{
    CodeGrant, GrantStore, PushedRequest, RefreshGrant, SESSION_ABSOLUTE_SECS, SESSION_IDLE_SECS, ScaChallenge,
    ScaStore, Session, SessionStore, store::CODE_RETENTION_SECS,
};
use crate::store::StoreError;

/// Pending strong customer authentications, one per customer session (a migration step).
pub const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS sca_challenges (
        session_key TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    )"];

#[derive(Clone)]
pub struct SqliteGrantStore {
    db: SqliteDb,
}

impl SqliteGrantStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(StoreError::corrupt)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(StoreError::corrupt)
}

#[async_trait]
impl GrantStore for SqliteGrantStore {
    async fn put_request(&self, key: &str, req: &PushedRequest) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO auth_requests (key, body, expires_at, used) VALUES (?, ?, ?, 0)")
            .bind(key)
            .bind(to_json(req)?)
            .bind(req.expires_at)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn request(&self, key: &str, now: i64) -> Result<Option<PushedRequest>, StoreError> {
        let row = sqlx::query("SELECT body FROM auth_requests WHERE key = ? AND used = 0 AND expires_at > ?")
            .bind(key)
            .bind(now)
            .fetch_optional(&self.db.reader)
            .await
            .map_err(err)?;
        row.map(|r| from_json(r.get::<&str, _>("body"))).transpose()
    }

    async fn consume_request(&self, key: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE auth_requests SET used = 1 WHERE key = ? AND used = 0 AND expires_at > ?")
            .bind(key)
            .bind(now)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn put_code(&self, key: &str, grant: &CodeGrant) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_codes (key, body, expires_at, used, revoked, retain_until) VALUES (?, ?, ?, 0, 0, ?)",
        )
        .bind(key)
        .bind(to_json(grant)?)
        .bind(grant.expires_at)
        .bind(grant.expires_at + CODE_RETENTION_SECS)
        .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn code(&self, key: &str) -> Result<Option<(CodeGrant, bool)>, StoreError> {
        let row = sqlx::query("SELECT body, used FROM auth_codes WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.db.reader)
            .await
            .map_err(err)?;
        row.map(|r| Ok((from_json(r.get::<&str, _>("body"))?, r.get::<i64, _>("used") != 0))).transpose()
    }

    async fn use_code(&self, key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE auth_codes SET used = 1 WHERE key = ? AND used = 0")
            .bind(key)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_code(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.db.writer.acquire().await.map_err(err)?;
        let mut tx = conn.begin().await.map_err(err)?;
        sqlx::query("UPDATE auth_codes SET revoked = 1 WHERE key = ?")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("UPDATE issued_tokens SET revoked = 1 WHERE code_key = ?")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE code_key = ?")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn code_revoked(&self, key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT revoked FROM auth_codes WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.db.reader)
            .await
            .map_err(err)?;
        Ok(row.is_some_and(|r| r.get::<i64, _>("revoked") != 0))
    }

    async fn record_access(&self, jti: &str, code_key: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO issued_tokens (jti, code_key, expires_at, revoked) VALUES (?, ?, ?, 0)")
            .bind(jti)
            .bind(code_key)
            .bind(expires_at)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT revoked FROM issued_tokens WHERE jti = ?")
            .bind(jti)
            .fetch_optional(&self.db.reader)
            .await
            .map_err(err)?;
        Ok(row.is_some_and(|r| r.get::<i64, _>("revoked") != 0))
    }

    async fn put_refresh(&self, key: &str, g: &RefreshGrant) -> Result<(), StoreError> {
        let mut conn = self.db.writer.acquire().await.map_err(err)?;
        let mut tx = conn.begin().await.map_err(err)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (key, client_id, consent_id, code_key, expires_at, revoked) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(key)
        .bind(&g.client_id)
        .bind(&g.consent_id)
        .bind(&g.code_key)
        .bind(g.expires_at)
        .bind(i64::from(g.revoked))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        // The code must outlive its refresh token, so a replay can still revoke it.
        sqlx::query("UPDATE auth_codes SET retain_until = MAX(retain_until, ?) WHERE key = ?")
            .bind(g.expires_at)
            .bind(&g.code_key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn refresh(&self, key: &str) -> Result<Option<RefreshGrant>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, consent_id, code_key, expires_at, revoked FROM refresh_tokens WHERE key = ?",
        )
        .bind(key)
        .fetch_optional(&self.db.reader)
        .await
        .map_err(err)?;
        Ok(row.map(|r| RefreshGrant {
            client_id: r.get("client_id"),
            consent_id: r.get("consent_id"),
            code_key: r.get("code_key"),
            expires_at: r.get("expires_at"),
            revoked: r.get::<i64, _>("revoked") != 0,
        }))
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let mut n = 0;
        for sql in [
            "DELETE FROM auth_requests WHERE expires_at <= ?",
            "DELETE FROM auth_codes WHERE retain_until <= ?",
            "DELETE FROM issued_tokens WHERE expires_at <= ?",
            "DELETE FROM refresh_tokens WHERE expires_at <= ?",
        ] {
            n += sqlx::query(sql)
                .bind(now)
                .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
                .await
                .map_err(err)?
                .rows_affected();
        }
        Ok(n)
    }
}

#[async_trait]
impl SessionStore for SqliteGrantStore {
    async fn put_session(&self, key: &str, s: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO customer_sessions (key, customer_id, csrf, created_at, last_seen) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(key)
        .bind(&s.customer_id)
        .bind(&s.csrf)
        .bind(s.created_at)
        .bind(s.last_seen)
        .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn session(&self, key: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query("SELECT customer_id, csrf, created_at, last_seen FROM customer_sessions WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.db.reader)
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
        sqlx::query("UPDATE customer_sessions SET last_seen = MAX(last_seen, ?) WHERE key = ?")
            .bind(now)
            .bind(key)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn delete_session(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM customer_sessions WHERE key = ?")
            .bind(key)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM customer_sessions WHERE last_seen <= ? OR created_at <= ?")
            .bind(now - SESSION_IDLE_SECS)
            .bind(now - SESSION_ABSOLUTE_SECS)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ScaStore for SqliteGrantStore {
    async fn put_sca(&self, session_key: &str, c: &ScaChallenge) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sca_challenges (session_key, body, expires_at) VALUES (?, ?, ?)
             ON CONFLICT(session_key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at",
        )
        .bind(session_key)
        .bind(to_json(c)?)
        .bind(c.expires_at)
        .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn sca(&self, session_key: &str, now: i64) -> Result<Option<ScaChallenge>, StoreError> {
        let row = sqlx::query("SELECT body FROM sca_challenges WHERE session_key = ? AND expires_at > ?")
            .bind(session_key)
            .bind(now)
            .fetch_optional(&self.db.reader)
            .await
            .map_err(err)?;
        row.map(|r| from_json(r.get::<&str, _>("body"))).transpose()
    }

    async fn delete_sca(&self, session_key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sca_challenges WHERE session_key = ?")
            .bind(session_key)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_sca(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sca_challenges WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *self.db.writer.acquire().await.map_err(err)?)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }
}
