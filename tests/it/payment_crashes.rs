//! Crashes mid-burst: the gateway or the core-bank mock is killed (SIGKILL) while payments
//! are in flight, restarted, and every request retried with its key. Each key must end in
//! exactly one payment, every payment settled, and the core's ledger must show exactly one
//! posting per completed payment and balance.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    Stack, http,
    payments::{authorise_payment, client_token, ledger, pay_partner_toml, sign},
};

pub const BURST: usize = 40;

fn stack() -> Stack {
    Stack::start_with(crash_options)
}

/// A payments partner whose quota and daily limit a burst never hits, short request
/// timeouts, and a short idempotency lease (a crashed request's key is taken over quickly,
/// so retries after the restart resume).
pub fn crash_options(o: &mut crate::support::GatewayOptions) {
    let file = pay_partner_toml("ptn_pay", "")
        .replace("[keys]", "[rate_limit]\nrequests_per_second = 1000\nburst = 1000\n\n[keys]")
        .replace("per_day = \"20000.00\"", "per_day = \"1000000.00\"");
    o.partners.push(("pay".into(), file));
    o.request_timeout_ms = 3_000;
    o.extra_toml.push_str("[payments]\nidempotency_lease_secs = 4\n");
}

/// A recurring consent of ptn_pay authorised by C0001; returns (consent id, customer token).
pub async fn recurring(stack: &Stack) -> (String, String) {
    let partner = stack.gw.partner("ptn_pay");
    let write = client_token(&partner, "payments:write").await;
    let body = json!({
        "type": "recurring", "currency": "CNY",
        "limits": {"per_payment": "10.00", "per_day": "5000.00"},
        "creditor": {"merchant": "skytrip"}, "remittance_reference": "PARKING", "scenario": {"code": "parking"}
    });
    let (status, consent) =
        crate::support::payments::signed(&stack.gw.url("/v1/payment-consents"), &write, "crash-c", &body).await;
    assert_eq!(status, 201, "{consent}");
    let id = consent["consent_id"].as_str().unwrap().to_owned();
    let token = authorise_payment(stack, &partner, &id, "13800000001").await;
    (id, token)
}

pub fn body(consent_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"consent_id": consent_id, "instructed_amount": {"amount": "1.00", "currency": "CNY"}}))
        .unwrap()
}

/// A payment request as a partner sends it: `key` as its `Idempotency-Key`, `signature` (a
/// detached JWS over `bytes`) as its signature.
pub async fn post_payment(
    url: &str,
    token: &str,
    key: &str,
    bytes: &[u8],
    signature: &str,
) -> reqwest::Result<reqwest::Response> {
    http()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .header("x-jws-signature", signature)
        .body(bytes.to_vec())
        .send()
        .await
}

/// Fires the burst (one key each, spread over `urls`) and returns once `settled` answers came
/// back, leaving the rest in flight; their statuses (`None`: no answer) come on the receiver.
pub async fn burst(
    urls: Vec<String>,
    token: String,
    bytes: Vec<u8>,
    settled: usize,
) -> tokio::sync::mpsc::UnboundedReceiver<Option<u16>> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..BURST {
        let (url, token, bytes, tx) = (urls[i % urls.len()].clone(), token.clone(), bytes.clone(), tx.clone());
        tokio::spawn(async move {
            let signature = sign(&bytes, crate::support::partner::now());
            let res = post_payment(&url, &token, &format!("burst-{i}"), &bytes, &signature).await;
            let _ = tx.send(res.ok().map(|r| r.status().as_u16()));
        });
    }
    for _ in 0..settled {
        rx.recv().await;
    }
    rx
}

/// Holds every payment posting at the core-bank mock `ms` milliseconds (0: none), as a slow
/// core would.
pub async fn delay_postings(core_url: &str, ms: u64) {
    let res = http().post(format!("{core_url}/core/admin/faults")).json(&json!({"payment_delay_ms": ms})).send();
    assert!(res.await.unwrap().status().is_success());
}

