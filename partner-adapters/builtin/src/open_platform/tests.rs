use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scenegate_adapter_contract::{
    AdapterError, AdapterKind, BuildContext, CanonicalRequest, CanonicalResponse, Currency, ErrorView, Money,
    Operation, ProtocolKey, RawRequest, SignatureSuite,
    canonical::{Creditor, Iso20022Status, PaymentStatus, PaymentView},
};
use serde_json::Value;

use super::Kind;
use crate::suites::{SigningKey, sorted_params};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo-keys/");
/// 2026-12-04 10:00:00 at UTC+8.
const NOW: i64 = 1_796_349_600;
const STAMP: &str = "2026-12-04 10:00:00";

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DEMO}{name}")).unwrap()
}

struct Fixture {
    adapter: Box<dyn scenegate_adapter_contract::PartnerAdapter>,
    partner_key: SigningKey,
    gateway_key: SigningKey,
}

fn fixture(suite: SignatureSuite) -> Fixture {
    let tag = if suite == SignatureSuite::Rsa2 { "rsa" } else { "sm2" };
    let mut settings = toml::Table::new();
    settings.insert("app_id".into(), "2026000000000001".into());
    settings.insert("sign_type".into(), suite.name().into());
    settings.insert("response_key_file".into(), format!("gateway-open-platform.{tag}.private.pem").into());
    let keys = [ProtocolKey {
        id: "k1".into(),
        suite,
        pem: read(&format!("ptn_metrogo.{tag}.public.pem")),
        field: "keys.protocol[0]".into(),
    }];
    let read_file = |name: &str| std::fs::read(format!("{DEMO}{name}")).map_err(|e| e.to_string());
    let ctx = BuildContext { partner_id: "ptn_metrogo", settings: &settings, keys: &keys, read_file: &read_file };
    Fixture {
        adapter: Kind.build(&ctx).unwrap(),
        partner_key: SigningKey::from_pem(suite, &read(&format!("ptn_metrogo.{tag}.private.pem"))).unwrap(),
        gateway_key: SigningKey::from_pem(suite, &read(&format!("gateway-open-platform.{tag}.private.pem"))).unwrap(),
    }
}

/// A signed request as a partner's SDK sends it.
fn request(f: &Fixture, method: &str, biz: &str, extra: &[(&str, &str)]) -> RawRequest {
    let suite = f.partner_key.suite().name();
    let mut params: Vec<(&str, &str)> = vec![
        ("app_id", "2026000000000001"),
        ("method", method),
        ("charset", "utf-8"),
        ("sign_type", suite),
        ("timestamp", STAMP),
        ("version", "1.0"),
        ("biz_content", biz),
    ];
    params.extend_from_slice(extra);
    let signed = sorted_params(params.iter().copied(), &["sign"], true);
    let sign = STANDARD.encode(f.partner_key.sign(signed.as_bytes()).unwrap());
    params.push(("sign", &sign));
    let body = serde_urlencoded::to_string(&params).unwrap();
    RawRequest {
        method: "POST".into(),
        path: "/gw/ptn_metrogo".into(),
        path_params: vec![("partner_id".into(), "ptn_metrogo".into())],
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded; charset=utf-8".into())],
        body: body.into_bytes().into(),
        ..Default::default()
    }
}

/// The signed text of an answer, checked with the gateway's public key.
fn verified_answer(f: &Fixture, body: &[u8], key: &str) -> Value {
    let text = std::str::from_utf8(body).unwrap();
    let start = text.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
    let end = text.rfind(",\"sign\":").unwrap();
    let signed = &text[start..end];
    let doc: Value = serde_json::from_str(text).unwrap();
    let sign = STANDARD.decode(doc["sign"].as_str().unwrap()).unwrap();
    assert!(f.gateway_key.verify_key().verify(signed.as_bytes(), &sign), "the answer's signature verifies");
    doc[key].clone()
}

