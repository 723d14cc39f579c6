//! Cluster mode's shared short-lived state on Redis: per-partner rate limits, login
//! throttling, single-use client-assertion ids, and the change marks that let each
//! instance keep consents and live tokens between changes.
//!
//! Redis is a dependency the gateway must survive losing. Every call is bounded by
//! `shared.timeout_ms`. When Redis fails, rate limits and login throttles fall back to this
//! instance's own (a partner may then get up to one quota per instance: better than refusing
//! every partner), while single-use checks fail closed (an assertion whose `jti` cannot be
//! checked is refused with 503): admitting a replay is worse than a retry. [`SharedHealth`]
//! logs each change of state, sets `scenegate_shared_degraded`, and feeds `/readyz`; the
//! connection manager reconnects by itself, so recovery needs no restart.

mod limits;
mod marks;
mod replay;
pub mod scratch;
mod throttle;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use limits::RedisLimits;
pub use marks::RedisMarks;
pub use replay::RedisReplayStore;
pub use scratch::ScratchPrefix;
pub use throttle::RedisThrottle;

use crate::config::RedisConfig;

/// A connection to Redis with this gateway's key prefix and call timeout.
#[derive(Clone)]
pub struct Redis {
    /// Replaced after a timeout: commands on one connection are answered in order, so a
    /// connection with a command that timed out unanswered could hand its late answer to the
    /// next command. A fresh connection cannot.
    conn: Arc<ArcSwap<ConnectionManager>>,
    client: redis::Client,
    config: ConnectionManagerConfig,
    prefix: String,
    timeout: Duration,
    pub health: SharedHealth,
}

impl Redis {
    /// Connects lazily: a gateway starts (degraded) even when Redis is down at that moment.
    pub fn connect(cfg: &RedisConfig) -> anyhow::Result<Self> {
        let client = redis::Client::open(cfg.url.as_str())
            .map_err(|e| anyhow::anyhow!("shared.url {}: {e}", cfg.redacted_url()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.timeout))
            .set_response_timeout(Some(cfg.timeout))
            // Reconnection is retried on the next call, not in a long loop inside one.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
        Ok(Self {
            conn: Arc::new(ArcSwap::from_pointee(conn)),
            client,
            config,
            prefix: cfg.key_prefix.clone(),
            timeout: cfg.timeout,
            health: SharedHealth::redis(),
        })
    }

    /// `<prefix>:<kind>:<id>`: every key this gateway writes.
    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    /// Runs `op` on a connection within the timeout, recording the outcome in the health.
    async fn run<T, F, Fut>(&self, what: &'static str, op: F) -> Result<T, String>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = ConnectionManager::clone(&self.conn.load());
        let outcome = match tokio::time::timeout(self.timeout, op(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!("{what}: {e}")),
            Err(_) => {
                match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone()) {
                    Ok(fresh) => self.conn.store(Arc::new(fresh)),
                    Err(e) => tracing::warn!(error = %e, "could not replace the Redis connection"),
                }
                Err(format!("{what}: no answer within {:?}", self.timeout))
            }
        };
        match &outcome {
            Ok(_) => self.health.up(),
            Err(e) => self.health.down(e),
        }
        outcome
    }
}

/// Whether shared state is working, for logs, `/metrics` and `/readyz`.
#[derive(Clone)]
pub struct SharedHealth {
    backend: &'static str,
    degraded: Arc<Mutex<Option<String>>>,
}

impl SharedHealth {
    pub fn local() -> Self {
        Self { backend: "local", degraded: Arc::default() }
    }

    fn redis() -> Self {
        metrics::gauge!("scenegate_shared_degraded").set(0.0);
        Self { backend: "redis", degraded: Arc::default() }
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// `None` when working; the last failure while degraded.
    pub fn degraded(&self) -> Option<String> {
        self.degraded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Whether the last call failed (cheaper than [`SharedHealth::degraded`]).
    pub fn is_degraded(&self) -> bool {
        self.degraded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some()
    }

    fn up(&self) {
        let mut state = self.degraded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.take().is_some() {
            tracing::warn!(
                backend = self.backend,
                "shared state reachable again: cluster-wide limits and checks resume"
            );
            metrics::gauge!("scenegate_shared_degraded").set(0.0);
        }
    }

    fn down(&self, reason: &str) {
        let mut state = self.degraded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.is_none() {
            tracing::warn!(
                backend = self.backend,
                reason,
                "shared state unreachable: rate limits and login throttles fall back to this instance; \
                 token requests and consent changes are refused (503) until it returns; consents and \
                 tokens are read from the database on every call"
            );
            metrics::gauge!("scenegate_shared_degraded").set(1.0);
        }
        *state = Some(reason.to_owned());
    }
}

#[cfg(test)]
pub mod test_support {
    use crate::config::RedisConfig;

    /// Where tests find Redis: `SCENEGATE_TEST_REDIS_URL`, else the local server.
    pub fn server_url() -> String {
        std::env::var("SCENEGATE_TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
    }

    /// A config with a key prefix of this test's own, or `None` (saying `SKIPPED`) when no
    /// Redis answers outside CI; under `CI` that fails the test.
    pub async fn config() -> Option<TestRedis> {
        let url = server_url();
        let reachable = async {
            let client = redis::Client::open(url.as_str()).ok()?;
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING").query_async::<String>(&mut conn).await.ok()
        };
        match tokio::time::timeout(std::time::Duration::from_secs(3), reachable).await {
            Ok(Some(_)) => {}
            _ => {
                assert!(std::env::var_os("CI").is_none(), "CI must test Redis, but {url} did not answer");
                eprintln!("SKIPPED: no Redis at {url}; set SCENEGATE_TEST_REDIS_URL");
                return None;
            }
        }
        let keys = super::ScratchPrefix::new(&url);
        let config =
            RedisConfig { url, key_prefix: keys.prefix().to_owned(), timeout: std::time::Duration::from_millis(250) };
        Some(TestRedis { config, _keys: keys })
    }

    /// A test's Redis config, whose keys are deleted when the test drops it.
    pub struct TestRedis {
        config: RedisConfig,
        _keys: super::ScratchPrefix,
    }

    impl std::ops::Deref for TestRedis {
        type Target = RedisConfig;
        fn deref(&self) -> &RedisConfig {
            &self.config
        }
    }

    /// A blackhole: a port that accepts connections and never answers, until the task is
    /// aborted.
    pub async fn blackhole() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        (addr, held)
    }

    /// A config pointing at `addr` (a closed port or a blackhole), for failure tests.
    pub fn config_at(addr: std::net::SocketAddr) -> RedisConfig {
        RedisConfig {
            url: format!("redis://{addr}"),
            key_prefix: format!("sgtest-{}", uuid::Uuid::new_v4().simple()),
            timeout: std::time::Duration::from_millis(200),
        }
    }
}
