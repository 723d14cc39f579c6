use scenegate_adapter_contract::{
    AdapterError, AdapterKind, BuildContext, CanonicalRequest, Operation, ProtocolKey, RawRequest, SignatureSuite,
};

use super::Kind;
use crate::suites::{mac, sorted_params};

const KEY: &str = "0123456789abcdefghijABCDEFGHIJ0123456789";
const NOW: i64 = 1_796_349_600;

fn build(sign_type: &str, key: &str) -> Result<Box<dyn scenegate_adapter_contract::PartnerAdapter>, String> {
    let mut settings = toml::Table::new();
    settings.insert("mch_id".into(), "10000100".into());
    settings.insert("sign_type".into(), sign_type.into());
    settings.insert("key_file".into(), "shared.key".into());
    let key = key.to_owned();
    let read_file = move |_: &str| Ok(format!("{key}\n").into_bytes());
    let ctx = BuildContext { partner_id: "ptn_x", settings: &settings, keys: &[], read_file: &read_file };
    Kind.build(&ctx).map_err(|e| e.field)
}

fn request(suite: SignatureSuite, params: &[(&str, &str)]) -> RawRequest {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    let signing = sorted_params(all.iter().copied(), &["sign"], true);
    let sign = mac::mac_hex(suite, KEY.as_bytes(), &signing).unwrap();
    all.push(("sign", &sign));
    RawRequest {
        method: "POST".into(),
        path: "/gw/ptn_x".into(),
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        body: serde_urlencoded::to_string(&all).unwrap().into_bytes().into(),
        ..Default::default()
    }
}

fn query(suite: SignatureSuite, nonce: &str) -> RawRequest {
    request(
        suite,
        &[
            ("mch_id", "10000100"),
            ("method", "product.query"),
            ("nonce_str", nonce),
            ("timestamp", "1796349600"),
            ("sign_type", suite.name()),
            ("product_id", "prd_DEP-3M-CNY"),
        ],
    )
}

#[test]
fn each_mac_suite_authenticates_and_decodes() {
    for suite in [SignatureSuite::Md5, SignatureSuite::HmacSha256, SignatureSuite::HmacSm3] {
        let adapter = build(suite.name(), KEY).unwrap();
        let req = query(suite, "ibuaiVcKdpRxkhJA");
        let ok = adapter.authenticate(&req, NOW).unwrap();
        assert_eq!(ok.operation, Operation::GetProduct);
        assert_eq!(ok.replay.key, "10000100:ibuaiVcKdpRxkhJA");
        assert_eq!(
            adapter.decode(ok.operation, &req).unwrap(),
            CanonicalRequest::GetProduct("prd_DEP-3M-CNY".parse().unwrap())
        );
    }
}

#[test]
fn tampered_stale_downgraded_and_foreign_requests_are_refused() {
    let adapter = build("HMAC-SM3", KEY).unwrap();
    let good = query(SignatureSuite::HmacSm3, "n1");
    let text = String::from_utf8(good.body.to_vec()).unwrap();
    let tampered = RawRequest { body: text.replace("DEP-3M", "DEP-6M").into_bytes().into(), ..good.clone() };
    assert!(matches!(adapter.authenticate(&tampered, NOW), Err(AdapterError::Signature(_))));
    assert!(matches!(adapter.authenticate(&good, NOW + 301), Err(AdapterError::Stale(_))));
    // MD5 is weaker: a request may not choose it for a merchant registered for HMAC-SM3.
    assert!(matches!(adapter.authenticate(&query(SignatureSuite::Md5, "n2"), NOW), Err(AdapterError::Signature(_))));
    let other = RawRequest { body: text.replace("10000100", "10000101").into_bytes().into(), ..good.clone() };
    assert!(matches!(adapter.authenticate(&other, NOW), Err(AdapterError::WrongPartner(_))));
    let in_query = RawRequest { query: Some("limit=1".into()), ..good };
    assert!(matches!(adapter.authenticate(&in_query, NOW), Err(AdapterError::InvalidField { .. })));
}

#[test]
fn answers_carry_a_mac_over_their_own_fields() {
    let adapter = build("HMAC-SHA256", KEY).unwrap();
    let req = query(SignatureSuite::HmacSha256, "n1");
    let error = scenegate_adapter_contract::ErrorView {
        status: 403,
        code: "insufficient_scope",
        title: "t",
        detail: "no",
        request_id: "r1",
        retry_after: None,
    };
    let out = adapter.encode_error(Some(Operation::GetProduct), &req, &error).unwrap();
    let answer: std::collections::BTreeMap<String, String> = serde_json::from_slice(&out.body).unwrap();
    assert_eq!((answer["return_code"].as_str(), answer["err_code"].as_str()), ("FAIL", "INSUFFICIENT_SCOPE"));
    assert_eq!(answer["nonce_str"], "n1");
    let signing = sorted_params(answer.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign"], true);
    assert!(mac::verify_hex(SignatureSuite::HmacSha256, KEY.as_bytes(), &signing, &answer["sign"]));
}

#[test]
fn settings_are_checked_when_the_partner_loads() {
    assert_eq!(build("RSA2", KEY).unwrap_err(), "sign_type");
    assert_eq!(build("MD5", "short-key").unwrap_err(), "key_file");
    let mut settings = toml::Table::new();
    settings.insert("mch_id".into(), "10000100".into());
    settings.insert("sign_type".into(), "MD5".into());
    settings.insert("key_file".into(), "k".into());
    let keys = [ProtocolKey {
        id: "k".into(),
        suite: SignatureSuite::Rsa2,
        pem: String::new(),
        field: "keys.protocol[0]".into(),
    }];
    let read_file = |_: &str| Ok(KEY.as_bytes().to_vec());
    let ctx = BuildContext { partner_id: "ptn_x", settings: &settings, keys: &keys, read_file: &read_file };
    assert_eq!(Kind.build(&ctx).unwrap_err().field, "keys.protocol[0]");
}