/// Waits (at most 20 s) until `gw` has a call to the core in flight (its
/// `scenegate_core_in_flight` gauge), so that killing it now catches a payment mid-flight.
pub async fn until_a_payment_is_at_the_core(gw: &crate::support::Gateway) {
    let in_flight = || async {
        let text = http().get(gw.ops_url("/metrics")).send().await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with("scenegate_core_in_flight{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let caught = crate::support::eventually(Duration::from_secs(20), || async { in_flight().await > 0.0 }).await;
    assert!(caught, "no payment reached the core through {}", gw.url(""));
}

/// The statuses of the burst's requests still in flight when [`burst`] returned (`None`: no
/// answer, the connection lost), each waited for at most 30 s.
pub async fn the_rest(mut rest: tokio::sync::mpsc::UnboundedReceiver<Option<u16>>) -> Vec<Option<u16>> {
    let mut answers = Vec::new();
    while let Ok(Some(answer)) = tokio::time::timeout(Duration::from_secs(30), rest.recv()).await {
        answers.push(answer);
    }
    answers
}

/// Retries the payment with `key`, as a partner would, until it has a definitive answer (at
/// most 40 s); returns the payment.
pub async fn resolve(url: &str, token: &str, bytes: &[u8], key: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        assert!(Instant::now() < deadline, "key {key} never resolved");
        let signature = sign(bytes, crate::support::partner::now());
        let res = post_payment(url, token, key, bytes, &signature).await;
        let Ok(res) = res else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        match res.status().as_u16() {
            201 => return res.json().await.unwrap(),
            // In flight elsewhere, over the quota, or the core briefly down: wait, then retry.
            409 | 429 | 502 | 503 | 504 => tokio::time::sleep(Duration::from_millis(300)).await,
            other => panic!("key {key}: {other} {}", res.text().await.unwrap()),
        }
    }
}

/// Retries every key, waits until every payment is settled, and checks the books.
pub async fn every_key_one_settled_payment(stack: &Stack, consent_id: &str, token: &str, txns_before: i64) {
    every_key_one_settled_payment_through(&stack.gw.url("/v1/payments"), stack, consent_id, token, txns_before).await
}

/// [`every_key_one_settled_payment`], the keys retried at `url` (a load balancer, say).
pub async fn every_key_one_settled_payment_through(
    url: &str,
    stack: &Stack,
    consent_id: &str,
    token: &str,
    txns_before: i64,
) {
    let bytes = body(consent_id);
    let mut ids = BTreeSet::new();
    for i in 0..BURST {
        let payment = resolve(url, token, &bytes, &format!("burst-{i}")).await;
        assert!(
            ids.insert(payment["payment_id"].as_str().unwrap().to_owned()),
            "a key answered with another key's payment"
        );
    }
    assert_eq!(ids.len(), BURST, "one payment per key");
    let write = client_token(&stack.gw.partner("ptn_pay"), "payments:write").await;
    let mut completed = 0;
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            let p: Value = crate::support::get_json(&stack.gw.url(&format!("/v1/payments/{id}")), &write).await;
            match p["status"].as_str().unwrap() {
                "pending" if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(250)).await,
                other => break other.to_owned(),
            }
        };
        match status.as_str() {
            "completed" => completed += 1,
            "rejected" => {}
            other => panic!("{id} still {other} after the reconciler's time"),
        }
    }
    let after = ledger(stack.core_url()).await["txn_count"].as_i64().unwrap();
    assert_eq!(after - txns_before, completed, "exactly one posting per completed payment, none doubled");
    assert!(completed > 0);
    let log = stack.gw.log();
    let lost = log.matches("core answer lost").count();
    let reconciled = log.matches("reconciled").count();
    eprintln!(
        "{BURST} keys: {completed} completed, {} rejected; {lost} answers lost, {reconciled} reconciled",
        BURST as i64 - completed
    );
}

#[tokio::test]
async fn a_gateway_killed_mid_burst_leaves_every_key_one_payment_and_the_books_balanced() {
    let mut stack = stack();
    let (consent_id, token) = recurring(&stack).await;
    let before = ledger(stack.core_url()).await["txn_count"].as_i64().unwrap();
    // The core slow, so that the crash catches payments whose posting is under way.
    delay_postings(stack.core_url(), 1_000).await;
    let rest = burst(vec![stack.gw.url("/v1/payments")], token.clone(), body(&consent_id), 0).await;
    until_a_payment_is_at_the_core(&stack.gw).await;
    stack.gw.crash_and_restart();
    delay_postings(stack.core_url(), 0).await;
    let answers = the_rest(rest).await;
    let lost = answers.iter().filter(|a| a.is_none()).count();
    assert!(lost > 0, "the crash caught no payment in flight: {answers:?}");
    every_key_one_settled_payment(&stack, &consent_id, &token, before).await;
}

