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
    send_with(stack, method, path_and_query, nonce, "", None).await
}

/// The same with a JSON body and the customer's token.
async fn send_with(
    stack: &Stack,
    method: &str,
    path_and_query: &str,
    nonce: &str,
    body: &str,
    customer_token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let key = SigningKey::from_pem(
        SignatureSuite::Rsa2,
        &std::fs::read_to_string(demo_key("ptn_tollway.rsa.private.pem")).unwrap(),
    )
    .unwrap();
    let now = jiff::Timestamp::now().as_second();
    let message = format!("{method}\n{path_and_query}\n{now}\n{nonce}\n{body}\n");
    let signature = STANDARD.encode(key.sign(message.as_bytes()).unwrap());
    let auth = format!(
        r#"SCENEGATE-SHA256-RSA2048 mchid="1900000001",nonce_str="{nonce}",timestamp="{now}",serial_no="SR-1",signature="{signature}""#
    );
    let mut request =
        http().request(method.parse().unwrap(), stack.gw.url(path_and_query)).header("authorization", auth);
    if !body.is_empty() {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    if let Some(token) = customer_token {
        request = request.header("scenegate-customer-token", token);
    }
    let res = request.send().await.unwrap();
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

/// A partner of the signed-rest protocol that also takes payments: its OAuth key (for the
/// customer's token), merchants and limits, and a notification endpoint at `webhook`.
fn paying_partner_toml(webhook: &str) -> String {
    let jwks = crate::support::fixtures().join("keys/test-partner.jwks.json");
    partner_toml()
        .replace(
            r#"scopes = ["products:read", "accounts:read"]"#,
            &format!(
                "scopes = [\"products:read\", \"payments:write\", \"payments:initiate\"]\nredirect_uris = [\"{}\"]\nwebhook_url = \"{webhook}\"",
                crate::support::customer::REDIRECT_URI
            ),
        )
        .replace("[keys]\n", &format!("[keys]\njwks_file = \"{}\"\n", jwks.display()))
        .replace(
            "[adapter]",
            &format!(
                "[webhooks]\nallow_private_network = true\n\n[payments.merchants.toll]\naccount = \"{}\"\nname = \"Toll\"\n[payments.limits.CNY]\nper_payment = \"500.00\"\nper_day = \"5000.00\"\n\n[adapter]",
                crate::support::payments::MERCHANT_ACCOUNT
            ),
        )
}

#[tokio::test]
async fn a_signed_rest_payment_is_made_once_in_minor_units_and_notified_encrypted() {
    use scenegate_adapters::suites::aead;
    let notified = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let kept = notified.clone();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook = format!("http://{}/notify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let stack = Stack::start_with(|o| o.partners.push(("sr".into(), paying_partner_toml(&webhook))));
    let core = crate::support::customer::core_url_of(stack.gw.dir.path());
    let before = crate::support::payments::ledger(&core).await["txn_count"].as_i64().unwrap();

    let agreement = r#"{"out_agreement_no":"AG-1","amount":{"total":1550,"currency":"CNY"},"merchant":"toll","description":"G15 toll","scenario_code":"transport"}"#;
    let (status, headers, body) = send_with(&stack, "POST", "/gw/ptn_sr/v3/agreements", "a1", agreement, None).await;
    assert_eq!(status, 200, "{body}");
    verify_answer(&headers, &body);
    let agreement: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(agreement["amount"]["total"], 1550);
    let agreement_no = agreement["agreement_no"].as_str().unwrap().to_owned();
    let token =
        crate::support::payments::authorise_payment(&stack, &stack.gw.partner("ptn_sr"), &agreement_no, "13800000001")
            .await;

    let pay = format!(
        r#"{{"out_trade_no":"T-1","agreement_no":"{agreement_no}","amount":{{"total":1550,"currency":"CNY"}}}}"#
    );
    let (status, headers, first) =
        send_with(&stack, "POST", "/gw/ptn_sr/v3/pay/transactions", "p1", &pay, Some(&token)).await;
    assert_eq!(status, 200, "{first}");
    verify_answer(&headers, &first);
    let paid: Value = serde_json::from_str(&first).unwrap();
    assert_eq!((paid["trade_state"].as_str(), paid["amount"]["total"].as_i64()), (Some("SUCCESS"), Some(1550)));
    // A retry (another nonce, so another signature): the same answer, one posting.
    let (_, headers, again) =
        send_with(&stack, "POST", "/gw/ptn_sr/v3/pay/transactions", "p2", &pay, Some(&token)).await;
    assert_eq!(again, first);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(crate::support::payments::ledger(&core).await["txn_count"].as_i64().unwrap(), before + 1);

    // The settled payment arrives encrypted under the partner's API key.
    let trade_no = paid["trade_no"].as_str().unwrap().to_owned();
    let api_key = std::fs::read_to_string(demo_key("ptn_tollway.apikey")).unwrap();
    let decrypt = |body: &str| -> Value {
        let n: Value = serde_json::from_str(body).unwrap();
        let r = &n["resource"];
        assert_eq!(r["algorithm"], "AEAD_AES_256_GCM");
        let nonce: [u8; 12] = r["nonce"].as_str().unwrap().as_bytes().try_into().unwrap();
        let sealed = STANDARD.decode(r["ciphertext"].as_str().unwrap()).unwrap();
        let plain =
            aead::open(aead::AeadAlgorithm::Aes256Gcm, api_key.trim().as_bytes(), &nonce, b"transaction", &sealed)
                .expect("decrypts with the API key");
        serde_json::from_slice(&plain).unwrap()
    };
    let settled = crate::support::eventually(std::time::Duration::from_secs(30), || async {
        notified.lock().unwrap().iter().any(|b| {
            let r = decrypt(b);
            r["trade_no"] == trade_no.as_str() && r["trade_state"] == "SUCCESS"
        })
    })
    .await;
    assert!(settled, "{}", stack.gw.log());
    let r = notified.lock().unwrap().iter().map(|b| decrypt(b)).find(|r| r["trade_state"] == "SUCCESS").unwrap();
    assert_eq!(r["amount"]["total"], 1550);
}
