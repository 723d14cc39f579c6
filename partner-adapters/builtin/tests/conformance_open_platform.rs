//! The conformance kit and golden files over the `open-platform` adapter, in both suites.
//!
//! Golden files (`tests/golden/open_platform/`): for each case, the exact request bytes a
//! partner's SDK sends (RSA2 signatures are deterministic), the canonical request they decode
//! to, and the exact answer bytes for a fixed canonical answer. `UPDATE_GOLDEN=1` rewrites
//! them after an intended change; review the diff.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use proptest::prelude::*;
use scenegate_adapter_contract::{
    AdapterKind, BuildContext, CanonicalRequest, CanonicalResponse, Currency, Money, Operation, PartnerAdapter,
    ProtocolKey, RawRequest, SignatureSuite,
    canonical::{
        Balance, ConsentStatus, Creditor, Iso20022Status, Page, PaymentConsentRequest, PaymentConsentType,
        PaymentConsentView, PaymentRequest, PaymentStatus, PaymentView, Product, ProductQuery, ProductType,
        RefundRequest, RefundView, Scenario, ScenarioCode,
    },
    conformance::{Case, check},
};
use scenegate_adapters::{
    open_platform,
    suites::{SigningKey, sorted_params},
};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo-keys/");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/open_platform/");
/// 2026-12-04 10:00:00 at UTC+8.
const NOW: i64 = 1_796_349_600;
const APP_ID: &str = "2026000000000001";

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DEMO}{name}")).unwrap()
}

fn tag(suite: SignatureSuite) -> &'static str {
    if suite == SignatureSuite::Rsa2 { "rsa" } else { "sm2" }
}

fn adapter(suite: SignatureSuite) -> Box<dyn PartnerAdapter> {
    let mut settings = toml::Table::new();
    settings.insert("app_id".into(), APP_ID.into());
    settings.insert("sign_type".into(), suite.name().into());
    settings.insert("response_key_file".into(), format!("gateway-open-platform.{}.private.pem", tag(suite)).into());
    let keys = [ProtocolKey {
        id: "k1".into(),
        suite,
        pem: read(&format!("ptn_metrogo.{}.public.pem", tag(suite))),
        field: "keys.protocol[0]".into(),
    }];
    let read_file = |name: &str| std::fs::read(format!("{DEMO}{name}")).map_err(|e| e.to_string());
    let ctx = BuildContext { partner_id: "ptn_metrogo", settings: &settings, keys: &keys, read_file: &read_file };
    open_platform::Kind.build(&ctx).unwrap()
}

/// A request as a partner's SDK builds it, signed with the demo partner key.
fn signed(suite: SignatureSuite, method: &str, biz: &str, auth_token: Option<&str>) -> RawRequest {
    let key = SigningKey::from_pem(suite, &read(&format!("ptn_metrogo.{}.private.pem", tag(suite)))).unwrap();
    let mut params: Vec<(&str, &str)> = vec![
        ("app_id", APP_ID),
        ("method", method),
        ("charset", "utf-8"),
        ("sign_type", suite.name()),
        ("timestamp", "2026-12-04 10:00:00"),
        ("version", "1.0"),
        ("biz_content", biz),
    ];
    if let Some(token) = auth_token {
        params.push(("auth_token", token));
    }
    let sign = STANDARD.encode(key.sign(sorted_params(params.iter().copied(), &["sign"], true).as_bytes()).unwrap());
    params.push(("sign", &sign));
    RawRequest {
        method: "POST".into(),
        path: "/gw/ptn_metrogo".into(),
        path_params: vec![("partner_id".into(), "ptn_metrogo".into())],
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        body: serde_urlencoded::to_string(&params).unwrap().into_bytes().into(),
        ..Default::default()
    }
}

fn cny(amount: &str) -> Money {
    Money::parse(amount, Currency::Cny).unwrap()
}

fn payment() -> PaymentView {
    PaymentView {
        payment_id: "pay_01JDQ60A7K5S2W8E4R6T0Y1U3I".parse().unwrap(),
        consent_id: "cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P".parse().unwrap(),
        status: PaymentStatus::Completed,
        status_code: Iso20022Status::Acsc,
        status_reason: None,
        instructed_amount: cny("45.00"),
        refunded_amount: cny("0.00"),
        creditor: Creditor { merchant: Some("parkease".into()), account_number: None, name: None, bank_code: None },
        remittance_reference: "Airport parking".into(),
        created_at: "2026-12-04T02:00:00Z".into(),
        status_updated_at: "2026-12-04T02:00:00Z".into(),
    }
}

