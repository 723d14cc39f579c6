//! Consents (level A2, scope `consents:write`): a partner asks, reads and withdraws.

use axum::{extract::State, response::Response};
use scenegate_adapter_contract::Operation;
use scenegate_adapters::native::wire::{ConsentRequest, ConsentView};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::CallErrors;
use crate::{app::AppState, pipeline, pipeline::PartnerCall, problem::Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_consent)).routes(routes!(get_consent, delete_consent))
}

/// Ask for a customer's consent
///
/// Creates a consent in `awaiting_authorisation`. Then send the customer to authorise it:
/// push an authorisation request to `/oauth2/par` with this `consent_id`, and redirect the
/// customer's browser to `/oauth2/authorize`.
#[utoipa::path(
    post, path = "/v1/consents", tag = "consents", operation_id = "createConsent",
    security(("partner_token" = ["consents:write"])),
    request_body(content = ConsentRequest, content_type = "application/json"),
    responses(
        CallErrors,
        (status = 201, description = "The consent, awaiting the customer.", body = ConsentView),
        (status = 400, description = "A field is malformed; `errors` names it.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_consent(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::CreateConsent, call).await
}

/// Read a consent
///
/// Its status as of now: an authorised consent past its `expiration` reads `expired`.
#[utoipa::path(
    get, path = "/v1/consents/{consent_id}", tag = "consents", operation_id = "getConsent",
    security(("partner_token" = ["consents:write"])),
    params(("consent_id" = String, Path, description = "Consent id, `cns_…`.")),
    responses(
        CallErrors,
        (status = 200, description = "The consent.", body = ConsentView),
        (status = 404, description = "No such consent of yours.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_consent(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::GetConsent, call).await
}

/// Withdraw a consent
///
/// Revokes an authorised consent; tokens bound to it stop working on their next call.
#[utoipa::path(
    delete, path = "/v1/consents/{consent_id}", tag = "consents", operation_id = "deleteConsent",
    security(("partner_token" = ["consents:write"])),
    params(("consent_id" = String, Path, description = "Consent id, `cns_…`.")),
    responses(
        CallErrors,
        (status = 204, description = "Revoked."),
        (status = 404, description = "No such consent of yours.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The consent is not `authorised` (`consent_status` says what it is).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_consent(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::DeleteConsent, call).await
}
