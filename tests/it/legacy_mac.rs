//! The `legacy-mac` adapter over HTTP: a partner that MACs its form posts with a shared key
//! reads public product data, and nothing replayed, tampered or beyond A1 gets through.

use scenegate_adapter_contract::SignatureSuite;
use scenegate_adapters::suites::{mac, sorted_params};
use serde_json::Value;

use crate::support::{Stack, http};

const KEY: &str = "Zq0mN4v8Rk2Lp7Xs9Tg3Hb6Jc1Wd5Ye0Uf";

fn partner_toml(key_file: &std::path::Path) -> String {
    format!(
        r#"id = "ptn_legacy"
display_name = "Legacy rate board"
status = "active"
environment = "sandbox"
security_level = "A1"
scopes = ["products:read"]

[keys]
jwks = {{ keys = [] }}

[adapter]
name = "legacy-mac"
[adapter.settings]
mch_id = "10000100"
sign_type = "HMAC-SM3"
key_file = "{}"
"#,
        key_file.display()
    )
}

fn now() -> String {
    jiff::Timestamp::now().as_second().to_string()
}

/// A MAC'd form, as the partner's old SDK builds it.
fn form(params: &[(&str, &str)]) -> String {
    let mut all = params.to_vec();
    let sign =
        mac::mac_hex(SignatureSuite::HmacSm3, KEY.as_bytes(), &sorted_params(all.iter().copied(), &["sign"], true))
            .unwrap();
    all.push(("sign", &sign));
    serde_urlencoded::to_string(&all).unwrap()
}

async fn post(stack: &Stack, body: String) -> Value {
    let res = http()
        .post(stack.gw.url("/gw/ptn_legacy"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    // Every answer carries the MAC of its own fields.
    let fields: Vec<(String, String)> = answer
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_else(|| panic!("{k} is a string")).to_owned()))
        .collect();
    let signing = sorted_params(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign"], true);
    assert!(
        mac::verify_hex(SignatureSuite::HmacSm3, KEY.as_bytes(), &signing, answer["sign"].as_str().unwrap()),
        "{answer}"
    );
    answer
}

#[tokio::test]
async fn a_mac_partner_reads_products_and_nothing_replayed_or_tampered_gets_through() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("legacy.mackey");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let stack = Stack::start_with(|o| o.partners.push(("legacy".into(), partner_toml(&key_file))));
    let stamp = now();
    let list = form(&[
        ("mch_id", "10000100"),
        ("method", "products.list"),
        ("nonce_str", "n0001"),
        ("timestamp", &stamp),
        ("sign_type", "HMAC-SM3"),
        ("limit", "2"),
    ]);
    let answer = post(&stack, list.clone()).await;
    assert_eq!(answer["return_code"], "SUCCESS", "{answer}");
    assert_eq!(answer["product_count"], "2");
    assert!(answer["product_0_product_id"].as_str().unwrap().starts_with("prd_"), "{answer}");
    assert_eq!(answer["nonce_str"], "n0001");

    // The same nonce again: refused.
    let replayed = post(&stack, list.clone()).await;
    assert_eq!(
        (replayed["return_code"].as_str(), replayed["err_code"].as_str()),
        (Some("FAIL"), Some("SIGNATURE_REPLAYED"))
    );
    // A parameter changed after the MAC: refused.
    let tampered = post(&stack, list.replace("limit=2", "limit=3")).await;
    assert_eq!(tampered["err_code"], "REQUEST_SIGNATURE_REFUSED", "{tampered}");
    // An hour old: refused.
    let old = (jiff::Timestamp::now().as_second() - 3600).to_string();
    let stale = form(&[
        ("mch_id", "10000100"),
        ("method", "products.list"),
        ("nonce_str", "n0002"),
        ("timestamp", &old),
        ("sign_type", "HMAC-SM3"),
    ]);
    assert_eq!(post(&stack, stale).await["err_code"], "REQUEST_STALE");

    // Answered 200 in the protocol's envelope, but counted as refusals for operators.
    let metrics = http().get(stack.gw.ops_url("/metrics")).send().await.unwrap().text().await.unwrap();
    for problem in ["signature_replayed", "request_signature_refused", "request_stale"] {
        let line = format!(
            r#"scenegate_adapted_refusals_total{{partner="ptn_legacy",adapter="legacy-mac",problem="{problem}"}} 1"#
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}
