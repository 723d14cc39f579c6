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
