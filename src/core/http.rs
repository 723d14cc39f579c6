//! What every core connector shares, whatever its wire format: one HTTP client per core
//! system with its timeouts, TLS, circuit breaker and in-flight bound, the single retry of a
//! read that certainly did not reach the core, and the per-call metrics. A connector only
//! says which path to call and how to read the answer.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;

use super::{BreakerSettings, ClientSetupError, CoreError, OutgoingTls, breaker::Breaker};

/// How one core system is reached.
#[derive(Clone, Debug)]
pub struct ConnectorSettings {
    pub base_url: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub breaker: BreakerSettings,
    pub max_in_flight: usize,
    pub tls: OutgoingTls,
}

/// An answer the core gave (any status below 500): a connector decodes it by its dialect.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

pub struct HttpCore {
    /// The system's name in `[core]`, labelling its metrics.
    system: Arc<str>,
    client: reqwest::Client,
    /// Parsed once: each call only sets its path (parsing the whole URL again, host and IDNA
    /// included, was a visible share of a products read's instructions).
    base: reqwest::Url,
    /// The base URL's own path without its trailing slash, put before every call's path.
    base_path: String,
    timeout: Duration,
    breaker: Breaker,
    /// At most this many calls out at once; more are refused, never queued.
    in_flight: tokio::sync::Semaphore,
}

impl HttpCore {
    pub fn new(system: &str, s: &ConnectorSettings) -> Result<Self, ClientSetupError> {
        let bad = |reason: String| ClientSetupError::BaseUrl { url: s.base_url.clone(), reason };
        let base = reqwest::Url::parse(&s.base_url).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad("must be an http or https URL".into()));
        }
        let base_path = base.path().trim_end_matches('/').to_owned();
        let mut builder = reqwest::Client::builder()
            // The core answers; it never sends us elsewhere (and following a 3xx would also
            // parse each call's URL once more).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(s.timeout)
            .connect_timeout(s.connect_timeout)
            .pool_max_idle_per_host(64)
            .tls_certs_merge(s.tls.extra_roots.clone());
        if let Some(identity) = &s.tls.identity {
            builder = builder.identity(identity.clone());
        }
        let system: Arc<str> = Arc::from(system);
        Ok(Self {
            breaker: Breaker::new(system.clone(), s.breaker),
            system,
            client: builder.build()?,
            base,
            base_path,
            timeout: s.timeout,
            in_flight: tokio::sync::Semaphore::new(s.max_in_flight.max(1)),
        })
    }

    /// `closed`, `half_open` or `open`.
    pub fn breaker_state(&self) -> &'static str {
        self.breaker.state_name()
    }

    /// The base URL with `path` (ours, starting with `/`) after the base's own path.
    pub fn url(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base_path));
        url
    }

    /// One GET, sent again once when the core certainly did not act on the first try (not
    /// when the call was not sent at all: the breaker said why).
    pub async fn read<T>(
        &self,
        op: &'static str,
        path: &str,
        query: &[(&str, String)],
        decode: impl Fn(Answer) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let once = || async {
            let started = Instant::now();
            let result = self.exchange(self.client.get(self.url(path)).query(query)).await.and_then(&decode);
            self.observe(op, started, &result);
            result
        };
        match once().await {
            Err(e) if e.retry_safe_for_read() => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                once().await
            }
            other => other,
        }
    }

    /// One POST of a JSON body. Never sent again: the core may have acted on it.
    pub async fn write<B: serde::Serialize + ?Sized, T>(
        &self,
        op: &'static str,
        path: &str,
        body: &B,
        decode: impl Fn(Answer) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let started = Instant::now();
        let result = self.exchange(self.client.post(self.url(path)).json(body)).await.and_then(decode);
        self.observe(op, started, &result);
        result
    }

    fn observe<T>(&self, op: &'static str, started: Instant, result: &Result<T, CoreError>) {
        metrics::histogram!(
            "scenegate_core_request_duration_seconds",
            "system" => self.system.clone(),
            "operation" => op,
            "outcome" => outcome(result)
        )
        .record(started.elapsed().as_secs_f64());
    }

    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Answer, CoreError> {
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
        metrics::gauge!("scenegate_core_in_flight", "system" => self.system.clone()).increment(1.0);
        let result = async {
            let res = request.send().await.map_err(transport)?;
            let status = res.status().as_u16();
            if status >= 500 {
                return Err(CoreError::Status(status));
            }
            Ok(Answer { status, body: bounded_body(res).await.map_err(|e| e.map_or_else(too_large, transport))? })
        }
        .await;
        metrics::gauge!("scenegate_core_in_flight", "system" => self.system.clone()).decrement(1.0);
        let healthy = !result.as_ref().err().is_some_and(CoreError::is_core_failure);
        self.breaker.record(permit, healthy, Instant::now());
        result
    }
}

