//! DPoP proofs (RFC 9449): a client proves, request by request, that it holds the private
//! key a token is bound to. The proof is a JWT signed by that key, carrying the public key
//! (`jwk` header), the request's method and URL (`htm`, `htu`), a fresh `iat` and a single-use
//! `jti`, and at the resource the hash of the access token (`ath`). A token bound to a key
//! (`cnf.jkt`, the key's RFC 7638 thumbprint) is useless without it.
//!
//! A partner whose file says `[dpop] nonce = true` must also put a server-provided nonce in
//! its proofs (§8, §9): the gateway answers `use_dpop_nonce` with a `DPoP-Nonce` header, and
//! sends a fresh one with every answer to a DPoP request. Nonces are not stored: each names
//! its minute and carries a MAC of it under a key every instance derives from the shared
//! pseudonym key, so any instance accepts any instance's nonce for two minutes at most, and
//! a proof made in advance by someone who briefly held the key is useless once it expires.

use aws_lc_rs::hmac;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::ThumbprintHash};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::store::{ReplayStore, StoreError};

/// The proof's `typ` header.
const TYP: &str = "dpop+jwt";
/// How far a proof's `iat` may be from now, either way: proofs are made per request.
pub const MAX_AGE_SECS: i64 = 60;

/// What a valid proof establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key: what a token is bound to (`cnf.jkt`).
    pub jkt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("the DPoP proof is not a JWT of type dpop+jwt signed ES256 or PS256 with its public key in `jwk`")]
    Malformed,
    #[error("the DPoP proof's signature does not verify with its `jwk`")]
    BadSignature,
    #[error("the DPoP proof is for another request (`htm` or `htu`)")]
    WrongRequest,
    #[error("the DPoP proof's `iat` is more than {MAX_AGE_SECS} s from now")]
    Stale,
    #[error("the DPoP proof's `ath` is not the hash of this access token")]
    WrongToken,
    #[error("this DPoP proof was already used")]
    Replayed,
    /// RFC 9449 `use_dpop_nonce`: the proof has no nonce, or one that is no longer current.
    #[error("the DPoP proof must carry the server's current nonce: use the one in the `DPoP-Nonce` header")]
    UseNonce,
    #[error("the DPoP proof's key is not the one the token is bound to")]
    WrongKey,
    #[error("DPoP proofs cannot be checked right now: {0}")]
    Unavailable(String),
}

impl From<StoreError> for DpopError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

#[derive(Deserialize)]
struct Claims {
    htm: String,
    htu: String,
    iat: i64,
    jti: String,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// What the request a proof must be for looks like.
pub struct Expected<'a> {
    pub method: &'a str,
    /// The URL without query or fragment.
    pub url: &'a str,
    /// At a resource: the access token (`ath` must be its hash).
    pub access_token: Option<&'a str>,
    pub now: i64,
    /// The partner must use server nonces: the proof's `nonce` must be current.
    pub nonces: Option<&'a Nonces>,
}

/// How long a nonce's minute is; a nonce is good in its minute and the next.
pub const NONCE_WINDOW_SECS: i64 = 60;
/// Bytes of the MAC a nonce carries.
const NONCE_TAG_LEN: usize = 16;

/// The `DPoP-Nonce` response header.
pub const NONCE_HEADER: &str = "dpop-nonce";

/// Puts the current nonce in an answer to a DPoP request, so the client's next proof can
/// carry it without a refused round trip.
pub fn offer_nonce(headers: &mut axum::http::HeaderMap, nonces: &Nonces, now: i64) {
    if let Ok(value) = axum::http::HeaderValue::from_str(&nonces.current(now)) {
        headers.insert(NONCE_HEADER, value);
    }
}

/// Server-provided DPoP nonces, made and checked without storage (see the module docs).
pub struct Nonces {
    key: hmac::Key,
}

impl Nonces {
    pub fn new(secret: &[u8; 32]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    /// The nonce to hand out at `now`.
    pub fn current(&self, now: i64) -> String {
        self.for_window(now.div_euclid(NONCE_WINDOW_SECS))
    }

    /// Whether `nonce` was handed out in this minute or the one before (constant time).
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        use subtle::ConstantTimeEq as _;
        let window = now.div_euclid(NONCE_WINDOW_SECS);
        [window, window - 1]
            .into_iter()
            .fold(false, |ok, w| ok | bool::from(self.for_window(w).as_bytes().ct_eq(nonce.as_bytes())))
    }

    fn for_window(&self, window: i64) -> String {
        let window = window.to_be_bytes();
        let tag = hmac::sign(&self.key, &window);
        let mut raw = window.to_vec();
        raw.extend_from_slice(&tag.as_ref()[..NONCE_TAG_LEN]);
        B64.encode(raw)
    }
}

/// `ath`: base64url SHA-256 of the access token.
pub fn token_hash(access_token: &str) -> String {
    B64.encode(Sha256::digest(access_token.as_bytes()))
}