#[tokio::test]
async fn a_core_killed_mid_burst_leaves_no_unknown_outcome_unsettled_and_none_doubled() {
    let mut stack = stack();
    let (consent_id, token) = recurring(&stack).await;
    let before = ledger(stack.core_url()).await["txn_count"].as_i64().unwrap();
    burst(vec![stack.gw.url("/v1/payments")], token.clone(), body(&consent_id), 5).await;
    stack.crash_and_restart_core();
    every_key_one_settled_payment(&stack, &consent_id, &token, before).await;
}

/// A gateway killed while a single consent's payment waits for the core: the partner's retry
/// with the same key, once the key's lease lapses, gets that payment as it ended (booked, or
/// voided by the reconciler) with its id; not the consent's `consumed`, which the payment
/// itself caused and which would leave the partner no way to learn what became of it.
#[tokio::test]
async fn a_retry_after_a_crash_gets_its_single_payment_not_the_consent_it_consumed() {
    let mut stack = stack();
    let partner = stack.gw.partner("ptn_pay");
    let write = client_token(&partner, "payments:write").await;
    let body = json!({"type": "single", "instructed_amount": {"amount": "3.00", "currency": "CNY"},
        "creditor": {"merchant": "skytrip"}, "remittance_reference": "ORDER-9", "scenario": {"code": "parking"}});
    let url = stack.gw.url("/v1/payment-consents");
    let (status, consent) = crate::support::payments::signed(&url, &write, "crash-single", &body).await;
    assert_eq!(status, 201, "{consent}");
    let consent_id = consent["consent_id"].as_str().unwrap().to_owned();
    let token = authorise_payment(&stack, &partner, &consent_id, "13800000001").await;
    let before = ledger(stack.core_url()).await["txn_count"].as_i64().unwrap();
    delay_postings(stack.core_url(), 2_500).await;

    let bytes = serde_json::to_vec(
        &json!({"consent_id": consent_id, "instructed_amount": {"amount": "3.00", "currency": "CNY"}}),
    )
    .unwrap();
    let pay = |url: String| {
        let (token, bytes) = (token.clone(), bytes.clone());
        async move {
            post_payment(&url, &token, "crashed-single", &bytes, &sign(&bytes, crate::support::partner::now())).await
        }
    };
    let first = tokio::spawn(pay(stack.gw.url("/v1/payments")));
    // Recorded (its consent consumed), waiting for the core: now the gateway dies.
    let consent_url = stack.gw.url(&format!("/v1/payment-consents/{consent_id}"));
    let recorded = crate::support::eventually(Duration::from_secs(10), || async {
        let res = http().get(&consent_url).bearer_auth(&write).send().await.unwrap();
        res.json::<Value>().await.unwrap()["status"] == "consumed"
    })
    .await;
    assert!(recorded, "the payment was recorded");
    stack.gw.crash_and_restart();
    let _ = first.await;
    delay_postings(stack.core_url(), 0).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let payment = loop {
        assert!(Instant::now() < deadline, "the retry never got its payment");
        let Ok(res) = pay(stack.gw.url("/v1/payments")).await else { continue };
        let status = res.status().as_u16();
        let answer: Value = res.json().await.unwrap();
        match (status, answer["type"].as_str()) {
            (201, _) => break answer,
            // The key's lease has not lapsed yet, or the restarted gateway is not ready.
            (409, Some("https://scenegate.dev/problems/idempotency_in_flight")) | (503, _) => {
                tokio::time::sleep(Duration::from_millis(300)).await
            }
            _ => panic!("{status} {answer}"),
        }
    };
    assert!(payment["payment_id"].as_str().unwrap().starts_with("pay_"), "{payment}");
    let booked = ledger(stack.core_url()).await["txn_count"].as_i64().unwrap() - before;
    match payment["status_code"].as_str() {
        Some("ACSC") => assert_eq!(booked, 1, "{payment}"),
        Some("RJCT") => assert_eq!(booked, 0, "{payment}"),
        other => panic!("not final: {other:?} {payment}"),
    }
}

