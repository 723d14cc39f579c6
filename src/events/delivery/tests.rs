//! The worker against real HTTP receivers on 127.0.0.1:0. Time is a `ManualClock` the tests
//! move forward, so retries a schedule puts seconds apart happen in milliseconds.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{extract::State, http::HeaderMap, http::StatusCode, routing::post};
use bytes::Bytes;

use super::*;
use crate::{
    auth::ManualClock,
    events::{
        Delivery, DeliveryState, EventId,
        signing::{WebhookVerifier, verify},
        test_support::{eventually, new_event},
    },
    store::test_support::{self, TestStores},
};

const T0: i64 = 1_800_000_000;
const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Bytes,
}

type Answer = Arc<dyn Fn(&Received, usize) -> (StatusCode, HeaderMap) + Send + Sync>;

#[derive(Clone)]
struct Receiver {
    url: Url,
    log: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// A receiver that records every POST and answers with `answer(request, index)`.
    async fn start(answer: impl Fn(&Received, usize) -> (StatusCode, HeaderMap) + Send + Sync + 'static) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = (log.clone(), Arc::new(answer) as Answer);
        async fn handle(
            State((log, answer)): State<(Arc<Mutex<Vec<Received>>>, Answer)>,
            headers: HeaderMap,
            body: Bytes,
        ) -> (StatusCode, HeaderMap) {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let received = Received {
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp"),
                signature: header("webhook-signature"),
                body,
            };
            let index = {
                let mut log = log.lock().unwrap();
                log.push(received.clone());
                log.len() - 1
            };
            answer(&received, index)
        }
        let app = axum::Router::new().route("/hook", post(handle)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/hook", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, log }
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

fn status(code: StatusCode) -> (StatusCode, HeaderMap) {
    (code, HeaderMap::new())
}

/// A TCP port that counts connections and never answers: proof that nothing connected.
async fn counting_port() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, count)
}

struct Harness {
    db: TestStores,
    clock: Arc<ManualClock>,
    secret: String,
    worker: JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

fn quick_config(retry: RetryPolicy) -> DeliveryConfig {
    DeliveryConfig {
        retry,
        idle_poll: Duration::from_millis(5),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        ..DeliveryConfig::default()
    }
}

fn every_second(horizon_secs: u64) -> RetryPolicy {
    RetryPolicy { delays: vec![Duration::from_secs(1); 50], horizon: Duration::from_secs(horizon_secs) }
}

/// The worker, with one partner `ptn_a` whose webhooks go to `url`.
async fn start(url: Url, allow_private: bool, retry: RetryPolicy) -> Harness {
    let db = test_support::current().await;
    let clock = Arc::new(ManualClock::at(T0));
    let secret = WebhookSigner::generate_hmac_secret();
    let signer = Arc::new(WebhookSigner::from_secret(&secret).unwrap());
    let native: Arc<dyn PartnerAdapter> = Arc::new(scenegate_adapters::native::Native);
    let targets = move |partner: &str| {
        (partner == "ptn_a").then(|| WebhookTarget {
            url: url.clone(),
            signer: Some(signer.clone()),
            allow_private,
            adapter: native.clone(),
        })
    };
    start_with(db, clock, secret, targets, retry).await
}

/// The worker with the given targets.
async fn start_with(
    db: TestStores,
    clock: Arc<ManualClock>,
    secret: String,
    targets: impl Targets + 'static,
    retry: RetryPolicy,
) -> Harness {
    let store = db.events.clone();
    let worker = spawn(store, Arc::new(targets), clock.clone(), quick_config(retry)).unwrap();
    Harness { db, clock, secret, worker }
}

impl Harness {
    async fn append(&self, partner: &str, subject: &str, status: &str) -> EventId {
        self.store().append(&new_event(partner, subject, status), self.clock.now()).await.unwrap()
    }

    fn store(&self) -> &dyn EventStore {
        self.db.events.as_ref()
    }

    /// Waits until `id`'s delivery satisfies `done`. Whenever nothing is due, the clock jumps
    /// to the next retry (of an event not waiting behind another), so time only moves while the worker has nothing to do: the number
    /// of attempts before a horizon does not depend on how fast the machine is.
    async fn until(&self, id: &EventId, what: &str, done: impl Fn(&Delivery) -> bool) -> Delivery {
        eventually(WAIT, what, || async {
            let (_, delivery) = self.store().get(id).await.unwrap();
            if done(&delivery) {
                return Some(delivery);
            }
            let next = self.store().next_due().await.unwrap();
            if let Some(next) = next.filter(|next| *next > self.clock.now()) {
                self.clock.advance(next - self.clock.now());
            }
            None
        })
        .await
    }
}

async fn failures_are_retried_with_one_webhook_id_until_the_receiver_accepts() {
    let receiver =
        Receiver::start(|_, n| status(if n < 2 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::NO_CONTENT }))
            .await;
    let h = start(receiver.url.clone(), true, every_second(3_600)).await;
    let id = h.append("ptn_a", "pay_1", "settled").await;

