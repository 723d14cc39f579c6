//! The `iso20022` adapter over HTTP: a treasury system with the bank's OAuth tokens at its
//! own paths under `/gw/{partner_id}`, an account-access consent authorised by the customer
//! on the bank's pages, camt.053 statements whose balances chain from page to page and whose
//! sums are their entries', and refusals as `admi.002` message rejects.

use quick_xml::{Reader, events::Event};
use serde_json::{Value, json};

use crate::support::{
    Stack,
    customer::{REDIRECT_URI, a2_partner_toml, authorise_consent, tokens},
    fixtures, http,
};

fn iso_partner_toml() -> String {
    let jwks = fixtures().join("keys/test-partner.jwks.json");
    format!(
        r#"id = "ptn_iso"
display_name = "ISO 20022 treasury test partner"
status = "active"
environment = "sandbox"
security_level = "A2"
risk_assessment_ref = "RA-TEST-0111"
scopes = ["consents:write", "accounts:read"]
redirect_uris = ["{REDIRECT_URI}"]

[keys]
jwks_file = "{}"

[adapter]
name = "iso20022"
"#,
        jwks.display()
    )
}

/// The text of every element whose open elements end with `path`, references resolved.
fn texts(xml: &str, path: &[&str]) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let (mut stack, mut text, mut found) = (Vec::<String>::new(), String::new(), Vec::new());
    let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("{e}: {xml}")) {
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
                text.push_str(&quick_xml::escape::unescape(&format!("&{};", r.xml10_content())).unwrap());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    found
}

/// Fen of a decimal amount with its credit/debit indicator.
fn fen(amount: &str, indicator: &str) -> i64 {
    let (int, frac) = amount.split_once('.').unwrap();
    assert_eq!(frac.len(), 2, "{amount}");
    let v = int.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap();
    if indicator == "DBIT" { -v } else { v }
}

/// One balance of a statement page by type code, signed fen.
fn balance(xml: &str, code: &str) -> Option<i64> {
    let codes = texts(xml, &["Bal", "Tp", "CdOrPrtry", "Cd"]);
    let amounts = texts(xml, &["Bal", "Amt"]);
    let sides = texts(xml, &["Bal", "CdtDbtInd"]);
    codes.iter().position(|c| c == code).map(|i| fen(&amounts[i], &sides[i]))
}

async fn get(stack: &Stack, path: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = http().get(stack.gw.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.headers().clone(), res.text().await.unwrap())
}

fn assert_reject(status: u16, headers: &reqwest::header::HeaderMap, body: &str, want: (u16, &str)) {
    assert_eq!(status, want.0, "{body}");
    assert_eq!(headers["content-type"], "application/xml", "{body}");
    assert!(body.contains("urn:iso:std:iso:20022:tech:xsd:admi.002.001.01"), "{body}");
    assert_eq!(texts(body, &["Rsn", "RjctgPtyRsn"]), [want.1], "{body}");
}

