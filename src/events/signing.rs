//! Webhook signatures as [Standard Webhooks](https://www.standardwebhooks.com/) defines them,
//! so partners can verify with that project's libraries in any language.
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the `webhook-signature`
//! header holds space-separated `version,base64` entries: `v1` for HMAC-SHA256 under a shared
//! secret (`whsec_` + base64 of the key bytes), `v1a` for Ed25519 (`whsk_` + base64 of the
//! 32-byte seed, which the bank keeps; `whpk_` + base64 of the public key, which the partner
//! gets). Several entries let a secret be rotated: a receiver accepts any one that verifies.
//! Receivers reject timestamps more than [`TOLERANCE_SECS`] away from their clock, which
//! bounds how long a captured delivery can be replayed.

use std::fmt;

use aws_lc_rs::{
    hmac,
    signature::{self, Ed25519KeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::STANDARD as B64};

/// How far a `webhook-timestamp` may be from the receiver's clock, either way.
pub const TOLERANCE_SECS: i64 = 300;

const SECRET_PREFIX: &str = "whsec_";
const SIGNING_KEY_PREFIX: &str = "whsk_";
const PUBLIC_KEY_PREFIX: &str = "whpk_";
const ED25519_SEED_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a webhook key starts with whsec_, whsk_ or whpk_")]
    UnknownPrefix,
    #[error("the part after the prefix is not base64")]
    NotBase64,
    #[error("{0}")]
    BadKey(&'static str),
}

/// The bank's side: signs each delivery attempt. Never prints its key.
pub enum WebhookSigner {
    /// The shared secret's bytes (the base64-decoded part after `whsec_`).
    Hmac(Vec<u8>),
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hmac(_) => f.write_str("WebhookSigner::Hmac([REDACTED])"),
            Self::Ed25519(_) => f.write_str("WebhookSigner::Ed25519([REDACTED])"),
        }
    }
}

impl WebhookSigner {
    /// From a partner's configured secret: `whsec_…` (HMAC) or `whsk_…` (Ed25519 seed).
    pub fn from_secret(secret: &str) -> Result<Self, KeyError> {
        if let Some(b64) = secret.strip_prefix(SECRET_PREFIX) {
            let key = B64.decode(b64).map_err(|_| KeyError::NotBase64)?;
            // Standard Webhooks' libraries accept 24..=64 bytes; fewer would be guessable.
            if !(24..=64).contains(&key.len()) {
                return Err(KeyError::BadKey("a whsec_ secret holds 24 to 64 bytes"));
            }
            Ok(Self::Hmac(key))
        } else if let Some(b64) = secret.strip_prefix(SIGNING_KEY_PREFIX) {
            let seed = B64.decode(b64).map_err(|_| KeyError::NotBase64)?;
            if seed.len() != ED25519_SEED_LEN {
                return Err(KeyError::BadKey("a whsk_ key is a 32-byte Ed25519 seed"));
            }
            Ed25519KeyPair::from_seed_unchecked(&seed)
                .map(Self::Ed25519)
                .map_err(|_| KeyError::BadKey("not a usable Ed25519 seed"))
        } else {
            Err(KeyError::UnknownPrefix)
        }
    }

    /// A fresh `whsec_` secret (32 random bytes) to hand to a partner at onboarding.
    pub fn generate_hmac_secret() -> String {
        format!("{SECRET_PREFIX}{}", B64.encode(random_bytes()))
    }

    /// A fresh `whsk_` signing key; its `whpk_` public key is [`Self::public_key`].
    pub fn generate_ed25519_secret() -> String {
        format!("{SIGNING_KEY_PREFIX}{}", B64.encode(random_bytes()))
    }

    /// The `whpk_` key to give the partner, for Ed25519 signers.
    pub fn public_key(&self) -> Option<String> {
        match self {
            Self::Hmac(_) => None,
            Self::Ed25519(pair) => Some(format!("{PUBLIC_KEY_PREFIX}{}", B64.encode(pair.public_key().as_ref()))),
        }
    }

