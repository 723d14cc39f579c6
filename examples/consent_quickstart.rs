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

mod common;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REDIRECT_URI: &str = "http://127.0.0.1:3000/callback";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partner = common::Partner::from_env()?;
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;
    // Bind the callback first, so the redirect cannot arrive before we listen.
    let callback = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;

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

    // 3. PKCE (S256) and a state value, then push the authorisation request (PAR).
    let verifier = random_urlsafe(32);
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_urlsafe(16);
    let par = partner
        .post_form(
            &http,
            "/oauth2/par",
            &[
                ("response_type", "code"),
                ("client_id", &partner.client_id),
                ("redirect_uri", REDIRECT_URI),
                ("scope", "accounts:read"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", &state),
                ("consent_id", consent_id),
            ],
        )
        .await?;
    let request_uri = par["request_uri"].as_str().ok_or("no request_uri")?;
    let link = format!(
        "{}/oauth2/authorize?client_id={}&request_uri={}",
        partner.base,
        partner.client_id,
        urlencode(request_uri)
    );
    println!("\nOpen this link in a browser and approve as a demo customer:\n\n  {link}\n");

    // 4. The browser comes back with code, state and iss (RFC 9207).
    let params = wait_for_callback(&callback).await?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(error) = get("error") {
        return Err(format!("the customer did not approve: {error}").into());
    }
    if get("state").as_deref() != Some(state.as_str()) || get("iss").as_deref() != Some(partner.base.as_str()) {
        return Err("state or iss does not match: refusing the answer".into());
    }
    let code = get("code").ok_or("no code")?;

    // 5. Exchange the code (with the PKCE verifier) for a token bound to the consent.
    let tokens = partner
        .post_form(
            &http,
            "/oauth2/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
        )
        .await?;
    let access = tokens["access_token"].as_str().ok_or("no access_token")?;
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

fn random_urlsafe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("system randomness");
    B64.encode(buf)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Accepts one request on the callback listener and returns its query parameters.
async fn wait_for_callback(
    listener: &tokio::net::TcpListener,
) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let mut buf = vec![0u8; 8192];
        let n = stream.read(&mut buf).await?;
        let request = String::from_utf8_lossy(&buf[..n]).into_owned();
        let target = request.split_whitespace().nth(1).unwrap_or_default().to_owned();
        let Some(query) = target.strip_prefix("/callback?") else {
            stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await?;
            continue;
        };
        let page = "You can close this tab and return to the terminal.";
        stream
            .write_all(
                format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{page}", page.len())
                    .as_bytes(),
            )
            .await?;
        return Ok(serde_urlencoded::from_str(query)?);
    }
}