/// The reconciler settles a payment while its own request still waits for the core (the core
/// posted it and is slow to say so): the request's settlement then finds the payment already
/// final, and the answer it rendered ahead (from the payment as it would have left it) is not
/// stored; it answers, and stores for its key, the payment as the reconciler left it. One
/// posting, one settlement event, and a retry of the key replays the answer byte for byte.
/// (Fails when the request answers the payment as it would have left it: checked.)
#[tokio::test]
async fn a_payment_the_reconciler_settles_while_its_request_waits_is_answered_once_as_settled() {
    // The core's answer comes after the reconciler's grace period and round (5 s + 2 s), and
    // before the gateway gives up on the core or the request.
    let stack = Stack::start_with(|o| {
        crash_options(o);
        o.core_timeout_ms = 16_000;
        o.request_timeout_ms = 20_000;
        // A key's lease outlasts its request (the config refuses less).
        o.extra_toml = o.extra_toml.replace("idempotency_lease_secs = 4", "idempotency_lease_secs = 21");
    });
    let (consent_id, token) = recurring(&stack).await;
    let partner = stack.gw.partner("ptn_pay");
    let events = client_token(&partner, "events:read").await;
    let before = ledger(stack.core_url()).await["txn_count"].as_i64().unwrap();
    delay_postings(stack.core_url(), 11_000).await;

    let (url, bytes) = (stack.gw.url("/v1/payments"), body(&consent_id));
    let first = {
        let (url, token, bytes) = (url.clone(), token.clone(), bytes.clone());
        tokio::spawn(async move {
            let res =
                post_payment(&url, &token, "reconciled-first", &bytes, &sign(&bytes, crate::support::partner::now()))
                    .await
                    .unwrap();
            let signature = res.headers().get("x-jws-signature").map(|v| v.to_str().unwrap().to_owned());
            (res.status().as_u16(), signature, res.bytes().await.unwrap())
        })
    };
    // Settled while the request is still waiting for the core: by the reconciler.
    let settled_events = || async {
        let page: Value = crate::support::get_json(&stack.gw.url("/v1/events?limit=50"), &events).await;
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "payment.status_changed" && e["data"]["status_code"] == "ACSC")
            .cloned()
            .collect::<Vec<Value>>()
    };
    let reconciled = crate::support::eventually(Duration::from_secs(15), || async {
        !first.is_finished() && settled_events().await.len() == 1
    })
    .await;
    assert!(reconciled, "the reconciler settled the payment before its request's core answer came");
    let (status, signature, answer) = first.await.unwrap();
    delay_postings(stack.core_url(), 0).await;

    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
    let payment: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(payment["status_code"], "ACSC", "{payment}");
    let id = payment["payment_id"].as_str().unwrap();
    let settled = settled_events().await;
    assert_eq!(settled.len(), 1, "one settlement announced: {settled:?}");
    assert_eq!(settled[0]["data"]["payment_id"], id, "{settled:?}");
    assert_eq!(ledger(stack.core_url()).await["txn_count"].as_i64().unwrap() - before, 1, "one posting");
    let read = client_token(&partner, "payments:write").await;
    let stored: Value = crate::support::get_json(&stack.gw.url(&format!("/v1/payments/{id}")), &read).await;
    assert_eq!(payment, stored, "the answer is the payment as the reconciler settled it");

    let again = post_payment(&url, &token, "reconciled-first", &bytes, &sign(&bytes, crate::support::partner::now()))
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    let again_signature = again.headers().get("x-jws-signature").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(again_signature, signature, "the replay is the answer as it was sent, signature included");
    assert_eq!(again.bytes().await.unwrap(), answer, "the replay is the answer as it was sent");
}