/// Checks `proof` for the `expected` request. Its `jti` is spent.
pub async fn verify(proof: &str, expected: &Expected<'_>, replay: &dyn ReplayStore) -> Result<Proof, DpopError> {
    let Expected { method, url, access_token, now, nonces } = *expected;
    let header = jsonwebtoken::decode_header(proof).map_err(|_| DpopError::Malformed)?;
    let jwk = header.jwk.as_ref().ok_or(DpopError::Malformed)?;
    if header.typ.as_deref() != Some(TYP) || !matches!(header.alg, Algorithm::ES256 | Algorithm::PS256) {
        return Err(DpopError::Malformed);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| DpopError::Malformed)?;
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(proof, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => DpopError::BadSignature,
            _ => DpopError::Malformed,
        })?
        .claims;
    if !claims.htm.eq_ignore_ascii_case(method) || claims.htu != url {
        return Err(DpopError::WrongRequest);
    }
    if (claims.iat - now).abs() > MAX_AGE_SECS {
        return Err(DpopError::Stale);
    }
    if let Some(token) = access_token
        && claims.ath.as_deref() != Some(token_hash(token).as_str())
    {
        return Err(DpopError::WrongToken);
    }
    if claims.jti.is_empty() || claims.jti.len() > 128 {
        return Err(DpopError::Malformed);
    }
    if let Some(nonces) = nonces
        && !claims.nonce.as_deref().is_some_and(|n| nonces.accepts(n, now))
    {
        return Err(DpopError::UseNonce);
    }
    let jkt = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| DpopError::Malformed)?;
    // Per key, so one client's jti cannot spend another's.
    if !replay.first_use(&format!("dpop:{jkt}:{}", claims.jti), now + 2 * MAX_AGE_SECS, now).await? {
        return Err(DpopError::Replayed);
    }
    Ok(Proof { jkt })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryReplayStore;
    use jsonwebtoken::{EncodingKey, Header, jwk::Jwk};

    const KEY: &str = include_str!("../../tests/fixtures/keys/test-es256.private.pem");

    fn proof(claims: serde_json::Value) -> String {
        let key = EncodingKey::from_ec_pem(KEY.as_bytes()).unwrap();
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(TYP.into());
        header.jwk = Some(Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap());
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    fn claims(jti: &str) -> serde_json::Value {
        serde_json::json!({"htm": "GET", "htu": "https://gw.example/v1/products", "iat": 1_000, "jti": jti, "ath": token_hash("tok")})
    }

    #[tokio::test]
    async fn a_fresh_proof_for_this_request_and_token_verifies_once() {
        let replay = MemoryReplayStore::default();
        let p = proof(claims("a"));
        let at = expect("GET", "https://gw.example/v1/products", Some("tok"), 1_010, None);
        let ok = verify(&p, &at, &replay).await.unwrap();
        assert_eq!(ok.jkt.len(), 43);
        assert_eq!(verify(&p, &at, &replay).await, Err(DpopError::Replayed));
    }

    #[tokio::test]
    async fn a_proof_for_anything_else_is_refused() {
        let replay = MemoryReplayStore::default();
        let url = "https://gw.example/v1/products";
        let cases = [
            (proof(claims("b")), "POST", url, Some("tok"), 1_000, DpopError::WrongRequest),
            (proof(claims("c")), "GET", "https://gw.example/v1/accounts", Some("tok"), 1_000, DpopError::WrongRequest),
            (proof(claims("d")), "GET", url, Some("other"), 1_000, DpopError::WrongToken),
            (proof(claims("e")), "GET", url, Some("tok"), 1_000 + MAX_AGE_SECS + 1, DpopError::Stale),
            ("x.y.z".to_owned(), "GET", url, Some("tok"), 1_000, DpopError::Malformed),
        ];
        for (p, method, u, token, now, want) in cases {
            assert_eq!(verify(&p, &expect(method, u, token, now, None), &replay).await, Err(want.clone()), "{want}");
        }
        // A character in the middle of the signature: the last one may carry only padding bits.
        let mut tampered = proof(claims("f")).into_bytes();
        let i = tampered.len() - 20;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(verify(&tampered, &expect("GET", url, Some("tok"), 1_000, None), &replay).await.is_err());
    }

    fn expect<'a>(
        method: &'a str,
        url: &'a str,
        access_token: Option<&'a str>,
        now: i64,
        nonces: Option<&'a Nonces>,
    ) -> Expected<'a> {
        Expected { method, url, access_token, now, nonces }
    }

    #[test]
    fn a_nonce_is_good_in_its_minute_and_the_next_on_any_instance_with_the_key() {
        let (ours, theirs, other_key) = (Nonces::new(&[1; 32]), Nonces::new(&[1; 32]), Nonces::new(&[2; 32]));
        let issued_at = 6_000; // the start of a minute
        let nonce = ours.current(issued_at + 30);
        assert!(theirs.accepts(&nonce, issued_at + 30));
        assert!(theirs.accepts(&nonce, issued_at + NONCE_WINDOW_SECS + 59));
        assert!(!theirs.accepts(&nonce, issued_at + 2 * NONCE_WINDOW_SECS));
        assert!(!theirs.accepts(&nonce, issued_at - 1), "not before its minute");
        assert!(!other_key.accepts(&nonce, issued_at + 30));
        assert!(!ours.accepts("AAAA", issued_at));
        assert_ne!(ours.current(issued_at), ours.current(issued_at + NONCE_WINDOW_SECS));
    }

    #[tokio::test]
    async fn where_nonces_are_required_a_proof_needs_a_current_one() {
        let replay = MemoryReplayStore::default();
        let nonces = Nonces::new(&[9; 32]);
        let url = "https://gw.example/v1/products";
        let at = |now| expect("GET", url, Some("tok"), now, Some(&nonces));
        assert_eq!(verify(&proof(claims("n1")), &at(1_000), &replay).await, Err(DpopError::UseNonce));
        let with = |jti: &str, nonce: &str| {
            let mut c = claims(jti);
            c["nonce"] = nonce.into();
            proof(c)
        };
        assert_eq!(verify(&with("n2", "made-up"), &at(1_000), &replay).await, Err(DpopError::UseNonce));
        let stale = nonces.current(1_000 - 2 * NONCE_WINDOW_SECS);
        assert_eq!(verify(&with("n3", &stale), &at(1_000), &replay).await, Err(DpopError::UseNonce));
        assert!(verify(&with("n4", &nonces.current(1_000)), &at(1_000), &replay).await.is_ok());
    }
}
