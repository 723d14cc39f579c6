//! The webhook worker: claims due events from the outbox, POSTs each to its partner's URL
//! with Standard Webhooks headers, and records the outcome (delivered, retry later, dead).
//!
//! Delivery is at least once: a worker that dies mid-attempt leaves its lease to expire and
//! the event is sent again, with the same `webhook-id`. The HTTP client is built for hostile
//! receivers: no redirects (a 3xx would otherwise bounce the POST into the bank's network),
//! the SSRF-guarding resolver, no proxy (a proxy would resolve names for us), short connect
//! and total timeouts, and at most a few KiB of any response read.
//!
//! Defaults: batch 32, lease 60 s, idle poll 1 s, connect 5 s, total 15 s, 4 KiB response.

use std::{sync::Arc, time::Duration};

use reqwest::{Client, redirect};
use scenegate_adapter_contract::{EventNotice, Notify, PartnerAdapter};
use tokio::{task::JoinHandle, task::JoinSet};
use url::Url;

use super::{
    Event,
    retry::RetryPolicy,
    signing::WebhookSigner,
    ssrf::{self, GuardedResolver},
    store::{Claimed, EventStore, EventStoreError},
};
use crate::auth::Clock;

/// Where one partner's webhooks go and how they are signed.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: Url,
    /// The Standard Webhooks secret; `None` for a partner whose adapter signs its own
    /// notifications.
    pub signer: Option<Arc<WebhookSigner>>,
    /// Sandbox partners only: admits http and private addresses (see [`ssrf`]).
    pub allow_private: bool,
    /// The partner's adapter: it may render events in its protocol's own notification and
    /// decides what acknowledges one.
    pub adapter: Arc<dyn PartnerAdapter>,
}

/// Looks up a partner's current webhook target; `None` if it has none (it polls instead).
/// Asked on every attempt, so a changed URL or rotated secret applies to retries too.
pub trait Targets: Send + Sync {
    fn target(&self, partner_id: &str) -> Option<WebhookTarget>;
}

impl<F> Targets for F
where
    F: Fn(&str) -> Option<WebhookTarget> + Send + Sync,
{
    fn target(&self, partner_id: &str) -> Option<WebhookTarget> {
        self(partner_id)
    }
}

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub retry: RetryPolicy,
    /// Events claimed (and sent concurrently) per round.
    pub batch: u32,
    /// How long a claimed event is this worker's; kept above `timeout` so a slow attempt
    /// does not lose its event to another worker mid-flight.
    pub lease: Duration,
    /// Wait between rounds when nothing was due.
    pub idle_poll: Duration,
    pub connect_timeout: Duration,
    /// Whole attempt: connect, send, response headers and the capped body.
    pub timeout: Duration,
    /// Response bytes read: enough for an error message, too few to be a weapon.
    pub max_response_bytes: usize,
    /// CAs beyond the platform's, and the client certificate presented to receivers.
    pub tls: crate::outgoing_tls::OutgoingTls,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::standard(),
            batch: 32,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            max_response_bytes: 4 * 1024,
            tls: crate::outgoing_tls::OutgoingTls::default(),
        }
    }
}

/// The client webhooks are sent with; `allow_private` picks the resolver's rule.
pub fn http_client(config: &DeliveryConfig, allow_private: bool) -> Result<Client, reqwest::Error> {
    let mut builder = Client::builder()
        .redirect(redirect::Policy::none())
        .no_proxy()
        .dns_resolver(GuardedResolver { allow_private })
        .connect_timeout(config.connect_timeout)
        .timeout(config.timeout)
        .user_agent(concat!("Scenegate-Webhooks/", env!("CARGO_PKG_VERSION")))
        .tls_certs_merge(config.tls.extra_roots.clone());
    if let Some(identity) = &config.tls.identity {
        builder = builder.identity(identity.clone());
    }
    builder.build()
}

/// Starts the worker. Abort the handle to stop it: every outcome is committed as it happens,
/// and an attempt cut short is retried once its lease expires.
pub fn spawn(
    store: Arc<dyn EventStore>,
    targets: Arc<dyn Targets>,
    clock: Arc<dyn Clock>,
    config: DeliveryConfig,
) -> Result<JoinHandle<()>, reqwest::Error> {
    let worker = Arc::new(Worker::new(store, targets, clock, config)?);
    Ok(tokio::spawn(async move {
        loop {
            if worker.run_once().await == 0 {
                tokio::time::sleep(worker.config.idle_poll).await;
            }
        }
    }))
}