/// The largest core answer read: a statement page of the most lines a partner may ask for is
/// far below it. A core (or something in its place) sending more is failing, not answering.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// The answer's body, read chunk by chunk up to [`MAX_ANSWER_BYTES`]; `Err(None)` past it.
async fn bounded_body(mut res: reqwest::Response) -> Result<bytes::Bytes, Option<reqwest::Error>> {
    if res.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(None);
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = res.chunk().await.map_err(Some)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn too_large() -> CoreError {
    CoreError::Decode(format!("core answer larger than {MAX_ANSWER_BYTES} bytes"))
}

fn outcome<T>(result: &Result<T, CoreError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(CoreError::NotFound) => "not_found",
        Err(CoreError::Timeout(_)) => "timeout",
        Err(_) => "error",
    }
}

/// Path segments come from our own records, but are encoded anyway: nothing a partner sends
/// can change which core path is called.
pub(crate) fn encode(segment: &str) -> String {
    segment.bytes().filter(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_').map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(base: &str) -> Result<HttpCore, ClientSetupError> {
        let s = ConnectorSettings {
            base_url: base.to_owned(),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            breaker: super::super::DEFAULT_BREAKER,
            max_in_flight: 4,
            tls: OutgoingTls::default(),
        };
        HttpCore::new("core", &s)
    }

    #[test]
    fn a_call_path_goes_after_the_base_path_whatever_its_slashes() {
        for base in ["http://core.example:8080/bank", "http://core.example:8080/bank/"] {
            let url = core(base).unwrap().url("/core/accounts/622202");
            assert_eq!(url.as_str(), "http://core.example:8080/bank/core/accounts/622202", "{base}");
        }
        assert_eq!(
            core("https://core.example").unwrap().url("/core/health").as_str(),
            "https://core.example/core/health"
        );
    }

    #[test]
    fn a_base_that_is_not_an_http_url_is_refused_when_built() {
        for base in ["core.example:8080", "ftp://core.example", "mailto:core@example.com", ""] {
            assert!(matches!(core(base), Err(ClientSetupError::BaseUrl { .. })), "{base:?}");
        }
    }

    /// A server answering `size` bytes of JSON string at any path, streamed (no length).
    async fn answering(size: usize) -> String {
        let app = axum::Router::new().fallback(move || async move {
            let chunks = (0..size.div_ceil(65_536)).map(move |i| {
                let n = 65_536.min(size - i * 65_536);
                Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; n]))
            });
            axum::body::Body::from_stream(futures_util::stream::iter(chunks))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn a_core_answer_past_the_bound_is_refused_not_held() {
        let read = |url: String| async move {
            core(&url).unwrap().read("test", "/x", &[], |a: Answer| Ok(a.body.len())).await
        };
        assert_eq!(read(answering(MAX_ANSWER_BYTES).await).await.unwrap(), MAX_ANSWER_BYTES);
        let refused = read(answering(MAX_ANSWER_BYTES + 1).await).await;
        assert!(matches!(refused, Err(CoreError::Decode(ref m)) if m.contains("larger than")), "{refused:?}");
    }

    #[test]
    fn path_segments_keep_only_safe_characters() {
        assert_eq!(encode("6222/../admin?x=1"), "6222adminx1");
        assert_eq!(encode("pay_01-ab"), "pay_01-ab");
    }
}