/// A key a crashed request claimed and left without a payment (it took the key over, then
/// died before writing one): its record is live, so the next request's payment, which writes
/// its key with it, is refused inside the batch; the record's lapsed lease says the key is
/// free to take over, and the request takes it and is paid, once. Its retry replays it.
#[tokio::test]
async fn a_key_a_crashed_request_left_without_a_payment_is_taken_over_and_paid_once() {
    use sha2::{Digest, Sha256};
    let stack = stack();
    let (consent_id, token) = recurring(&stack).await;
    let before = ledger(stack.core_url()).await["txn_count"].as_i64().unwrap();
    let bytes = body(&consent_id);
    // The record the crashed request left, as the gateway writes it: the request's
    // fingerprint (method, path, digest of the body), no payment, no answer, its lease over.
    let digest = |b: &[u8]| Sha256::digest(b).to_vec();
    let fingerprint: String = digest(&[b"POST\n/v1/payments\n".as_slice(), &digest(&bytes)].concat())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let now = crate::support::partner::now();
    let path = stack.gw.dir.path().join("data/gateway.sqlite");
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query(
        "INSERT INTO idempotency (partner_id, key, fingerprint, lease_until, created_at, expires_at)
         VALUES ('ptn_pay', 'orphaned', ?1, ?2, ?3, ?4)",
    )
    .bind(&fingerprint)
    .bind(now - 1)
    .bind(now - 10)
    .bind(now + 86_400)
    .execute(&db)
    .await
    .unwrap();

    let url = stack.gw.url("/v1/payments");
    let res = post_payment(&url, &token, "orphaned", &bytes, &sign(&bytes, now)).await.unwrap();
    assert_eq!(res.status(), 201);
    let first = res.bytes().await.unwrap();
    let payment: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(payment["status_code"], "ACSC", "{payment}");
    let linked: Option<String> =
        sqlx::query_scalar("SELECT resource_id FROM idempotency WHERE partner_id = 'ptn_pay' AND key = 'orphaned'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(linked.as_deref(), payment["payment_id"].as_str(), "the key now holds the payment");

    let res =
        post_payment(&url, &token, "orphaned", &bytes, &sign(&bytes, crate::support::partner::now())).await.unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.bytes().await.unwrap(), first);
    assert_eq!(ledger(stack.core_url()).await["txn_count"].as_i64().unwrap(), before + 1, "paid once");
}

