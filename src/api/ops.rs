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

/// Ready: configuration loaded and the core banking service reachable. Refused partner
/// files are reported (each keeps its last good version) but do not make the gateway
/// unready: taking it out of service would stop every other partner too.
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
    match gw.core.health().await {
        Ok(()) => axum::Json(serde_json::json!({
            "status": "ready",
            "partners": partners,
            "rejected_partner_files": rejected,
            "core": "up"
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: core unreachable");
            problem::Problem {
                retry_after: Some(5),
                ..problem::Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    problem::SERVICE_UNAVAILABLE,
                    "the core banking service is unreachable",
                )
            }
            .into_response()
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(gw): State<AppState>) -> Response {
    crate::telemetry::sample_process();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], gw.metrics.render()).into_response()
}
