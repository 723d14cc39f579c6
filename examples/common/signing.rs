//! Signing a money-moving call as a partner: a detached JWS over the exact body bytes, sent
//! with an `Idempotency-Key`. Included by the examples that move money.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// Signs request bodies as the partner: a detached JWS (RFC 7515 appendix F).
pub struct Signer {
    pub key: EncodingKey,
    pub kid: String,
}

impl Signer {
    /// Signs with the partner's own key and key id (`KEY_FILE`, `KEY_ID`): the key of its
    /// client assertions also signs its requests' bodies.
    pub fn of(partner: &crate::common::Partner) -> Self {
        Self { key: partner.key.clone(), kid: partner.key_id.clone() }
    }

    /// `BASE64URL(header)..BASE64URL(signature)`, the signature over
    /// `BASE64URL(header) "." BASE64URL(body)` with the exact bytes that are sent.
    pub fn sign(&self, body: &[u8]) -> Result<String, Box<dyn std::error::Error>> {
        let iat = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": "JOSE", "iat": iat, "crit": ["iat"]});
        let protected = B64.encode(serde_json::to_vec(&header)?);
        let input = format!("{protected}.{}", B64.encode(body));
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, Algorithm::ES256)?;
        Ok(format!("{protected}..{signature}"))
    }
}

/// POSTs `body` signed and with an idempotency key; returns the JSON answer, or the
/// problem's `type` and `detail` as the error.
pub async fn signed_post(
    http: &reqwest::Client,
    signer: &Signer,
    url: &str,
    token: &str,
    idempotency_key: &str,
    body: &Value,
) -> Result<Value, Box<dyn std::error::Error>> {
    let bytes = serde_json::to_vec(body)?;
    let res = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("idempotency-key", idempotency_key)
        .header("x-jws-signature", signer.sign(&bytes)?)
        .body(bytes)
        .send()
        .await?;
    let status = res.status();
    let answer: Value = res.json().await?;
    if !status.is_success() {
        return Err(format!("{url} refused ({status}): {} {}", answer["type"], answer["detail"]).into());
    }
    Ok(answer)
}
