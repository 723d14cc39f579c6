//! A payments partner's side: its partner file, and money-moving calls signed with a
//! detached JWS and sent with an `Idempotency-Key`, as a partner developer would write them.

use jsonwebtoken::Algorithm;
use scenegate::auth::signing::Es256Key;
use serde_json::Value;

use super::{PartnerClient, customer::REDIRECT_URI, fixtures, http, partner::key_pem};

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
scopes = ["products:read", "consents:write", "accounts:read", "payments:write", "payments:initiate", "events:read"]
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
    let key = Es256Key::from_pkcs8_pem(&key_pem("test-es256")).unwrap();
    scenegate::auth::jws::sign_detached(body, "test-es256", &key, iat).unwrap()
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

/// A customer's authorisation of payment consent `consent_id` of `partner`, through the
/// bank's pages: PAR (`payments:initiate`), login as `login_id`, the first offered debtor
/// account, the one-time code from the core's SMS outbox. Returns the customer token.
pub async fn authorise_payment(
    stack: &super::Stack,
    partner: &PartnerClient,
    consent_id: &str,
    login_id: &str,
) -> String {
    authorise_payment_shown(stack, partner, consent_id, login_id).await.1
}

/// [`authorise_payment`], with the consent page the customer was shown.
pub async fn authorise_payment_shown(
    stack: &super::Stack,
    partner: &PartnerClient,
    consent_id: &str,
    login_id: &str,
) -> (String, String) {
    use super::customer::{Customer, latest_otp, location_params, param, pkce, tokens};
    let (verifier, challenge) = pkce();
    let res = partner.par_with(consent_id, &challenge, &[("scope", "payments:initiate")]).await;
    let body: Value = res.json().await.unwrap();
    let request_uri = body["request_uri"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let customer = Customer::new(&stack.gw.issuer());
    let page = customer.consent_page(&customer.authorize_url(&partner.id, &request_uri), login_id).await;
    let debtor =
        super::customer::debtor_accounts(&page).first().map(|(acct, _)| acct.clone()).expect("a debtor account");
    let res = customer.approve_payment(&page, Some(&debtor)).await;
    assert_eq!(res.status(), 303, "approve");
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    let (_, otp_page) = customer.get(&format!("{}{next}", customer.base)).await;
    let code = latest_otp(&super::customer::core_url_of(stack.gw.dir.path()), login_id).await;
    let res = customer.submit_otp(&otp_page, &code).await;
    assert_eq!(res.status(), 303, "one-time code accepted");
    let (_, params) = location_params(&res);
    let auth_code = param(&params, "code").expect("code").to_owned();
    let token = tokens(partner, &auth_code, &verifier).await["access_token"].as_str().unwrap().to_owned();
    (page, token)
}

/// A token of `partner` with `scope` (client credentials).
pub async fn client_token(partner: &PartnerClient, scope: &str) -> String {
    let res = partner.token_with(&partner.assertion(), Some(scope)).await;
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

/// POSTs `body` signed, with `key`; returns status and JSON.
pub async fn signed(url: &str, token: &str, key: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let res = post_money(url, token, &bytes, Some(key), Some(&sign(&bytes, super::partner::now()))).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The core mock's ledger check; asserts it balances.
pub async fn ledger(core_url: &str) -> Value {
    let body: Value = http().get(format!("{core_url}/core/ledger/check")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["data"]["balanced"], true, "ledger out of balance: {body}");
    body["data"].clone()
}
