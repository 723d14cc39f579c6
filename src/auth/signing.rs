//! The gateway's own ES256 signing keys, kept in a small JSON file under the data directory.
//!
//! Generated on first start. `scenegate rotate-signing-key` adds a new key that is published
//! in `/.well-known/jwks.json` at once but signs only from `activates_at`, later than the
//! JWKS cache lifetime: a verifier that cached the set before the rotation has refreshed it
//! before it meets a token signed with the new key. The old key signs until then, and stays
//! published until every token it signed has expired (`publish_until`), so rotation never
//! breaks a token in flight. A running gateway re-reads the file on SIGHUP.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{DecodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("signing key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("signing key file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// PKCS#8 DER, base64url. The file is created 0600; it is the gateway's only secret.
    private_pkcs8: String,
    created_at: i64,
    /// From when the key signs; before that it is only published. Absent in files written
    /// before rotation delays existed: then it signs from `created_at`.
    #[serde(default)]
    activates_at: Option<i64>,
    /// Set when retired: the key is published until this time, and signs until a newer key
    /// activates.
    #[serde(default)]
    publish_until: Option<i64>,
}

impl StoredKey {
    fn activates_at(&self) -> i64 {
        self.activates_at.unwrap_or(self.created_at)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("could not serialise what is signed: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the ES256 signature failed")]
    Crypto,
    #[error("an ES256 key cannot sign a header whose alg is {0:?}")]
    Algorithm(jsonwebtoken::Algorithm),
}

/// An ES256 private key, parsed once. `jsonwebtoken` re-reads the PKCS#8 document (and
/// re-derives the public point to check it) on every signature; the gateway signs every
/// access token, every payment answer and every audit checkpoint, so it keeps the parsed key.
pub struct Es256Key(EcdsaKeyPair);

impl Es256Key {
    /// From a PKCS#8 document (DER), P-256.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, String> {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map(Self)
            .map_err(|_| "not a P-256 PKCS#8 key".to_owned())
    }

    /// From a PKCS#8 PEM file's text (`-----BEGIN PRIVATE KEY-----`), P-256.
    pub fn from_pkcs8_pem(pem_text: &[u8]) -> Result<Self, String> {
        let block = pem::parse(pem_text).map_err(|e| e.to_string())?;
        if block.tag() != "PRIVATE KEY" {
            return Err(format!("a PEM block `{}`, not `PRIVATE KEY` (PKCS#8)", block.tag()));
        }
        Self::from_pkcs8_der(block.contents())
    }

    /// The JWS signature of `input` (RFC 7518 §3.4: R || S), base64url.
    pub fn sign(&self, input: &[u8]) -> Result<String, SignError> {
        let signature = self.0.sign(&SystemRandom::new(), input).map_err(|_| SignError::Crypto)?;
        Ok(B64.encode(signature.as_ref()))
    }

    /// A compact JWS (RFC 7515 §7.1) of `claims` under `header`, whose `alg` must be ES256.
    pub fn encode<T: Serialize>(&self, header: &Header, claims: &T) -> Result<String, SignError> {
        if header.alg != jsonwebtoken::Algorithm::ES256 {
            return Err(SignError::Algorithm(header.alg));
        }
        let mut jws = B64.encode(serde_json::to_vec(header)?);
        jws.push('.');
        jws.push_str(&B64.encode(serde_json::to_vec(claims)?));
        let signature = self.sign(jws.as_bytes())?;
        jws.push('.');
        jws.push_str(&signature);
        Ok(jws)
    }

    fn public_point(&self) -> &[u8] {
        self.0.public_key().as_ref()
    }
}

/// A key that verifies tokens, with its public JWK.
pub struct VerifyingKey {
    pub kid: String,
    pub key: DecodingKey,
    pub jwk: serde_json::Value,
}

/// A key that signs from `activates_at` on.
struct Signer {
    kid: String,
    key: Es256Key,
    activates_at: i64,
}

/// The keys in force: those that sign (each from its activation time), and every key that is
/// published (about to sign, signing, or whose tokens may still be alive).
pub struct SigningKeys {
    /// Ascending by activation time.
    signers: Vec<Signer>,
    pub published: Vec<VerifyingKey>,
}

impl SigningKeys {
    /// The key that signs at `now`: the most recently activated one. Before any key has
    /// activated (a clock set back), the earliest one, which is published already.
    pub fn signer(&self, now: i64) -> (&str, &Es256Key) {
        let active = self.signers.iter().rev().find(|s| s.activates_at <= now).or_else(|| self.signers.first());
        // `from_file` refuses a file without a key that can sign, so there is always one.
        let s = active.expect("a key set always has a signer");
        (&s.kid, &s.key)
    }

    pub fn verifying(&self, kid: &str) -> Option<&VerifyingKey> {
        self.published.iter().find(|k| k.kid == kid)
    }

