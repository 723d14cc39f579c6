use proptest::prelude::*;
use quick_xml::{Reader, events::Event};
use scenegate_adapter_contract::{
    AdapterError, AdapterKind, BuildContext, CanonicalRequest, CanonicalResponse, Currency, ErrorView, Money,
    Operation, PartnerAdapter, RawRequest,
    canonical::{Balance, CreditDebit, Page, SortOrder, Statement, Transaction, TransactionQuery},
};

use super::Kind;

const NOW: i64 = 1_796_349_600;

fn adapter() -> Box<dyn PartnerAdapter> {
    Kind.build(&BuildContext::settings_only("ptn_x", &toml::Table::new())).unwrap()
}

fn request(method: &str, rest: &str, query: Option<&str>) -> RawRequest {
    RawRequest {
        method: method.into(),
        path: format!("/gw/ptn_x/{rest}"),
        path_params: vec![("partner_id".into(), "ptn_x".into()), ("rest".into(), rest.into())],
        query: query.map(str::to_owned),
        headers: vec![("x-request-id".into(), "req-1".into())],
        body: Default::default(),
        received_at: NOW,
    }
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Cny)
}

fn txn(id: &str, minor: i64, side: CreditDebit, after: Option<i64>, detail: bool) -> Transaction {
    Transaction {
        transaction_id: id.parse().unwrap(),
        booked_at: "2026-07-03T10:00:00Z".into(),
        amount: cny(minor),
        credit_debit: side,
        description: detail.then(|| "货款 INV-42 <&>".to_owned()),
        counterparty_name: detail.then(|| "上游供应商乙".to_owned()),
        counterparty_account: detail.then(|| "621226******0002".to_owned()),
        balance_after: after.map(cny),
    }
}

pub(super) fn statement(detail: bool, next: Option<&str>) -> Statement {
    let after = |n| detail.then_some(n);
    Statement {
        account_id: "acc_7Hq2".parse().unwrap(),
        balances: vec![Balance {
            account_id: "acc_7Hq2".parse().unwrap(),
            booked: cny(1_000_000),
            available: cny(990_000),
            as_of: "2026-12-04T02:00:00Z".into(),
        }],
        transactions: Page {
            items: vec![
                txn("txn_1", 50_000, CreditDebit::Credit, after(1_050_000), detail),
                txn("txn_2", 1_250_000, CreditDebit::Debit, after(-200_000), detail),
            ],
            next_cursor: next.map(str::to_owned),
        },
        from: Some("2026-07-01T00:00:00Z".into()),
        to: Some("2026-07-31T23:59:59Z".into()),
    }
}

