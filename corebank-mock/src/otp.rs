//! One-time codes sent by SMS (a mock: the "SMS" lands in the `sms_outbox` table, which
//! `GET /core/sms-outbox` shows as the demo's phone).
//!
//! A code is six uniformly random digits, valid for [`TTL_SECS`]. Only SHA-256 of
//! `otp_id:code` is stored, and verification compares digests without an early exit. Five
//! wrong codes lock the otp for good; a right code works once. The code itself appears only
//! in the SMS text: never in an answer, a log line or an error message.

use rand::Rng;
use scenegate_sqlite_batch::GatedPool;
use sha2::{Digest, Sha256};
use sqlx::Connection as _;

use crate::error::CoreError;

pub(crate) const TTL_SECS: i64 = 300;
/// Wrong codes accepted before the otp locks.
pub(crate) const MAX_WRONG: i64 = 5;

#[derive(Debug)]
pub(crate) struct Sent {
    pub otp_id: String,
    pub expires_at: i64,
    pub masked_mobile: String,
}

/// Creates an otp for `cust_no` and "sends" its code to the customer's mobile.
pub(crate) async fn send(
    pool: &GatedPool,
    cust_no: &str,
    purpose: &str,
    reference: &str,
    now: i64,
) -> Result<Sent, CoreError> {
    let mut conn = pool.acquire().await?;
    let mobile: Option<(String,)> = sqlx::query_as("SELECT mobile FROM customers WHERE cust_no = ?1")
        .bind(cust_no)
        .fetch_optional(&mut *conn)
        .await?;
    let (mobile,) = mobile.ok_or(CoreError::NotFound("customer"))?;
    let (otp_id, code) = {
        let mut rng = rand::rng();
        let id: [u8; 16] = rng.random();
        (format!("OTP{}", hex(&id)), format!("{:06}", rng.random_range(0..1_000_000_u32)))
    };
    let expires_at = now + TTL_SECS;
    let text = format!(
        "【Scenegate Bank】Your verification code is {code}, for: {purpose}. Valid for 5 minutes. \
         Never share it with anyone, including bank staff."
    );
    let mut tx = conn.begin().await?;
    sqlx::query(
        "INSERT INTO otps (otp_id, cust_no, ref, purpose, code_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(&otp_id)
    .bind(cust_no)
    .bind(reference)
    .bind(purpose)
    .bind(digest(&otp_id, &code))
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO sms_outbox (mobile, text, sent_at, otp_id) VALUES (?1, ?2, ?3, ?4)")
        .bind(&mobile)
        .bind(&text)
        .bind(now)
        .bind(&otp_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Sent { otp_id, expires_at, masked_mobile: mask_mobile(&mobile) })
}

/// Who an otp was sent to and for what, answered with a successful verification so the
/// caller can check the code was for the customer and operation it is authorising.
#[derive(Debug)]
pub(crate) struct Verified {
    pub cust_no: String,
    pub reference: String,
}

/// Checks `code` in order: unknown (E404), already used (E464), locked (E462), expired
/// (E463), then the code itself. A wrong code is counted in the same `BEGIN IMMEDIATE`
/// transaction that checks it, so parallel guesses cannot get past [`MAX_WRONG`]; the
/// attempt that reaches it answers E462 rather than E461.
pub(crate) async fn verify(pool: &GatedPool, otp_id: &str, code: &str, now: i64) -> Result<Verified, CoreError> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    type Row = (String, String, String, i64, i64, Option<i64>);
    let row: Option<Row> =
        sqlx::query_as("SELECT cust_no, ref, code_hash, expires_at, failed, used_at FROM otps WHERE otp_id = ?1")
            .bind(otp_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (cust_no, reference, stored, expires_at, failed, used_at) = row.ok_or(CoreError::NotFound("otp"))?;
    if used_at.is_some() {
        return Err(CoreError::OtpUsed);
    }
    if failed >= MAX_WRONG {
        return Err(CoreError::OtpLocked);
    }
    if now >= expires_at {
        return Err(CoreError::OtpExpired);
    }
    if same_digest(digest(otp_id, code).as_bytes(), stored.as_bytes()) {
        sqlx::query("UPDATE otps SET used_at = ?2 WHERE otp_id = ?1").bind(otp_id).bind(now).execute(&mut *tx).await?;
        tx.commit().await?;
        return Ok(Verified { cust_no, reference });
    }
    let failed = failed + 1;
    sqlx::query("UPDATE otps SET failed = ?2 WHERE otp_id = ?1").bind(otp_id).bind(failed).execute(&mut *tx).await?;
    tx.commit().await?;
    if failed >= MAX_WRONG {
        Err(CoreError::OtpLocked)
    } else {
        Err(CoreError::OtpWrong { remaining: MAX_WRONG - failed })
    }
}

/// Salted with the otp id, so equal codes of two otps have unrelated digests.
fn digest(otp_id: &str, code: &str) -> String {
    hex(&Sha256::digest(format!("{otp_id}:{code}").as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without an early exit, so the time taken does not tell how much matched.
fn same_digest(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `13800000001` → `138****0001`; anything too short to mask that way is fully hidden.
pub(crate) fn mask_mobile(mobile: &str) -> String {
    let chars: Vec<char> = mobile.chars().collect();
    if chars.len() < 8 {
        return "****".into();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_the_operator_prefix_and_last_four() {
        assert_eq!(mask_mobile("13800000001"), "138****0001");
        assert_eq!(mask_mobile("1380"), "****");
    }

    #[test]
    fn digests_compare_equal_only_when_identical() {
        let d = digest("OTP1", "123456");
        assert!(same_digest(d.as_bytes(), digest("OTP1", "123456").as_bytes()));
        assert!(!same_digest(d.as_bytes(), digest("OTP1", "123457").as_bytes()));
        assert!(!same_digest(d.as_bytes(), digest("OTP2", "123456").as_bytes()), "salted by otp id");
        assert!(!same_digest(d.as_bytes(), &d.as_bytes()[1..]));
        assert_eq!(d.len(), 64);
        assert!(!d.contains("123456"));
    }
}