#[test]
fn a_signed_product_query_is_recognised_and_decoded_in_both_suites() {
    for suite in [SignatureSuite::Rsa2, SignatureSuite::Sm2] {
        let f = fixture(suite);
        let req = request(&f, "scenegate.product.query", r#"{"product_id":"prd_DEP-3M-CNY"}"#, &[]);
        let ok = f.adapter.authenticate(&req, NOW).unwrap();
        assert_eq!(ok.operation, Operation::GetProduct);
        assert!(ok.idempotency.is_none() && ok.customer_token.is_none());
        assert_eq!(ok.replay.until, NOW + 300);
        let decoded = f.adapter.decode(ok.operation, &req).unwrap();
        assert_eq!(decoded, CanonicalRequest::GetProduct("prd_DEP-3M-CNY".parse().unwrap()));
    }
}

#[test]
fn tampered_stale_wrong_app_and_downgraded_requests_are_refused() {
    let f = fixture(SignatureSuite::Rsa2);
    let good = request(&f, "scenegate.product.query", r#"{"product_id":"prd_A"}"#, &[]);
    // One byte of the signed biz_content changed after signing.
    let text = String::from_utf8(good.body.to_vec()).unwrap().replace("prd_A", "prd_B");
    let tampered = RawRequest { body: text.into_bytes().into(), ..good.clone() };
    assert!(matches!(f.adapter.authenticate(&tampered, NOW), Err(AdapterError::Signature(_))));
    assert!(matches!(f.adapter.authenticate(&good, NOW + 301), Err(AdapterError::Stale(_))));
    assert!(matches!(f.adapter.authenticate(&good, NOW - 301), Err(AdapterError::Stale(_))));
    assert!(f.adapter.authenticate(&good, NOW + 299).is_ok());
    // Signed by another app's key (the SM2 fixture's partner key is another key altogether).
    let other = fixture(SignatureSuite::Sm2);
    let sm2_signed = request(&other, "scenegate.product.query", r#"{"product_id":"prd_A"}"#, &[]);
    assert!(matches!(f.adapter.authenticate(&sm2_signed, NOW), Err(AdapterError::Signature(_))));
    let wrong_app = String::from_utf8(good.body.to_vec()).unwrap().replace("2026000000000001", "2026000000000002");
    let wrong_app = RawRequest { body: wrong_app.into_bytes().into(), ..good.clone() };
    assert!(matches!(f.adapter.authenticate(&wrong_app, NOW), Err(AdapterError::WrongPartner(_))));
    // The same request twice has the same replay mark: the gateway refuses the second.
    assert_eq!(f.adapter.authenticate(&good, NOW).unwrap().replay, f.adapter.authenticate(&good, NOW).unwrap().replay);
}

#[test]
fn a_parameter_outside_the_signature_or_twice_is_refused() {
    let f = fixture(SignatureSuite::Rsa2);
    let good = request(&f, "scenegate.product.query", r#"{"product_id":"prd_A"}"#, &[]);
    let mut twice = good.clone();
    twice.query = Some("method=scenegate.trade.pay".into());
    assert!(
        matches!(f.adapter.authenticate(&twice, NOW), Err(AdapterError::InvalidField { field, .. }) if field == "method")
    );
    let mut unknown = good.clone();
    unknown.query = Some("amount=1".into());
    assert!(
        matches!(f.adapter.authenticate(&unknown, NOW), Err(AdapterError::InvalidField { field, .. }) if field == "amount")
    );
    let mut json = good;
    json.headers = vec![("content-type".into(), "application/json".into())];
    assert!(matches!(f.adapter.authenticate(&json, NOW), Err(AdapterError::UnsupportedMediaType { .. })));
}

#[test]
fn a_pay_carries_its_order_number_customer_token_and_exact_amount() {
    let f = fixture(SignatureSuite::Sm2);
    let biz = r#"{"out_trade_no":"MG20261204000001","agreement_no":"cns_X1","total_amount":"88.00","subject":"Airport parking"}"#;
    let req = request(&f, "scenegate.trade.pay", biz, &[("auth_token", "eyJ.customer.token")]);
    let ok = f.adapter.authenticate(&req, NOW).unwrap();
    assert_eq!(ok.operation, Operation::CreatePayment);
    assert_eq!(ok.customer_token.as_deref(), Some("eyJ.customer.token"));
    let reference = ok.idempotency.unwrap();
    assert_eq!(reference.key, "MG20261204000001");
    assert_eq!(reference.request, biz.as_bytes());
    let CanonicalRequest::CreatePayment(pay) = f.adapter.decode(Operation::CreatePayment, &req).unwrap() else {
        panic!("a payment")
    };
    assert_eq!(pay.instructed_amount, Money::parse("88.00", Currency::Cny).unwrap());
    assert_eq!(pay.consent_id.as_str(), "cns_X1");
    for bad in ["88.001", "-1.00", "0", "1e3", "88,00"] {
        let biz = format!(r#"{{"out_trade_no":"A1","agreement_no":"cns_X1","total_amount":"{bad}"}}"#);
        let req = request(&f, "scenegate.trade.pay", &biz, &[]);
        let refused = f.adapter.decode(Operation::CreatePayment, &req).unwrap_err();
        assert!(
            matches!(refused, AdapterError::InvalidField { ref field, .. } if field == "biz_content.total_amount"),
            "{bad}: {refused:?}"
        );
    }
}

#[test]
fn answers_and_refusals_are_signed_envelopes() {
    let f = fixture(SignatureSuite::Rsa2);
    let req = request(&f, "scenegate.trade.query", r#"{"trade_no":"pay_1"}"#, &[]);
    let payment = PaymentView {
        payment_id: "pay_1".parse().unwrap(),
        consent_id: "cns_1".parse().unwrap(),
        status: PaymentStatus::Completed,
        status_code: Iso20022Status::Acsc,
        status_reason: None,
        instructed_amount: Money::parse("88.00", Currency::Cny).unwrap(),
        refunded_amount: Money::parse("0", Currency::Cny).unwrap(),
        creditor: Creditor { merchant: Some("metrogo".into()), account_number: None, name: None, bank_code: None },
        remittance_reference: "Airport parking".into(),
        created_at: "2026-12-04T02:00:00Z".into(),
        status_updated_at: "2026-12-04T02:00:00Z".into(),
    };
    let out = f
        .adapter
        .encode(Operation::GetPayment, &req, CanonicalResponse::Payment { payment: Box::new(payment), created: false })
        .unwrap();
    assert_eq!(out.status, 200);
    let answer = verified_answer(&f, &out.body, "scenegate_trade_query_response");
    assert_eq!(answer["code"], "10000");
    assert_eq!(answer["trade_status"], "SUCCESS");
    assert_eq!(answer["total_amount"], "88.00");
    let error = ErrorView {
        status: 403,
        code: "consent_inactive",
        title: "The consent is no longer in force",
        detail: "the consent was revoked",
        request_id: "req-1",
        retry_after: None,
    };
    let out = f.adapter.encode_error(Some(Operation::GetPayment), &req, &error).unwrap();
    let answer = verified_answer(&f, &out.body, "scenegate_trade_query_response");
    assert_eq!(answer["code"], "40006");
    assert_eq!(answer["sub_code"], "scenegate.consent_inactive");
    assert_eq!(answer["request_id"], "req-1");
    let out = f.adapter.encode_error(None, &req, &error).unwrap();
    verified_answer(&f, &out.body, "error_response");
}

/// `scenegate.agreement.close` names the agreement to withdraw; a closed one answers its new
/// status, a refusal (already paid) keeps the method's envelope with the gateway's problem.
#[test]
fn an_agreement_is_closed_by_its_number_and_a_refusal_keeps_the_envelope() {
    let f = fixture(SignatureSuite::Sm2);
    let req = request(&f, "scenegate.agreement.close", r#"{"agreement_no":"cns_X1"}"#, &[]);
    let verified = f.adapter.authenticate(&req, NOW).unwrap();
    assert_eq!(verified.operation, Operation::RevokePaymentConsent);
    assert!(verified.idempotency.is_none(), "closing moves no money: no order number");
    assert_eq!(
        f.adapter.decode(Operation::RevokePaymentConsent, &req).unwrap(),
        CanonicalRequest::RevokePaymentConsent("cns_X1".parse().unwrap())
    );
    for bad in [r#"{"agreement_no":"pay_1"}"#, r#"{"out_agreement_no":"AG-1"}"#, r#"{"agreement_no":"cns_X1","x":1}"#] {
        let req = request(&f, "scenegate.agreement.close", bad, &[]);
        assert!(
            matches!(f.adapter.decode(Operation::RevokePaymentConsent, &req), Err(AdapterError::InvalidField { .. })),
            "{bad}"
        );
    }
    let error = ErrorView {
        status: 409,
        code: "consent_state",
        title: "The consent is not in a state that allows this",
        detail: "the consent is consumed",
        request_id: "req-2",
        retry_after: None,
    };
    let out = f.adapter.encode_error(Some(Operation::RevokePaymentConsent), &req, &error).unwrap();
    let answer = verified_answer(&f, &out.body, "scenegate_agreement_close_response");
    assert_eq!(
        (answer["code"].as_str(), answer["sub_code"].as_str()),
        (Some("40004"), Some("scenegate.consent_state"))
    );
}

#[test]
fn settings_are_checked_when_the_partner_loads() {
    let keys = [ProtocolKey {
        id: "k1".into(),
        suite: SignatureSuite::Sm2,
        pem: read("ptn_metrogo.sm2.public.pem"),
        field: "keys.protocol[0]".into(),
    }];
    let read_file = |name: &str| std::fs::read(format!("{DEMO}{name}")).map_err(|e| e.to_string());
    let build = |pairs: &[(&str, &str)], keys: &[ProtocolKey]| {
        let settings: toml::Table = pairs.iter().map(|(k, v)| ((*k).to_owned(), toml::Value::from(*v))).collect();
        let ctx = BuildContext { partner_id: "ptn_metrogo", settings: &settings, keys, read_file: &read_file };
        Kind.build(&ctx).map(|_| ()).map_err(|e| e.field)
    };
    let good = [
        ("app_id", "2026000000000001"),
        ("sign_type", "SM2"),
        ("response_key_file", "gateway-open-platform.sm2.private.pem"),
    ];
    assert_eq!(build(&good, &keys), Ok(()));
    assert_eq!(build(&[("sign_type", "SM2")], &keys), Err("app_id".into()));
    let rsa = [
        ("app_id", "2026000000000001"),
        ("sign_type", "RSA2"),
        ("response_key_file", "gateway-open-platform.rsa.private.pem"),
    ];
    assert_eq!(build(&rsa, &keys), Err("keys.protocol[0].suite".into()), "an SM2 key for an RSA2 partner");
    assert_eq!(build(&good, &[]), Err("keys.protocol".into()));
    let wrong_response_key =
        [("app_id", "A1"), ("sign_type", "SM2"), ("response_key_file", "gateway-open-platform.rsa.private.pem")];
    assert_eq!(build(&wrong_response_key, &keys), Err("response_key_file".into()));
    let typo = [("app_id", "A1"), ("sign_type", "SM2"), ("response_key_file", "x"), ("sign_typ", "SM2")];
    assert_eq!(build(&typo, &keys), Err("sign_typ".into()));
}

#[test]
fn a_settled_payment_is_notified_as_a_form_signed_by_the_bank_and_acked_by_success() {
    use scenegate_adapter_contract::{EventNotice, Notify};
    let f = fixture(SignatureSuite::Sm2);
    let data = serde_json::json!({
        "payment_id": "pay_1", "consent_id": "cns_1", "status": "completed", "status_code": "ACSC",
        "instructed_amount": {"amount": "45.00", "currency": "CNY"},
        "refunded_amount": {"amount": "0.00", "currency": "CNY"},
    });
    let event = EventNotice {
        id: "evt_1",
        event_type: "payment.status_changed",
        subject_id: "pay_1",
        created_at: NOW,
        data: &data,
    };
    let Notify::Protocol(n) = f.adapter.notification(&event, NOW).unwrap() else { panic!("a form") };
    assert_eq!(n.content_type, "application/x-www-form-urlencoded; charset=utf-8");
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&n.body).unwrap();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("notify_id"), Some("evt_1"));
    assert_eq!(get("notify_type"), Some("trade_status_sync"));
    assert_eq!(get("notify_time"), Some(STAMP), "local time at the partner's offset");
    assert_eq!(
        (get("trade_no"), get("trade_status"), get("total_amount")),
        (Some("pay_1"), Some("SUCCESS"), Some("45.00"))
    );
    assert_eq!(get("reason_code"), None, "empty values are left out");
    let sign = STANDARD.decode(get("sign").unwrap()).unwrap();
    let signed = sorted_params(form.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign"], true);
    assert!(f.gateway_key.verify_key().verify(signed.as_bytes(), &sign), "signed by the bank's key");

    let consent = EventNotice { event_type: "consent.status_changed", ..event };
    assert!(matches!(f.adapter.notification(&consent, NOW).unwrap(), Notify::Skip));
    assert!(f.adapter.acknowledged(200, b"success"));
    assert!(f.adapter.acknowledged(200, b"success\r\n"));
    for (status, body) in [(200, &b"fail"[..]), (200, b""), (204, b"success"), (500, b"success"), (200, b"SUCCESS")] {
        assert!(!f.adapter.acknowledged(status, body), "{status} {body:?}");
    }
}