    /// The JWK Set served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.published.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// Loads the key file, creating it with a fresh key when it does not exist yet.
    pub fn load_or_create(path: &Path, now: i64) -> Result<Self, KeyFileError> {
        if !path.exists() {
            write_file(path, &KeyFile { keys: vec![generate(now)?] })?;
            tracing::info!(path = %path.display(), "generated a new gateway signing key");
        }
        Self::from_file(read_file(path)?, path, now)
    }

    /// Reads a key set kept as text (the key file's JSON) somewhere other than a file: in
    /// cluster mode, the row every instance shares.
    pub fn from_text(text: &str, origin: &str, now: i64) -> Result<Self, KeyFileError> {
        let invalid = |reason: String| KeyFileError::Invalid { path: PathBuf::from(origin), reason };
        let file: KeyFile = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        Self::from_file(file, Path::new(origin), now)
    }

    fn from_file(file: KeyFile, path: &Path, now: i64) -> Result<Self, KeyFileError> {
        let invalid = |reason: String| KeyFileError::Invalid { path: path.to_owned(), reason };
        let live: Vec<&StoredKey> =
            file.keys.iter().filter(|k| k.publish_until.is_none_or(|until| until > now)).collect();
        if !live.iter().any(|k| k.publish_until.is_none()) {
            return Err(invalid("no active key".into()));
        }
        let mut signers = Vec::new();
        let mut published = Vec::new();
        for stored in live {
            let key = key_pair(&stored.private_pkcs8).map_err(invalid)?;
            published.push(verifying_key(&stored.kid, &key).map_err(invalid)?);
            signers.push(Signer { kid: stored.kid.clone(), key, activates_at: stored.activates_at() });
        }
        signers.sort_by_key(|s| s.activates_at);
        Ok(Self { signers, published })
    }
}

/// Adds a key that is published now and signs from `now + activate_after_secs` (set this
/// longer than verifiers cache the JWK Set). The current keys sign until then and stay
/// published `grace_secs` longer (their last tokens' lifetime plus skew). Keys whose
/// publication has ended are dropped from the file. Returns the new key id.
pub fn rotate(path: &Path, now: i64, activate_after_secs: i64, grace_secs: i64) -> Result<String, KeyFileError> {
    let mut file = if path.exists() { read_file(path)? } else { KeyFile { keys: Vec::new() } };
    let kid = rotate_keys(&mut file, now, activate_after_secs, grace_secs)?;
    write_file(path, &file)?;
    Ok(kid)
}

/// A fresh key set as text (one key, signing at once), for a store other than a file.
pub fn new_key_set_text(now: i64) -> Result<String, KeyFileError> {
    let file = KeyFile { keys: vec![generate(now)?] };
    serde_json::to_string(&file).map_err(|e| KeyFileError::Invalid { path: PathBuf::new(), reason: e.to_string() })
}

/// [`rotate`] on a key set kept as text: returns the new text and the new key id.
pub fn rotate_text(
    text: &str,
    now: i64,
    activate_after_secs: i64,
    grace_secs: i64,
) -> Result<(String, String), KeyFileError> {
    let invalid = |reason: String| KeyFileError::Invalid { path: PathBuf::new(), reason };
    let mut file: KeyFile = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let kid = rotate_keys(&mut file, now, activate_after_secs, grace_secs)?;
    Ok((serde_json::to_string(&file).map_err(|e| invalid(e.to_string()))?, kid))
}

fn rotate_keys(
    file: &mut KeyFile,
    now: i64,
    activate_after_secs: i64,
    grace_secs: i64,
) -> Result<String, KeyFileError> {
    file.keys.retain(|k| k.publish_until.is_none_or(|until| until > now));
    let activates_at = now + activate_after_secs;
    for k in file.keys.iter_mut().filter(|k| k.publish_until.is_none()) {
        k.publish_until = Some(activates_at + grace_secs);
    }
    let mut fresh = generate(now)?;
    fresh.activates_at = Some(activates_at);
    let kid = fresh.kid.clone();
    file.keys.push(fresh);
    Ok(kid)
}

fn generate(now: i64) -> Result<StoredKey, KeyFileError> {
    let err = |reason: &str| KeyFileError::Invalid { path: PathBuf::new(), reason: reason.into() };
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| err("key generation failed"))?;
    let pkcs8 = B64.encode(doc.as_ref());
    let key = key_pair(&pkcs8).map_err(|e| err(&e))?;
    let (x, y) = coordinates(&key);
    Ok(StoredKey {
        kid: thumbprint(&x, &y),
        private_pkcs8: pkcs8,
        created_at: now,
        activates_at: None,
        publish_until: None,
    })
}

fn key_pair(pkcs8_b64: &str) -> Result<Es256Key, String> {
    Es256Key::from_pkcs8_der(&B64.decode(pkcs8_b64).map_err(|e| e.to_string())?)
}

