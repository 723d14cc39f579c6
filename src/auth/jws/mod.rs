//! Detached JWS (RFC 7515 appendix F) over request and response bodies: the
//! `x-jws-signature` header carries `BASE64URL(protected header)..BASE64URL(signature)`, the
//! middle (payload) part empty because the payload is the HTTP body itself, byte for byte.
//!
//! # What a partner sends
//!
//! The protected header is a JSON object with:
//!
//! | member | rule |
//! |---|---|
//! | `alg` | `ES256` or `PS256`, and the algorithm of the key registered under `kid` |
//! | `kid` | a key id registered for the partner |
//! | `typ` | optional; if present, `JOSE` |
//! | `iat` | seconds since the epoch; at most [`MAX_AGE_SECS`] old, at most [`MAX_AHEAD_SECS`] ahead. `http://openbanking.org.uk/iat` is accepted in its place (UK Open Banking) |
//! | `crit` | optional; may list only `b64`, `iat`, `http://openbanking.org.uk/iat`, each present in the header |
//! | `b64` | optional (RFC 7797). Absent or `true`: the body is signed base64url-encoded. `false`: the body bytes are signed as they are, and `b64` must then be listed in `crit` |
//!
//! The signing input is `BASE64URL(header) || '.' || BASE64URL(body)`, or with `b64: false`
//! `BASE64URL(header) || '.' || body`. An empty body is signed like any other.
//!
//! # What the gateway emits
//!
//! [`sign_detached`] writes, in this order,
//! `{"alg":"ES256","kid":"<kid>","typ":"JOSE","iat":<now>,"crit":["iat"]}` and signs the body
//! base64url-encoded (`b64` left out, which means `true`). Why not `b64: false`: every JOSE
//! library verifies standard detached content, whereas RFC 7797 support is patchy and UK Open
//! Banking dropped `b64: false` in v3.1.4, so the standard form is the one any partner can
//! check. `iat` is listed in `crit` so that a verifier which does not check freshness refuses
//! the signature instead of accepting a replayed response forever (tell a generic library,
//! e.g. nimbus' deferred critical parameters or jose4j's known critical headers, that you
//! handle `iat`).
//!
//! # Replay
//!
//! [`verify_detached`] checks that a signature is genuine and fresh, not that it is new: the
//! caller must record [`VerifiedSignature::digest`] in its replay store until
//! [`VerifiedSignature::replay_until`] (`iat + MAX_AGE_SECS`; after that the signature is
//! refused as stale anyway) and refuse a digest it has seen. The digest is SHA-256 of the
//! signature bytes, with an ES256 signature first put in its low-`s` form: `(r, s)` and
//! `(r, n - s)` verify alike, so hashing the bytes as sent would let anyone who saw one
//! signature replay the request under a second digest.
//!
//! # Computing the header with openssl (ES256)
//!
//! `openssl dgst -sign` writes an ECDSA signature as DER (a SEQUENCE of two INTEGERs); JWS
//! needs the raw 64 bytes `r || s`, each left-padded to 32 bytes, so it is converted:
//!
//! ```sh
//! KID=your-registered-kid                      # body.json: the exact bytes you send as the body
//! HEADER=$(printf '{"alg":"ES256","kid":"%s","typ":"JOSE","iat":%s,"crit":["iat"]}' "$KID" "$(date +%s)" \
//!   | basenc --base64url -w0 | tr -d '=')
//! PAYLOAD=$(basenc --base64url -w0 < body.json | tr -d '=')
//! printf '%s.%s' "$HEADER" "$PAYLOAD" | openssl dgst -sha256 -sign partner-key.pem -out sig.der
//! SIG=$(openssl asn1parse -inform DER -in sig.der \
//!   | awk -F: '/INTEGER/ { v = $NF; sub(/^0+/, "", v); while (length(v) < 64) v = "0" v; printf "%s", v }' \
//!   | xxd -r -p | basenc --base64url -w0 | tr -d '=')
//! echo "x-jws-signature: $HEADER..$SIG"
//! ```
//!
//! For PS256 the signature is already raw: sign with `openssl dgst -sha256 -sigopt
//! rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sign partner-key.pem -out sig.bin` and
//! base64url-encode `sig.bin` as it is.

