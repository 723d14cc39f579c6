//! Logs, metrics and the per-request span.
//!
//! Logs never carry tokens or assertions: `Authorization` is marked sensitive before the
//! trace layer sees it, and handlers log ids, never credentials.

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::{config::LogFormat, pipeline::PartnerTag, problem::ProblemSlug};

pub fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let registry = tracing_subscriber::registry().with(filter);
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = match format {
        // Logs go to stderr; stdout carries only the lines scripts wait for ("listening on").
        LogFormat::Json => {
            registry.with(fmt::layer().json().with_current_span(true).with_writer(std::io::stderr)).try_init()
        }
        LogFormat::Text => {
            registry.with(fmt::layer().with_target(false).with_ansi(colour).with_writer(std::io::stderr)).try_init()
        }
    };
}

/// The process-wide Prometheus recorder (installed once; tests may build several apps).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // A second install (another app in the same test process) is harmless.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

/// HELP texts for every metric the gateway writes, and the build it is.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("scenegate_build_info", "Always 1; the labels name the running build");
    metrics::gauge!("scenegate_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    describe_counter!("scenegate_http_requests_total", "HTTP requests by partner, route template and status");
    describe_counter!(
        "scenegate_adapted_refusals_total",
        "Refusals written in a partner protocol's own envelope (often HTTP 200), by partner, adapter and problem type"
    );
    describe_histogram!("scenegate_http_request_duration_seconds", "Whole-request latency by route template");
    describe_histogram!("scenegate_core_request_duration_seconds", "Core-bank call latency by operation and outcome");
    describe_gauge!(
        "scenegate_payments_unsettled",
        "Payments and refunds past the reconciler's grace period whose outcome no core has told yet"
    );
    describe_gauge!(
        "scenegate_payments_unsettled_oldest_seconds",
        "Age of the oldest of them; above core.second-leg retry time (15 min) a core keeps refusing or not answering"
    );
    describe_counter!("scenegate_core_reversals_total", "Payments between two cores undone on the payer's core");
    describe_histogram!(
        "scenegate_db_group_commit_jobs",
        "Writes per group commit: SQLite files (embedded default); on PostgreSQL new payments (db=postgres_payments) and settlements (db=postgres_settlements)"
    );
    describe_histogram!("scenegate_db_group_commit_seconds", "Time per group commit, writes and fsync");
    describe_counter!(
        "scenegate_db_group_commit_reruns_total",
        "SQLite group commits run again behind savepoints because one write was refused"
    );
    describe_counter!(
        "scenegate_token_requests_total",
        "Token requests by client id (known partners only) and outcome"
    );
    describe_counter!(
        "scenegate_customer_logins_total",
        "Customer bank logins by outcome (wrong passwords apart from core errors)"
    );
    describe_gauge!(
        crate::config::REJECTED_GAUGE,
        "Partner files whose latest version is refused (each keeps its last good version)"
    );
    describe_counter!("scenegate_webhook_deliveries_total", "Webhook delivery attempts by outcome");
    describe_counter!(
        "scenegate_audit_write_failures_total",
        "Audit trail steps that failed to write (retried next second), by step"
    );
    describe_gauge!("process_resident_memory_bytes", "Resident memory of the gateway process");
    describe_gauge!("process_open_fds", "Open file descriptors of the gateway process");
    describe_gauge!("process_cpu_seconds_total", "CPU time used by the gateway process (user + system)");
    describe_gauge!("process_threads", "Threads of the gateway process");
    describe_gauge!("scenegate_runtime_workers", "Threads serving requests (server.worker_threads, else one per core)");
    describe_gauge!(
        "scenegate_core_breaker_state",
        "The core connector's circuit: 0 closed, 1 half-open (one probe out), 2 open (calls fail fast)"
    );
    describe_counter!("scenegate_core_breaker_opened_total", "Times the core connector's circuit opened");
    describe_gauge!(
        "scenegate_core_in_flight",
        "Calls to the core this instance has out now (core.max_in_flight bounds them)"
    );
    describe_gauge!(
        "scenegate_shared_degraded",
        "1 while shared state (Redis) is unreachable: limits per instance, token requests refused"
    );
    describe_gauge!("scenegate_db_pool_connections", "Database connections of this instance, by state (in_use, idle)");
    describe_gauge!(
        "scenegate_db_pool_max_connections",
        "The most database connections this instance opens (storage.pool_size)"
    );
}

/// Samples the process's own figures for `/metrics` (Linux `/proc/self`; elsewhere nothing):
/// resident memory, open file descriptors, CPU seconds, threads; and the runtime's worker
/// threads. Called on each scrape.
#[allow(clippy::cast_precision_loss)] // counts and byte sizes far below 2^52
pub fn sample_process() {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        metrics::gauge!("scenegate_runtime_workers").set(runtime.metrics().num_workers() as f64);
    }
    #[cfg(target_os = "linux")]
    {
        const PAGE_BYTES: u64 = 4096;
        if let Ok(statm) = std::fs::read_to_string("/proc/self/statm")
            && let Some(pages) = statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok())
        {
            metrics::gauge!("process_resident_memory_bytes").set((pages * PAGE_BYTES) as f64);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            metrics::gauge!("process_open_fds").set(fds.count() as f64);
        }
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the parenthesised command name: utime (14), stime (15), threads (20).
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            // Clock ticks are 100 per second on Linux: 10 ms each.
            let cpu = std::time::Duration::from_millis((num(11) + num(12)) * 10);
            metrics::gauge!("process_cpu_seconds_total").set(cpu.as_secs_f64());
            metrics::gauge!("process_threads").set(num(17) as f64);
        }
    }
}

/// Counts and times every request by route template (bounded cardinality), status and
/// partner (known once the pipeline authenticated the call), and writes the access log: one
/// line per request at `info`, failures included, so a `request_id` a partner quotes is one
/// grep away. Ids and outcomes only: never a credential or a body.
pub async fn record(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let header =
        |req: &Request, name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    let (request_id, interaction_id) = (header(&req, "x-request-id"), header(&req, "x-fapi-interaction-id"));
    let method = req.method().clone();
    let started = Instant::now();
    let res = next.run(req).await;
    let partner = res.extensions().get::<PartnerTag>().map_or_else(|| "-".to_owned(), |p| p.0.clone());
    let status = res.status().as_u16().to_string();
    let problem = res.extensions().get::<ProblemSlug>().map_or("-", |p| p.0.as_str());
    tracing::info!(
        target: "access",
        request_id = %request_id,
        interaction_id = %interaction_id,
        partner = %partner,
        method = %method,
        route = %route,
        status = %status,
        problem = %problem,
        latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    metrics::counter!("scenegate_http_requests_total", "partner" => partner, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("scenegate_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    res
}