    /// The `webhook-signature` header value for one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let content = signed_content(id, timestamp, body);
        match self {
            Self::Hmac(key) => {
                let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), &content);
                format!("v1,{}", B64.encode(tag.as_ref()))
            }
            Self::Ed25519(pair) => format!("v1a,{}", B64.encode(pair.sign(&content).as_ref())),
        }
    }

    /// What a receiver holding this key's public part would verify with.
    pub fn verifier(&self) -> WebhookVerifier {
        match self {
            Self::Hmac(key) => WebhookVerifier::Hmac(key.clone()),
            Self::Ed25519(pair) => WebhookVerifier::Ed25519(pair.public_key().as_ref().to_vec()),
        }
    }
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // aws-lc's RNG only fails if the OS has no entropy source, which nothing here can fix.
    aws_lc_rs::rand::fill(&mut bytes).expect("the OS random source failed");
    bytes
}

fn signed_content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

/// The receiver's side: a shared secret or an Ed25519 public key.
pub enum WebhookVerifier {
    Hmac(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hmac(_) => f.write_str("WebhookVerifier::Hmac([REDACTED])"),
            Self::Ed25519(pk) => write!(f, "WebhookVerifier::Ed25519({PUBLIC_KEY_PREFIX}{})", B64.encode(pk)),
        }
    }
}

