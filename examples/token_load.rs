//! Load for the token endpoint (`bench/run.sh`): `client_credentials` grants, each
//! authenticated with a freshly signed `private_key_jwt` assertion (so the gateway verifies
//! every signature and records every `jti`), from `CONNECTIONS` concurrent clients for
//! `DURATION` seconds. Prints one line of `key=value` pairs.
//!
//! ```sh
//! CONNECTIONS=64 DURATION=10 cargo run --release --example token_load
//! ```
//! Same partner settings as the other examples (`SCENEGATE_URL`, `CLIENT_ID`, `KEY_FILE`,
//! `KEY_ID`); give the partner a quota the run cannot spend, or the figure is its quota.

// Shared by the examples; this one needs only the assertion.
#[allow(dead_code)]
mod common;
#[path = "common/load.rs"]
mod load;

use std::{sync::Arc, time::Duration};

use load::env_or;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partner = Arc::new(common::Partner::from_env()?);
    let connections: usize = env_or("CONNECTIONS", 64);
    let duration = Duration::from_secs(env_or("DURATION", 10));
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(connections).build()?;
    let endpoint = partner.token_endpoint();
    let measured = load::run(connections, duration, move |_, _| {
        let (http, partner, endpoint) = (http.clone(), partner.clone(), endpoint.clone());
        async move {
            let Ok(assertion) = partner.assertion() else { return false };
            let form = [
                ("grant_type", "client_credentials"),
                ("scope", "products:read"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", &assertion),
            ];
            match http.post(&endpoint).form(&form).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    })
    .await;
    println!(
        "ok={} failed={} per_second={} p50_ms={} p99_ms={}",
        measured.ok, measured.failed, measured.per_second, measured.p50_ms, measured.p99_ms
    );
    Ok(())
}