    let delivery = h.until(&id, "delivery", |d| d.state == DeliveryState::Delivered).await;
    assert_eq!(delivery.attempts, 3);
    assert_eq!(delivery.last_error.as_deref(), Some("HTTP 500"), "the last failure is kept for operators");

    let received = receiver.received();
    assert_eq!(received.len(), 3, "nothing is sent after the receiver accepted");
    let (event, _) = h.store().get(&id).await.unwrap();
    let key = WebhookVerifier::from_key(&h.secret).unwrap();
    for r in &received {
        assert_eq!(r.id, id.as_str(), "the same webhook-id on every attempt");
        assert_eq!(r.body, event.body_bytes());
        verify(&key, &r.id, &r.timestamp, &r.signature, &r.body, h.clock.now()).unwrap();
    }
    let body: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["type"], "payment.status_changed");
    assert_eq!(body["data"]["status"], "settled");
}

async fn a_dead_receiver_is_dead_lettered_after_the_horizon() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let h = start(Url::parse(&format!("http://{closed}/hook")).unwrap(), true, every_second(5)).await;
    let id = h.append("ptn_a", "pay_1", "settled").await;

    let delivery = h.until(&id, "dead letter", |d| d.state == DeliveryState::Dead).await;
    assert!(delivery.attempts >= 2, "retried before giving up: {delivery:?}");
    let first = delivery.first_attempt_at.unwrap();
    assert!(delivery.finished_at.unwrap() >= first + 5, "not before the horizon: {delivery:?}");
    let error = delivery.last_error.unwrap().to_lowercase();
    assert!(error.contains("connect") && !error.contains(&closed.to_string()), "{error}");
    let dead = h.store().dead_letters(Some("ptn_a"), 10).await.unwrap();
    assert_eq!(dead[0].event.id, id);
}

async fn a_forbidden_target_is_refused_without_connecting_and_dead_lettered() {
    let (addr, connections) = counting_port().await;
    let url = Url::parse(&format!("https://{addr}/hook")).unwrap();
    let h = start(url, false, every_second(3_600)).await;
    let id = h.append("ptn_a", "pay_1", "settled").await;

    let delivery = h.until(&id, "dead letter", |d| d.state == DeliveryState::Dead).await;
    assert_eq!(delivery.attempts, 1, "policy refusals are not retried");
    let error = delivery.last_error.unwrap();
    assert!(error.starts_with("refused, not retried:") && error.contains("loopback"), "{error}");
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

async fn the_resolver_stops_a_name_that_resolves_to_loopback_at_connect_time() {
    let (addr, connections) = counting_port().await;
    let by_name = format!("http://localhost:{}/hook", addr.port());
    let config = quick_config(RetryPolicy::standard());

    let err = http_client(&config, false).unwrap().post(&by_name).send().await.unwrap_err();
    assert!(describe(&err).contains("loopback"), "{}", describe(&err));
    assert_eq!(connections.load(Ordering::SeqCst), 0);

    // Control: the sandbox client does connect, so the count above means something.
    let _ = http_client(&config, true).unwrap().post(&by_name).send().await;
    assert!(connections.load(Ordering::SeqCst) >= 1);
}

async fn redirects_are_not_followed() {
    let elsewhere = Receiver::start(|_, _| status(StatusCode::NO_CONTENT)).await;
    let location = elsewhere.url.to_string();
    let redirecting = Receiver::start(move |_, _| {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::LOCATION, location.parse().unwrap());
        (StatusCode::TEMPORARY_REDIRECT, headers)
    })
    .await;
    let h = start(redirecting.url.clone(), true, every_second(3_600)).await;
    let id = h.append("ptn_a", "pay_1", "settled").await;

    let delivery = h.until(&id, "a failed attempt", |d| d.attempts >= 1).await;
    assert_eq!(delivery.state, DeliveryState::Pending);
    assert_eq!(delivery.last_error.as_deref(), Some("HTTP 307"));
    assert!(elsewhere.received().is_empty(), "the redirect target was never called");
}

