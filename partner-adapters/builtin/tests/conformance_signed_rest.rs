//! The conformance kit over the `signed-rest` adapter, one case per operation, in each suite.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use scenegate_adapter_contract::{
    AdapterKind, BuildContext, CanonicalRequest, Currency, Money, Operation, ProtocolKey, RawRequest, SignatureSuite,
    canonical::{
        Creditor, PaymentConsentRequest, PaymentConsentType, PaymentRequest, ProductQuery, RefundRequest, Scenario,
        ScenarioCode,
    },
    conformance::{Case, check},
};
use scenegate_adapters::{signed_rest, suites::SigningKey};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo-keys/");
const NOW: i64 = 1_796_349_600;

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DEMO}{name}")).unwrap()
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Cny)
}

#[test]
fn the_signed_rest_adapter_passes_the_conformance_kit_in_both_suites() {
    for suite in [SignatureSuite::Rsa2, SignatureSuite::Sm2] {
        let tag = if suite == SignatureSuite::Rsa2 { "rsa" } else { "sm2" };
        let mut settings = toml::Table::new();
        settings.insert("mchid".into(), "1900009191".into());
        settings.insert("sign_type".into(), suite.name().into());
        settings.insert("response_key_file".into(), format!("gateway-open-platform.{tag}.private.pem").into());
        settings.insert("response_key_serial".into(), "BANK-1".into());
        settings.insert("api_key_file".into(), "ptn_tollway.apikey".into());
        let keys = [ProtocolKey {
            id: "S1".into(),
            suite,
            pem: read(&format!("ptn_metrogo.{tag}.public.pem")),
            field: "keys.protocol[0]".into(),
        }];
        let read_file = |name: &str| std::fs::read(format!("{DEMO}{name}")).map_err(|e| e.to_string());
        let ctx = BuildContext { partner_id: "ptn_x", settings: &settings, keys: &keys, read_file: &read_file };
        let adapter = signed_rest::Kind.build(&ctx).unwrap();
        let key = SigningKey::from_pem(suite, &read(&format!("ptn_metrogo.{tag}.private.pem"))).unwrap();
        let scheme = if suite == SignatureSuite::Rsa2 { "SCENEGATE-SHA256-RSA2048" } else { "SCENEGATE-SM2-WITH-SM3" };
        let request = |method: &str, rest: &str, query: Option<&str>, body: &str, nonce: &str| {
            let path = format!("/gw/ptn_x/{rest}");
            let url = query.map_or(path.clone(), |q| format!("{path}?{q}"));
            let sig =
                STANDARD.encode(key.sign(format!("{method}\n{url}\n{NOW}\n{nonce}\n{body}\n").as_bytes()).unwrap());
            let mut headers = vec![(
                "authorization".to_owned(),
                format!(
                    r#"{scheme} mchid="1900009191",nonce_str="{nonce}",timestamp="{NOW}",serial_no="S1",signature="{sig}""#
                ),
            )];
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
        };
        let case = |name, operation, request, expect| Case { name, operation, request, now: NOW, expect };
        let cases = vec![
            case(
                "list products",
                Operation::ListProducts,
                request("GET", "v3/products", Some("limit=2"), "", "n1"),
                CanonicalRequest::ListProducts(ProductQuery { product_type: None, limit: 2, cursor: None }),
            ),
            case(
                "get product",
                Operation::GetProduct,
                request("GET", "v3/products/prd_A", None, "", "n2"),
                CanonicalRequest::GetProduct("prd_A".parse().unwrap()),
            ),
            case(
                "balances",
                Operation::GetBalances,
                request("GET", "v3/accounts/acc_1/balance", None, "", "n3"),
                CanonicalRequest::GetBalances("acc_1".parse().unwrap()),
            ),
            case(
                "create agreement",
                Operation::CreatePaymentConsent,
                request(
                    "POST",
                    "v3/agreements",
                    None,
                    r#"{"out_agreement_no":"A1","amount":{"total":1500},"merchant":"toll","description":"G15 toll","scenario_code":"transport"}"#,
                    "n4",
                ),
                CanonicalRequest::CreatePaymentConsent(Box::new(PaymentConsentRequest {
                    consent_type: PaymentConsentType::Single,
                    instructed_amount: Some(cny(1500)),
                    currency: None,
                    limits: None,
                    creditor: Creditor {
                        merchant: Some("toll".into()),
                        account_number: None,
                        name: None,
                        bank_code: None,
                    },
                    remittance_reference: "G15 toll".into(),
                    scenario: Scenario { code: ScenarioCode::Transport, merchant_category_code: None },
                    debtor_account_id: None,
                    expiration: None,
                })),
            ),
            case(
                "get agreement",
                Operation::GetPaymentConsent,
                request("GET", "v3/agreements/cns_1", None, "", "n5"),
                CanonicalRequest::GetPaymentConsent("cns_1".parse().unwrap()),
            ),
            case(
                "pay",
                Operation::CreatePayment,
                request(
                    "POST",
                    "v3/pay/transactions",
                    None,
                    r#"{"out_trade_no":"T1","agreement_no":"cns_1","amount":{"total":1500,"currency":"CNY"}}"#,
                    "n6",
                ),
                CanonicalRequest::CreatePayment(Box::new(PaymentRequest {
                    consent_id: "cns_1".parse().unwrap(),
                    instructed_amount: cny(1500),
                    remittance_reference: None,
                })),
            ),
            case(
                "get payment",
                Operation::GetPayment,
                request("GET", "v3/pay/transactions/pay_1", None, "", "n7"),
                CanonicalRequest::GetPayment("pay_1".parse().unwrap()),
            ),
            case(
                "refund",
                Operation::CreateRefund,
                request(
                    "POST",
                    "v3/refunds",
                    None,
                    r#"{"trade_no":"pay_1","out_refund_no":"R1","amount":{"refund":500},"reason":"exit refund"}"#,
                    "n8",
                ),
                CanonicalRequest::CreateRefund(
                    "pay_1".parse().unwrap(),
                    Box::new(RefundRequest { amount: cny(500), reason: "exit refund".into() }),
                ),
            ),
        ];
        let failures = check(&signed_rest::Kind, adapter.as_ref(), &cases);
        assert!(failures.is_empty(), "{suite:?}:\n{}", failures.join("\n"));
    }
}