/// 50 concurrent requests with one key: one payment and one posting; every other answer is
/// the same payment replayed or 409 `idempotency_in_flight`.
#[tokio::test]
async fn fifty_concurrent_requests_with_one_key_make_one_payment_over_http() {
    let stack = stack();
    let (consent_id, token) = recurring(&stack).await;
    let before = ledger(stack.core_url()).await["txn_count"].as_i64().unwrap();
    let bytes = body(&consent_id);
    let url = stack.gw.url("/v1/payments");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (url, token, bytes) = (url.clone(), token.clone(), bytes.clone());
            tokio::spawn(async move {
                let res = post_payment(&url, &token, "one-key", &bytes, &sign(&bytes, crate::support::partner::now()))
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    let mut in_flight = 0;
    for t in tasks {
        match t.await.unwrap() {
            (201, p) => {
                ids.insert(p["payment_id"].as_str().unwrap().to_owned());
            }
            (409, p) => {
                assert_eq!(p["type"], "https://scenegate.dev/problems/idempotency_in_flight", "{p}");
                in_flight += 1;
            }
            (status, p) => panic!("{status} {p}"),
        }
    }
    assert_eq!(ids.len(), 1, "one payment, replayed to everyone who got an answer ({in_flight} were told to retry)");
    assert_eq!(ledger(stack.core_url()).await["txn_count"].as_i64().unwrap(), before + 1, "one posting");
}

/// Copies of one signed payment request (the same key and the same signature, as a partner
/// retransmits it) sent at once: one payment; every other copy is told the first is in flight
/// or gets its answer, never refused as a replay, even one that arrives before the first's
/// payment is written. The same signature under another key is a replay: refused, and that
/// key stays free for a request signed afresh.
#[tokio::test]
async fn copies_of_one_signed_payment_sent_at_once_make_one_payment_and_no_refusal() {
    let stack = stack();
    let (consent_id, token) = recurring(&stack).await;
    let before = ledger(stack.core_url()).await["txn_count"].as_i64().unwrap();
    let bytes = body(&consent_id);
    let url = stack.gw.url("/v1/payments");
    let signature = sign(&bytes, crate::support::partner::now());
    let send = |key: &'static str, signature: String| {
        let (url, token, bytes) = (url.clone(), token.clone(), bytes.clone());
        async move {
            let res = post_payment(&url, &token, key, &bytes, &signature).await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let copies: Vec<_> = (0..16).map(|_| tokio::spawn(send("copied", signature.clone()))).collect();
    let mut ids = BTreeSet::new();
    for t in copies {
        match t.await.unwrap() {
            (201, p) => {
                ids.insert(p["payment_id"].as_str().unwrap().to_owned());
            }
            (409, p) => assert_eq!(p["type"], "https://scenegate.dev/problems/idempotency_in_flight", "{p}"),
            (status, p) => panic!("{status} {p}"),
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let (status, p) = send("another", signature).await;
    assert_eq!((status, p["type"].as_str()), (401, Some("https://scenegate.dev/problems/signature_replayed")), "{p}");
    let (status, p) = send("another", sign(&bytes, crate::support::partner::now())).await;
    assert_eq!(status, 201, "the refused replay left its key free: {p}");
    assert_eq!(ledger(stack.core_url()).await["txn_count"].as_i64().unwrap(), before + 2, "two postings");
}

/// Many keys against a balance that cannot cover them all: no balance goes negative, and
/// every completed payment is posted exactly once.
#[tokio::test]
async fn concurrent_payments_on_a_small_balance_never_overdraw() {
    let stack = stack();
    let partner = stack.gw.partner("ptn_pay");
    let write = client_token(&partner, "payments:write").await;
    let consent = json!({
        "type": "recurring", "currency": "CNY",
        "limits": {"per_payment": "5000.00", "per_day": "200000.00"},
        "creditor": {"merchant": "skytrip"}, "remittance_reference": "BIG", "scenario": {"code": "ecommerce_goods"}
    });
    let (_, consent) =
        crate::support::payments::signed(&stack.gw.url("/v1/payment-consents"), &write, "big-c", &consent).await;
    let consent_id = consent["consent_id"].as_str().unwrap().to_owned();
    let token = authorise_payment(&stack, &partner, &consent_id, "13800000002").await;
    // C0002's CNY balance covers `fit` payments of 5,000.00; five more are sent than fit.
    let balance = || async {
        let core = stack.core_url();
        let accounts: Value =
            http().get(format!("{core}/core/customers/C0002/accounts")).send().await.unwrap().json().await.unwrap();
        let acct = accounts["data"]["items"].as_array().unwrap().iter().find(|a| a["ccy"] == "CNY").unwrap()["acct_no"]
            .as_str()
            .unwrap()
            .to_owned();
        let bal: Value =
            http().get(format!("{core}/core/accounts/{acct}/balance")).send().await.unwrap().json().await.unwrap();
        bal["data"]["avail_bal_fen"].as_i64().unwrap()
    };
    let fit = usize::try_from(balance().await / 500_000).unwrap();
    assert!(fit >= 1, "the demo customer can afford at least one");
    let sent = fit + 5;
    let before = ledger(stack.core_url()).await["txn_count"].as_i64().unwrap();
    let bytes = serde_json::to_vec(
        &json!({"consent_id": consent_id, "instructed_amount": {"amount": "5000.00", "currency": "CNY"}}),
    )
    .unwrap();
    let url = stack.gw.url("/v1/payments");
    let tasks: Vec<_> = (0..sent)
        .map(|i| {
            let (url, token, bytes) = (url.clone(), token.clone(), bytes.clone());
            tokio::spawn(async move {
                let res = post_payment(
                    &url,
                    &token,
                    &format!("big-{i}"),
                    &bytes,
                    &sign(&bytes, crate::support::partner::now()),
                )
                .await
                .unwrap();
                assert_eq!(res.status(), 201);
                res.json::<Value>().await.unwrap()
            })
        })
        .collect();
    let (mut completed, mut insufficient) = (0, 0);
    for t in tasks {
        let p = t.await.unwrap();
        match (p["status"].as_str().unwrap(), p["status_reason"]["code"].as_str()) {
            ("completed", _) => completed += 1,
            ("rejected", Some("AM04")) => insufficient += 1,
            other => panic!("{other:?}: {p}"),
        }
    }
    assert_eq!((completed, insufficient), (fit, 5), "exactly what the balance covers");
    let books = ledger(stack.core_url()).await;
    assert_eq!(books["txn_count"].as_i64().unwrap(), before + i64::try_from(fit).unwrap());
    assert!(balance().await >= 0);
}