async fn a_later_event_waits_while_an_earlier_one_of_its_subject_fails() {
    let accept_first = Arc::new(AtomicBool::new(false));
    let flag = accept_first.clone();
    // pay_1's first status is refused until the flag is set; everything else is accepted.
    let receiver = Receiver::start(move |r, _| {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let is_first = body["subject_id"] == "pay_1" && body["data"]["status"] == "pending";
        if is_first && !flag.load(Ordering::SeqCst) { status(StatusCode::BAD_GATEWAY) } else { status(StatusCode::OK) }
    })
    .await;
    let h = start(receiver.url.clone(), true, every_second(3_600)).await;
    let pending = h.append("ptn_a", "pay_1", "pending").await;
    let settled = h.append("ptn_a", "pay_1", "settled").await;
    let other = h.append("ptn_a", "pay_2", "pending").await;

    let first = h.until(&pending, "three failed attempts", |d| d.attempts >= 3).await;
    // Those waiting behind it are due no earlier than its retry, and so is one written now:
    // the worker's claims do not step over them on every round while the receiver is down.
    let (_, later) = h.store().get(&settled).await.unwrap();
    assert!(later.next_at >= first.next_at, "{later:?} is due before {first:?}");
    let newest = h.append("ptn_a", "pay_1", "refunded").await;
    let (_, newest_delivery) = h.store().get(&newest).await.unwrap();
    assert!(newest_delivery.next_at >= first.next_at, "{newest_delivery:?} is due before {first:?}");
    h.until(&other, "another subject's event", |d| d.state == DeliveryState::Delivered).await;
    let seen: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
    assert!(!seen.contains(&settled.to_string()), "the later status went out before the earlier one: {seen:?}");

    accept_first.store(true, Ordering::SeqCst);
    h.until(&settled, "the later event", |d| d.state == DeliveryState::Delivered).await;
    let seen: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
    let last_of_first = seen.iter().rposition(|id| *id == pending.to_string()).unwrap();
    let first_of_second = seen.iter().position(|id| *id == settled.to_string()).unwrap();
    assert!(last_of_first < first_of_second, "{seen:?}");
    assert_eq!(h.store().get(&pending).await.unwrap().1.state, DeliveryState::Delivered);
}

async fn a_partner_without_a_webhook_is_skipped() {
    let h = start(Url::parse("http://127.0.0.1:9/hook").unwrap(), true, every_second(60)).await;
    let id = h.append("ptn_polls", "pay_1", "settled").await;
    let delivery = h.until(&id, "skip", |d| d.state == DeliveryState::Skipped).await;
    assert_eq!(delivery.attempts, 0);
}

/// A round's claims for partners that poll are marked in one write, each only while its lease
/// is still the claim's: one another worker took over after the lease ran out stays its.
async fn claims_of_polling_partners_are_skipped_together_under_their_leases() {
    let db = test_support::current().await;
    let store = db.events.clone();
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(store.append(&new_event("ptn_polls", &format!("pay_{i}"), "settled"), T0).await.unwrap());
    }
    let first = store.claim_due(T0, 1, 30).await.unwrap();
    assert_eq!(first.len(), 1);
    // Its lease runs out; another worker's round claims it again, with the other three.
    let second = store.claim_due(T0 + 31, 10, 30).await.unwrap();
    assert_eq!(second.len(), 4);
    let stale = &first[0];
    let others: Vec<&Claimed> = second.iter().filter(|c| c.event.seq != stale.event.seq).collect();
    let mut offered = vec![stale];
    offered.extend(others.iter().copied());
    let mut marked = store.mark_skipped(&offered, T0 + 31).await.unwrap();
    marked.sort_unstable();
    let mut expected: Vec<i64> = others.iter().map(|c| c.event.seq).collect();
    expected.sort_unstable();
    assert_eq!(marked, expected, "the stale lease marks nothing");
    let retaken = second.iter().find(|c| c.event.seq == stale.event.seq).unwrap();
    assert_eq!(store.get(&stale.event.id).await.unwrap().1.state, DeliveryState::Pending);
    assert_eq!(store.mark_skipped(&[retaken], T0 + 32).await.unwrap(), [stale.event.seq]);
    for id in &ids {
        let delivery = store.get(id).await.unwrap().1;
        assert_eq!((delivery.state, delivery.attempts), (DeliveryState::Skipped, 0), "{id}");
    }
}

/// A partner protocol with its own notification (a form naming the event) and its own
/// acknowledgement (the plain body `success`), which does not notify consent changes.
#[derive(Debug)]
struct FormProtocol;

impl PartnerAdapter for FormProtocol {
    fn decode(
        &self,
        _: scenegate_adapter_contract::Operation,
        _: &scenegate_adapter_contract::RawRequest,
    ) -> Result<scenegate_adapter_contract::CanonicalRequest, scenegate_adapter_contract::AdapterError> {
        Err(scenegate_adapter_contract::AdapterError::Unsupported("calls"))
    }

