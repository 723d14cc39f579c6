//! The connector to the bank's core systems: an HTTP client with timeouts, the core's own
//! wire format (`wire.rs`) and its translation into canonical types (`transform.rs`).
//!
//! The core speaks an envelope with `ret_code`, integer fen and Beijing-time stamps; none
//! of that leaks past this module.

mod breaker;
mod customers;
mod payments;
pub mod transform;
mod wire;

pub use customers::{CoreAccount, CoreBalance, CoreCustomer, CoreTxn, CoreTxnPage, TxnQuery};
pub use payments::{CoreCreditor, OtpCheck, OtpSent, PostingKind, PostingOrder, PostingOutcome, Refusal, Settlement};

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

pub use breaker::BreakerSettings;

use scenegate_adapter_contract::{
    ProductId,
    canonical::{Page, Product, ProductQuery},
};
use serde::de::DeserializeOwned;

use wire::Envelope;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The request never reached the core (refused, DNS, pool): always safe to retry.
    #[error("core unreachable: {0}")]
    Connect(String),
    #[error("core did not answer within {0:?}")]
    Timeout(Duration),
    #[error("core answered HTTP {0}")]
    Status(u16),
    #[error("core answered `{code}`: {message}")]
    Rejected { code: String, message: String },
    #[error("core answer could not be read: {0}")]
    Decode(String),
    #[error("not found in core")]
    NotFound,
    /// The core refused a customer's credentials (wrong password or unknown login alike).
    #[error("credentials refused by core")]
    Unauthenticated,
    /// The partner sent something that cannot be expressed to the core (e.g. a bad cursor).
    #[error("`{field}`: {reason}")]
    BadInput { field: &'static str, reason: String },
    /// Not sent: the circuit is open or too many calls are in flight. Retry after the wait.
    #[error("core call not sent: {why}")]
    NotSent { why: &'static str, retry_after: Duration },
}

impl CoreError {
    /// Whether a read may be sent again. Writes will need an idempotency key on top of this.
    pub fn retry_safe_for_read(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Status(502..=504))
    }

    /// Whether this says the core is unwell (counts toward opening the circuit); a business
    /// answer, however negative, says it is well.
    fn is_core_failure(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Timeout(_) | Self::Status(500..))
    }
}

pub use crate::outgoing_tls::OutgoingTls;

/// Why a core client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    #[error("core base URL {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

#[derive(Clone)]
pub struct CoreClient {
    http: reqwest::Client,
    /// Parsed once: each call only sets its path (parsing the whole URL again, host and IDNA
    /// included, was a visible share of a products read's instructions).
    base: reqwest::Url,
    /// The base URL's own path without its trailing slash, put before every call's path.
    base_path: String,
    timeout: Duration,
    breaker: Arc<breaker::Breaker>,
    /// At most this many calls out at once; more are refused, never queued.
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// Defaults of `[core]` breaker_failures, breaker_open_ms and max_in_flight.
pub const DEFAULT_BREAKER: BreakerSettings = BreakerSettings { failures: 5, open_for: Duration::from_secs(5) };
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

impl CoreClient {
    pub fn new(base_url: &str, timeout: Duration, connect_timeout: Duration) -> Result<Self, ClientSetupError> {
        Self::with_limits(base_url, timeout, connect_timeout, DEFAULT_BREAKER, DEFAULT_MAX_IN_FLIGHT)
    }

    pub fn with_limits(
        base_url: &str,
        timeout: Duration,
        connect_timeout: Duration,
        breaker: BreakerSettings,
        max_in_flight: usize,
    ) -> Result<Self, ClientSetupError> {
        Self::with_tls(base_url, timeout, connect_timeout, breaker, max_in_flight, &OutgoingTls::default())
    }

