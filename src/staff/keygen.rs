//! `scenegate keygen`: a key pair for a partner being onboarded. The private key is for the
//! partner to keep (in production the partner runs this, or any tool, on its own machine and
//! sends the bank only the public JWK Set); the JWK Set is what the partner file names.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD as B64};

#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    #[error("`{0}` is not a partner id (`ptn_` followed by 1 to 48 of a-z, 0-9, `_`, `-`)")]
    BadId(String),
    #[error("{0} already exists; move it away first (a key is never overwritten)")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key generation failed")]
    Crypto,
}

/// What was written.
#[derive(Debug)]
pub struct Generated {
    pub kid: String,
    pub private_key: PathBuf,
    pub jwks: PathBuf,
}

/// Writes `<dir>/<id>.private.pem` (PKCS#8, mode 0600) and `<dir>/<id>.jwks.json` (the public
/// key, `use` = `sig`, `alg` = `ES256`). The key id names the partner and the month, so a
/// rotation later gets a new one: `<name>-<yyyy-mm>`.
pub fn generate(partner_id: &str, dir: &Path, month: &str) -> Result<Generated, KeygenError> {
    if !crate::config::is_partner_id(partner_id) {
        return Err(KeygenError::BadId(partner_id.to_owned()));
    }
    let private_key = dir.join(format!("{partner_id}.private.pem"));
    let jwks = dir.join(format!("{partner_id}.jwks.json"));
    for path in [&private_key, &jwks] {
        if path.exists() {
            return Err(KeygenError::Exists(path.clone()));
        }
    }
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| KeygenError::Crypto)?;
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).map_err(|_| KeygenError::Crypto)?;
    let point = pair.public_key().as_ref();
    let kid = format!("{}-{month}", partner_id.trim_start_matches("ptn_"));
    let set = serde_json::json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
    }]});
    let io = |path: &Path, source| KeygenError::Io { path: path.to_owned(), source };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    write_new(&private_key, pem(pkcs8.as_ref()).as_bytes(), 0o600).map_err(|e| io(&private_key, e))?;
    let text = serde_json::to_string_pretty(&set).unwrap_or_default() + "\n";
    write_new(&jwks, text.as_bytes(), 0o644).map_err(|e| io(&jwks, e))?;
    Ok(Generated { kid, private_key, jwks })
}

fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"))
}

/// Creates `path` (failing if it exists) with `mode`, and writes `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_signs_what_its_jwks_verifies_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let out = generate("ptn_acme", dir.path(), "2026-12").unwrap();
        assert_eq!(out.kid, "acme-2026-12");
        let key = jsonwebtoken::EncodingKey::from_ec_pem(&std::fs::read(&out.private_key).unwrap()).unwrap();
        let set: serde_json::Value = serde_json::from_slice(&std::fs::read(&out.jwks).unwrap()).unwrap();
        let jwk = &set["keys"][0];
        assert!(jwk.get("d").is_none(), "no private member in the JWK Set");
        let public =
            jsonwebtoken::DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
                .unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(out.kid.clone());
        let token = jsonwebtoken::encode(&header, &serde_json::json!({"sub": "x"}), &key).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(&token, &public, &validation).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&out.private_key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(matches!(generate("ptn_acme", dir.path(), "2026-12"), Err(KeygenError::Exists(_))));
        assert!(matches!(generate("acme", dir.path(), "2026-12"), Err(KeygenError::BadId(_))));
    }
}