/// Every element name and text, in order, after checking the document is well-formed.
fn events(xml: &[u8]) -> Vec<String> {
    let mut reader = Reader::from_str(std::str::from_utf8(xml).unwrap());
    let mut out = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => out.push(format!("<{}", e.name().0.to_owned())),
            Event::End(e) => out.push(format!(">{}", e.name().0.to_owned())),
            Event::Text(t) => out.push(t.xml10_content().into_owned()),
            Event::GeneralRef(r) => out.push(format!("&{};", r.xml10_content())),
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// The text of every element at `path` (the last names of the open elements), references
/// resolved, in document order.
fn text_of(xml: &[u8], path: &[&str]) -> Vec<String> {
    let xml = std::str::from_utf8(xml).unwrap();
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut found = Vec::new();
    let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                stack.push(e.name().0.to_owned());
                text.clear();
            }
            Event::End(_) => {
                if stack.ends_with(&path) {
                    found.push(std::mem::take(&mut text));
                }
                stack.pop();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                text.push_str(&quick_xml::escape::unescape(&format!("&{name};")).unwrap());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    found
}

#[test]
fn calls_are_routed_by_method_and_path() {
    let a = adapter();
    let cases = [
        ("POST", "consents", Operation::CreateConsent),
        ("GET", "consents/cns_1", Operation::GetConsent),
        ("DELETE", "consents/cns_1", Operation::DeleteConsent),
        ("GET", "accounts", Operation::ListAccounts),
        ("GET", "camt.053/accounts/acc_1", Operation::ListTransactions),
    ];
    for (method, rest, op) in cases {
        assert_eq!(a.operation(&request(method, rest, None)).unwrap(), op, "{method} {rest}");
    }
    for (method, rest) in [
        ("POST", "camt.053/accounts/acc_1"),
        ("GET", "camt.053/accounts/"),
        ("GET", "camt.052/accounts/acc_1"),
        ("GET", "consents"),
        ("POST", "accounts"),
        ("GET", "accounts/acc_1"),
        ("PUT", "consents/cns_1"),
        ("GET", "camt.053/accounts/acc_1/x"),
    ] {
        assert!(
            matches!(a.operation(&request(method, rest, None)), Err(AdapterError::InvalidField { .. })),
            "{method} {rest}"
        );
    }
}

#[test]
fn a_statement_request_decodes_oldest_first_with_its_window_and_page() {
    let a = adapter();
    let req = request(
        "GET",
        "camt.053/accounts/acc_1",
        Some("from=2026-07-01T00:00:00Z&to=2026-07-31T23:59:59Z&limit=50&cursor=3.abc"),
    );
    assert_eq!(
        a.decode(Operation::ListTransactions, &req).unwrap(),
        CanonicalRequest::Statement(
            "acc_1".parse().unwrap(),
            TransactionQuery {
                from: Some("2026-07-01T00:00:00Z".into()),
                to: Some("2026-07-31T23:59:59Z".into()),
                limit: 50,
                cursor: Some("abc".into()),
                order: SortOrder::Asc,
            }
        )
    );
    let bare = a.decode(Operation::ListTransactions, &request("GET", "camt.053/accounts/acc_1", None)).unwrap();
    let CanonicalRequest::Statement(_, q) = bare else { panic!("{bare:?}") };
    assert_eq!((q.limit, q.cursor, q.order), (25, None, SortOrder::Asc));
    for bad in [
        "limit=0",
        "limit=1001",
        "cursor=abc",
        "cursor=1.abc",
        "cursor=02.abc",
        "cursor=2.",
        "cursor=100000.abc",
        "order=desc",
        "from=a&from=b",
        "from=",
    ] {
        let req = request("GET", "camt.053/accounts/acc_1", Some(bad));
        assert!(matches!(a.decode(Operation::ListTransactions, &req), Err(AdapterError::InvalidField { .. })), "{bad}");
    }
    let other = request("GET", "camt.053/accounts/cns_1", None);
    assert!(matches!(a.decode(Operation::ListTransactions, &other), Err(AdapterError::InvalidField { .. })));
    // The path names the operation: another operation is not this path's.
    assert!(matches!(
        a.decode(Operation::GetConsent, &request("GET", "camt.053/accounts/acc_1", None)),
        Err(AdapterError::Unsupported(_))
    ));
    let mut with_body = request("GET", "camt.053/accounts/acc_1", None);
    with_body.body = "<x/>".into();
    assert!(matches!(a.decode(Operation::ListTransactions, &with_body), Err(AdapterError::MalformedBody(_))));
}

#[test]
fn a_statement_carries_derived_balances_entries_and_re_derived_sums() {
    let a = adapter();
    let req = request("GET", "camt.053/accounts/acc_7Hq2", Some("from=2026-07-01T00:00:00Z&to=2026-07-31T23:59:59Z"));
    let out = a
        .encode(Operation::ListTransactions, &req, CanonicalResponse::Statement(Box::new(statement(true, None))))
        .unwrap();
    assert_eq!((out.status, out.content_type), (200, "application/xml"));
    assert!(out.headers.is_empty(), "the last page links nowhere: {:?}", out.headers);
    let body = &out.body;
    events(body);
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.contains("xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\""));
    assert_eq!(text_of(body, &["Bal", "Tp", "CdOrPrtry", "Cd"]), ["OPBD", "CLBD", "ITBD", "ITAV"]);
    // Opening: 10 500.00 after a 500.00 credit → 10 000.00; closing: −2 000.00 (a debit balance).
    assert_eq!(text_of(body, &["Bal", "Amt"]), ["10000.00", "2000.00", "10000.00", "9900.00"]);
    assert_eq!(text_of(body, &["Bal", "CdtDbtInd"]), ["CRDT", "DBIT", "CRDT", "CRDT"]);
    assert_eq!(text_of(body, &["TtlNtries", "NbOfNtries"]), ["2"]);
    assert_eq!(text_of(body, &["TtlNtries", "Sum"]), ["13000.00"]);
    assert_eq!(text_of(body, &["TtlNetNtry", "Amt"]), ["12000.00"]);
    assert_eq!(text_of(body, &["TtlNetNtry", "CdtDbtInd"]), ["DBIT"]);
    assert_eq!(text_of(body, &["TtlCdtNtries", "Sum"]), ["500.00"]);
    assert_eq!(text_of(body, &["TtlDbtNtries", "Sum"]), ["12500.00"]);
    assert_eq!(text_of(body, &["Ntry", "Amt"]), ["500.00", "12500.00"]);
    assert_eq!(text_of(body, &["Ntry", "Sts", "Cd"]), ["BOOK", "BOOK"]);
    assert_eq!(text_of(body, &["RltdPties", "Dbtr", "Pty", "Nm"]), ["上游供应商乙"], "a credit's counterparty paid");
    assert_eq!(text_of(body, &["RltdPties", "Cdtr", "Pty", "Nm"]), ["上游供应商乙"], "a debit's was paid");
    assert!(text.contains("<Ustrd>货款 INV-42 &lt;&amp;&gt;</Ustrd>"), "escaped: {text}");
    assert_eq!(text_of(body, &["FrToDt", "FrDtTm"]), ["2026-07-01T00:00:00Z"]);
    assert_eq!(text_of(body, &["StmtPgntn", "LastPgInd"]), ["true"]);
    assert_eq!(text_of(body, &["Acct", "Id", "Othr", "Id"]), ["acc_7Hq2"]);
}

