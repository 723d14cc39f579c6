//! A payments partner's side: its partner file, and money-moving calls signed with a
//! detached JWS and sent with an `Idempotency-Key`, as a partner developer would write them.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::Value;

use super::{customer::REDIRECT_URI, fixtures, http, partner::key_pem};

/// The SkyTrip merchant's settlement account in the core mock's seed.
pub const MERCHANT_ACCOUNT: &str = "6222020000000000091";

/// An A2 sandbox partner that takes payments: a merchant `skytrip`, CNY limits of 5,000.00 a
/// payment and 20,000.00 a day, signatures required unless `extra` says otherwise.
pub fn pay_partner_toml(id: &str, extra_payments: &str) -> String {
    let jwks = fixtures().join("keys/test-partner.jwks.json");
    format!(
        r#"id = "{id}"
display_name = "Test {id}"
status = "active"
environment = "sandbox"
security_level = "A2"
risk_assessment_ref = "RA-TEST-0002"
scopes = ["products:read", "consents:write", "accounts:read", "payments:write", "payments:initiate"]
redirect_uris = ["{REDIRECT_URI}"]

[keys]
jwks_file = "{}"

[adapter]
name = "native"

[payments]
{extra_payments}
[payments.merchants.skytrip]
account = "{MERCHANT_ACCOUNT}"
name = "上海天游旅行科技有限公司"
[payments.limits.CNY]
per_payment = "5000.00"
per_day = "20000.00"
"#,
        jwks.display()
    )
}

/// `x-jws-signature` over `body`, ES256 with the fixture key `test-es256`, `iat` = `iat`.
pub fn sign(body: &[u8], iat: i64) -> String {
    let key = EncodingKey::from_ec_pem(&key_pem("test-es256")).unwrap();
    scenegate::auth::jws::sign_detached(body, "test-es256", &key, Algorithm::ES256, iat).unwrap()
}

/// POSTs `body` exactly as given, with the headers a money-moving call needs (each optional,
/// so tests can leave one out).
pub async fn post_money(
    url: &str,
    token: &str,
    body: &[u8],
    key: Option<&str>,
    signature: Option<&str>,
) -> reqwest::Response {
    let mut req = http().post(url).bearer_auth(token).header("content-type", "application/json").body(body.to_vec());
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    if let Some(s) = signature {
        req = req.header("x-jws-signature", s);
    }
    req.send().await.unwrap()
}

/// Checks a response's `x-jws-signature` against the gateway's published keys.
pub async fn verify_gateway_signature(base: &str, res_signature: &str, body: &[u8]) -> String {
    let jwks: Value = http().get(format!("{base}/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let keys: Vec<(String, jsonwebtoken::DecodingKey)> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let key = jsonwebtoken::DecodingKey::from_ec_components(k["x"].as_str().unwrap(), k["y"].as_str().unwrap());
            (k["kid"].as_str().unwrap().to_owned(), key.unwrap())
        })
        .collect();
    let now = super::partner::now();
    let verified = scenegate::auth::jws::verify_detached(
        res_signature,
        body,
        |kid| keys.iter().find(|(k, _)| k == kid).map(|(_, key)| (Algorithm::ES256, key)),
        now,
    )
    .expect("the gateway's response signature verifies with its published key");
    verified.kid
}
