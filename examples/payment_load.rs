//! Load for the payments benchmarks (`bench/payments.sh`, `bench/cluster.sh`): many durable
//! payments under one recurring consent (or `CONSENTS` of them, the connections taking turns),
//! each with a fresh `Idempotency-Key` and a fresh signature, or replays of one key. Prints
//! what it measured as one line of `key=value` pairs.
//!
//! ```sh
//! SANDBOX_CUSTOMER=C0001 MODE=fresh CONNECTIONS=64 DURATION=10 cargo run --release --example payment_load
//! ```
//! Same partner settings as the other examples (`SCENEGATE_URL`, `CLIENT_ID`, `KEY_FILE`,
//! `KEY_ID`); the partner must take payments and be a sandbox partner (the consent is approved
//! headlessly by `SANDBOX_CUSTOMER`). `MODE=replay` sends one key again and again (each
//! request signed afresh, as a partner's retry is).

#[path = "common/authorize.rs"]
mod authorize;
mod common;
#[path = "common/load.rs"]
mod load;
#[path = "common/signing.rs"]
mod signing;

use std::{sync::Arc, time::Duration};

use load::env_or;

use serde_json::json;
use signing::{Signer, signed_post};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partner = common::Partner::from_env()?;
    let signer = Arc::new(Signer::of(&partner));
    let connections: usize = env_or("CONNECTIONS", 64);
    let duration = Duration::from_secs(env_or("DURATION", 10));
    let replay = std::env::var("MODE").is_ok_and(|m| m == "replay");
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(connections).build()?;

    let token = partner
        .post_form(&http, "/oauth2/token", &[("grant_type", "client_credentials"), ("scope", "payments:write")])
        .await?;
    let partner_token = token["access_token"].as_str().ok_or("no access_token")?.to_owned();
    let run = authorize::random_urlsafe(6);
    // Recurring consents, each approved once with room for every payment of the run; the
    // connections take turns over them (`CONSENTS`, 1 by default: every payment counts
    // against one consent's limits, the hardest case for the counters). Replays need one.
    let mut consents = Vec::new();
    for c in 0..if replay { 1 } else { env_or("CONSENTS", 1usize).max(1) } {
        consents.push(Approved::new(&partner, &http, &signer, &partner_token, &format!("{run}-{c}")).await?);
    }
    let ids: Vec<String> = consents.iter().map(|c| c.id.clone()).collect();
    let consents = Arc::new(consents);
    let url = format!("{}/v1/payments", partner.base);

    if replay {
        // The first answer under the key is a payment, not a replay: make it before measuring,
        // so the run counts replays only (not 409s while the first is in flight).
        let Approved { customer_token, payment, .. } = &consents[0];
        let signature = signer.sign(payment)?;
        let first = http
            .post(&url)
            .bearer_auth(customer_token)
            .header("content-type", "application/json")
            .header("idempotency-key", format!("bench-replay-{run}"))
            .header("x-jws-signature", signature)
            .body(payment.clone())
            .send()
            .await?;
        if first.status().as_u16() != 201 {
            return Err(format!("the replayed key's first payment answered {}", first.status()).into());
        }
    }
    let measured = load::run(connections, duration, move |w, n| {
        let Approved { customer_token, payment, .. } = &consents[w % consents.len()];
        let (http, signer, url, token, body, run) =
            (http.clone(), signer.clone(), url.clone(), customer_token.clone(), payment.clone(), run.clone());
        async move {
            let key = if replay { format!("bench-replay-{run}") } else { format!("bench-{run}-{w}-{n}") };
            let Ok(signature) = signer.sign(&body) else { return false };
            let res = http
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .header("x-jws-signature", signature)
                .body(body)
                .send()
                .await;
            match res {
                Ok(r) if r.status().as_u16() == 201 => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    })
    .await;
    println!(
        "mode={} ok={} failed={} per_second={} p50_ms={} p99_ms={} consent={}",
        if replay { "replay" } else { "fresh" },
        measured.ok,
        measured.failed,
        measured.per_second,
        measured.p50_ms,
        measured.p99_ms,
        ids.join(","),
    );
    Ok(())
}

/// A recurring consent the sandbox customer approved.
struct Approved {
    id: String,
    /// The customer's token for paying under it.
    customer_token: String,
    /// The body of one payment under it.
    payment: Vec<u8>,
}

impl Approved {
    async fn new(
        partner: &common::Partner,
        http: &reqwest::Client,
        signer: &Signer,
        partner_token: &str,
        run: &str,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let consent = signed_post(
            http,
            signer,
            &format!("{}/v1/payment-consents", partner.base),
            partner_token,
            &format!("bench-consent-{run}"),
            &json!({
                "type": "recurring", "currency": "CNY",
                "limits": {"per_payment": "1.00", "per_day": "100000.00"},
                "creditor": {"merchant": "skytrip"}, "remittance_reference": format!("BENCH-{run}"),
                "scenario": {"code": "parking"},
            }),
        )
        .await?;
        let consent_id = consent["consent_id"].as_str().ok_or("no consent_id")?.to_owned();
        let tokens = authorize::authorise(partner, http, &consent_id, "payments:initiate").await?;
        let customer_token = tokens["access_token"].as_str().ok_or("no access_token")?.to_owned();
        let payment = serde_json::to_vec(
            &json!({"consent_id": consent_id, "instructed_amount": {"amount": "0.01", "currency": "CNY"}}),
        )?;
        Ok(Self { id: consent_id, customer_token, payment })
    }
}
