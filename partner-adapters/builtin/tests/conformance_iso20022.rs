//! The conformance kit and golden files over the `iso20022` adapter.
//!
//! Golden files (`tests/golden/iso20022/`): for each case, the exact request a treasury
//! system sends (request line, then the body), the canonical request it decodes to, and the
//! exact answer bytes for a fixed canonical answer. `UPDATE_GOLDEN=1` rewrites them after an
//! intended change; review the diff.

use scenegate_adapter_contract::{
    AdapterKind, BuildContext, CanonicalRequest, CanonicalResponse, Currency, ErrorView, Money, Operation, RawRequest,
    canonical::{
        Account, AccountStatus, AccountType, Balance, BulkPaymentOutcome, BulkPaymentRequest, BulkPaymentView,
        BulkStage, BulkTransaction, BulkTransactionView, ConsentRequest, ConsentStatus, ConsentView, CreditDebit,
        Creditor, Iso20022Status, Page, Permission, SortOrder, Statement, StatusReason, Transaction, TransactionQuery,
    },
    conformance::{Case, check},
};
use scenegate_adapters::iso20022;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/iso20022/");
/// 2026-12-04 10:00:00 at UTC+8.
const NOW: i64 = 1_796_349_600;

fn request(method: &str, rest: &str, query: Option<&str>, body: &str) -> RawRequest {
    let mut headers = vec![("x-request-id".to_owned(), "01JDEMO-REQ".to_owned())];
    if !body.is_empty() {
        let media = if body.starts_with('<') { "application/xml" } else { "application/json" };
        headers.push(("content-type".into(), media.into()));
    }
    RawRequest {
        method: method.into(),
        path: format!("/gw/ptn_ledgerline/{rest}"),
        path_params: vec![("partner_id".into(), "ptn_ledgerline".into()), ("rest".into(), rest.into())],
        query: query.map(str::to_owned),
        headers,
        body: body.as_bytes().to_vec().into(),
        received_at: NOW,
    }
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Cny)
}

const CONSENT_BODY: &str = r#"{"permissions":["ReadAccountsBasic","ReadBalances","ReadTransactionsDetail"],"purpose":"Supplier payments reconciliation","transaction_from":"2026-07-01T00:00:00Z"}"#;
const STATEMENT_QUERY: &str = "from=2026-07-01T00:00:00Z&to=2026-12-31T23:59:59Z&limit=2";

fn consent_request() -> CanonicalRequest {
    CanonicalRequest::CreateConsent(ConsentRequest {
        permissions: vec![Permission::ReadAccountsBasic, Permission::ReadBalances, Permission::ReadTransactionsDetail],
        expiration: None,
        transaction_from: Some("2026-07-01T00:00:00Z".into()),
        transaction_to: None,
        purpose: "Supplier payments reconciliation".into(),
    })
}

fn consent_view(status: ConsentStatus) -> ConsentView {
    ConsentView {
        consent_id: "cns_01JDEMO".parse().unwrap(),
        status,
        permissions: vec![Permission::ReadAccountsBasic, Permission::ReadBalances, Permission::ReadTransactionsDetail],
        expiration: "2027-03-04T02:00:00Z".into(),
        transaction_from: Some("2026-07-01T00:00:00Z".into()),
        transaction_to: None,
        purpose: "Supplier payments reconciliation".into(),
        created_at: "2026-12-04T02:00:00Z".into(),
        status_updated_at: "2026-12-04T02:00:00Z".into(),
    }
}

fn statement_query() -> TransactionQuery {
    TransactionQuery {
        from: Some("2026-07-01T00:00:00Z".into()),
        to: Some("2026-12-31T23:59:59Z".into()),
        limit: 2,
        cursor: None,
        order: SortOrder::Asc,
    }
}

/// Two entries of 北京云杉科技's account: a customer's payment in, a supplier paid out.
fn statement() -> Statement {
    let entry = |id: &str, at: &str, minor, side, after, what: &str, who: &str, acct: &str| Transaction {
        transaction_id: id.parse().unwrap(),
        booked_at: at.into(),
        amount: cny(minor),
        credit_debit: side,
        description: Some(what.into()),
        counterparty_name: Some(who.into()),
        counterparty_account: Some(acct.into()),
        balance_after: Some(cny(after)),
    };
    Statement {
        account_id: "acc_7HQ2K4WJ5M3XN8PB6DRT".parse().unwrap(),
        balances: vec![Balance {
            account_id: "acc_7HQ2K4WJ5M3XN8PB6DRT".parse().unwrap(),
            booked: cny(86_125_000),
            available: cny(86_125_000),
            as_of: "2026-12-04T02:00:00Z".into(),
        }],
        transactions: Page {
            items: vec![
                entry(
                    "txn_Q4M2X7PB3KD9HW5RTN6C",
                    "2026-11-28T03:15:00Z",
                    25_000_000,
                    CreditDebit::Credit,
                    88_625_000,
                    "货款 PO-2026-118",
                    "华东物流集团有限公司",
                    "622202******0107",
                ),
                entry(
                    "txn_B8N5W2KD7QX3MH6PRT4J",
                    "2026-12-01T06:40:00Z",
                    1_250_000,
                    CreditDebit::Debit,
                    87_375_000,
                    "INV-2024-0042 & INV-2024-0043",
                    "上游供应商乙",
                    "621226******0002",
                ),
            ],
            next_cursor: Some("a1.9".into()),
        },
        from: Some("2026-07-01T00:00:00Z".into()),
        to: Some("2026-12-31T23:59:59Z".into()),
    }
}

