//! A partner's first call against the Scenegate demo, written the way a partner would:
//! sign a `private_key_jwt` client assertion, exchange it for an access token, list
//! products.
//!
//! ```sh
//! cargo run --release -- demo                      # in one terminal
//! cargo run --example partner_quickstart           # in another
//! cargo run -q --example partner_quickstart -- --print-token   # only the access token
//! ```
//! Settings come from the environment, defaulting to the demo partner `ptn_skytrip`:
//! `SCENEGATE_URL`, `CLIENT_ID`, `KEY_FILE` (PEM, PKCS#8 EC P-256), `KEY_ID`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = env_or("SCENEGATE_URL", "http://127.0.0.1:8080");
    let client_id = env_or("CLIENT_ID", "ptn_skytrip");
    let key_file = env_or("KEY_FILE", "config/demo-keys/ptn_skytrip.private.pem");
    let key_id = env_or("KEY_ID", "skytrip-2026-11");
    let print_token_only = std::env::args().any(|a| a == "--print-token");
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;

    // 1. The client assertion (RFC 7523): iss = sub = your client id, aud = the token
    //    endpoint, a short exp, and a jti you never reuse. Signed ES256 with your key.
    let token_endpoint = format!("{base}/oauth2/token");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": token_endpoint,
        "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id);
    let key = EncodingKey::from_ec_pem(&std::fs::read(&key_file)?)?;
    let assertion = jsonwebtoken::encode(&header, &claims, &key)?;

    // 2. Exchange it for an access token (client credentials grant).
    let res = http
        .post(&token_endpoint)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion.as_str()),
            ("scope", "products:read"),
        ])
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await?;
    if !status.is_success() {
        // Errors are problem documents: `type` to branch on, `detail` to read.
        return Err(format!("token request refused ({status}): {}", body["detail"]).into());
    }
    let token = body["access_token"].as_str().ok_or("no access_token")?.to_owned();
    if print_token_only {
        println!("{token}");
        return Ok(());
    }
    println!("access token for {client_id}: {} scopes, expires in {} s", body["scope"], body["expires_in"]);

    // 3. Call the API, following `links.next` until it is absent.
    let mut next = Some(format!("{base}/v1/products?limit=5"));
    while let Some(url) = next {
        let page: Value = http.get(&url).bearer_auth(&token).send().await?.error_for_status()?.json().await?;
        for p in page["data"].as_array().into_iter().flatten() {
            let rate = p["deposit"]["annual_rate"].as_str().or(p["credit"]["annual_rate_min"].as_str()).unwrap_or("-");
            println!(
                "  {:<22} {:<16} {:>6}%  {}",
                p["product_id"].as_str().unwrap_or(""),
                p["type"].as_str().unwrap_or(""),
                rate,
                p["name"].as_str().unwrap_or("")
            );
        }
        next = page["links"]["next"].as_str().map(|path| format!("{base}{path}"));
    }
    Ok(())
}
