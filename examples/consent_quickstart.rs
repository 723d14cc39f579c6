//! A partner reads a customer's accounts with their consent, against the Scenegate demo:
//! ask for consent, send the customer to the bank to approve it, exchange the code, read.
//!
//! ```sh
//! cargo run --release -- demo                      # in one terminal
//! cargo run --example consent_quickstart           # in another; it prints a link to open
//! ```
//! Open the printed link in a browser, log in as a demo customer (mobile `13800000001`,
//! password `Scenegate#2026`), pick an account and approve. The bank redirects the browser
//! to this program's callback on http://127.0.0.1:3000/callback (registered for the demo
//! partner `ptn_skytrip`), and the program carries on. Same settings as `partner_quickstart`.
//! With `SANDBOX_CUSTOMER=C0001` the demo's test customer approves without a browser;
//! `--print-token` prints only the consent-bound access token.

#[path = "common/authorize.rs"]
mod authorize;
mod common;

use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partner = common::Partner::from_env()?;
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;

    // 1. A client-credentials token to manage consents.
    let token = partner
        .post_form(&http, "/oauth2/token", &[("grant_type", "client_credentials"), ("scope", "consents:write")])
        .await?;
    let partner_token = token["access_token"].as_str().ok_or("no access_token")?;

    // 2. The consent: what, why, until when.
    let consent: Value = http
        .post(format!("{}/v1/consents", partner.base))
        .bearer_auth(partner_token)
        .json(&json!({
            "permissions": ["ReadAccountsBasic", "ReadBalances", "ReadTransactionsBasic"],
            "purpose": "Show your balance and spending on SkyTrip's trip budget page",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let consent_id = consent["consent_id"].as_str().ok_or("no consent_id")?;
    println!("consent {consent_id} is {}", consent["status"]);

    // 3-5. The customer approves at the bank; the code becomes a token bound to the consent.
    let tokens = authorize::authorise(&partner, &http, consent_id, "accounts:read").await?;
    let access = tokens["access_token"].as_str().ok_or("no access_token")?;
    if std::env::args().any(|a| a == "--print-token") {
        // Only the consent-bound token, for tools (the CI's API fuzzer, a shell session).
        println!("{access}");
        return Ok(());
    }
    println!(
        "customer token: expires in {} s; refresh token issued: {}",
        tokens["expires_in"],
        tokens.get("refresh_token").is_some()
    );

    // 6. Read what the consent allows.
    let accounts: Value = http
        .get(format!("{}/v1/accounts", partner.base))
        .bearer_auth(access)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    for account in accounts["data"].as_array().into_iter().flatten() {
        let id = account["account_id"].as_str().unwrap_or_default();
        println!("\n{id}  {} {} {}", account["account_number"], account["currency"], account["account_name"]);
        let balances: Value = http
            .get(format!("{}/v1/accounts/{id}/balances", partner.base))
            .bearer_auth(access)
            .send()
            .await?
            .json()
            .await?;
        println!("  balance: {}", balances["data"][0]["booked"]);
        let txns: Value = http
            .get(format!("{}/v1/accounts/{id}/transactions?limit=5", partner.base))
            .bearer_auth(access)
            .send()
            .await?
            .json()
            .await?;
        for t in txns["data"].as_array().into_iter().flatten() {
            println!("  {}  {:<6} {}", t["booked_at"], t["credit_debit"].as_str().unwrap_or(""), t["amount"]);
        }
    }
    Ok(())
}