pub struct Worker {
    store: Arc<dyn EventStore>,
    targets: Arc<dyn Targets>,
    clock: Arc<dyn Clock>,
    config: DeliveryConfig,
    public: Client,
    sandbox: Client,
}

/// What became of one attempt; also the `outcome` label of the deliveries metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retry,
    Dead,
    Skipped,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Dead => "dead",
            Self::Skipped => "skipped",
        }
    }
}

/// What became of a notification that did not fail.
enum Sent {
    Acknowledged,
    /// The partner's protocol does not notify this kind of event.
    Skipped,
}

/// Why an attempt failed, and whether trying again can help.
enum Failure {
    /// The receiver or the network: retry on the schedule.
    Transient(String),
    /// The target is refused by policy: retrying cannot help until the config changes.
    Refused(String),
}

impl Worker {
    pub fn new(
        store: Arc<dyn EventStore>,
        targets: Arc<dyn Targets>,
        clock: Arc<dyn Clock>,
        config: DeliveryConfig,
    ) -> Result<Self, reqwest::Error> {
        let public = http_client(&config, false)?;
        let sandbox = http_client(&config, true)?;
        Ok(Self { store, targets, clock, config, public, sandbox })
    }

    /// One round: claims what is due and delivers it concurrently (a batch never holds two
    /// events of one subject, so this keeps their order). Returns how many were claimed.
    pub async fn run_once(self: &Arc<Self>) -> usize {
        let lease = self.config.lease.max(self.config.timeout + Duration::from_secs(5));
        let lease_secs = i64::try_from(lease.as_secs()).unwrap_or(i64::MAX);
        let claims = match self.store.claim_due(self.clock.now(), self.config.batch, lease_secs).await {
            Ok(claims) => claims,
            Err(e) => {
                tracing::warn!(error = %e, "webhook worker could not claim events");
                return 0;
            }
        };
        let claimed = claims.len();
        // Events of partners that poll (no webhook target) are marked together, in one write.
        let (to_send, to_skip): (Vec<_>, Vec<_>) =
            claims.into_iter().partition(|c| self.targets.target(&c.event.partner_id).is_some());
        self.skip(&to_skip.iter().collect::<Vec<_>>(), self.clock.now()).await;
        let mut round = JoinSet::new();
        for claim in to_send {
            let worker = Arc::clone(self);
            round.spawn(async move { worker.deliver(claim).await });
        }
        while round.join_next().await.is_some() {}
        claimed
    }

    async fn deliver(&self, claim: Claimed) {
        let event = &claim.event;
        let attempt = claim.attempts + 1;
        let started = self.clock.now();
        // The partner's webhook may have gone since the round began (a config reload).
        let Some(target) = self.targets.target(&event.partner_id) else {
            return self.skip(&[&claim], started).await;
        };
        let failure = match self.attempt(&target, event).await {
            Ok(Sent::Skipped) => return self.skip(&[&claim], self.clock.now()).await,
            Ok(Sent::Acknowledged) => {
                let result = self.store.mark_delivered(&claim, self.clock.now()).await;
                return self.record(&claim, attempt, Outcome::Delivered, None, result);
            }
            Err(failure) => failure,
        };
        let now = self.clock.now();
        let first = claim.first_attempt_at.unwrap_or(started);
        let (outcome, error, result) = match failure {
            Failure::Refused(reason) => {
                let error = format!("refused, not retried: {reason}");
                let result = self.store.mark_dead(&claim, &error, now).await;
                (Outcome::Dead, error, result)
            }
            Failure::Transient(error) => match self.config.retry.next_attempt(attempt, first, now) {
                Some(next_at) => {
                    (Outcome::Retry, error.clone(), self.store.schedule_retry(&claim, next_at, &error, now).await)
                }
                None => (Outcome::Dead, error.clone(), self.store.mark_dead(&claim, &error, now).await),
            },
        };
        self.record(&claim, attempt, outcome, Some(&error), result);
    }