    /// As [`CoreClient::with_limits`], over TLS (rustls) trusting the platform's roots plus
    /// `tls.extra_roots`, and presenting `tls.identity` as client certificate when given.
    pub fn with_tls(
        base_url: &str,
        timeout: Duration,
        connect_timeout: Duration,
        breaker: BreakerSettings,
        max_in_flight: usize,
        tls: &OutgoingTls,
    ) -> Result<Self, ClientSetupError> {
        let bad = |reason: String| ClientSetupError::BaseUrl { url: base_url.to_owned(), reason };
        let base = reqwest::Url::parse(base_url).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad("must be an http or https URL".into()));
        }
        let base_path = base.path().trim_end_matches('/').to_owned();
        let mut builder = reqwest::Client::builder()
            // The core answers; it never sends us elsewhere (and following a 3xx would also
            // parse each call's URL once more).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .pool_max_idle_per_host(64)
            .tls_certs_merge(tls.extra_roots.clone());
        if let Some(identity) = &tls.identity {
            builder = builder.identity(identity.clone());
        }
        let http = builder.build()?;
        Ok(Self {
            http,
            base,
            base_path,
            timeout,
            breaker: Arc::new(breaker::Breaker::new(breaker)),
            in_flight: Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1))),
        })
    }

    /// `closed`, `half_open` or `open`.
    pub fn breaker_state(&self) -> &'static str {
        self.breaker.state_name()
    }

    pub async fn health(&self) -> Result<(), CoreError> {
        self.get::<serde_json::Value>("health", "/core/health", &[]).await.map(|_| ())
    }

    pub async fn list_products(&self, q: &ProductQuery) -> Result<Page<Product>, CoreError> {
        let mut params: Vec<(&str, String)> = vec![("limit", q.limit.to_string())];
        if let Some(t) = q.product_type {
            params.push(("prod_type", transform::core_product_type(t).into()));
        }
        if let Some(c) = &q.cursor {
            params.push(("after", transform::decode_cursor(c)?));
        }
        let page: wire::ProductPage = self.get("list_products", "/core/products", &params).await?;
        transform::product_page(page)
    }

    pub async fn get_product(&self, id: &ProductId) -> Result<Product, CoreError> {
        let path = format!("/core/products/{}", id.key());
        let p: wire::Product = self.get("get_product", &path, &[]).await?;
        transform::product(p)
    }

    /// One GET with a single retry when the core certainly did not act on the first try (not
    /// when the call was not sent at all: the breaker said why).
    async fn get<T: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, CoreError> {
        match self.get_once(op, path, query).await {
            Err(e) if e.retry_safe_for_read() => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.get_once(op, path, query).await
            }
            other => other,
        }
    }

    async fn get_once<T: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, CoreError> {
        let started = Instant::now();
        let result = self.send::<T>(path, query).await;
        metrics::histogram!("scenegate_core_request_duration_seconds", "operation" => op, "outcome" => outcome(&result))
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// One POST. Never retried: the core may have acted on it.
    async fn post<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &str,
        body: &B,
    ) -> Result<T, CoreError> {
        let started = Instant::now();
        let request = self.http.post(self.url(path)).json(body);
        let result = self.exchange::<T>(request).await;
        metrics::histogram!("scenegate_core_request_duration_seconds", "operation" => op, "outcome" => outcome(&result))
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn send<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, CoreError> {
        self.exchange(self.http.get(self.url(path)).query(query)).await
    }

    /// The base URL with `path` (ours, starting with `/`) after the base's own path.
    fn url(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base_path));
        url
    }

    async fn exchange<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, CoreError> {
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                CoreError::Timeout(self.timeout)
            } else if e.is_connect() {
                CoreError::Connect(e.to_string())
            } else {
                CoreError::Decode(e.to_string())
            }
        };
        let Ok(_slot) = self.in_flight.try_acquire() else {
            return Err(CoreError::NotSent {
                why: "too many calls to the core in flight",
                retry_after: Duration::from_secs(1),
            });
        };
        let permit = self.breaker.admit(Instant::now()).map_err(|wait| CoreError::NotSent {
            why: "the core's circuit is open after repeated failures",
            retry_after: wait,
        })?;
        metrics::gauge!("scenegate_core_in_flight").increment(1.0);
        let result = async {
            let res = request.send().await.map_err(transport)?;
            let status = res.status().as_u16();
            if status >= 500 {
                return Err(CoreError::Status(status));
            }
            let bytes = res.bytes().await.map_err(transport)?;
            let envelope: Envelope<T> = serde_json::from_slice(&bytes).map_err(|e| CoreError::Decode(e.to_string()))?;
            envelope.into_result()
        }
        .await;
        metrics::gauge!("scenegate_core_in_flight").decrement(1.0);
        let healthy = !result.as_ref().err().is_some_and(CoreError::is_core_failure);
        self.breaker.record(permit, healthy, Instant::now());
        result
    }
}

/// Path segments come from our own records, but are encoded anyway: nothing a partner sends
/// can change which core path is called.
pub(crate) fn encode(segment: &str) -> String {
    segment.bytes().filter(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_').map(char::from).collect()
}

fn outcome<T>(result: &Result<T, CoreError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(CoreError::NotFound) => "not_found",
        Err(CoreError::Timeout(_)) => "timeout",
        Err(_) => "error",
    }
}

#[cfg(test)]
mod tls_tests;

#[cfg(test)]
mod url_tests {
    use super::*;

    fn client(base: &str) -> Result<CoreClient, ClientSetupError> {
        CoreClient::new(base, Duration::from_secs(1), Duration::from_secs(1))
    }

    #[test]
    fn a_call_path_goes_after_the_base_path_whatever_its_slashes() {
        for base in ["http://core.example:8080/bank", "http://core.example:8080/bank/"] {
            let url = client(base).unwrap().url("/core/accounts/622202");
            assert_eq!(url.as_str(), "http://core.example:8080/bank/core/accounts/622202", "{base}");
        }
        assert_eq!(
            client("https://core.example").unwrap().url("/core/health").as_str(),
            "https://core.example/core/health"
        );
    }

    #[test]
    fn a_base_that_is_not_an_http_url_is_refused_when_built() {
        for base in ["core.example:8080", "ftp://core.example", "mailto:core@example.com", ""] {
            assert!(matches!(client(base), Err(ClientSetupError::BaseUrl { .. })), "{base:?}");
        }
    }
}
