//! Webhooks over real HTTP: a receiver that fails, then accepts; one that never answers;
//! a target that must never be connected to.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Stack, eventually,
    payments::{authorise_payment, client_token, pay_partner_toml, signed},
    webhooks::{SECRET, move_to_top, receiver, webhook_partner_toml},
};

/// A sandbox payments partner whose webhooks go to `url`, signed with [`SECRET`].
fn stack_with_webhook(url: &str) -> Stack {
    let file = webhook_partner_toml(url);
    Stack::start_with(|o| {
        o.partners.push(("pay".into(), file));
        o.extra_toml = "[webhooks]\nretry_delays_secs = [1, 1, 1]\nhorizon_secs = 4\n".into();
    })
}

async fn authorised_consent(stack: &Stack) -> String {
    let partner = stack.gw.partner("ptn_pay");
    let write = client_token(&partner, "payments:write").await;
    let body = json!({
        "type": "single",
        "instructed_amount": {"amount": "9.90", "currency": "CNY"},
        "creditor": {"merchant": "skytrip"},
        "remittance_reference": "HOOK-1",
        "scenario": {"code": "top_up"}
    });
    let (status, consent) = signed(&stack.gw.url("/v1/payment-consents"), &write, "hook-c", &body).await;
    assert_eq!(status, 201, "{consent}");
    let id = consent["consent_id"].as_str().unwrap().to_owned();
    authorise_payment(stack, &partner, &id, "13800000002").await;
    id
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_signed_event_until_it_accepts() {
    let (url, seen) = receiver(2).await;
    let stack = stack_with_webhook(&url);
    let consent_id = authorised_consent(&stack).await;

    let delivered = eventually(Duration::from_secs(15), || async { seen.lock().unwrap().len() >= 3 }).await;
    assert!(delivered, "3 attempts expected; saw {}; log:\n{}", seen.lock().unwrap().len(), stack.gw.log());
    let seen = seen.lock().unwrap().clone();
    let ids: Vec<&str> = seen.iter().map(|(h, _)| h["webhook-id"].to_str().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id.starts_with("evt_")), "the same id on every retry: {ids:?}");
    let verifier = scenegate::events::WebhookVerifier::from_key(SECRET).unwrap();
    for (headers, body) in &seen {
        let header = |n: &str| headers[n].to_str().unwrap().to_owned();
        let now = crate::support::partner::now();
        scenegate::events::signing::verify(
            &verifier,
            &header("webhook-id"),
            &header("webhook-timestamp"),
            &header("webhook-signature"),
            body,
            now,
        )
        .expect("every delivery verifies with the partner's secret");
    }
    let event: Value = serde_json::from_slice(&seen[0].1).unwrap();
    assert_eq!(event["type"], "consent.status_changed");
    assert_eq!(event["subject_id"], consent_id);
    assert_eq!(event["data"]["status"], "authorised");
}

#[tokio::test]
async fn a_dead_receiver_ends_in_the_dead_letters_and_staff_can_redeliver() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", closed.local_addr().unwrap());
    drop(closed);
    let stack = stack_with_webhook(&url);
    authorised_consent(&stack).await;

    let listed = eventually(Duration::from_secs(20), || async {
        let out = stack.gw.cli(&["events", "dead-letters"]);
        String::from_utf8_lossy(&out.stdout).contains("consent.status_changed")
    })
    .await;
    assert!(listed, "{}", stack.gw.log());
    let out = stack.gw.cli(&["events", "dead-letters", "--partner", "ptn_pay"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!text.contains(&url), "no URL in the listing: {text}");
    let id = text.split_whitespace().next().unwrap().to_owned();
    assert!(id.starts_with("evt_"), "{text}");
    let out = stack.gw.cli(&["events", "redeliver", &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = stack.gw.cli(&["events", "redeliver", "evt_nope"]);
    assert!(!out.status.success());
}

#[test]
fn a_webhook_url_to_the_metadata_service_is_refused_when_the_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("partners")).unwrap();
    std::fs::write(dir.path().join("ptn_pay.whsec"), SECRET).unwrap();
    let file = pay_partner_toml("ptn_pay", "")
        .replace("[keys]", "[webhooks]\nsecret_file = \"../ptn_pay.whsec\"\nallow_private_network = true\n\n[keys]");
    let file = move_to_top(&file, "webhook_url = \"http://169.254.169.254/latest/meta-data\"");
    std::fs::write(dir.path().join("partners/pay.toml"), file).unwrap();
    let out = std::process::Command::new(crate::support::BIN)
        .args(["check-config", "."])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("webhook_url"), "{err}");
}