    /// One POST: Standard Webhooks, or the partner protocol's own notification. Ok only when
    /// the answer acknowledges it (a 2xx; or the protocol's own rule, such as the body
    /// `success`).
    async fn attempt(&self, target: &WebhookTarget, event: &Event) -> Result<Sent, Failure> {
        // Checked on every attempt, not only at config load: a literal address never passes
        // through the resolver, and the config may have changed since.
        ssrf::check_url(&target.url, target.allow_private).map_err(|e| Failure::Refused(e.to_string()))?;
        let timestamp = self.clock.now();
        let notice = EventNotice {
            id: event.id.as_str(),
            event_type: &event.event_type,
            subject_id: &event.subject_id,
            created_at: event.created_at,
            data: &event.data,
        };
        let notify = target
            .adapter
            .notification(&notice, timestamp)
            .map_err(|e| Failure::Refused(format!("the partner's adapter cannot render this event: {e}")))?;
        let client = if target.allow_private { &self.sandbox } else { &self.public };
        let request = match notify {
            Notify::Skip => return Ok(Sent::Skipped),
            Notify::Standard => {
                let signer = target
                    .signer
                    .as_ref()
                    .ok_or_else(|| Failure::Refused("no webhook secret (`[webhooks] secret_file`)".into()))?;
                let body = event.body_bytes();
                let signature = signer.sign(event.id.as_str(), timestamp, &body);
                client
                    .post(target.url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header("webhook-id", event.id.as_str())
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature)
                    .body(body)
            }
            Notify::Protocol(notification) => {
                let mut request = client
                    .post(target.url.clone())
                    .header(reqwest::header::CONTENT_TYPE, notification.content_type)
                    .body(notification.body);
                for (name, value) in notification.headers {
                    request = request.header(name, value);
                }
                request
            }
        };
        let mut response = request.send().await.map_err(|e| Failure::Transient(describe(&e.without_url())))?;
        let status = response.status();
        let head = read_capped(&mut response, self.config.max_response_bytes).await;
        if target.adapter.acknowledged(status.as_u16(), &head) {
            Ok(Sent::Acknowledged)
        } else {
            // A 2xx the protocol does not count as an acknowledgement says so.
            let unacknowledged = if status.is_success() { " not acknowledged" } else { "" };
            Err(Failure::Transient(format!("HTTP {}{unacknowledged}{}", status.as_u16(), snippet(&head))))
        }
    }

    /// Marks the claims skipped and records each outcome.
    async fn skip(&self, claims: &[&Claimed], now: i64) {
        if claims.is_empty() {
            return;
        }
        let marked = self.store.mark_skipped(claims, now).await;
        for claim in claims {
            let result = match &marked {
                Ok(seqs) if seqs.contains(&claim.event.seq) => Ok(()),
                Ok(_) => {
                    Err(EventStoreError::Conflict(format!("the lease on {} passed to another worker", claim.event.id)))
                }
                Err(e) => Err(EventStoreError::Unavailable(e.to_string())),
            };
            self.record(claim, claim.attempts + 1, Outcome::Skipped, None, result);
        }
    }

    fn record(
        &self,
        claim: &Claimed,
        attempt: u32,
        outcome: Outcome,
        error: Option<&str>,
        stored: Result<(), EventStoreError>,
    ) {
        let event = &claim.event;
        metrics::counter!("scenegate_webhook_deliveries_total", "outcome" => outcome.as_str()).increment(1);
        match stored {
            Ok(()) if outcome == Outcome::Dead => tracing::warn!(
                event_id = %event.id, partner_id = %event.partner_id, attempt, outcome = outcome.as_str(),
                error, "webhook dead-lettered"
            ),
            Ok(()) => tracing::info!(
                event_id = %event.id, partner_id = %event.partner_id, attempt, outcome = outcome.as_str(),
                error, "webhook attempt"
            ),
            Err(e) => tracing::warn!(
                event_id = %event.id, partner_id = %event.partner_id, attempt, outcome = outcome.as_str(),
                store_error = %e, "webhook outcome not recorded; the event will be sent again"
            ),
        }
    }
}

/// The error and its causes on one line ("connection refused" is usually three levels down).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn read_capped(response: &mut reqwest::Response, cap: usize) -> Vec<u8> {
    let mut head = Vec::new();
    while head.len() < cap {
        match response.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk[..chunk.len().min(cap - head.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    head
}

/// The start of a receiver's error body, printable and short, for `last_error`.
fn snippet(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text: String =
        String::from_utf8_lossy(body).chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_CHARS).collect();
    let text = text.trim();
    if text.is_empty() { String::new() } else { format!(": {text}") }
}

#[cfg(test)]
mod tests;
