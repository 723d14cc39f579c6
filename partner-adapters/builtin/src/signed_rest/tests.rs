use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scenegate_adapter_contract::{
    AdapterError, AdapterKind, BuildContext, CanonicalRequest, Currency, EventNotice, Money, Notify, Operation,
    PartnerAdapter, ProtocolKey, RawRequest, SignatureSuite,
};
use serde_json::Value;

use super::Kind;
use crate::suites::{SigningKey, VerifyKey, aead, sm3};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo-keys/");
const NOW: i64 = 1_796_349_600;
const API_KEY: &str = "0123456789abcdefghijABCDEFGHIJ01";

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DEMO}{name}")).unwrap()
}

pub(super) struct Fixture {
    pub adapter: Box<dyn PartnerAdapter>,
    pub partner_key: SigningKey,
    pub bank_key: VerifyKey,
    pub suite: SignatureSuite,
}

pub(super) fn fixture(suite: SignatureSuite) -> Fixture {
    let tag = if suite == SignatureSuite::Rsa2 { "rsa" } else { "sm2" };
    let mut settings = toml::Table::new();
    settings.insert("mchid".into(), "1900009191".into());
    settings.insert("sign_type".into(), suite.name().into());
    settings.insert("response_key_file".into(), format!("gateway-open-platform.{tag}.private.pem").into());
    settings.insert("response_key_serial".into(), "BANK-2026".into());
    settings.insert("api_key_file".into(), "api.key".into());
    let keys = [ProtocolKey {
        id: "SERIAL-1".into(),
        suite,
        pem: read(&format!("ptn_metrogo.{tag}.public.pem")),
        field: "keys.protocol[0]".into(),
    }];
    let read_file = |name: &str| {
        if name == "api.key" {
            Ok(API_KEY.as_bytes().to_vec())
        } else {
            std::fs::read(format!("{DEMO}{name}")).map_err(|e| e.to_string())
        }
    };
    let ctx = BuildContext { partner_id: "ptn_x", settings: &settings, keys: &keys, read_file: &read_file };
    Fixture {
        adapter: Kind.build(&ctx).unwrap(),
        partner_key: SigningKey::from_pem(suite, &read(&format!("ptn_metrogo.{tag}.private.pem"))).unwrap(),
        bank_key: VerifyKey::from_pem(suite, &read(&format!("gateway-open-platform.{tag}.public.pem"))).unwrap(),
        suite,
    }
}

/// A request signed as the partner's SDK signs it.
pub(super) fn signed(
    f: &Fixture,
    method: &str,
    rest: &str,
    query: Option<&str>,
    body: &str,
    nonce: &str,
) -> RawRequest {
    let path = format!("/gw/ptn_x/{rest}");
    let url = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let message = format!("{method}\n{url}\n{NOW}\n{nonce}\n{body}\n");
    let signature = STANDARD.encode(f.partner_key.sign(message.as_bytes()).unwrap());
    let scheme = if f.suite == SignatureSuite::Rsa2 { "SCENEGATE-SHA256-RSA2048" } else { "SCENEGATE-SM2-WITH-SM3" };
    let auth = format!(
        r#"{scheme} mchid="1900009191",nonce_str="{nonce}",timestamp="{NOW}",serial_no="SERIAL-1",signature="{signature}""#
    );
    let mut headers = vec![("authorization".to_owned(), auth)];
    if !body.is_empty() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    RawRequest {
        method: method.into(),
        path,
        path_params: vec![("partner_id".into(), "ptn_x".into()), ("rest".into(), rest.into())],
        query: query.map(str::to_owned),
        headers,
        body: body.as_bytes().to_vec().into(),
        received_at: NOW,
    }
}