#[test]
fn without_running_balances_only_the_interim_balances_are_given() {
    let a = adapter();
    let req = request("GET", "camt.053/accounts/acc_7Hq2", Some("cursor=2.c1"));
    let mut s = statement(false, Some("c2"));
    s.from = None;
    let out = a.encode(Operation::ListTransactions, &req, CanonicalResponse::Statement(Box::new(s))).unwrap();
    let body = &out.body;
    assert_eq!(text_of(body, &["Bal", "Tp", "CdOrPrtry", "Cd"]), ["ITBD", "ITAV"]);
    assert!(text_of(body, &["RltdPties", "Dbtr", "Pty", "Nm"]).is_empty());
    assert!(text_of(body, &["Ustrd"]).is_empty());
    assert!(text_of(body, &["FrToDt", "FrDtTm"]).is_empty(), "no window without a start");
    assert_eq!(text_of(body, &["StmtPgntn", "PgNb"]), ["2"]);
    assert_eq!(text_of(body, &["StmtPgntn", "LastPgInd"]), ["false"]);
    assert_eq!(
        out.headers,
        [("link".to_owned(), "</gw/ptn_x/camt.053/accounts/acc_7Hq2?cursor=3.c2>; rel=\"next\"".to_owned())]
    );
}

#[test]
fn the_window_ends_when_the_statement_was_made_if_open_or_later() {
    let req = request("GET", "camt.053/accounts/acc_7Hq2", None);
    for (to, want) in [
        (None, "2026-12-04T02:00:00Z"),
        (Some("2027-01-01T00:00:00Z"), "2026-12-04T02:00:00Z"),
        (Some("2026-07-31T23:59:59Z"), "2026-07-31T23:59:59Z"),
    ] {
        let mut s = statement(true, None);
        s.to = to.map(str::to_owned);
        let out =
            adapter().encode(Operation::ListTransactions, &req, CanonicalResponse::Statement(Box::new(s))).unwrap();
        assert_eq!(text_of(&out.body, &["FrToDt", "FrDtTm"]), ["2026-07-01T00:00:00Z"]);
        assert_eq!(text_of(&out.body, &["FrToDt", "ToDtTm"]), [want], "{to:?}");
    }
}