/// A treasury system's batch: three supplier invoices from 北京云杉科技's account.
const PAIN001: &str = include_str!("fixtures/iso20022/pain001_bulk.xml");

fn creditor(account: &str, name: &str, bank: Option<&str>) -> Creditor {
    Creditor {
        merchant: None,
        account_number: Some(account.into()),
        name: Some(name.into()),
        bank_code: bank.map(str::to_owned),
    }
}

fn bulk_request() -> BulkPaymentRequest {
    let tx = |id: &str, minor, creditor, reference: &str| BulkTransaction {
        end_to_end_id: id.into(),
        amount: cny(minor),
        creditor,
        remittance_reference: reference.into(),
    };
    BulkPaymentRequest {
        message_id: "SG-PAIN-20261204-0001".into(),
        payment_info_id: "SG-PMT-0001".into(),
        currency: Currency::Cny,
        debtor_account_id: Some("acc_7HQ2K4WJ5M3XN8PB6DRT".parse().unwrap()),
        transactions: vec![
            tx("INV-2026-0042", 1_250_000, creditor("6212260200000000002", "上游供应商乙", None), "货款 INV-2026-0042"),
            tx(
                "INV-2026-0043",
                300_050,
                creditor("6222020200000000107", "华东物流集团 & 仓储", Some("102100099996")),
                "运费 PO-118",
            ),
            tx("INV-2026-0044", 25_000, creditor("6212260200000000003", "包装材料丙", None), "INV-2026-0044"),
        ],
    }
}

/// The bulk after execution: two booked, one refused by the core (insufficient funds).
fn bulk_view(status: ConsentStatus, executed: bool) -> BulkPaymentView {
    let outcome = |key: &str, status, reason: Option<(&str, &str)>| {
        executed.then(|| BulkPaymentOutcome {
            payment_id: format!("pay_{key}").parse().unwrap(),
            status,
            reason: reason.map(|(code, text)| StatusReason { code: code.into(), description: text.into() }),
        })
    };
    let tx = |id: &str, minor, payment| BulkTransactionView { end_to_end_id: id.into(), amount: cny(minor), payment };
    BulkPaymentView {
        consent_id: "cns_01JBULK".parse().unwrap(),
        consent_status: status,
        message_id: "SG-PAIN-20261204-0001".into(),
        payment_info_id: "SG-PMT-0001".into(),
        currency: Currency::Cny,
        transactions: vec![
            tx("INV-2026-0042", 1_250_000, outcome("0042", Iso20022Status::Acsc, None)),
            tx("INV-2026-0043", 300_050, outcome("0043", Iso20022Status::Rjct, Some(("AM04", "insufficient funds")))),
            tx("INV-2026-0044", 25_000, outcome("0044", Iso20022Status::Acsc, None)),
        ],
    }
}

fn cases() -> Vec<(&'static str, Operation, RawRequest, CanonicalRequest, CanonicalResponse)> {
    vec![
        (
            "consent_create",
            Operation::CreateConsent,
            request("POST", "consents", None, CONSENT_BODY),
            consent_request(),
            CanonicalResponse::Consent {
                consent: Box::new(consent_view(ConsentStatus::AwaitingAuthorisation)),
                created: true,
            },
        ),
        (
            "consent_get",
            Operation::GetConsent,
            request("GET", "consents/cns_01JDEMO", None, ""),
            CanonicalRequest::GetConsent("cns_01JDEMO".parse().unwrap()),
            CanonicalResponse::Consent { consent: Box::new(consent_view(ConsentStatus::Authorised)), created: false },
        ),
        (
            "consent_delete",
            Operation::DeleteConsent,
            request("DELETE", "consents/cns_01JDEMO", None, ""),
            CanonicalRequest::DeleteConsent("cns_01JDEMO".parse().unwrap()),
            CanonicalResponse::ConsentDeleted,
        ),
        (
            "accounts",
            Operation::ListAccounts,
            request("GET", "accounts", None, ""),
            CanonicalRequest::ListAccounts,
            CanonicalResponse::AccountList(vec![Account {
                account_id: "acc_7HQ2K4WJ5M3XN8PB6DRT".parse().unwrap(),
                currency: Currency::Cny,
                account_type: AccountType::Current,
                status: AccountStatus::Enabled,
                account_number: "622202******0188".into(),
                account_name: "北京云杉科技有限公司".into(),
                opened_on: None,
            }]),
        ),
        (
            "pain001_initiate",
            Operation::InitiateBulkPayment,
            request("POST", "pain.001", None, PAIN001),
            CanonicalRequest::InitiateBulkPayment(Box::new(bulk_request())),
            CanonicalResponse::BulkPayment {
                bulk: Box::new(bulk_view(ConsentStatus::AwaitingAuthorisation, false)),
                stage: BulkStage::Initiated,
            },
        ),
        (
            "pain001_execute",
            Operation::ExecuteBulkPayment,
            request("POST", "pain.001/cns_01JBULK/execution", None, ""),
            CanonicalRequest::ExecuteBulkPayment("cns_01JBULK".parse().unwrap()),
            CanonicalResponse::BulkPayment {
                bulk: Box::new(bulk_view(ConsentStatus::Consumed, true)),
                stage: BulkStage::Executed,
            },
        ),
        (
            "pain002_status",
            Operation::GetBulkPayment,
            request("GET", "pain.002/cns_01JBULK", None, ""),
            CanonicalRequest::GetBulkPayment("cns_01JBULK".parse().unwrap()),
            CanonicalResponse::BulkPayment {
                bulk: Box::new(bulk_view(ConsentStatus::Consumed, true)),
                stage: BulkStage::Read,
            },
        ),
        (
            "camt053_statement",
            Operation::ListTransactions,
            request("GET", "camt.053/accounts/acc_7HQ2K4WJ5M3XN8PB6DRT", Some(STATEMENT_QUERY), ""),
            CanonicalRequest::Statement("acc_7HQ2K4WJ5M3XN8PB6DRT".parse().unwrap(), statement_query()),
            CanonicalResponse::Statement(Box::new(statement())),
        ),
    ]
}