    fn encode(
        &self,
        _: scenegate_adapter_contract::Operation,
        _: &scenegate_adapter_contract::RawRequest,
        _: scenegate_adapter_contract::CanonicalResponse,
    ) -> Result<scenegate_adapter_contract::RawResponse, scenegate_adapter_contract::AdapterError> {
        Err(scenegate_adapter_contract::AdapterError::Unsupported("calls"))
    }

    fn notification(
        &self,
        event: &EventNotice<'_>,
        _now: i64,
    ) -> Result<Notify, scenegate_adapter_contract::AdapterError> {
        if event.event_type != crate::events::types::PAYMENT_STATUS_CHANGED {
            return Ok(Notify::Skip);
        }
        let status = event.data["status"].as_str().unwrap_or_default();
        Ok(Notify::Protocol(scenegate_adapter_contract::Notification {
            content_type: "application/x-www-form-urlencoded",
            headers: vec![("x-notify-id".into(), event.id.into())],
            body: format!("notify_id={}&status={status}", event.id).into_bytes().into(),
        }))
    }

    fn acknowledged(&self, status: u16, body: &[u8]) -> bool {
        status == 200 && body.trim_ascii() == b"success"
    }
}

/// A receiver answering 200 with the `n`th of `bodies` (the last one from then on).
async fn body_receiver(bodies: &'static [&'static str]) -> (Url, Arc<Mutex<Vec<(HeaderMap, Bytes)>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let kept = log.clone();
    let app = axum::Router::new().route(
        "/notify",
        post(move |headers: HeaderMap, body: Bytes| {
            let log = kept.clone();
            async move {
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push((headers, body));
                    log.len() - 1
                };
                bodies[n.min(bodies.len() - 1)]
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/notify", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, log)
}

async fn a_protocol_notification_is_retried_until_its_own_acknowledgement() {
    let (url, log) = body_receiver(&["fail", "<html>busy</html>", " success\n"]).await;
    let db = test_support::current().await;
    let clock = Arc::new(ManualClock::at(T0));
    let adapter: Arc<dyn PartnerAdapter> = Arc::new(FormProtocol);
    let targets = move |partner: &str| {
        (partner == "ptn_a").then(|| WebhookTarget {
            url: url.clone(),
            signer: None,
            allow_private: true,
            adapter: adapter.clone(),
        })
    };
    let h = start_with(db, clock, String::new(), targets, every_second(3_600)).await;
    let id = h.append("ptn_a", "pay_1", "settled").await;

    let delivery = h.until(&id, "delivery", |d| d.state == DeliveryState::Delivered).await;
    assert_eq!(delivery.attempts, 3, "a 200 that is not `success` is not an acknowledgement");
    assert!(delivery.last_error.as_deref().is_some_and(|e| e.contains("not acknowledged")), "{delivery:?}");
    let received = log.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    for (headers, body) in &received {
        assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
        assert_eq!(headers["x-notify-id"], id.as_str(), "the same id on every attempt");
        assert!(headers.get("webhook-signature").is_none(), "no Standard Webhooks headers");
        assert_eq!(body, &Bytes::from(format!("notify_id={}&status=settled", id.as_str())));
    }

    // An event the protocol does not notify is skipped, not sent.
    let consent = crate::events::NewEvent {
        event_type: crate::events::types::CONSENT_STATUS_CHANGED.into(),
        ..new_event("ptn_a", "cns_1", "revoked")
    };
    let skipped = h.store().append(&consent, h.clock.now()).await.unwrap();
    let delivery = h.until(&skipped, "skip", |d| d.state == DeliveryState::Skipped).await;
    assert_eq!(delivery.attempts, 0);
    assert_eq!(log.lock().unwrap().len(), 3, "nothing sent for it");
}

#[test]
fn receiver_error_bodies_are_cut_short_and_printable() {
    assert_eq!(snippet(b""), "");
    assert_eq!(snippet(b"  busy\r\n"), ": busy");
    assert_eq!(snippet(&[b'x'; 10_000]).len(), 2 + 200);
}

crate::store::test_support::on_every_engine!(
    failures_are_retried_with_one_webhook_id_until_the_receiver_accepts,
    a_dead_receiver_is_dead_lettered_after_the_horizon,
    a_forbidden_target_is_refused_without_connecting_and_dead_lettered,
    the_resolver_stops_a_name_that_resolves_to_loopback_at_connect_time,
    redirects_are_not_followed,
    a_later_event_waits_while_an_earlier_one_of_its_subject_fails,
    a_partner_without_a_webhook_is_skipped,
    claims_of_polling_partners_are_skipped_together_under_their_leases,
    a_protocol_notification_is_retried_until_its_own_acknowledgement,
);
