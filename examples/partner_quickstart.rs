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

mod common;

use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partner = common::Partner::from_env()?;
    let print_token_only = std::env::args().any(|a| a == "--print-token");
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;

    // 1 and 2. A client assertion, exchanged for an access token (client credentials grant).
    // `SCOPE` (space-separated) asks for other scopes, e.g. for a token to paste into /docs.
    let scope = std::env::var("SCOPE").unwrap_or_else(|_| "products:read".to_owned());
    let token =
        partner.post_form(&http, "/oauth2/token", &[("grant_type", "client_credentials"), ("scope", &scope)]).await?;
    let access_token = token["access_token"].as_str().ok_or("no access_token")?.to_owned();
    if print_token_only {
        println!("{access_token}");
        return Ok(());
    }
    println!("access token for {}: scopes {}, expires in {} s", partner.client_id, token["scope"], token["expires_in"]);

    // 3. Call the API, following `links.next` until it is absent.
    let mut next = Some(format!("{}/v1/products?limit=5", partner.base));
    while let Some(url) = next {
        let page: Value = http.get(&url).bearer_auth(&access_token).send().await?.error_for_status()?.json().await?;
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
        next = page["links"]["next"].as_str().map(|path| format!("{}{path}", partner.base));
    }
    Ok(())
}