#[test]
fn the_iso20022_adapter_passes_the_conformance_kit() {
    let adapter = iso20022::Kind.build(&BuildContext::settings_only("ptn_ledgerline", &toml::Table::new())).unwrap();
    let kit: Vec<Case> = cases()
        .into_iter()
        .map(|(name, operation, request, expect, _)| Case { name, operation, request, now: NOW, expect })
        .collect();
    let failures = check(&iso20022::Kind, adapter.as_ref(), &kit);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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

/// The request as sent: request line, content type if any, blank line, body.
fn request_bytes(req: &RawRequest) -> Vec<u8> {
    let query = req.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
    let mut out = format!("{} {}{query}\n", req.method, req.path);
    if let Some(ct) = req.header("content-type") {
        out.push_str(&format!("content-type: {ct}\n"));
    }
    out.push('\n');
    let mut out = out.into_bytes();
    out.extend_from_slice(&req.body);
    out
}

#[test]
fn request_bytes_canonical_and_answer_bytes_match_the_golden_files() {
    let adapter = iso20022::Kind.build(&BuildContext::settings_only("ptn_ledgerline", &toml::Table::new())).unwrap();
    for (name, op, req, expect, answer) in cases() {
        golden(&format!("{name}.request"), &request_bytes(&req));
        assert_eq!(adapter.operation(&req).unwrap(), op, "{name}");
        let decoded = adapter.decode(op, &req).unwrap();
        assert_eq!(decoded, expect, "{name}");
        golden(&format!("{name}.canonical"), format!("{decoded:#?}\n").as_bytes());
        let out = adapter.encode(op, &req, answer).unwrap();
        let mut answer = format!("{} {}\n", out.status, out.content_type);
        for (k, v) in &out.headers {
            answer.push_str(&format!("{k}: {v}\n"));
        }
        answer.push('\n');
        let mut answer = answer.into_bytes();
        answer.extend_from_slice(&out.body);
        golden(&format!("{name}.response"), &answer);
    }
    // A refused statement: an admi.002 message reject with the problem's status.
    let (_, op, req, _, _) = cases().into_iter().find(|c| c.0 == "camt053_statement").unwrap();
    let error = ErrorView {
        status: 403,
        code: "consent_inactive",
        title: "The consent is not in force",
        detail: "consent cns_01JDEMO is revoked",
        request_id: "01JDEMO-REQ",
        retry_after: None,
    };
    let out = adapter.encode_error(Some(op), &req, &error).unwrap();
    let mut answer = format!("{} {}\n\n", out.status, out.content_type).into_bytes();
    answer.extend_from_slice(&out.body);
    golden("camt053_refused.response", &answer);

    // A pain.001 whose control sum was tampered with: a pain.002 rejecting the group, AM10.
    let tampered = PAIN001.replace("<CtrlSum>15750.50</CtrlSum>", "<CtrlSum>15750.51</CtrlSum>");
    let req = request("POST", "pain.001", None, &tampered);
    let refused = adapter.decode(Operation::InitiateBulkPayment, &req).unwrap_err();
    let detail = refused.to_string();
    let error = ErrorView {
        status: 400,
        code: "invalid_request",
        title: "The request is malformed",
        detail: &detail,
        request_id: "01JDEMO-REQ",
        retry_after: None,
    };
    let out = adapter.encode_error(Some(Operation::InitiateBulkPayment), &req, &error).unwrap();
    let mut answer = format!("{} {}\n\n", out.status, out.content_type).into_bytes();
    answer.extend_from_slice(&out.body);
    golden("pain001_refused.response", &answer);
}
