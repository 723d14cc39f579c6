//! Liveness, readiness and metrics for the bank's operations team.

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{app::AppState, problem};

/// Alive: the process answers. No dependencies are checked, so a slow core never gets a
/// healthy gateway restarted.
pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Ready: configuration loaded, the database answering and the core systems that hold the
/// products and the customers reachable. A core holding only some accounts that does not
/// answer is reported (`core.state: degraded`, the system `unreachable`) but does not make
/// the gateway unready: taking every instance out of a load balancer would stop products,
/// logins and every other account too, while the calls that need that core answer 503
/// themselves. Refused partner files are reported (each keeps its last good version) and do
/// not make it unready either, for the same reason.
pub async fn readyz(State(gw): State<AppState>) -> Response {
    let set = gw.partners.load();
    let rejected: Vec<_> = set
        .rejected()
        .iter()
        .map(|r| {
            serde_json::json!({
                "file": r.file.display().to_string(),
                "serving_last_good": r.serving,
                "errors": r.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    let partners = set.len();
    let (database, cores) = tokio::join!(gw.engine.ping(DEPENDENCY_WAIT), gw.core.health());
    for down in cores.iter().filter(|c| c.outcome.is_err()) {
        if let Err(e) = &down.outcome {
            tracing::warn!(error = %e, core = %down.name, essential = down.essential, "readiness: core unreachable");
        }
    }
    let essential_down = cores.iter().find(|c| c.essential && c.outcome.is_err());
    let unready = match (&database, essential_down) {
        (Err(e), _) => {
            tracing::warn!(error = %e, engine = %gw.engine, "readiness: database unavailable");
            Some(format!("the {} database is unavailable", gw.engine))
        }
        (Ok(()), Some(core)) => Some(format!("the core banking system `{}` is unreachable", core.name)),
        (Ok(()), None) => None,
    };
    if let Some(detail) = unready {
        return problem::Problem {
            retry_after: Some(5),
            ..problem::Problem::new(StatusCode::SERVICE_UNAVAILABLE, problem::SERVICE_UNAVAILABLE, detail)
        }
        .into_response();
    }
    axum::Json(serde_json::json!({
        "status": "ready",
        "partners": partners,
        "rejected_partner_files": rejected,
        "database": { "engine": gw.engine.to_string(), "state": "up" },
        "shared": shared_state(&gw.shared_health),
        "core": {
            "state": if cores.iter().all(|c| c.outcome.is_ok()) { "up" } else { "degraded" },
            "systems": cores.iter()
                .map(|c| serde_json::json!({
                    "name": c.name,
                    "state": if c.outcome.is_ok() { "up" } else { "unreachable" },
                    "circuit": c.circuit,
                }))
                .collect::<Vec<_>>(),
        }
    }))
    .into_response()
}

/// Shared state does not make the gateway unready: without Redis it limits per instance
/// and refuses only what cannot be checked; the detail says so.
fn shared_state(health: &crate::store::redis::SharedHealth) -> serde_json::Value {
    match health.degraded() {
        None => serde_json::json!({ "backend": health.backend(), "state": "up" }),
        Some(reason) => serde_json::json!({
            "backend": health.backend(),
            "state": "degraded",
            "detail": format!("{reason}; rate limits and login throttles are per instance, token requests get 503"),
        }),
    }
}

/// How long readiness waits for each dependency: a probe must answer well within a load
/// balancer's health-check timeout even when a dependency hangs.
const DEPENDENCY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Prometheus text exposition.
pub async fn metrics(State(gw): State<AppState>) -> Response {
    crate::telemetry::sample_process();
    gw.engine.record_pool_metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], gw.metrics.render()).into_response()
}