mod header;
#[cfg(test)]
mod tests;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::signing::Es256Key;

/// How old a signature's `iat` may be. Also how long a replay store must keep its digest.
/// The header that carries a detached JWS, on requests and responses.
pub const HEADER: &str = "x-jws-signature";

pub const MAX_AGE_SECS: i64 = 300;

/// How far ahead of the gateway's clock an `iat` may be (the signer's clock runs fast).
pub const MAX_AHEAD_SECS: i64 = 60;

/// Longest `x-jws-signature` value read. A PS256 header with a 4096-bit key is under 1 KiB;
/// anything near this bound is not a signature, and is refused before it is decoded.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// Why a detached signature was refused (or could not be made). Each is its own problem type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// The caller's: the request carried no `x-jws-signature` header at all.
    #[error("the request has no x-jws-signature header")]
    Missing,
    /// Not `header..signature`, bad base64url or JSON, an attached payload, a header breaking a rule.
    #[error("the x-jws-signature header is malformed: {0}")]
    Malformed(String),
    /// `alg` is not ES256 or PS256, or not the algorithm registered for the key.
    #[error("the signature algorithm is not accepted: use ES256 or PS256, matching the registered key")]
    UnsupportedAlgorithm,
    #[error("the signature's kid is not a registered key")]
    UnknownKey,
    #[error("the signature's iat is more than 300 s old or more than 60 s ahead")]
    Stale,
    #[error("the signature's protected header has no iat")]
    MissingIat,
    /// `crit` lists a header parameter this verifier does not understand.
    #[error("the signature marks `{0}` as critical, which is not understood")]
    UnsupportedCritical(String),
    /// The signature does not match this body under this key: tampered, or signed with another key.
    #[error("the signature does not verify")]
    BadSignature,
    /// Only from [`sign_detached`]: the gateway could not sign (an unusable key or empty kid).
    #[error("cannot sign: {0}")]
    Signing(String),
}

/// A signature that verified, with what the caller needs for its replay store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub kid: String,
    pub iat: i64,
    /// SHA-256 of the signature bytes (ES256 in low-`s` form): the replay-store key.
    pub digest: [u8; 32],
}

impl VerifiedSignature {
    /// Until when the replay store must remember [`Self::digest`]; later, the signature is stale.
    pub fn replay_until(&self) -> i64 {
        self.iat.saturating_add(MAX_AGE_SECS)
    }
}

/// Verifies the detached JWS `value` over `body`. `key_for` looks a `kid` up among the
/// partner's registered keys (for example `|kid| partner.key(kid).map(|k| (k.algorithm, &k.key))`).
/// Does not detect replays: see the module documentation.
pub fn verify_detached<'k>(
    value: &str,
    body: &[u8],
    key_for: impl Fn(&str) -> Option<(Algorithm, &'k DecodingKey)>,
    now: i64,
) -> Result<VerifiedSignature, JwsError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(JwsError::Malformed(format!("longer than {MAX_VALUE_BYTES} bytes")));
    }
    let mut parts = value.split('.');
    let (Some(header_b64), Some(payload), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed("expected three dot-separated parts, `header..signature`".to_owned()));
    };
    if !payload.is_empty() {
        // Verifying an attached payload would let a signature over other bytes pass for this body.
        return Err(JwsError::Malformed("the payload part must be empty: the body is the payload".to_owned()));
    }
    let header_json = B64
        .decode(header_b64)
        .map_err(|_| JwsError::Malformed("the protected header is not base64url without padding".to_owned()))?;
    let header = header::parse(&header_json)?;
    let signature = B64
        .decode(signature_b64)
        .map_err(|_| JwsError::Malformed("the signature is not base64url without padding".to_owned()))?;

    let (registered, key) = key_for(&header.kid).ok_or(JwsError::UnknownKey)?;
    if registered != header.alg {
        return Err(JwsError::UnsupportedAlgorithm);
    }
    if header.iat < now.saturating_sub(MAX_AGE_SECS) || header.iat > now.saturating_add(MAX_AHEAD_SECS) {
        return Err(JwsError::Stale);
    }
    if header.alg == Algorithm::ES256 && signature.len() != ES256_SIGNATURE_LEN {
        return Err(JwsError::Malformed(format!(
            "an ES256 signature is 64 bytes (r || s), this one is {}: DER from openssl must be converted",
            signature.len()
        )));
    }
    let input = signing_input(header_b64, body, header.b64);
    match jsonwebtoken::crypto::verify(signature_b64, &input, key, header.alg) {
        Ok(true) => {}
        // Err: the registered key is not of the algorithm's family; for the partner, a wrong key.
        Ok(false) | Err(_) => return Err(JwsError::BadSignature),
    }
    Ok(VerifiedSignature { kid: header.kid, iat: header.iat, digest: replay_digest(header.alg, &signature) })
}

