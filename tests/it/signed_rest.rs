//! The `signed-rest` adapter over HTTP: the protocol's own paths under `/gw/{partner_id}`,
//! requests signed in `Authorization`, answers signed in headers, refusals with their status.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use scenegate_adapter_contract::SignatureSuite;
use scenegate_adapters::suites::{SigningKey, VerifyKey};
use serde_json::Value;

use crate::support::{Stack, http};

fn demo_key(name: &str) -> String {
    format!("{}/config/demo-keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn partner_toml() -> String {
    format!(
        r#"id = "ptn_sr"
display_name = "Signed REST test partner"
status = "active"
environment = "sandbox"
security_level = "A2"
risk_assessment_ref = "RA-TEST-0099"
scopes = ["products:read", "accounts:read"]

[keys]
[[keys.protocol]]
id = "SR-1"
suite = "RSA2"
file = "{public}"

[adapter]
name = "signed-rest"
[adapter.settings]
mchid = "1900000001"
sign_type = "RSA2"
response_key_file = "{response}"
response_key_serial = "BANK-1"
api_key_file = "{api_key}"
"#,
        public = demo_key("ptn_tollway.rsa.public.pem"),
        response = demo_key("gateway-open-platform.rsa.private.pem"),
        api_key = demo_key("ptn_tollway.apikey"),
    )
}

/// Sends `method path` signed as the partner's SDK does; returns status, headers and body.
async fn send(
    stack: &Stack,
    method: &str,
    path_and_query: &str,
    nonce: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let key = SigningKey::from_pem(
        SignatureSuite::Rsa2,
        &std::fs::read_to_string(demo_key("ptn_tollway.rsa.private.pem")).unwrap(),
    )
    .unwrap();
    let now = jiff::Timestamp::now().as_second();
    let message = format!("{method}\n{path_and_query}\n{now}\n{nonce}\n\n");
    let signature = STANDARD.encode(key.sign(message.as_bytes()).unwrap());
    let auth = format!(
        r#"SCENEGATE-SHA256-RSA2048 mchid="1900000001",nonce_str="{nonce}",timestamp="{now}",serial_no="SR-1",signature="{signature}""#
    );
    let res = http()
        .request(method.parse().unwrap(), stack.gw.url(path_and_query))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.headers().clone(), res.text().await.unwrap())
}

fn verify_answer(headers: &reqwest::header::HeaderMap, body: &str) {
    let h = |n: &str| headers[n].to_str().unwrap().to_owned();
    let bank = VerifyKey::from_pem(
        SignatureSuite::Rsa2,
        &std::fs::read_to_string(demo_key("gateway-open-platform.rsa.public.pem")).unwrap(),
    )
    .unwrap();
    let message = format!("{}\n{}\n{body}\n", h("scenegate-timestamp"), h("scenegate-nonce"));
    assert!(
        bank.verify(message.as_bytes(), &STANDARD.decode(h("scenegate-signature")).unwrap()),
        "signed by the bank: {headers:?} {body}"
    );
    assert_eq!(h("scenegate-serial"), "BANK-1");
}

#[tokio::test]
async fn a_signed_rest_partner_reads_products_on_its_own_paths_and_refusals_keep_their_status() {
    let stack = Stack::start_with(|o| o.partners.push(("sr".into(), partner_toml())));
    let (status, headers, body) = send(&stack, "GET", "/gw/ptn_sr/v3/products?limit=2", "n0001").await;
    assert_eq!(status, 200, "{body}");
    verify_answer(&headers, &body);
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let id = page["data"][0]["product_id"].as_str().unwrap().to_owned();
    if let Some(min) = page["data"][0].get("min_amount") {
        assert!(min.is_i64(), "amounts in minor units: {min}");
    }

    let (status, headers, body) = send(&stack, "GET", &format!("/gw/ptn_sr/v3/products/{id}"), "n0002").await;
    assert_eq!(status, 200, "{body}");
    verify_answer(&headers, &body);

    // The same nonce again: a replay, refused with its status, in the protocol's body.
    let (status, headers, body) = send(&stack, "GET", &format!("/gw/ptn_sr/v3/products/{id}"), "n0002").await;
    assert_eq!(status, 401, "{body}");
    verify_answer(&headers, &body);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], "SIGNATURE_REPLAYED");

    // Customer data without the customer's token.
    let (status, _, body) = send(&stack, "GET", "/gw/ptn_sr/v3/accounts/acc_1/balance", "n0003").await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()["code"].as_str()),
        (403, Some("CONSENT_REQUIRED"))
    );

    // A path the protocol does not have; a partner that is not path-style.
    let (status, _, _) = send(&stack, "GET", "/gw/ptn_sr/v3/nothing", "n0004").await;
    assert_eq!(status, 400);
    let res = http().get(stack.gw.url("/gw/ptn_nobody/v3/products")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    // A bearer token at a protocol path is no signature.
    let res = http().get(stack.gw.url("/gw/ptn_sr/v3/products")).bearer_auth("abc").send().await.unwrap();
    assert_eq!(res.status(), 401);
}
