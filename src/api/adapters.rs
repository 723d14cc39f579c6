//! Partner protocols: what each built-in adapter carries, and the single URL at which
//! partners of a signed-request protocol call the gateway.

use axum::{Json, extract::State, response::Response};
use scenegate_adapter_contract::Capabilities;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{app::AppState, pipeline, pipeline::PartnerCall, problem::Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_adapters)).routes(routes!(adapted_call))
}

/// Path-style protocols' own paths under `/gw/{partner_id}/…`, any method. Not in the
/// OpenAPI document: each protocol's paths are its adapter's, listed in its guide.
pub fn protocol_paths() -> axum::Router<AppState> {
    axum::Router::new().route("/gw/{partner_id}/{*rest}", axum::routing::any(adapted_call))
}

/// One built-in adapter and what it carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdapterInfo {
    /// The name a partner file gives in `adapter.name`.
    #[schema(example = "open-platform")]
    pub name: &'static str,
    pub capabilities: Capabilities,
}

/// The built-in adapters.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdapterList {
    pub data: Vec<AdapterInfo>,
}

/// The adapters' capability matrix, read from the adapters themselves.
pub fn adapter_list() -> AdapterList {
    let data = scenegate_adapters::builtin()
        .iter()
        .map(|kind| AdapterInfo { name: kind.name(), capabilities: *kind.capabilities() })
        .collect();
    AdapterList { data }
}

/// List partner adapters
///
/// Every partner protocol the gateway speaks, with the operations it carries, how its
/// partners authenticate, where they call and how they hear of events. Public: it is the
/// same for everyone.
#[utoipa::path(
    get, path = "/v1/adapters", tag = "adapters", operation_id = "listAdapters",
    responses((status = 200, description = "The built-in adapters.", body = AdapterList)),
)]
pub async fn list_adapters() -> Json<AdapterList> {
    Json(adapter_list())
}

/// Call as an adapted partner
///
/// The single URL of a partner whose adapter speaks a signed-request protocol (for the
/// `open-platform` adapter: form-encoded common parameters with `method`, `biz_content` and
/// `sign`). The adapter reads the operation from the request, checks its signature with the
/// keys in the partner's file, and answers in the protocol's own envelope, refusals
/// included. A partner id that is unknown, or whose partner uses the standard API, is 404.
#[utoipa::path(
    post, path = "/gw/{partner_id}", tag = "adapters", operation_id = "adaptedCall",
    params(("partner_id" = String, Path, description = "The partner's id, `ptn_…`.", example = "ptn_metrogo")),
    request_body(content = Option<String>, content_type = "application/x-www-form-urlencoded",
        description = "The protocol's request, as its adapter's guide describes. Optional: the \
            `open-platform` adapter also takes its parameters in the query string. A request the \
            adapter refuses is answered in the protocol's envelope (200), as its clients expect."),
    responses(
        (status = 200, description = "The protocol's answer, in its envelope.", body = Object, content_type = "application/json"),
        (status = 404, description = "No adapted partner at this URL.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn adapted_call(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run_adapted(&gw, call).await
}

/// The capability matrix as Markdown: what `scenegate adapters` prints and
/// `openapi/adapters.md` holds (a test keeps the two equal).
pub fn capability_matrix() -> String {
    use scenegate_adapter_contract::{Authentication, Entry, Notifications, Operation};
    let mut out = String::from(
        "# Partner adapters\n\nGenerated from the adapters' code by `scenegate adapters`; do not edit. \
         `GET /v1/adapters` serves the same as JSON.\n\n",
    );
    out.push_str("| adapter | entry | authentication | notifications | highest level |\n|---|---|---|---|---|\n");
    let list = adapter_list();
    for a in &list.data {
        let c = &a.capabilities;
        let entry = match c.entry {
            Entry::StandardPaths => "the standard API's paths (`/v1/…`)",
            Entry::SingleUrl => "`POST /gw/{partner_id}`",
            Entry::PathStyle => "its own paths under `/gw/{partner_id}/…`",
        };
        let auth = match c.authentication {
            Authentication::BearerToken => "OAuth access token".to_owned(),
            Authentication::SignedRequest { suites } => {
                let names: Vec<&str> = suites.iter().map(|s| s.name()).collect();
                format!("signed request: {}", names.join(", "))
            }
        };
        let notifications = match c.notifications {
            Notifications::StandardWebhooks => "Standard Webhooks (2xx), or polling `/v1/events`",
            Notifications::SignedFormSuccess => "signed form post, acknowledged by the body `success`",
            Notifications::EncryptedJson => "JSON with an AES-256-GCM/SM4-GCM resource, acknowledged by 2xx",
            Notifications::QueryOnly => "none: the partner queries",
        };
        out.push_str(&format!("| `{}` | {entry} | {auth} | {notifications} | {:?} |\n", a.name, c.highest_level));
    }
    out.push_str("\n| operation | scope | level |");
    for a in &list.data {
        out.push_str(&format!(" `{}` |", a.name));
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---|".repeat(list.data.len()));
    out.push('\n');
    for op in Operation::ALL {
        out.push_str(&format!("| `{}` | `{}` | {:?} |", op.name(), op.required_scope(), op.security_level()));
        for a in &list.data {
            out.push_str(if a.capabilities.carries(*op) { " ✓ |" } else { " |" });
        }
        out.push('\n');
    }
    out
}