/// The public point's x and y, base64url: the uncompressed encoding is `04 || x || y`.
fn coordinates(key: &Es256Key) -> (String, String) {
    let point = key.public_point();
    (B64.encode(&point[1..33]), B64.encode(&point[33..65]))
}

/// RFC 7638 JWK thumbprint, so a key id is derived from the key and never collides.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

fn verifying_key(kid: &str, key: &Es256Key) -> Result<VerifyingKey, String> {
    let (x, y) = coordinates(key);
    let key = DecodingKey::from_ec_components(&x, &y).map_err(|e| e.to_string())?;
    let jwk =
        serde_json::json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256" });
    Ok(VerifyingKey { kid: kid.to_owned(), key, jwk })
}

fn read_file(path: &Path) -> Result<KeyFile, KeyFileError> {
    let bytes = std::fs::read(path).map_err(|source| KeyFileError::Io { path: path.to_owned(), source })?;
    serde_json::from_slice(&bytes).map_err(|e| KeyFileError::Invalid { path: path.to_owned(), reason: e.to_string() })
}

/// Writes via a temporary file and rename, so a crash never leaves a half-written key file.
fn write_file(path: &Path, file: &KeyFile) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&tmp).map_err(io)?;
    out.write_all(&serde_json::to_vec_pretty(file).unwrap_or_default()).map_err(io)?;
    out.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_published_before_it_signs_and_the_old_one_until_its_tokens_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let first = SigningKeys::load_or_create(&path, 1_000).unwrap();
        let old_kid = first.signer(1_000).0.to_owned();

        // Published at 2,000, signs from 2,120, old key published until 2,420.
        let new_kid = rotate(&path, 2_000, 120, 300).unwrap();
        let kids = |keys: &SigningKeys| -> Vec<String> {
            keys.jwks()["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
        };
        let pending = SigningKeys::load_or_create(&path, 2_000).unwrap();
        assert!(kids(&pending).contains(&new_kid), "published at once");
        assert_eq!(pending.signer(2_000).0, old_kid, "the old key signs until the new one activates");
        assert_eq!(pending.signer(2_119).0, old_kid);
        assert_eq!(pending.signer(2_120).0, new_kid, "a loaded set switches by the clock, no reload needed");

        let during = SigningKeys::load_or_create(&path, 2_419).unwrap();
        assert_eq!(during.signer(2_419).0, new_kid);
        assert!(during.verifying(&old_kid).is_some(), "old key stays published while its tokens live");

        let after = SigningKeys::load_or_create(&path, 2_420).unwrap();
        assert!(after.verifying(&old_kid).is_none());
        assert_eq!(kids(&after), vec![new_kid]);
    }

    #[test]
    fn a_key_file_written_before_activation_times_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let key = generate(5).unwrap();
        let legacy =
            serde_json::json!({ "keys": [{ "kid": key.kid, "private_pkcs8": key.private_pkcs8, "created_at": 5 }] });
        std::fs::write(&path, legacy.to_string()).unwrap();
        assert_eq!(SigningKeys::load_or_create(&path, 6).unwrap().signer(6).0, key.kid);
    }

    #[test]
    fn a_token_signed_with_the_parsed_key_verifies_under_the_published_one() {
        let keys = SigningKeys::from_text(&new_key_set_text(1).unwrap(), "test", 1).unwrap();
        let (kid, key) = keys.signer(1);
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        let token = key.encode(&header, &serde_json::json!({ "sub": "ptn_a", "exp": 4_000_000_000_i64 })).unwrap();
        let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        let published = &keys.verifying(kid).unwrap().key;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(&token, published, &validation).unwrap();
        assert_eq!(decoded.claims["sub"], "ptn_a");
        assert_eq!(decoded.header.kid.as_deref(), Some(kid));

        let mislabelled = Header::new(jsonwebtoken::Algorithm::RS256);
        assert!(matches!(key.encode(&mislabelled, &serde_json::json!({})), Err(SignError::Algorithm(_))));

        let other = SigningKeys::from_text(&new_key_set_text(1).unwrap(), "test", 1).unwrap();
        let foreign = &other.verifying(other.signer(1).0).unwrap().key;
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, foreign, &validation).is_err());
    }

    #[test]
    fn only_a_pkcs8_p256_pem_is_a_signing_key() {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let pem_of = |tag: &str| pem::encode(&pem::Pem::new(tag, doc.as_ref().to_vec()));
        assert!(Es256Key::from_pkcs8_pem(pem_of("PRIVATE KEY").as_bytes()).is_ok());
        assert!(Es256Key::from_pkcs8_pem(pem_of("EC PRIVATE KEY").as_bytes()).is_err(), "SEC1 is not PKCS#8");
        assert!(Es256Key::from_pkcs8_der(b"not a key").is_err());
    }

    #[test]
    fn the_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let a = SigningKeys::load_or_create(&path, 1).unwrap().signer(1).0.to_owned();
        let b = SigningKeys::load_or_create(&path, 2).unwrap().signer(2).0.to_owned();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
