//! Argon2id password hashes (PHC strings) for the demo customers.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes with Argon2's default (OWASP-recommended) parameters.
pub(crate) fn hash(password: &str, salt: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let phc =
        Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(phc.to_string())
}

/// Blocking (tens of milliseconds by design): call from `spawn_blocking`. With no stored hash
/// (unknown login) it still runs a full verification against a dummy hash, so an unknown
/// login costs the same time as a wrong password and cannot be told apart by timing.
pub(crate) fn verify(stored: Option<&str>, password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("no such customer", b"scenegate-dummy!").unwrap_or_default());
    let Ok(parsed) = PasswordHash::new(stored.unwrap_or(dummy)) else {
        return false;
    };
    // The crate compares the derived key with the stored one in constant time.
    let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
    matches && stored.is_some()
}
