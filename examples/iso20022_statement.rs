//! A corporate customer's treasury system reads its bank statements as ISO 20022
//! `camt.053` through the Scenegate demo, on its own paths under `/gw/ptn_ledgerline`: an
//! account-access consent (the standard API's JSON: ISO 20022 has no consent message), the
//! customer's approval on the bank's pages, then statements page by page with the
//! consent-bound access token (ISO 20022 has no signature of its own: OAuth authenticates).
//!
//! ```sh
//! cargo run --release -- demo                      # in one terminal
//! SANDBOX_CUSTOMER=C0005 cargo run --example iso20022_statement
//! ```
//! Without `SANDBOX_CUSTOMER` it prints a link for the demo's corporate customer 北京云杉科技
//! (mobile `13800000005`, password `Scenegate#2026`) to approve.
//!
//! Settings: `SCENEGATE_URL`, and `CLIENT_ID`, `KEY_FILE`, `KEY_ID` for OAuth (default the
//! demo's `ptn_ledgerline`); `PAGES` (default 2) statement pages of `LIMIT` (default 10) entries.

#[path = "common/authorize.rs"]
mod authorize;
// The examples' shared helpers; this one takes its OAuth defaults from `from_env_or` only.
#[allow(dead_code)]
mod common;
#[path = "common/xml.rs"]
mod xml;

use serde_json::{Value, json};
use xml::{at, elements};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partner = common::Partner::from_env_or(
        "ptn_ledgerline",
        "config/demo-keys/ptn_ledgerline.private.pem",
        "ledgerline-2026-12",
    )?;
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;
    let prefix = format!("{}/gw/{}", partner.base, partner.client_id);
    let pages: usize = std::env::var("PAGES").ok().and_then(|p| p.parse().ok()).unwrap_or(2);
    let limit: usize = std::env::var("LIMIT").ok().and_then(|p| p.parse().ok()).unwrap_or(10);

    // 1. A client-credentials token for the partner's own calls, and the consent.
    let token = partner
        .post_form(&http, "/oauth2/token", &[("grant_type", "client_credentials"), ("scope", "consents:write")])
        .await?;
    let own = token["access_token"].as_str().ok_or("no access_token")?;
    let consent: Value = http
        .post(format!("{prefix}/consents"))
        .bearer_auth(own)
        .json(&json!({
            "permissions": ["ReadAccountsBasic", "ReadBalances", "ReadTransactionsDetail"],
            "purpose": "Reconcile supplier payments in LedgerLine's treasury",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let consent_id = consent["consent_id"].as_str().ok_or("no consent_id")?;
    println!("consent {consent_id} is {}", consent["status"]);

    // 2. The customer approves at the bank; the code becomes a token bound to the consent.
    let tokens = authorize::authorise(&partner, &http, consent_id, "accounts:read").await?;
    let access = tokens["access_token"].as_str().ok_or("no access_token")?;

    // 3. The accounts chosen, then each one's statement, page by page (oldest entries first).
    let accounts: Value =
        http.get(format!("{prefix}/accounts")).bearer_auth(access).send().await?.error_for_status()?.json().await?;
    for account in accounts["data"].as_array().into_iter().flatten() {
        let id = account["account_id"].as_str().unwrap_or_default();
        println!("\n{id}  {} {}", account["account_number"], account["currency"]);
        let mut next = Some(format!("{prefix}/camt.053/accounts/{id}?limit={limit}"));
        let mut closing: Option<String> = None;
        for _ in 0..pages {
            let Some(url) = next.take() else { break };
            let res = http.get(&url).bearer_auth(access).send().await?;
            let status = res.status();
            let link = res.headers().get("link").and_then(|l| l.to_str().ok()).map(str::to_owned);
            let xml = res.text().await?;
            let all = elements(&xml)?;
            if !status.is_success() {
                return Err(format!("statement refused ({status}): {:?}", at(&all, &["Rsn", "RsnDesc"])).into());
            }
            let codes = at(&all, &["Bal", "Tp", "CdOrPrtry", "Cd"]);
            let amounts = at(&all, &["Bal", "Amt"]);
            let sides = at(&all, &["Bal", "CdtDbtInd"]);
            let page = at(&all, &["StmtPgntn", "PgNb"]).concat();
            let count = at(&all, &["TtlNtries", "NbOfNtries"]).concat();
            println!("  camt.053 page {page}: {count} entries, sum {}", at(&all, &["TtlNtries", "Sum"]).concat());
            for ((code, amount), side) in codes.iter().zip(&amounts).zip(&sides) {
                println!("    {code} {amount} {side}");
            }
            let entry_amounts = at(&all, &["Ntry", "Amt"]);
            let entry_sides = at(&all, &["Ntry", "CdtDbtInd"]);
            let dates = at(&all, &["Ntry", "BookgDt", "DtTm"]);
            for ((amount, side), date) in entry_amounts.iter().zip(&entry_sides).zip(&dates) {
                println!("    {date}  {side}  {amount}");
            }
            // Each page opens where the last one closed.
            let balance = |c: &str| codes.iter().position(|x| *x == c).map(|i| format!("{} {}", amounts[i], sides[i]));
            if let (Some(before), Some(open)) = (&closing, balance("OPBD")) {
                if *before != open {
                    return Err(format!("page {page} opens at {open}, the last page closed at {before}").into());
                }
                println!("  page {page} opens where page {} closed: {open}", page.parse::<u32>().unwrap_or(1) - 1);
            }
            closing = balance("CLBD").or(closing);
            next = link.and_then(|l| Some(format!("{}{}", partner.base, l.strip_prefix('<')?.split_once('>')?.0)));
        }
    }
    Ok(())
}
