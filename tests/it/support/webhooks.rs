//! A partner's webhook endpoint on loopback, and the partner file that points at it.

use std::sync::{Arc, Mutex};

use axum::{Router, extract::State, http::HeaderMap, routing::post};

use super::payments::pay_partner_toml;

/// The test-only HMAC secret in `tests/fixtures/keys/test-webhook.whsec`.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7M1IYuXBnwM=";

fn secret_file() -> std::path::PathBuf {
    crate::support::fixtures().join("keys/test-webhook.whsec")
}

/// What the receiver saw: each delivery's webhook headers and body.
pub type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A partner's endpoint on loopback that answers 500 to the first `failures` deliveries.
pub async fn receiver(failures: usize) -> (String, Seen) {
    async fn hook(
        State((seen, failures)): State<(Seen, usize)>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        let mut seen = seen.lock().unwrap();
        seen.push((headers, body.to_vec()));
        if seen.len() <= failures {
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        } else {
            axum::http::StatusCode::NO_CONTENT
        }
    }
    let seen: Seen = Arc::default();
    let app = Router::new().route("/hooks", post(hook)).with_state((seen.clone(), failures));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// The partner file of `ptn_pay` (payments, signatures required) whose webhooks go to `url`,
/// signed with [`SECRET`], private addresses allowed (the receiver is on loopback).
pub fn webhook_partner_toml(url: &str) -> String {
    let secret = secret_file();
    let file = pay_partner_toml("ptn_pay", "require_signatures = true").replace(
        "[keys]",
        &format!(
            "webhook_url = \"{url}\"\n[webhooks]\nsecret_file = \"{}\"\nallow_private_network = true\n\n[keys]",
            secret.display()
        ),
    );
    // webhook_url is a top-level key: it must come before the first table.
    move_to_top(&file, &format!("webhook_url = \"{url}\""))
}

pub fn move_to_top(file: &str, line: &str) -> String {
    let without: String = file.lines().filter(|l| *l != line).map(|l| format!("{l}\n")).collect();
    format!("{line}\n{without}")
}
