//! The customer authorisation steps every consent needs (account or payment): PKCE, the
//! pushed request, the bank's pages in the customer's browser, and the code exchange.
//! Included by the quickstarts that act for a customer.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::common::Partner;

pub const REDIRECT_URI: &str = "http://127.0.0.1:3000/callback";

/// Pushes an authorisation request for `consent_id` with `scope`, then lets the customer
/// answer it, and exchanges the code. Returns the token answer.
///
/// With `SANDBOX_CUSTOMER` set (e.g. `C0001`, a sandbox partner against a gateway that lists
/// that test customer), the request is answered without a browser through
/// `/oauth2/sandbox/authorize`, as a partner's CI would. Otherwise it prints the link for the
/// customer and waits for the browser to come back to `REDIRECT_URI` (listening there before
/// the link is shown), checking `state` and `iss`.
pub async fn authorise(
    partner: &Partner,
    http: &reqwest::Client,
    consent_id: &str,
    scope: &str,
) -> Result<Value, Box<dyn std::error::Error>> {
    // PKCE (S256) and a state value, then push the authorisation request (PAR).
    let verifier = random_urlsafe(32);
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_urlsafe(16);
    let request_uri = push(partner, http, consent_id, scope, &challenge, &state).await?;
    let params = match std::env::var("SANDBOX_CUSTOMER") {
        Ok(customer) => {
            let answer = partner
                .post_form(
                    http,
                    "/oauth2/sandbox/authorize",
                    &[("client_id", &partner.client_id), ("request_uri", &request_uri), ("customer", &customer)],
                )
                .await?;
            println!("sandbox customer {customer} approved without a browser");
            ["code", "state", "iss"]
                .iter()
                .filter_map(|k| Some(((*k).to_owned(), answer[*k].as_str()?.to_owned())))
                .collect()
        }
        Err(_) => {
            // Listen first, so the redirect cannot arrive before we do.
            let callback = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
            let link = format!(
                "{}/oauth2/authorize?client_id={}&request_uri={}",
                partner.base,
                partner.client_id,
                urlencode(&request_uri)
            );
            println!("\nOpen this link in a browser and approve as a demo customer:\n\n  {link}\n");
            // The browser comes back with code, state and iss (RFC 9207).
            wait_for_callback(&callback).await?
        }
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(error) = get("error") {
        return Err(format!("the customer did not approve: {error}").into());
    }
    if get("state").as_deref() != Some(state.as_str()) || get("iss").as_deref() != Some(partner.base.as_str()) {
        return Err("state or iss does not match: refusing the answer".into());
    }
    let code = get("code").ok_or("no code")?;

    // Exchange the code (with the PKCE verifier) for a token bound to the consent.
    partner
        .post_form(
            http,
            "/oauth2/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
        )
        .await
}

/// The pushed authorisation request (PAR); returns its `request_uri`.
async fn push(
    partner: &Partner,
    http: &reqwest::Client,
    consent_id: &str,
    scope: &str,
    challenge: &str,
    state: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let par = partner
        .post_form(
            http,
            "/oauth2/par",
            &[
                ("response_type", "code"),
                ("client_id", &partner.client_id),
                ("redirect_uri", REDIRECT_URI),
                ("scope", scope),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("state", state),
                ("consent_id", consent_id),
            ],
        )
        .await?;
    Ok(par["request_uri"].as_str().ok_or("no request_uri")?.to_owned())
}

pub fn random_urlsafe(bytes: usize) -> String {
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
