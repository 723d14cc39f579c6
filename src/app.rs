//! The gateway as a value: its state, its router and the one ordered stack of layers.

use std::{ops::Deref, sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::{RequestBodyDeadlineLayer, TimeoutLayer},
    trace::TraceLayer,
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    accounts::Accounts,
    api::ops,
    auth::{access_token::AccessTokens, client_assertion::AssertionVerifier, signing::SigningKeys},
    config::PartnerSet,
    consent::Consents,
    core::CoreClient,
    grants::Grants,
    limit::RateLimiterStore,
    openapi, problem, telemetry, web,
};

/// Settings the handlers read; fixed for the life of the process.
pub struct Settings {
    pub public_url: String,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// `Cache-Control: max-age` of the JWK Set.
    pub jwks_max_age: Duration,
    /// Test customers sandbox partners may authorise consents for without a browser.
    pub sandbox_customers: Vec<String>,
}

/// Everything a request may touch, passed explicitly to handlers as `State<AppState>`.
pub struct GatewayState {
    pub settings: Settings,
    /// Swapped whole on a valid config reload; never mutated in place.
    pub partners: Arc<ArcSwap<PartnerSet>>,
    pub keys: Arc<ArcSwap<SigningKeys>>,
    pub tokens: AccessTokens,
    pub assertions: AssertionVerifier,
    /// Server-provided DPoP nonces (RFC 9449 §8), the same on every instance.
    pub dpop_nonces: crate::auth::dpop::Nonces,
    pub limits: Arc<dyn RateLimiterStore>,
    /// Whether shared state (Redis) is reachable, for `/readyz`.
    pub shared_health: crate::store::redis::SharedHealth,
    pub core: CoreClient,
    pub consents: Consents,
    pub accounts: Accounts,
    pub grants: Arc<Grants>,
    pub payments: crate::payments::Payments,
    pub idempotency: Arc<dyn crate::idempotency::IdempotencyStore>,
    pub events: Arc<dyn crate::events::EventStore>,
    /// Token requests counted for the audit trail's summaries.
    pub token_tally: Arc<crate::audit::TokenTally>,
    /// The database behind the stores, for readiness and pool figures.
    pub engine: crate::store::Engine,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

#[derive(Clone)]
pub struct AppState(pub Arc<GatewayState>);

impl Deref for AppState {
    type Target = GatewayState;
    fn deref(&self) -> &GatewayState {
        &self.0
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FAPI_INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");

/// The partner-facing HTTP surface with its layers. Metrics and any admin surface are on
/// [`ops_router`], never here: partner ids and their traffic are not the partners' business.
pub fn router(state: AppState) -> Router {
    let (api, spec) = openapi::split();
    let (max_body, timeout) = (state.settings.max_body_bytes, state.settings.request_timeout);
    let routes = Router::new()
        .merge(api)
        .merge(crate::api::adapters::protocol_paths())
        // Load balancers probe the port they send traffic to.
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        // The customer's pages (login, consent screen, dashboard): HTML, not the partner API.
        .merge(web::routes())
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .fallback(not_found)
        .with_state(state);
    with_layers(routes, max_body, timeout)
}

/// The operations listener's surface (`server.ops_listen`, loopback by default): metrics
/// for Prometheus, and health for whatever watches the instance from inside the bank.
pub fn ops_router(state: AppState) -> Router {
    let (max_body, timeout) = (state.settings.max_body_bytes, state.settings.request_timeout);
    let routes = Router::new()
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(not_found)
        .with_state(state);
    with_layers(routes, max_body, timeout)
}

/// Wraps routes in the gateway's layers: ids, tracing, metrics, problems, panics, time and
/// size limits.
pub fn with_layers(routes: Router, max_body: usize, timeout: Duration) -> Router {
    // The first layer is the outermost. Each line says why it sits where it does.
    let layers = ServiceBuilder::new()
        // Untrusted ids are dropped before anything records them; FAPI id echoed or made.
        .layer(middleware::from_fn(correlation_ids))
        // Before tracing, so every span and log line carries the request id.
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        // Credentials never reach the trace layer's output.
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(middleware::from_fn(telemetry::record))
        // Below here every error, whoever produced it, leaves as problem+json (as an HTML
        // page on the customer's pages, with their security headers).
        .layer(middleware::from_fn(render_errors))
        .layer(CatchPanicLayer::custom(problem::from_panic))
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, timeout))
        // A client dripping its body ties up a connection: cut it off well before the
        // overall timeout so it gets 408, not 504.
        .layer(RequestBodyDeadlineLayer::new(timeout / 2))
        .layer(RequestBodyLimitLayer::new(max_body));

    routes.layer(DefaultBodyLimit::disable()).layer(layers)
}

async fn render_errors(req: Request, next: Next) -> Response {
    if web::is_page_path(req.uri().path()) {
        web::page_errors(req, next).await
    } else {
        problem::render(req, next).await
    }
}

async fn not_found() -> Response {
    problem::Problem::new(StatusCode::NOT_FOUND, problem::NOT_FOUND, "no resource at this path").into_response()
}

/// Keeps a caller's `x-request-id` only when it is a short token (it ends up in logs and
/// in problem bodies), and echoes or creates `x-fapi-interaction-id` (a UUID, per FAPI).
async fn correlation_ids(mut req: Request, next: Next) -> Response {
    let acceptable = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    };
    if req.headers().get(&X_REQUEST_ID).is_some_and(|v| !acceptable(v)) {
        req.headers_mut().remove(&X_REQUEST_ID);
    }
    let interaction = req
        .headers()
        .get(&X_FAPI_INTERACTION_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .unwrap_or_else(uuid::Uuid::new_v4);
    let value = HeaderValue::from_str(&interaction.hyphenated().to_string()).ok();
    // On the request too, so the access log (inside) records the id the partner receives.
    if let Some(v) = &value {
        req.headers_mut().insert(X_FAPI_INTERACTION_ID, v.clone());
    }
    let mut res = next.run(req).await;
    if let Some(v) = value {
        res.headers_mut().insert(X_FAPI_INTERACTION_ID, v);
    }
    res
}

/// Serves until `shutdown` resolves, within the listener's bounds (header deadline and size,
/// connection cap); the listener is bound by the caller so tests can use port 0 and learn
/// the address first. The peer address reaches handlers as `ConnectInfo` (login throttling
/// per address).
pub async fn serve(
    name: &'static str,
    listener: tokio::net::TcpListener,
    app: Router,
    limits: scenegate_listener::Limits,
    tls: Option<Arc<scenegate_listener::tls::Certificates>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    scenegate_listener::serve(name, listener, app, limits, tls, Arc::default(), shutdown).await
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_internal_problem_that_discloses_nothing() {
        async fn boom() -> &'static str {
            panic!("db password is hunter2")
        }
        let routes = Router::new().route("/boom", get(boom));
        let app = with_layers(routes, 1024, Duration::from_secs(5));
        let res = app.oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()[header::CONTENT_TYPE], problem::CONTENT_TYPE);
        let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["type"], "https://scenegate.dev/problems/internal");
        assert_eq!(body["request_id"], request_id);
        assert!(!body.to_string().contains("hunter2"));
    }
}