impl WebhookVerifier {
    /// From `whsec_…` (HMAC secret) or `whpk_…` (Ed25519 public key).
    pub fn from_key(key: &str) -> Result<Self, KeyError> {
        if let Some(b64) = key.strip_prefix(SECRET_PREFIX) {
            Ok(Self::Hmac(B64.decode(b64).map_err(|_| KeyError::NotBase64)?))
        } else if let Some(b64) = key.strip_prefix(PUBLIC_KEY_PREFIX) {
            let pk = B64.decode(b64).map_err(|_| KeyError::NotBase64)?;
            if pk.len() != 32 {
                return Err(KeyError::BadKey("a whpk_ key is a 32-byte Ed25519 public key"));
            }
            Ok(Self::Ed25519(pk))
        } else {
            Err(KeyError::UnknownPrefix)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("webhook-timestamp is not a whole number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than {TOLERANCE_SECS} s in the past (replayed or delayed)")]
    TooOld,
    #[error("webhook-timestamp is more than {TOLERANCE_SECS} s in the future (check the clocks)")]
    TooNew,
    #[error("no signature in webhook-signature matches")]
    NoMatch,
}

/// Checks one received delivery: `id`, `timestamp` and `signatures` are the raw
/// `webhook-id`, `webhook-timestamp` and `webhook-signature` header values, `body` the raw
/// bytes as received (not re-serialised JSON), `now` the receiver's clock in unix seconds.
pub fn verify(
    key: &WebhookVerifier,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
    if ts < now - TOLERANCE_SECS {
        return Err(VerifyError::TooOld);
    }
    if ts > now + TOLERANCE_SECS {
        return Err(VerifyError::TooNew);
    }
    let content = signed_content(id, ts, body);
    let wanted = match key {
        WebhookVerifier::Hmac(_) => "v1",
        WebhookVerifier::Ed25519(_) => "v1a",
    };
    let matches = |candidate: &str| {
        let Some((version, b64)) = candidate.split_once(',') else { return false };
        let Ok(sig) = B64.decode(b64) else { return false };
        version == wanted
            && match key {
                // hmac::verify compares in constant time.
                WebhookVerifier::Hmac(secret) => {
                    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), &content, &sig).is_ok()
                }
                WebhookVerifier::Ed25519(pk) => {
                    signature::UnparsedPublicKey::new(&signature::ED25519, pk).verify(&content, &sig).is_ok()
                }
            }
    };
    if signatures.split(' ').any(matches) { Ok(()) } else { Err(VerifyError::NoMatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks reference libraries' own test vectors
    // (libraries/go/webhook_symmetric_test.go and webhook_asymmetric_test.go).
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn hmac_matches_the_standard_webhooks_vector() {
        let signer = WebhookSigner::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let header = signer.sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY);
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let verifier = WebhookVerifier::from_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        verify(&verifier, VECTOR_ID, "1614265330", &header, VECTOR_BODY, VECTOR_TS).unwrap();
    }

    #[test]
    fn ed25519_matches_the_standard_webhooks_vector() {
        let signer = WebhookSigner::from_secret("whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=").unwrap();
        let header = signer.sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY);
        assert_eq!(
            header,
            "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
        );
        // The public key as openssl derives it from the same seed.
        assert_eq!(signer.public_key().unwrap(), "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=");
        let verifier = WebhookVerifier::from_key(&signer.public_key().unwrap()).unwrap();
        verify(&verifier, VECTOR_ID, "1614265330", &header, VECTOR_BODY, VECTOR_TS).unwrap();
    }

    #[test]
    fn verify_refuses_tampering_stale_times_and_wrong_versions() {
        let secret = WebhookSigner::generate_hmac_secret();
        let signer = WebhookSigner::from_secret(&secret).unwrap();
        let key = WebhookVerifier::from_key(&secret).unwrap();
        let now = 1_800_000_000;
        let sig = signer.sign("evt_1", now, b"{}");
        let check = |id: &str, ts: &str, sigs: &str, body: &[u8], at: i64| verify(&key, id, ts, sigs, body, at);
        let ts = now.to_string();

        assert_eq!(check("evt_1", &ts, &sig, b"{}", now + TOLERANCE_SECS), Ok(()));
        assert_eq!(check("evt_1", &ts, &sig, b"{}", now - TOLERANCE_SECS), Ok(()));
        assert_eq!(check("evt_1", &ts, &sig, b"{}", now + TOLERANCE_SECS + 1), Err(VerifyError::TooOld));
        assert_eq!(check("evt_1", &ts, &sig, b"{}", now - TOLERANCE_SECS - 1), Err(VerifyError::TooNew));
        assert_eq!(check("evt_1", &ts, &sig, b"{ }", now), Err(VerifyError::NoMatch), "body changed");
        assert_eq!(check("evt_2", &ts, &sig, b"{}", now), Err(VerifyError::NoMatch), "id changed");
        assert_eq!(check("evt_1", "1800000001", &sig, b"{}", now), Err(VerifyError::NoMatch), "time changed");
        assert_eq!(check("evt_1", "soon", &sig, b"{}", now), Err(VerifyError::BadTimestamp));
        assert_eq!(check("evt_1", &ts, "v1,", b"{}", now), Err(VerifyError::NoMatch));
        let as_v1a = sig.replacen("v1,", "v1a,", 1);
        assert_eq!(check("evt_1", &ts, &as_v1a, b"{}", now), Err(VerifyError::NoMatch), "wrong version");
        // A rotation: an old-secret signature first, the current one after it.
        let old = WebhookSigner::from_secret(&WebhookSigner::generate_hmac_secret()).unwrap();
        let both = format!("{} {sig}", old.sign("evt_1", now, b"{}"));
        assert_eq!(check("evt_1", &ts, &both, b"{}", now), Ok(()));
    }

    #[test]
    fn keys_are_parsed_strictly_and_never_printed() {
        assert_eq!(WebhookSigner::from_secret("secret").unwrap_err(), KeyError::UnknownPrefix);
        assert_eq!(WebhookSigner::from_secret("whsec_***").unwrap_err(), KeyError::NotBase64);
        assert!(matches!(WebhookSigner::from_secret("whsec_c2hvcnQ=").unwrap_err(), KeyError::BadKey(_)));
        assert!(matches!(WebhookVerifier::from_key("whpk_c2hvcnQ=").unwrap_err(), KeyError::BadKey(_)));
        assert_eq!(WebhookVerifier::from_key("whsk_AAAA").unwrap_err(), KeyError::UnknownPrefix, "private key");

        let secret = WebhookSigner::generate_hmac_secret();
        let b64 = secret.trim_start_matches(SECRET_PREFIX);
        let signer = WebhookSigner::from_secret(&secret).unwrap();
        let printed = format!("{signer:?} {:?}", signer.verifier());
        assert!(!printed.contains(b64) && printed.contains("REDACTED"), "{printed}");
        let ed = WebhookSigner::from_secret(&WebhookSigner::generate_ed25519_secret()).unwrap();
        assert_eq!(format!("{ed:?}"), "WebhookSigner::Ed25519([REDACTED])");
    }
}
