//! The conformance kit over the `native` adapter: one case per operation it declares.

use scenegate_adapter_contract::{
    AdapterKind, BuildContext, CanonicalRequest, Currency, Money, Operation, RawRequest,
    canonical::{
        ConsentRequest, Creditor, EventQuery, PaymentConsentRequest, PaymentConsentType, PaymentRequest, Permission,
        ProductQuery, ProductType, RefundRequest, Scenario, ScenarioCode, SortOrder, TransactionQuery,
    },
    conformance::{Case, check},
};
use scenegate_adapters::native;

fn get(path: &str, params: &[(&str, &str)], query: Option<&str>) -> RawRequest {
    RawRequest {
        method: "GET".into(),
        path: path.into(),
        path_params: params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        query: query.map(str::to_owned),
        ..Default::default()
    }
}

fn post(path: &str, params: &[(&str, &str)], body: &str) -> RawRequest {
    RawRequest {
        method: "POST".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec().into(),
        ..get(path, params, None)
    }
}

fn case(name: &'static str, operation: Operation, request: RawRequest, expect: CanonicalRequest) -> Case {
    Case { name, operation, request, now: 1_796_349_600, expect }
}

fn cny(amount: &str) -> Money {
    Money::parse(amount, Currency::Cny).unwrap()
}

#[test]
fn the_native_adapter_passes_the_conformance_kit() {
    let pay = [("payment_id", "pay_1")];
    let cases = vec![
        case(
            "list products",
            Operation::ListProducts,
            get("/v1/products", &[], Some("type=deposit&limit=5")),
            CanonicalRequest::ListProducts(ProductQuery {
                product_type: Some(ProductType::Deposit),
                limit: 5,
                cursor: None,
            }),
        ),
        case(
            "get product",
            Operation::GetProduct,
            get("/v1/products/prd_A", &[("product_id", "prd_A")], None),
            CanonicalRequest::GetProduct("prd_A".parse().unwrap()),
        ),
        case(
            "create consent",
            Operation::CreateConsent,
            post("/v1/consents", &[], r#"{"permissions":["ReadBalances"],"purpose":"Budget"}"#),
            CanonicalRequest::CreateConsent(ConsentRequest {
                permissions: vec![Permission::ReadBalances],
                expiration: None,
                transaction_from: None,
                transaction_to: None,
                purpose: "Budget".into(),
            }),
        ),
        case(
            "get consent",
            Operation::GetConsent,
            get("/v1/consents/cns_1", &[("consent_id", "cns_1")], None),
            CanonicalRequest::GetConsent("cns_1".parse().unwrap()),
        ),
        case(
            "delete consent",
            Operation::DeleteConsent,
            get("/v1/consents/cns_1", &[("consent_id", "cns_1")], None),
            CanonicalRequest::DeleteConsent("cns_1".parse().unwrap()),
        ),
        case("list accounts", Operation::ListAccounts, get("/v1/accounts", &[], None), CanonicalRequest::ListAccounts),
        case(
            "get account",
            Operation::GetAccount,
            get("/v1/accounts/acc_1", &[("account_id", "acc_1")], None),
            CanonicalRequest::GetAccount("acc_1".parse().unwrap()),
        ),
        case(
            "get balances",
            Operation::GetBalances,
            get("/v1/accounts/acc_1/balances", &[("account_id", "acc_1")], None),
            CanonicalRequest::GetBalances("acc_1".parse().unwrap()),
        ),
        case(
            "list transactions",
            Operation::ListTransactions,
            get("/v1/accounts/acc_1/transactions", &[("account_id", "acc_1")], Some("limit=25&order=asc")),
            CanonicalRequest::ListTransactions(
                "acc_1".parse().unwrap(),
                TransactionQuery { from: None, to: None, limit: 25, cursor: None, order: SortOrder::Asc },
            ),
        ),
        case(
            "create payment consent",
            Operation::CreatePaymentConsent,
            post(
                "/v1/payment-consents",
                &[],
                r#"{"type":"single","instructed_amount":{"amount":"268.00","currency":"CNY"},"creditor":{"merchant":"skytrip"},"remittance_reference":"R-1","scenario":{"code":"travel"}}"#,
            ),
            CanonicalRequest::CreatePaymentConsent(Box::new(PaymentConsentRequest {
                consent_type: PaymentConsentType::Single,
                instructed_amount: Some(cny("268.00")),
                currency: None,
                limits: None,
                creditor: Creditor {
                    merchant: Some("skytrip".into()),
                    account_number: None,
                    name: None,
                    bank_code: None,
                },
                remittance_reference: "R-1".into(),
                scenario: Scenario { code: ScenarioCode::Travel, merchant_category_code: None },
                debtor_account_id: None,
                expiration: None,
            })),
        ),
        case(
            "get payment consent",
            Operation::GetPaymentConsent,
            get("/v1/payment-consents/cns_1", &[("consent_id", "cns_1")], None),
            CanonicalRequest::GetPaymentConsent("cns_1".parse().unwrap()),
        ),
        case(
            "revoke payment consent",
            Operation::RevokePaymentConsent,
            RawRequest {
                method: "DELETE".into(),
                ..get("/v1/payment-consents/cns_1", &[("consent_id", "cns_1")], None)
            },
            CanonicalRequest::RevokePaymentConsent("cns_1".parse().unwrap()),
        ),
        case(
            "create payment",
            Operation::CreatePayment,
            post(
                "/v1/payments",
                &[],
                r#"{"consent_id":"cns_1","instructed_amount":{"amount":"268.00","currency":"CNY"}}"#,
            ),
            CanonicalRequest::CreatePayment(Box::new(PaymentRequest {
                consent_id: "cns_1".parse().unwrap(),
                instructed_amount: cny("268.00"),
                remittance_reference: None,
            })),
        ),
        case(
            "get payment",
            Operation::GetPayment,
            get("/v1/payments/pay_1", &pay, None),
            CanonicalRequest::GetPayment("pay_1".parse().unwrap()),
        ),
        case(
            "create refund",
            Operation::CreateRefund,
            post(
                "/v1/payments/pay_1/refunds",
                &pay,
                r#"{"amount":{"amount":"8.00","currency":"CNY"},"reason":"late"}"#,
            ),
            CanonicalRequest::CreateRefund(
                "pay_1".parse().unwrap(),
                Box::new(RefundRequest { amount: cny("8.00"), reason: "late".into() }),
            ),
        ),
        case(
            "list refunds",
            Operation::ListRefunds,
            get("/v1/payments/pay_1/refunds", &pay, None),
            CanonicalRequest::ListRefunds("pay_1".parse().unwrap()),
        ),
        case(
            "list events",
            Operation::ListEvents,
            get("/v1/events", &[], Some("limit=10")),
            CanonicalRequest::ListEvents(EventQuery { limit: 10, cursor: None }),
        ),
        case(
            "ack event",
            Operation::AckEvent,
            get("/v1/events/evt_1", &[("event_id", "evt_1")], None),
            CanonicalRequest::AckEvent("evt_1".into()),
        ),
    ];
    let settings = toml::Table::new();
    let adapter = native::Kind.build(&BuildContext::settings_only("ptn_test", &settings)).unwrap();
    let failures = check(&native::Kind, adapter.as_ref(), &cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