fn agreement() -> PaymentConsentView {
    PaymentConsentView {
        consent_id: "cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P".parse().unwrap(),
        consent_type: PaymentConsentType::Single,
        status: ConsentStatus::AwaitingAuthorisation,
        instructed_amount: Some(cny("45.00")),
        currency: None,
        limits: None,
        creditor: Creditor { merchant: Some("parkease".into()), account_number: None, name: None, bank_code: None },
        remittance_reference: "Airport parking".into(),
        scenario: Scenario { code: ScenarioCode::Parking, merchant_category_code: None },
        debtor_account_id: None,
        expiration: "2026-12-04T03:00:00Z".into(),
        created_at: "2026-12-04T02:00:00Z".into(),
        status_updated_at: "2026-12-04T02:00:00Z".into(),
    }
}

fn product() -> Product {
    Product {
        product_id: "prd_DEP-3M-CNY".parse().unwrap(),
        product_type: ProductType::Deposit,
        name: "3-month deposit".into(),
        description: "Fixed term".into(),
        currency: Currency::Cny,
        deposit: None,
        credit: None,
        updated_at: "2026-11-01T00:00:00Z".into(),
    }
}

/// One method's fixture: name, operation, `biz_content`, customer token, the canonical
/// request it must decode to, and a canonical answer to encode.
type Fixture = (&'static str, Operation, String, Option<&'static str>, CanonicalRequest, CanonicalResponse);

/// Every method once.
fn cases() -> Vec<Fixture> {
    vec![
        (
            "product_list",
            Operation::ListProducts,
            r#"{"product_type":"deposit","limit":2}"#.into(),
            None,
            CanonicalRequest::ListProducts(ProductQuery { product_type: Some(ProductType::Deposit), limit: 2, cursor: None }),
            CanonicalResponse::ProductPage(Page { items: vec![product()], next_cursor: Some("c2".into()) }),
        ),
        (
            "product_query",
            Operation::GetProduct,
            r#"{"product_id":"prd_DEP-3M-CNY"}"#.into(),
            None,
            CanonicalRequest::GetProduct("prd_DEP-3M-CNY".parse().unwrap()),
            CanonicalResponse::Product(Box::new(product())),
        ),
        (
            "balance_query",
            Operation::GetBalances,
            r#"{"account_id":"acc_7Hq2"}"#.into(),
            Some("customer-token"),
            CanonicalRequest::GetBalances("acc_7Hq2".parse().unwrap()),
            CanonicalResponse::Balances(vec![Balance {
                account_id: "acc_7Hq2".parse().unwrap(),
                booked: cny("1024.50"),
                available: cny("1000.00"),
                as_of: "2026-12-04T02:00:00Z".into(),
            }]),
        ),
        (
            "agreement_create",
            Operation::CreatePaymentConsent,
            r#"{"out_agreement_no":"AG-1","total_amount":"45.00","merchant":"parkease","subject":"Airport parking","scenario_code":"parking"}"#.into(),
            None,
            CanonicalRequest::CreatePaymentConsent(Box::new(PaymentConsentRequest {
                consent_type: PaymentConsentType::Single,
                instructed_amount: Some(cny("45.00")),
                currency: None,
                limits: None,
                creditor: Creditor { merchant: Some("parkease".into()), account_number: None, name: None, bank_code: None },
                remittance_reference: "Airport parking".into(),
                scenario: Scenario { code: ScenarioCode::Parking, merchant_category_code: None },
                debtor_account_id: None,
                expiration: None,
            })),
            CanonicalResponse::PaymentConsent { consent: Box::new(agreement()), created: true },
        ),
        (
            "agreement_query",
            Operation::GetPaymentConsent,
            r#"{"agreement_no":"cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P"}"#.into(),
            None,
            CanonicalRequest::GetPaymentConsent("cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P".parse().unwrap()),
            CanonicalResponse::PaymentConsent { consent: Box::new(agreement()), created: false },
        ),
        (
            "agreement_close",
            Operation::RevokePaymentConsent,
            r#"{"agreement_no":"cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P"}"#.into(),
            None,
            CanonicalRequest::RevokePaymentConsent("cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P".parse().unwrap()),
            CanonicalResponse::PaymentConsentRevoked(Box::new(PaymentConsentView {
                status: ConsentStatus::Revoked,
                status_updated_at: "2026-12-04T02:10:00Z".into(),
                ..agreement()
            })),
        ),
        (
            "trade_pay",
            Operation::CreatePayment,
            r#"{"out_trade_no":"MG-0001","agreement_no":"cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P","total_amount":"45.00"}"#.into(),
            Some("customer-token"),
            CanonicalRequest::CreatePayment(Box::new(PaymentRequest {
                consent_id: "cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P".parse().unwrap(),
                instructed_amount: cny("45.00"),
                remittance_reference: None,
            })),
            CanonicalResponse::Payment { payment: Box::new(payment()), created: true },
        ),
        (
            "trade_query",
            Operation::GetPayment,
            r#"{"trade_no":"pay_01JDQ60A7K5S2W8E4R6T0Y1U3I"}"#.into(),
            None,
            CanonicalRequest::GetPayment("pay_01JDQ60A7K5S2W8E4R6T0Y1U3I".parse().unwrap()),
            CanonicalResponse::Payment { payment: Box::new(payment()), created: false },
        ),
        (
            "trade_refund",
            Operation::CreateRefund,
            r#"{"trade_no":"pay_01JDQ60A7K5S2W8E4R6T0Y1U3I","out_request_no":"RF-1","refund_amount":"5.00","refund_reason":"Left early"}"#.into(),
            None,
            CanonicalRequest::CreateRefund(
                "pay_01JDQ60A7K5S2W8E4R6T0Y1U3I".parse().unwrap(),
                Box::new(RefundRequest { amount: cny("5.00"), reason: "Left early".into() }),
            ),
            CanonicalResponse::Refund(Box::new(RefundView {
                refund_id: "rfd_01JDQ6BQ2Y3X4W5V6U7T8S9R0Q".parse().unwrap(),
                payment_id: "pay_01JDQ60A7K5S2W8E4R6T0Y1U3I".parse().unwrap(),
                status: PaymentStatus::Completed,
                status_code: Iso20022Status::Acsc,
                status_reason: None,
                amount: cny("5.00"),
                reason: "Left early".into(),
                created_at: "2026-12-04T02:00:00Z".into(),
                status_updated_at: "2026-12-04T02:00:00Z".into(),
            })),
        ),
    ]
}

