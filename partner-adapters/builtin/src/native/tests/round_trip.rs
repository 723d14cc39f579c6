//! Canonical values through the native wire and back: canonical → the adapter's JSON
//! (compared byte for byte with a committed golden string: what partners receive must not
//! move when the canonical model does) → wire type → canonical, equal to where it started.

use scenegate_adapter_contract::{
    AdapterKind, BuildContext, CanonicalResponse, Currency, Money, Operation, PartnerAdapter, RawRequest,
    canonical::{self, CreditDebit, Iso20022Status, Page, PaymentStatus, StatusReason},
};

use crate::native::{Kind, wire};

fn native() -> Box<dyn PartnerAdapter> {
    Kind.build(&BuildContext::settings_only("ptn_test", &toml::Table::new())).unwrap()
}

fn get(path: &str, query: Option<&str>) -> RawRequest {
    RawRequest { method: "GET".into(), path: path.into(), query: query.map(Into::into), ..Default::default() }
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Cny)
}

/// A rejected payment to an account by number: every optional field of a payment present.
fn payment() -> canonical::PaymentView {
    canonical::PaymentView {
        payment_id: "pay_01JDQ60A7K5S2W8E4R6T0Y1U3I".parse().unwrap(),
        consent_id: "cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P".parse().unwrap(),
        status: PaymentStatus::Rejected,
        status_code: Iso20022Status::Rjct,
        status_reason: Some(StatusReason { code: "AM04".into(), description: "insufficient funds".into() }),
        instructed_amount: cny(26800),
        refunded_amount: cny(0),
        creditor: canonical::Creditor {
            merchant: None,
            account_number: Some("****0012".into()),
            name: Some("上海某某酒店有限公司".into()),
            bank_code: Some("102290000017".into()),
        },
        remittance_reference: "SKYTRIP-ORDER-88231".into(),
        created_at: "2026-12-03T11:02:00Z".into(),
        status_updated_at: "2026-12-03T11:02:01Z".into(),
    }
}

const PAYMENT_GOLDEN: &str = r#"{"payment_id":"pay_01JDQ60A7K5S2W8E4R6T0Y1U3I","consent_id":"cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P","status":"rejected","status_code":"RJCT","status_reason":{"code":"AM04","description":"insufficient funds"},"instructed_amount":{"amount":"268.00","currency":"CNY"},"refunded_amount":{"amount":"0.00","currency":"CNY"},"creditor":{"account_number":"****0012","name":"上海某某酒店有限公司","bank_code":"102290000017"},"remittance_reference":"SKYTRIP-ORDER-88231","created_at":"2026-12-03T11:02:00Z","status_updated_at":"2026-12-03T11:02:01Z"}"#;

/// One basic transaction and one with every detail field, and a next page whose cursor
/// needs escaping in the link.
fn transactions() -> Page<canonical::Transaction> {
    Page {
        items: vec![
            canonical::Transaction {
                transaction_id: "txn_411".parse().unwrap(),
                booked_at: "2026-10-10T00:30:00Z".into(),
                amount: cny(1_000_000),
                credit_debit: CreditDebit::Credit,
                description: None,
                counterparty_name: None,
                counterparty_account: None,
                balance_after: None,
            },
            canonical::Transaction {
                transaction_id: "txn_412".parse().unwrap(),
                booked_at: "2026-10-10T01:00:00Z".into(),
                amount: cny(3850),
                credit_debit: CreditDebit::Debit,
                description: Some("美团外卖".into()),
                counterparty_name: Some("北京三快*".into()),
                counterparty_account: Some("622848*********7788".into()),
                balance_after: Some(cny(1_519_195)),
            },
        ],
        next_cursor: Some("MjAyNi0xMC0xMFQwMTowMDowMFo=".into()),
    }
}

const TRANSACTIONS_GOLDEN: &str = r#"{"data":[{"transaction_id":"txn_411","booked_at":"2026-10-10T00:30:00Z","amount":{"amount":"10000.00","currency":"CNY"},"credit_debit":"credit"},{"transaction_id":"txn_412","booked_at":"2026-10-10T01:00:00Z","amount":{"amount":"38.50","currency":"CNY"},"credit_debit":"debit","description":"美团外卖","counterparty_name":"北京三快*","counterparty_account":"622848*********7788","balance_after":{"amount":"15191.95","currency":"CNY"}}],"links":{"self":"/v1/accounts/acc_8KQ2M4ZP7XW3/transactions?order=asc&limit=2","next":"/v1/accounts/acc_8KQ2M4ZP7XW3/transactions?order=asc&limit=2&cursor=MjAyNi0xMC0xMFQwMTowMDowMFo%3D"},"meta":{"limit":2}}"#;

#[test]
fn a_payment_view_round_trips_through_its_golden_json() {
    let req = get("/v1/payments/pay_01JDQ60A7K5S2W8E4R6T0Y1U3I", None);
    let res = CanonicalResponse::Payment { payment: Box::new(payment()), created: false };
    let out = native().encode(Operation::GetPayment, &req, res).unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(std::str::from_utf8(&out.body).unwrap(), PAYMENT_GOLDEN);

    let back: wire::PaymentView = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(canonical::PaymentView::from(back), payment());
}

#[test]
fn a_transaction_page_round_trips_through_its_golden_json() {
    let req = get("/v1/accounts/acc_8KQ2M4ZP7XW3/transactions", Some("order=asc&limit=2"));
    let out = native().encode(Operation::ListTransactions, &req, CanonicalResponse::TransactionPage(transactions()));
    let out = out.unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(std::str::from_utf8(&out.body).unwrap(), TRANSACTIONS_GOLDEN);

    let back: wire::TransactionList = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(Page::<canonical::Transaction>::from(back), transactions());
}

#[test]
fn the_last_page_has_no_next_cursor() {
    let links = |next: Option<&str>| wire::PageLinks { self_: "/v1/events?limit=5".into(), next: next.map(Into::into) };
    assert_eq!(links(None).next_cursor(), None);
    assert_eq!(links(Some("/v1/events?limit=5")).next_cursor(), None);
    assert_eq!(links(Some("/v1/events?cursor=a%2Bb&limit=5")).next_cursor().as_deref(), Some("a+b"));
}
