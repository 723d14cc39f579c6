//! What every partner client needs: settings, and a fresh `private_key_jwt` assertion.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

pub struct Partner {
    pub base: String,
    pub client_id: String,
    /// Also signs the partner's request bodies (`signing::Signer::of`).
    pub(crate) key: EncodingKey,
    pub(crate) key_id: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

impl Partner {
    /// From the environment, defaulting to the demo partner `ptn_skytrip`:
    /// `SCENEGATE_URL`, `CLIENT_ID`, `KEY_FILE` (PEM, PKCS#8 EC P-256), `KEY_ID`.
    pub fn from_env() -> Result<Self, Box<dyn std::error::Error>> {
        Self::from_env_or("ptn_skytrip", "config/demo-keys/ptn_skytrip.private.pem", "skytrip-2026-11")
    }

    /// From the environment, defaulting to the demo partner given.
    pub fn from_env_or(client_id: &str, key_file: &str, key_id: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let key_file = env_or("KEY_FILE", key_file);
        Ok(Self {
            base: env_or("SCENEGATE_URL", "http://127.0.0.1:8080"),
            client_id: env_or("CLIENT_ID", client_id),
            key: EncodingKey::from_ec_pem(&std::fs::read(&key_file).map_err(|e| format!("{key_file}: {e}"))?)?,
            key_id: env_or("KEY_ID", key_id),
        })
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.base)
    }

    /// A client assertion (RFC 7523): iss = sub = your client id, aud = the token endpoint,
    /// a short exp, and a jti you never reuse; signed ES256 with your key. One per request.
    pub fn assertion(&self) -> Result<String, Box<dyn std::error::Error>> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.token_endpoint(),
            "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.key)?)
    }

    /// POSTs a form to the authorisation server with client authentication added, and
    /// returns the JSON answer, or the problem's `detail` as the error.
    pub async fn post_form(
        &self,
        http: &reqwest::Client,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let assertion = self.assertion()?;
        let mut form = fields.to_vec();
        form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
        form.push(("client_assertion", &assertion));
        let res = http.post(format!("{}{path}", self.base)).form(&form).send().await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await?;
        if !status.is_success() {
            // Errors are problem documents: `type` to branch on, `detail` to read.
            return Err(format!("{path} refused ({status}): {}", body["detail"]).into());
        }
        Ok(body)
    }
}