fn method(op: Operation) -> &'static str {
    open_platform::METHODS.iter().find(|(_, o)| *o == op).map(|(m, _)| *m).unwrap()
}

#[test]
fn the_open_platform_adapter_passes_the_conformance_kit_in_both_suites() {
    for suite in [SignatureSuite::Rsa2, SignatureSuite::Sm2] {
        let adapter = adapter(suite);
        let kit: Vec<Case> = cases()
            .into_iter()
            .map(|(name, operation, biz, token, expect, _)| Case {
                name,
                operation,
                request: signed(suite, method(operation), &biz, token),
                now: NOW,
                expect,
            })
            .collect();
        let failures = check(&open_platform::Kind, adapter.as_ref(), &kit);
        assert!(failures.is_empty(), "{suite:?}:\n{}", failures.join("\n"));
    }
}

/// Compares `actual` with the golden file, or writes it under `UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &[u8]) {
    let path = format!("{GOLDEN}{name}");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(GOLDEN).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}; run with UPDATE_GOLDEN=1 once"));
    assert!(
        expected == actual,
        "{name} differs from its golden file:\n--- golden\n{}\n--- now\n{}",
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual)
    );
}

#[test]
fn request_bytes_canonical_and_answer_bytes_match_the_golden_files() {
    let adapter = adapter(SignatureSuite::Rsa2);
    for (name, op, biz, token, expect, answer) in cases() {
        let req = signed(SignatureSuite::Rsa2, method(op), &biz, token);
        golden(&format!("{name}.request"), &req.body);
        let decoded = adapter.decode(op, &req).unwrap();
        assert_eq!(decoded, expect, "{name}");
        golden(&format!("{name}.canonical"), format!("{decoded:#?}\n").as_bytes());
        let out = adapter.encode(op, &req, answer).unwrap();
        assert_eq!((out.status, out.content_type), (200, "application/json; charset=utf-8"));
        golden(&format!("{name}.response"), &out.body);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No body, query or content type panics the parser or the signature check.
    #[test]
    fn no_input_panics_the_adapter(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        query in proptest::option::of(".{0,80}"),
        form in any::<bool>(),
    ) {
        let adapter = adapter(SignatureSuite::Rsa2);
        let content_type = if form { "application/x-www-form-urlencoded" } else { "text/plain" };
        let req = RawRequest {
            method: "POST".into(),
            path: "/gw/ptn_metrogo".into(),
            query,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            ..Default::default()
        };
        let _ = adapter.authenticate(&req, NOW);
        for (_, op) in open_platform::METHODS {
            let _ = adapter.decode(*op, &req);
        }
    }

    /// Form-encoded parameters of any text (the shape that reaches the signature check).
    #[test]
    fn no_parameters_panic_the_adapter(pairs in proptest::collection::vec((".{0,12}", ".{0,40}"), 0..12)) {
        let adapter = adapter(SignatureSuite::Sm2);
        let req = RawRequest {
            method: "POST".into(),
            path: "/gw/ptn_metrogo".into(),
            headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
            body: serde_urlencoded::to_string(&pairs).unwrap().into_bytes().into(),
            ..Default::default()
        };
        let _ = adapter.authenticate(&req, NOW);
        for (_, op) in open_platform::METHODS {
            let _ = adapter.decode(*op, &req);
        }
    }
}