#[tokio::test]
async fn a_treasury_system_reads_camt053_statements_under_the_customers_consent() {
    let stack = Stack::start_with(|o| {
        o.partners =
            vec![("iso".into(), iso_partner_toml()), ("alpha".into(), a2_partner_toml("ptn_alpha", REDIRECT_URI))]
    });
    let base = stack.gw.issuer();
    let partner = stack.gw.partner("ptn_iso");
    let own = partner.consents_token().await;

    // The account-access consent: the standard API's JSON at the protocol's own path.
    let res = http()
        .post(stack.gw.url("/gw/ptn_iso/consents"))
        .bearer_auth(&own)
        .json(&json!({
            "permissions": ["ReadAccountsBasic", "ReadBalances", "ReadTransactionsDetail"],
            "purpose": "Reconcile supplier payments",
            "transaction_from": "2026-05-01T00:00:00Z"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let consent: Value = res.json().await.unwrap();
    let consent_id = consent["consent_id"].as_str().unwrap().to_owned();
    assert_eq!(consent["status"], "awaiting_authorisation");

    // The partner's own token reads no statement, answered in ISO 20022's own reject.
    let (status, headers, body) = get(&stack, "/gw/ptn_iso/camt.053/accounts/acc_X", Some(&own)).await;
    assert_reject(status, &headers, &body, (403, "INSUFFICIENT_SCOPE"));

    // 北京云杉科技 (C0005) approves on the bank's pages.
    let flow = authorise_consent(&partner, &base, "13800000005", consent_id.clone()).await;
    let access = tokens(&partner, &flow.code, &flow.verifier).await["access_token"].as_str().unwrap().to_owned();

    let (status, _, body) = get(&stack, "/gw/ptn_iso/accounts", Some(&access)).await;
    assert_eq!(status, 200, "{body}");
    let accounts: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(accounts["data"].as_array().unwrap().len(), 1, "only the chosen account: {accounts}");
    let account = accounts["data"][0]["account_id"].as_str().unwrap().to_owned();

    // Page by page, oldest first: each page's sums are its entries', its closing balance is
    // its opening balance plus its entries, and the next page opens where it closed.
    let mut next = Some(format!("/gw/ptn_iso/camt.053/accounts/{account}?limit=4"));
    let (mut pages, mut closing, mut entries) = (0, None::<i64>, 0usize);
    while let Some(path) = next.take() {
        let (status, headers, xml) = get(&stack, &path, Some(&access)).await;
        assert_eq!(status, 200, "{xml}");
        assert_eq!(headers["content-type"], "application/xml");
        pages += 1;
        assert!(xml.contains("urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"));
        assert_eq!(texts(&xml, &["Stmt", "Acct", "Id", "Othr", "Id"]), [account.as_str()]);
        assert_eq!(texts(&xml, &["StmtPgntn", "PgNb"]), [pages.to_string()]);
        // The window is the consent's (nothing was asked), ending when the statement was made.
        assert_eq!(texts(&xml, &["FrToDt", "FrDtTm"]), ["2026-05-01T00:00:00Z"]);
        assert_eq!(texts(&xml, &["FrToDt", "ToDtTm"]), texts(&xml, &["GrpHdr", "CreDtTm"]));
        let amounts = texts(&xml, &["Ntry", "Amt"]);
        let sides = texts(&xml, &["Ntry", "CdtDbtInd"]);
        assert!(amounts.len() <= 4);
        entries += amounts.len();
        let net: i64 = amounts.iter().zip(&sides).map(|(a, s)| fen(a, s)).sum();
        let total: i64 = amounts.iter().zip(&sides).map(|(a, s)| fen(a, s).abs()).sum();
        assert_eq!(texts(&xml, &["TtlNtries", "NbOfNtries"]), [amounts.len().to_string()]);
        assert_eq!(fen(&texts(&xml, &["TtlNtries", "Sum"])[0], "CRDT"), total);
        let net_text = (texts(&xml, &["TtlNetNtry", "Amt"]), texts(&xml, &["TtlNetNtry", "CdtDbtInd"]));
        assert_eq!(fen(&net_text.0[0], &net_text.1[0]), net);
        assert!(balance(&xml, "ITBD").is_some() && balance(&xml, "ITAV").is_some(), "{xml}");
        if !amounts.is_empty() {
            let (open, close) = (balance(&xml, "OPBD").unwrap(), balance(&xml, "CLBD").unwrap());
            assert_eq!(open + net, close, "page {pages}: {xml}");
            if let Some(previous) = closing {
                assert_eq!(open, previous, "page {pages} opens where page {} closed", pages - 1);
            }
            closing = Some(close);
        }
        let last = texts(&xml, &["StmtPgntn", "LastPgInd"]);
        match headers.get("link") {
            Some(link) => {
                assert_eq!(last, ["false"]);
                let link = link.to_str().unwrap();
                let target = link.strip_prefix('<').and_then(|l| l.split_once('>')).unwrap().0;
                assert!(target.contains(&format!("cursor={}.", pages + 1)), "{link}");
                next = Some(target.to_owned());
            }
            None => assert_eq!(last, ["true"]),
        }
        assert!(pages < 200, "the statement must end");
    }
    assert!(pages >= 2 && entries > 4, "six months of activity span pages: {pages} pages, {entries} entries");
    // A narrower window asked: the statement says so, and holds only its entries.
    let (_, _, xml) = get(
        &stack,
        &format!(
            "/gw/ptn_iso/camt.053/accounts/{account}?from=2026-04-01T00:00:00Z&to=2026-06-30T23:59:59Z&limit=1000"
        ),
        Some(&access),
    )
    .await;
    assert_eq!(texts(&xml, &["FrToDt", "FrDtTm"]), ["2026-05-01T00:00:00Z"], "cut to the consent's window");
    assert_eq!(texts(&xml, &["FrToDt", "ToDtTm"]), ["2026-06-30T23:59:59Z"]);
    for at in texts(&xml, &["Ntry", "BookgDt", "DtTm"]) {
        assert!(at.as_str() >= "2026-05-01T00:00:00Z" && at.as_str() <= "2026-06-30T23:59:59Z", "{at}");
    }
    // The last page closes at the account's booked balance now: every entry was listed.
    let (_, _, xml) = get(&stack, &format!("/gw/ptn_iso/camt.053/accounts/{account}?limit=1000"), Some(&access)).await;
    assert_eq!(balance(&xml, "CLBD"), balance(&xml, "ITBD"), "{xml}");
    assert_eq!(balance(&xml, "CLBD"), closing);

    // Refusals in the protocol's reject, with their HTTP status.
    let (status, headers, body) = get(&stack, &format!("/gw/ptn_iso/camt.053/accounts/{account}"), None).await;
    assert_reject(status, &headers, &body, (401, "INVALID_TOKEN"));
    let (status, headers, body) =
        get(&stack, &format!("/gw/ptn_iso/camt.053/accounts/{account}?limit=0"), Some(&access)).await;
    assert_reject(status, &headers, &body, (400, "INVALID_REQUEST"));
    let (status, headers, body) = get(&stack, "/gw/ptn_iso/camt.053/accounts/acc_NOTCONSENTED", Some(&access)).await;
    assert_reject(status, &headers, &body, (404, "NOT_FOUND"));
    let (status, headers, body) = get(&stack, "/gw/ptn_iso/camt.054/anything", Some(&access)).await;
    assert_reject(status, &headers, &body, (400, "INVALID_REQUEST"));
    // Another partner's token is not this partner's.
    let alpha = stack.gw.partner("ptn_alpha").consents_token().await;
    let (status, headers, body) = get(&stack, &format!("/gw/ptn_iso/camt.053/accounts/{account}"), Some(&alpha)).await;
    assert_reject(status, &headers, &body, (401, "INVALID_TOKEN"));

    // The partner withdraws the consent: the next statement is refused.
    let res = http()
        .delete(stack.gw.url(&format!("/gw/ptn_iso/consents/{consent_id}")))
        .bearer_auth(&own)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, headers, body) = get(&stack, &format!("/gw/ptn_iso/camt.053/accounts/{account}"), Some(&access)).await;
    assert_eq!(headers["content-type"], "application/xml", "{body}");
    assert!(matches!(status, 401 | 403), "{status} {body}");
}

// === Bulk payments: pain.001 → pain.002 ===

/// An ISO 20022 partner that also pays: CNY limits of 50,000.00 a payment and 500,000.00 a
/// day; money-moving calls signed (`x-jws-signature`), as the default is.
fn bulk_partner_toml() -> String {
    iso_partner_toml()
        .replace(
            r#"scopes = ["consents:write", "accounts:read"]"#,
            r#"scopes = ["consents:write", "accounts:read", "payments:write", "payments:initiate"]"#,
        )
        .replace(
            "[adapter]\nname = \"iso20022\"\n",
            "[adapter]\nname = \"iso20022\"\n\n[payments.limits.CNY]\nper_payment = \"50000.00\"\nper_day = \"500000.00\"\n",
        )
}

fn bulk_stack() -> Stack {
    Stack::start_with(|o| o.partners = vec![("iso".into(), bulk_partner_toml())])
}

/// The seeded merchants' settlement accounts (they start at zero), and 赵磊's frozen savings.
const SKYTRIP: &str = "6222020000000000091";
const PARKEASE: &str = "6222020000000000109";
const TOPUP: &str = "6222020000000000117";
const FROZEN: &str = "6222020000000000067";

/// A `pain.001.001.09` of `txs` (end-to-end id, fen, creditor account), counts and control
/// sums as the transactions make them.
fn pain001(msg_id: &str, txs: &[(&str, i64, &str)]) -> String {
    let decimal = |fen: i64| format!("{}.{:02}", fen / 100, fen % 100);
    let sum = decimal(txs.iter().map(|t| t.1).sum());
    let count = txs.len();
    let body: String = txs
        .iter()
        .map(|(id, fen, acct)| {
            format!(
                "<CdtTrfTxInf><PmtId><EndToEndId>{id}</EndToEndId></PmtId>\
                 <Amt><InstdAmt Ccy=\"CNY\">{}</InstdAmt></Amt><Cdtr><Nm>供应商 {id}</Nm></Cdtr>\
                 <CdtrAcct><Id><Othr><Id>{acct}</Id></Othr></Id></CdtrAcct><RmtInf><Ustrd>货款 {id}</Ustrd></RmtInf>\
                 </CdtTrfTxInf>",
                decimal(*fen)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\">\
         <CstmrCdtTrfInitn><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>2026-12-04T09:30:00+08:00</CreDtTm>\
         <NbOfTxs>{count}</NbOfTxs><CtrlSum>{sum}</CtrlSum><InitgPty><Nm>北京云杉科技有限公司</Nm></InitgPty></GrpHdr>\
         <PmtInf><PmtInfId>PMT-{msg_id}</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>{count}</NbOfTxs><CtrlSum>{sum}</CtrlSum>\
         {body}</PmtInf></CstmrCdtTrfInitn></Document>"
    )
}

type Answer = (u16, reqwest::header::HeaderMap, String);

/// POSTs `body` (XML, or nothing) signed, as money-moving calls are.
async fn post_signed(stack: &Stack, path: &str, token: &str, body: &str) -> Answer {
    let signature = crate::support::payments::sign(body.as_bytes(), crate::support::partner::now());
    let mut req = http().post(stack.gw.url(path)).bearer_auth(token).header("x-jws-signature", signature);
    if !body.is_empty() {
        req = req.header("content-type", "application/xml").body(body.to_owned());
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.headers().clone(), res.text().await.unwrap())
}

/// A pain.001 accepted: its consent id, from the `Location` of its status report.
async fn initiate(stack: &Stack, token: &str, body: &str) -> String {
    let (status, headers, answer) = post_signed(stack, "/gw/ptn_iso/pain.001", token, body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(texts(&answer, &["OrgnlGrpInfAndSts", "GrpSts"]), ["ACTC"], "{answer}");
    let location = headers["location"].to_str().unwrap();
    location.strip_prefix("/gw/ptn_iso/pain.002/").unwrap_or_else(|| panic!("{location}")).to_owned()
}

async fn execute(stack: &Stack, token: &str, consent_id: &str) -> Answer {
    post_signed(stack, &format!("/gw/ptn_iso/pain.001/{consent_id}/execution"), token, "").await
}

/// Each transaction's (end-to-end id, status, reason code or "") in a pain.002.
fn tx_statuses(xml: &str) -> Vec<(String, String, String)> {
    xml.split("<TxInfAndSts>")
        .skip(1)
        .map(|tx| {
            let tx = format!("<TxInfAndSts>{}", tx.split("</TxInfAndSts>").next().unwrap());
            let one = |path: &[&str]| texts(&tx, path).first().cloned().unwrap_or_default();
            (one(&["OrgnlEndToEndId"]), one(&["TxSts"]), one(&["StsRsnInf", "Rsn", "Cd"]))
        })
        .collect()
}

fn group_status(xml: &str) -> String {
    texts(xml, &["OrgnlGrpInfAndSts", "GrpSts"]).concat()
}

async fn core_balance(core: &str, acct: &str) -> i64 {
    let body: Value =
        http().get(format!("{core}/core/accounts/{acct}/balance")).send().await.unwrap().json().await.unwrap();
    body["data"]["ledger_bal_fen"].as_i64().unwrap_or_else(|| panic!("{body}"))
}

async fn txn_count(core: &str) -> i64 {
    crate::support::payments::ledger(core).await["txn_count"].as_i64().unwrap()
}

#[tokio::test]
async fn a_bulk_is_authorised_once_and_paid_as_one_core_posting_per_transaction() {
    use crate::support::payments::{authorise_payment_shown, client_token};
    let stack = bulk_stack();
    let core = crate::support::customer::core_url_of(stack.gw.dir.path());
    let partner = stack.gw.partner("ptn_iso");
    let own = client_token(&partner, "payments:write").await;
    let txs = [("INV-0042", 125_000, SKYTRIP), ("INV-0043", 30_050, PARKEASE), ("INV-0044", 8_800, TOPUP)];
    let consent_id = initiate(&stack, &own, &pain001("SG-BULK-0001", &txs)).await;

    // Before the customer's authorisation: accepted, nothing paid, the partner's token can
    // execute nothing.
    let (status, _, report) = get(&stack, &format!("/gw/ptn_iso/pain.002/{consent_id}"), Some(&own)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(group_status(&report), "ACTC");
    assert_eq!(texts(&report, &["OrgnlGrpInfAndSts", "OrgnlCtrlSum"]), ["1638.50"]);
    assert!(tx_statuses(&report).is_empty(), "{report}");
    let (status, headers, body) = execute(&stack, &own, &consent_id).await;
    assert_reject(status, &headers, &body, (403, "INSUFFICIENT_SCOPE"));

    // 北京云杉科技 (C0005) authorises the whole bulk once, with its one-time code, having
    // seen every payee and amount.
    let (page, token) = authorise_payment_shown(&stack, &partner, &consent_id, "13800000005").await;
    assert!(page.contains("3 位收款方") && page.contains("CNY 1638.50"), "count and total:\n{page}");
    for (id, amount) in [("INV-0042", "CNY 1250.00"), ("INV-0043", "CNY 300.50"), ("INV-0044", "CNY 88.00")] {
        assert!(page.contains(&format!("供应商 {id}")) && page.contains(amount), "{id} {amount}:\n{page}");
    }
    assert!(page.contains("****0091") && !page.contains(SKYTRIP), "payee accounts masked");

    let before = txn_count(&core).await;
    let payees_before = [core_balance(&core, SKYTRIP).await, core_balance(&core, PARKEASE).await];
    let (status, _, answer) = execute(&stack, &token, &consent_id).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(group_status(&answer), "ACSC", "{answer}");
    let statuses = tx_statuses(&answer);
    let expected: Vec<(String, String, String)> =
        txs.iter().map(|t| (t.0.to_owned(), "ACSC".to_owned(), String::new())).collect();
    assert_eq!(statuses, expected);
    let refs = texts(&answer, &["TxInfAndSts", "AcctSvcrRef"]);
    assert!(refs.iter().all(|r| r.starts_with("pay_") && r.len() <= 35), "{refs:?}");
    assert_eq!(txn_count(&core).await, before + 3, "one posting per transaction");
    assert_eq!(core_balance(&core, SKYTRIP).await, payees_before[0] + 125_000);
    assert_eq!(core_balance(&core, PARKEASE).await, payees_before[1] + 30_050);

    // The execution consumed the consent: a second one gets the first answer, pays nothing.
    let (status, headers, again) = execute(&stack, &token, &consent_id).await;
    assert_eq!((status, again.as_str()), (200, answer.as_str()));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(txn_count(&core).await, before + 3);
    let (_, _, report) = get(&stack, &format!("/gw/ptn_iso/pain.002/{consent_id}"), Some(&own)).await;
    assert_eq!((group_status(&report), tx_statuses(&report)), ("ACSC".to_owned(), expected));

    // The customer's dashboard lists it like any payment consent.
    let customer = crate::support::customer::Customer::new(&stack.gw.issuer());
    let (_, login) = customer.get(&stack.gw.url("/customer/consents")).await;
    let res = customer.login(&login, "13800000005", crate::support::customer::PASSWORD).await;
    assert_eq!(res.status(), 303, "login");
    let (_, dashboard) = customer.get(&stack.gw.url("/customer/consents")).await;
    assert!(dashboard.contains("3 位收款方") && dashboard.contains("CNY 1638.50"), "{dashboard}");
}

#[tokio::test]
async fn a_transfer_the_core_refuses_leaves_the_bulk_partly_paid_with_its_reason() {
    use crate::support::payments::{authorise_payment, client_token};
    let stack = bulk_stack();
    let core = crate::support::customer::core_url_of(stack.gw.dir.path());
    let partner = stack.gw.partner("ptn_iso");
    let own = client_token(&partner, "payments:write").await;
    // 李四 (C0002) has one CNY account: the first two transfers leave 100.00 of it, the third
    // asks for more, the fourth goes to a frozen account, the last fits.
    let debtor = "6222020000000000034";
    let balance = core_balance(&core, debtor).await;
    assert!((100_000..9_000_000).contains(&balance), "C0002's balance {balance} suits this test");
    let half = (balance - 10_000) / 2;
    let txs = [
        ("T-1", half, SKYTRIP),
        ("T-2", balance - 10_000 - half, PARKEASE),
        ("T-3", 20_000, TOPUP),
        ("T-4", 5_000, FROZEN),
        ("T-5", 2_500, TOPUP),
    ];
    let consent_id = initiate(&stack, &own, &pain001("SG-BULK-PART", &txs)).await;
    let token = authorise_payment(&stack, &partner, &consent_id, "13800000002").await;

    let before = txn_count(&core).await;
    let (status, _, answer) = execute(&stack, &token, &consent_id).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(group_status(&answer), "PART", "{answer}");
    let codes: Vec<(String, String)> = tx_statuses(&answer).into_iter().map(|(_, s, r)| (s, r)).collect();
    let want = [("ACSC", ""), ("ACSC", ""), ("RJCT", "AM04"), ("RJCT", "AC06"), ("ACSC", "")];
    assert_eq!(codes, want.map(|(s, r)| (s.to_owned(), r.to_owned())), "{answer}");
    assert_eq!(txn_count(&core).await, before + 3, "only the booked ones posted");
    assert_eq!(core_balance(&core, debtor).await, 10_000 - 2_500);
    let (_, _, report) = get(&stack, &format!("/gw/ptn_iso/pain.002/{consent_id}"), Some(&own)).await;
    assert_eq!(group_status(&report), "PART");
}

#[tokio::test]
async fn a_tampered_count_or_control_sum_is_refused_and_creates_nothing() {
    use crate::support::payments::client_token;
    let stack = bulk_stack();
    let partner = stack.gw.partner("ptn_iso");
    let own = client_token(&partner, "payments:write").await;
    let good = pain001("SG-BULK-TAMPER", &[("A-1", 10_000, SKYTRIP), ("A-2", 20_000, PARKEASE)]);
    let cases = [
        (good.replacen("<CtrlSum>300.00</CtrlSum>", "<CtrlSum>300.01</CtrlSum>", 1), "AM10"),
        (good.replacen("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>3</NbOfTxs>", 2), "AM18"),
        (good.replace("<InstdAmt Ccy=\"CNY\">100.00</InstdAmt>", "<InstdAmt Ccy=\"CNY\">100.001</InstdAmt>"), "AM12"),
        (good.replace("<EndToEndId>A-2</EndToEndId>", "<EndToEndId>A-1</EndToEndId>"), "AM05"),
        // Read within bounds, nothing expanded: a document over 512 KiB, and an entity.
        (good.replace("</Document>", &format!("<!--{}--></Document>", "x".repeat(600 * 1024))), "FF01"),
        (
            good.replacen("<Document", "<!DOCTYPE Document [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Document", 1)
                .replace("<Nm>北京云杉科技有限公司</Nm>", "<Nm>&x;</Nm>"),
            "FF01",
        ),
    ];
    for (body, code) in cases {
        assert_ne!(body, good, "{code}: the document was changed");
        let (status, headers, answer) = post_signed(&stack, "/gw/ptn_iso/pain.001", &own, &body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(headers["content-type"], "application/xml");
        assert!(headers.get("location").is_none());
        assert_eq!(group_status(&answer), "RJCT", "{answer}");
        let quoted = if code == "FF01" { "NONREF" } else { "SG-BULK-TAMPER" };
        assert_eq!(texts(&answer, &["OrgnlGrpInfAndSts", "OrgnlMsgId"]), [quoted], "{code}");
        assert_eq!(texts(&answer, &["OrgnlGrpInfAndSts", "StsRsnInf", "Rsn", "Cd"]), [code], "{answer}");
    }
    // Nothing was kept of the refused documents: no consent, and the corrected document under
    // the same MsgId is new (not a reuse of it).
    let path = stack.gw.dir.path().join("data/gateway.sqlite");
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display())).await.unwrap();
    let consents = || sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM consents WHERE partner_id = 'ptn_iso'");
    assert_eq!(consents().fetch_one(&db).await.unwrap(), 0);
    initiate(&stack, &own, &good).await;
    assert_eq!(consents().fetch_one(&db).await.unwrap(), 1);
}

#[tokio::test]
async fn the_same_msg_id_replays_its_answer_and_refuses_another_document() {
    use crate::support::payments::client_token;
    let stack = bulk_stack();
    let partner = stack.gw.partner("ptn_iso");
    let own = client_token(&partner, "payments:write").await;
    let body = pain001("SG-BULK-DUP", &[("D-1", 10_000, SKYTRIP)]);
    let (status, headers, first) = post_signed(&stack, "/gw/ptn_iso/pain.001", &own, &body).await;
    assert_eq!(status, 201, "{first}");
    let location = headers["location"].clone();

    let (status, headers, again) = post_signed(&stack, "/gw/ptn_iso/pain.001", &own, &body).await;
    assert_eq!((status, again.as_str()), (201, first.as_str()), "the first answer, byte for byte");
    assert_eq!((&headers["location"], &headers["idempotent-replayed"]), (&location, &"true".parse().unwrap()));

    let other = pain001("SG-BULK-DUP", &[("D-1", 10_001, SKYTRIP)]);
    let (status, _, refused) = post_signed(&stack, "/gw/ptn_iso/pain.001", &own, &other).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(group_status(&refused), "RJCT");
    assert_eq!(texts(&refused, &["OrgnlGrpInfAndSts", "StsRsnInf", "Rsn", "Cd"]), ["DU01"], "{refused}");
}

#[tokio::test]
async fn concurrent_executions_of_one_bulk_pay_each_transaction_exactly_once() {
    use crate::support::payments::{authorise_payment, client_token};
    let stack = bulk_stack();
    let core = crate::support::customer::core_url_of(stack.gw.dir.path());
    let partner = stack.gw.partner("ptn_iso");
    let own = client_token(&partner, "payments:write").await;
    let txs = [("C-1", 1_000, SKYTRIP), ("C-2", 2_000, PARKEASE), ("C-3", 3_000, TOPUP), ("C-4", 4_000, SKYTRIP)];
    let consent_id = initiate(&stack, &own, &pain001("SG-BULK-RACE", &txs)).await;
    let token = authorise_payment(&stack, &partner, &consent_id, "13800000005").await;
    let before = txn_count(&core).await;

    let stack = std::sync::Arc::new(stack);
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let (stack, token, id) = (stack.clone(), token.clone(), consent_id.clone());
            tokio::spawn(async move { execute(&stack, &token, &id).await })
        })
        .collect();
    let mut paid = 0;
    for run in runs {
        let (status, headers, body) = run.await.unwrap();
        match status {
            200 => {
                assert_eq!(group_status(&body), "ACSC", "{body}");
                paid += 1;
            }
            // Still being executed by another request: ISO 20022's message reject.
            409 => assert_reject(status, &headers, &body, (409, "IDEMPOTENCY_IN_FLIGHT")),
            other => panic!("{other}: {body}"),
        }
    }
    assert!(paid >= 1);
    assert_eq!(txn_count(&core).await, before + 4, "each transaction posted exactly once");
    let (_, _, report) = get(&stack, &format!("/gw/ptn_iso/pain.002/{consent_id}"), Some(&own)).await;
    assert_eq!(group_status(&report), "ACSC");
    assert_eq!(tx_statuses(&report).len(), 4);
}

#[tokio::test]
async fn a_transfer_whose_core_answer_is_lost_is_settling_until_the_reconciler_settles_it() {
    use crate::support::payments::{authorise_payment, client_token};
    let stack = bulk_stack();
    let core = crate::support::customer::core_url_of(stack.gw.dir.path());
    let partner = stack.gw.partner("ptn_iso");
    let own = client_token(&partner, "payments:write").await;
    let txs = [("L-1", 1_000, SKYTRIP), ("L-2", 2_000, PARKEASE)];
    let consent_id = initiate(&stack, &own, &pain001("SG-BULK-LOST", &txs)).await;
    let token = authorise_payment(&stack, &partner, &consent_id, "13800000005").await;
    let before = txn_count(&core).await;

    // The core books each posting but answers after the gateway stopped waiting (1 s).
    let faults = |ms: u64| http().post(format!("{core}/core/admin/faults")).json(&json!({"payment_delay_ms": ms}));
    assert!(faults(1_500).send().await.unwrap().status().is_success());
    let (status, _, answer) = execute(&stack, &token, &consent_id).await;
    assert!(faults(0).send().await.unwrap().status().is_success());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(group_status(&answer), "ACSP", "settlement in process, not a guess: {answer}");
    assert!(tx_statuses(&answer).iter().all(|(_, s, _)| s == "ACSP"), "{answer}");

    // The reconciler asks the core, which did book them: the report says so, once each.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let report = loop {
        let (_, _, report) = get(&stack, &format!("/gw/ptn_iso/pain.002/{consent_id}"), Some(&own)).await;
        if group_status(&report) != "ACSP" {
            break report;
        }
        assert!(std::time::Instant::now() < deadline, "the reconciler settles the bulk: {report}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(group_status(&report), "ACSC", "{report}");
    assert_eq!(txn_count(&core).await, before + 2);
}