#[test]
fn a_long_description_is_kept_whole_in_140_character_pieces() {
    let mut s = statement(true, None);
    s.transactions.items[0].description = Some("款".repeat(300));
    let req = request("GET", "camt.053/accounts/acc_7Hq2", None);
    let out = adapter().encode(Operation::ListTransactions, &req, CanonicalResponse::Statement(Box::new(s))).unwrap();
    let pieces = text_of(&out.body, &["RmtInf", "Ustrd"]);
    let pieces = &pieces[..3];
    assert_eq!(pieces.iter().map(|p| p.chars().count()).collect::<Vec<_>>(), [140, 140, 20]);
}

#[test]
fn a_statement_without_balances_or_in_two_currencies_is_a_defect_not_a_guess() {
    let a = adapter();
    let req = request("GET", "camt.053/accounts/acc_7Hq2", None);
    let mut none = statement(true, None);
    none.balances.clear();
    assert!(matches!(
        a.encode(Operation::ListTransactions, &req, CanonicalResponse::Statement(Box::new(none))),
        Err(AdapterError::Encode(_))
    ));
    let mut mixed = statement(true, None);
    mixed.transactions.items[1].amount = Money::from_minor(100, Currency::Usd);
    assert!(matches!(
        a.encode(Operation::ListTransactions, &req, CanonicalResponse::Statement(Box::new(mixed))),
        Err(AdapterError::Encode(_))
    ));
}

#[test]
fn a_refused_statement_is_a_message_reject_with_the_problem_status_and_consents_stay_json() {
    let a = adapter();
    let error = ErrorView {
        status: 403,
        code: "consent_inactive",
        title: "The consent is not in force",
        detail: "the consent is revoked <now>",
        request_id: "req-1",
        retry_after: None,
    };
    let req = request("GET", "camt.053/accounts/acc_1", None);
    let out = a.encode_error(Some(Operation::ListTransactions), &req, &error).unwrap();
    assert_eq!((out.status, out.content_type), (403, "application/xml"));
    assert_eq!(text_of(&out.body, &["Rsn", "RjctgPtyRsn"]), ["CONSENT_INACTIVE"]);
    assert_eq!(text_of(&out.body, &["Rsn", "RsnDesc"]), ["the consent is revoked <now>"]);
    assert!(std::str::from_utf8(&out.body).unwrap().contains("urn:iso:std:iso:20022:tech:xsd:admi.002.001.01"));
    // Refused before the operation was known (an unknown path): the same envelope.
    assert!(a.encode_error(None, &request("GET", "camt.054/x", None), &error).is_some());
    // Consents are the standard API's JSON: their refusals are problem+json.
    assert!(a.encode_error(Some(Operation::CreateConsent), &request("POST", "consents", None), &error).is_none());
    assert!(a.encode_error(None, &request("GET", "accounts", None), &error).is_none());
    let limited = ErrorView { status: 429, retry_after: Some(7), ..error };
    let out = a.encode_error(None, &req, &limited).unwrap();
    assert_eq!(out.headers, [("retry-after".to_owned(), "7".to_owned())]);
}