/// The header the gateway emits; fields in the order they are serialised.
#[derive(Serialize)]
struct EmittedHeader<'a> {
    alg: &'static str,
    kid: &'a str,
    typ: &'static str,
    iat: i64,
    crit: [&'static str; 1],
}

/// Signs `body` as a detached JWS for the `x-jws-signature` header (format in the module
/// documentation) with the gateway's active ES256 key:
/// `sign_detached(body, kid, key, now)` where `(kid, key) = keys.signer(now)`.
pub fn sign_detached(body: &[u8], kid: &str, key: &Es256Key, now: i64) -> Result<String, JwsError> {
    detached(body, kid, "ES256", now, |input| key.sign(input).map_err(|e| e.to_string()))
}

/// The detached JWS of `body` under the header the gateway emits, with `sign` making the
/// base64url signature of the signing input.
fn detached(
    body: &[u8],
    kid: &str,
    alg: &'static str,
    now: i64,
    sign: impl FnOnce(&[u8]) -> Result<String, String>,
) -> Result<String, JwsError> {
    if kid.is_empty() {
        return Err(JwsError::Signing("the kid is empty".to_owned()));
    }
    let header = EmittedHeader { alg, kid, typ: "JOSE", iat: now, crit: ["iat"] };
    let header_json = serde_json::to_vec(&header).map_err(|e| JwsError::Signing(e.to_string()))?;
    let header_b64 = B64.encode(header_json);
    let signature_b64 = sign(&signing_input(&header_b64, body, true)).map_err(JwsError::Signing)?;
    Ok(format!("{header_b64}..{signature_b64}"))
}

/// RFC 7515 §5.1 step 8, or RFC 7797 §3 when `b64` is false. The header is used exactly as
/// received: re-serialising it would sign different bytes.
fn signing_input(header_b64: &str, body: &[u8], b64: bool) -> Vec<u8> {
    let mut input = Vec::with_capacity(header_b64.len() + 1 + body.len().div_ceil(3) * 4);
    input.extend_from_slice(header_b64.as_bytes());
    input.push(b'.');
    if b64 {
        input.extend_from_slice(B64.encode(body).as_bytes());
    } else {
        input.extend_from_slice(body);
    }
    input
}

const ES256_SIGNATURE_LEN: usize = 64;

/// The order n of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, //
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// SHA-256 of the signature, one digest per signed message whatever form it was sent in.
/// Only called on a verified signature, so an ES256 one has `0 < s < n`.
fn replay_digest(alg: Algorithm, signature: &[u8]) -> [u8; 32] {
    if alg != Algorithm::ES256 || signature.len() != ES256_SIGNATURE_LEN {
        // PS256: the signature is an integer below the modulus, encoded at the modulus' length;
        // the verifier admits exactly one encoding of it.
        return Sha256::digest(signature).into();
    }
    let (r, s) = signature.split_at(32);
    let negated = sub_be(&P256_ORDER, s);
    let low_s: &[u8] = if negated.as_slice() < s { &negated } else { s };
    let mut hasher = Sha256::new();
    hasher.update(r);
    hasher.update(low_s);
    hasher.finalize().into()
}

/// `a - b` for 32-byte big-endian integers with `b <= a`.
fn sub_be(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = false;
    for i in (0..32).rev() {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(u8::from(borrow));
        out[i] = d;
        borrow = b1 || b2;
    }
    out
}
