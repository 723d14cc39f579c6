//! DPoP proofs (RFC 9449): a client proves, request by request, that it holds the private
//! key a token is bound to. The proof is a JWT signed by that key, carrying the public key
//! (`jwk` header), the request's method and URL (`htm`, `htu`), a fresh `iat` and a single-use
//! `jti`, and at the resource the hash of the access token (`ath`). A token bound to a key
//! (`cnf.jkt`, the key's RFC 7638 thumbprint) is useless without it.

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
}

/// `ath`: base64url SHA-256 of the access token.
pub fn token_hash(access_token: &str) -> String {
    B64.encode(Sha256::digest(access_token.as_bytes()))
}

/// Checks `proof` for a request `method url` (the URL without query or fragment), made at
/// `now`; with `access_token` at a resource (then `ath` must match). Its `jti` is spent.
pub async fn verify(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: i64,
    replay: &dyn ReplayStore,
) -> Result<Proof, DpopError> {
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
        let ok = verify(&p, "GET", "https://gw.example/v1/products", Some("tok"), 1_010, &replay).await.unwrap();
        assert_eq!(ok.jkt.len(), 43);
        let again = verify(&p, "GET", "https://gw.example/v1/products", Some("tok"), 1_010, &replay).await;
        assert_eq!(again, Err(DpopError::Replayed));
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
            assert_eq!(verify(&p, method, u, token, now, &replay).await, Err(want.clone()), "{want}");
        }
        let mut tampered = proof(claims("f"));
        tampered.pop();
        tampered.push(if tampered.ends_with('A') { 'B' } else { 'A' });
        assert!(verify(&tampered, "GET", url, Some("tok"), 1_000, &replay).await.is_err());
    }
}
