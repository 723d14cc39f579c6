//! A partner's side of the protocol, as a partner developer would write it.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{fixtures, http};

pub struct PartnerClient {
    pub id: String,
    pub token_endpoint: String,
    pub issuer: String,
    /// The `aud` of its assertions when not `token_endpoint` (a cluster's public URL).
    pub audience: Option<String>,
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn key_pem(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(format!("keys/{name}.private.pem"))).unwrap()
}

impl PartnerClient {
    pub fn new(id: &str, token_endpoint: &str, issuer: &str) -> Self {
        Self { id: id.to_owned(), token_endpoint: token_endpoint.to_owned(), issuer: issuer.to_owned(), audience: None }
    }

    /// Standard claims for a fresh assertion; tests change what they need.
    pub fn claims(&self) -> Value {
        let now = now();
        json!({ "iss": self.id, "sub": self.id, "aud": self.audience.as_ref().unwrap_or(&self.token_endpoint), "iat": now, "exp": now + 60,
                "jti": uuid::Uuid::new_v4().to_string() })
    }

    pub fn sign(&self, alg: Algorithm, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&key_pem(if kid == "test-es256-next" {
                "test-es256-next"
            } else {
                "test-es256"
            }))
            .unwrap(),
            _ => EncodingKey::from_rsa_pem(&key_pem("test-rsa")).unwrap(),
        };
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    pub fn assertion(&self) -> String {
        self.sign(Algorithm::ES256, "test-es256", &self.claims())
    }

    /// POSTs a token request with this assertion and optional scope.
    pub async fn token_with(&self, assertion: &str, scope: Option<&str>) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        http().post(&self.token_endpoint).form(&form).send().await.unwrap()
    }

    /// A valid access token, or a panic with the server's answer.
    pub async fn access_token(&self) -> String {
        let res = self.token_with(&self.assertion(), Some("products:read")).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 200, "token request failed: {body}");
        body["access_token"].as_str().unwrap().to_owned()
    }
}