#[test]
fn requests_are_recognised_by_method_and_path_and_amounts_are_exact_minor_units() {
    for suite in [SignatureSuite::Rsa2, SignatureSuite::Sm2] {
        let f = fixture(suite);
        let req = signed(&f, "GET", "v3/products/prd_A", None, "", "n1");
        let ok = f.adapter.authenticate(&req, NOW).unwrap();
        assert_eq!(ok.operation, Operation::GetProduct);
        assert_eq!(
            f.adapter.decode(ok.operation, &req).unwrap(),
            CanonicalRequest::GetProduct("prd_A".parse().unwrap())
        );

        let body = r#"{"out_trade_no":"T-1","agreement_no":"cns_1","amount":{"total":4501,"currency":"CNY"}}"#;
        let req = signed(&f, "POST", "v3/pay/transactions", None, body, "n2");
        let ok = f.adapter.authenticate(&req, NOW).unwrap();
        assert_eq!(ok.operation, Operation::CreatePayment);
        assert_eq!(ok.idempotency.unwrap().key, "T-1");
        let CanonicalRequest::CreatePayment(pay) = f.adapter.decode(Operation::CreatePayment, &req).unwrap() else {
            panic!()
        };
        assert_eq!(pay.instructed_amount, Money::parse("45.01", Currency::Cny).unwrap());
        for bad in ["0", "-1", "1000000000000000001"] {
            let body = format!(r#"{{"out_trade_no":"T-1","agreement_no":"cns_1","amount":{{"total":{bad}}}}}"#);
            let req = signed(&f, "POST", "v3/pay/transactions", None, &body, "n3");
            assert!(
                matches!(f.adapter.decode(Operation::CreatePayment, &req), Err(AdapterError::InvalidField { .. })),
                "{bad}"
            );
        }
    }
}

#[test]
fn tampered_stale_unknown_serial_and_other_schemes_are_refused() {
    let f = fixture(SignatureSuite::Rsa2);
    let good = signed(&f, "GET", "v3/products", Some("limit=2"), "", "n1");
    assert!(f.adapter.authenticate(&good, NOW).is_ok());
    let other_query = RawRequest { query: Some("limit=3".into()), ..good.clone() };
    assert!(matches!(f.adapter.authenticate(&other_query, NOW), Err(AdapterError::Signature(_))));
    let other_path = RawRequest { path: "/gw/ptn_x/v3/products/x".into(), ..good.clone() };
    assert!(matches!(f.adapter.authenticate(&other_path, NOW), Err(AdapterError::Signature(_))));
    assert!(matches!(f.adapter.authenticate(&good, NOW + 301), Err(AdapterError::Stale(_))));
    let auth = good.header("authorization").unwrap().to_owned();
    let swap = |from: &str, to: &str| {
        let mut req = good.clone();
        req.headers[0].1 = auth.replace(from, to);
        req
    };
    assert!(matches!(f.adapter.authenticate(&swap("SERIAL-1", "SERIAL-2"), NOW), Err(AdapterError::Signature(_))));
    assert!(matches!(
        f.adapter.authenticate(&swap("1900009191", "1900009192"), NOW),
        Err(AdapterError::WrongPartner(_))
    ));
    assert!(matches!(
        f.adapter.authenticate(&swap("SCENEGATE-SHA256-RSA2048", "SCENEGATE-SM2-WITH-SM3"), NOW),
        Err(AdapterError::Signature(_))
    ));
    let mut bearer = good.clone();
    bearer.headers[0].1 = "Bearer abc".into();
    assert!(matches!(f.adapter.authenticate(&bearer, NOW), Err(AdapterError::Signature(_))));
}

#[test]
fn answers_are_signed_in_headers_over_timestamp_nonce_and_body() {
    let f = fixture(SignatureSuite::Sm2);
    let req = signed(&f, "GET", "v3/products/prd_A", None, "", "n1");
    let error = scenegate_adapter_contract::ErrorView {
        status: 404,
        code: "not_found",
        title: "No such resource",
        detail: "no such product",
        request_id: "r1",
        retry_after: None,
    };
    let out = f.adapter.encode_error(Some(Operation::GetProduct), &req, &error).unwrap();
    assert_eq!(out.status, 404, "refusals keep their HTTP status");
    let header = |n: &str| out.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(header("scenegate-timestamp"), NOW.to_string());
    assert_eq!(header("scenegate-serial"), "BANK-2026");
    let mut message = format!("{}\n{}\n", header("scenegate-timestamp"), header("scenegate-nonce")).into_bytes();
    message.extend_from_slice(&out.body);
    message.push(b'\n');
    assert!(f.bank_key.verify(&message, &STANDARD.decode(header("scenegate-signature")).unwrap()));
    let body: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!((body["code"].as_str(), body["request_id"].as_str()), (Some("NOT_FOUND"), Some("r1")));
}

#[test]
fn a_payment_notification_decrypts_with_the_api_key_in_each_suite() {
    for suite in [SignatureSuite::Rsa2, SignatureSuite::Sm2] {
        let f = fixture(suite);
        let data = serde_json::json!({
            "payment_id": "pay_1", "consent_id": "cns_1", "status": "completed", "status_code": "ACSC",
            "instructed_amount": {"amount": "45.01", "currency": "CNY"},
            "refunded_amount": {"amount": "0.00", "currency": "CNY"},
        });
        let event = EventNotice {
            id: "evt_1",
            event_type: "payment.status_changed",
            subject_id: "pay_1",
            created_at: NOW,
            data: &data,
        };
        let Notify::Protocol(n) = f.adapter.notification(&event, NOW + 5).unwrap() else { panic!("a notification") };
        let body: Value = serde_json::from_slice(&n.body).unwrap();
        assert_eq!(body["event_type"], "TRANSACTION.SUCCESS");
        let r = &body["resource"];
        let (alg, key) = if suite == SignatureSuite::Sm2 {
            assert_eq!(r["algorithm"], "AEAD_SM4_GCM");
            (aead::AeadAlgorithm::Sm4Gcm, sm3(API_KEY.as_bytes())[..16].to_vec())
        } else {
            assert_eq!(r["algorithm"], "AEAD_AES_256_GCM");
            (aead::AeadAlgorithm::Aes256Gcm, API_KEY.as_bytes().to_vec())
        };
        let nonce: [u8; 12] = r["nonce"].as_str().unwrap().as_bytes().try_into().unwrap();
        let sealed = STANDARD.decode(r["ciphertext"].as_str().unwrap()).unwrap();
        let plain = aead::open(alg, &key, &nonce, b"transaction", &sealed).expect("decrypts with the API key");
        let resource: Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!((resource["trade_no"].as_str(), resource["amount"]["total"].as_i64()), (Some("pay_1"), Some(4501)));
        let header = |k: &str| n.headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone()).unwrap();
        let mut message = format!("{}\n{}\n", header("scenegate-timestamp"), header("scenegate-nonce")).into_bytes();
        message.extend_from_slice(&n.body);
        message.push(b'\n');
        assert!(f.bank_key.verify(&message, &STANDARD.decode(header("scenegate-signature")).unwrap()));
        assert!(f.adapter.acknowledged(204, b""));
        assert!(!f.adapter.acknowledged(500, b""));
        let consent = EventNotice { event_type: "consent.status_changed", ..event };
        assert!(matches!(f.adapter.notification(&consent, NOW).unwrap(), Notify::Skip));
    }
}
