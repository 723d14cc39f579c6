//! Events for partners that poll (level A2, scope `events:read`): the same bodies a webhook
//! delivers, kept until acknowledged.

use axum::{extract::State, response::Response};
use scenegate_adapter_contract::Operation;
use scenegate_adapters::native::wire::EventList;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::CallErrors;
use crate::{app::AppState, pipeline, pipeline::PartnerCall, problem::Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(ack_event))
}

/// List unacknowledged events
///
/// Oldest first: payment, refund and consent status changes. Follow `links.next` until it is
/// absent; acknowledge each event once handled. Events of one subject are in order.
#[utoipa::path(
    get, path = "/v1/events", tag = "events", operation_id = "listEvents",
    security(("partner_token" = ["events:read"])),
    params(
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 25.", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "From `links.next`."),
    ),
    responses(
        CallErrors,
        (status = 200, description = "A page of events.", body = EventList),
        (status = 400, description = "A parameter is malformed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_events(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::ListEvents, call).await
}

/// Acknowledge an event
///
/// It no longer appears in `GET /v1/events`. Acknowledging twice is harmless.
#[utoipa::path(
    post, path = "/v1/events/{event_id}/ack", tag = "events", operation_id = "ackEvent",
    security(("partner_token" = ["events:read"])),
    params(("event_id" = String, Path, description = "Event id, `evt_…`.")),
    responses(
        CallErrors,
        (status = 204, description = "Acknowledged."),
        (status = 400, description = "The id is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event of yours.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ack_event(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::AckEvent, call).await
}