#[test]
fn consents_are_the_standard_api_json() {
    let a = adapter();
    let mut req = request("POST", "consents", None);
    req.headers.push(("content-type".into(), "application/json".into()));
    req.body = r#"{"permissions":["ReadBalances","ReadTransactionsDetail"],"purpose":"Treasury statements"}"#.into();
    let CanonicalRequest::CreateConsent(c) = a.decode(Operation::CreateConsent, &req).unwrap() else { panic!() };
    assert_eq!(c.purpose, "Treasury statements");
    assert_eq!(
        a.decode(Operation::GetConsent, &request("GET", "consents/cns_9", None)).unwrap(),
        CanonicalRequest::GetConsent("cns_9".parse().unwrap())
    );
    assert_eq!(
        a.decode(Operation::DeleteConsent, &request("DELETE", "consents/cns_9", None)).unwrap(),
        CanonicalRequest::DeleteConsent("cns_9".parse().unwrap())
    );
    let out = a
        .encode(Operation::DeleteConsent, &request("DELETE", "consents/cns_9", None), CanonicalResponse::ConsentDeleted)
        .unwrap();
    assert_eq!(out.status, 204);
}

#[test]
fn settings_are_refused() {
    let mut settings = toml::Table::new();
    settings.insert("sign_type".into(), "RSA2".into());
    let err = Kind.build(&BuildContext::settings_only("ptn_x", &settings)).unwrap_err();
    assert_eq!(err.field, "sign_type");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No method, path, query or body panics routing, decoding or refusing.
    #[test]
    fn no_request_panics_the_adapter(
        method in "(GET|POST|DELETE|PUT)",
        rest in "[a-z0-9._/-]{0,40}|camt\\.053/accounts/\\PC{0,30}|consents/\\PC{0,30}",
        query in proptest::option::of("\\PC{0,80}"),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let a = adapter();
        let mut req = request(&method, &rest, query.as_deref());
        req.body = body.into();
        let op = a.operation(&req);
        for op in op.into_iter().chain([Operation::ListTransactions, Operation::CreateConsent]) {
            let _ = a.decode(op, &req);
        }
        let error = ErrorView { status: 400, code: "x", title: "t", detail: "\u{0}<&>", request_id: "r", retry_after: None };
        if let Some(out) = a.encode_error(None, &req, &error) {
            events(&out.body);
        }
    }

    /// Any statement the gateway could answer is a well-formed document whose sums are those
    /// of its entries.
    #[test]
    fn any_statement_is_well_formed_and_sums_its_entries(
        amounts in proptest::collection::vec((1i64..1_000_000_000, any::<bool>()), 0..20),
        description in "\\PC{0,300}",
        booked in -1_000_000_000i64..1_000_000_000,
    ) {
        let mut s = statement(true, None);
        s.balances[0].booked = cny(booked);
        s.transactions.items = amounts
            .iter()
            .enumerate()
            .map(|(i, (minor, credit))| {
                let side = if *credit { CreditDebit::Credit } else { CreditDebit::Debit };
                let mut t = txn(&format!("txn_{i}"), *minor, side, Some(0), true);
                t.description = Some(description.clone());
                t
            })
            .collect();
        let req = request("GET", "camt.053/accounts/acc_7Hq2", None);
        let out = adapter().encode(Operation::ListTransactions, &req, CanonicalResponse::Statement(Box::new(s))).unwrap();
        events(&out.body);
        let count = text_of(&out.body, &["TtlNtries", "NbOfNtries"]);
        prop_assert_eq!(count, vec![amounts.len().to_string()]);
        let total: i64 = amounts.iter().map(|(m, _)| m).sum();
        let sum = text_of(&out.body, &["TtlNtries", "Sum"]);
        prop_assert_eq!(Money::parse(&sum[0], Currency::Cny).unwrap().to_minor(), Some(total));
        let listed: Vec<i64> = text_of(&out.body, &["Ntry", "Amt"])
            .iter()
            .map(|a| Money::parse(a, Currency::Cny).unwrap().to_minor().unwrap())
            .collect();
        prop_assert_eq!(listed, amounts.iter().map(|(m, _)| *m).collect::<Vec<_>>());
    }
}
