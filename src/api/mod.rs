//! The partner-facing HTTP surface. Each resource module ends in `routes()`; this file is
//! the table of contents.

pub mod accounts;
pub mod adapters;
pub mod consents;
pub mod events;
pub mod oauth;
pub mod ops;
pub mod payments;
pub mod products;

use utoipa_axum::router::OpenApiRouter;

use crate::{app::AppState, problem::Problem};

/// Every documented route. Operational endpoints (`/healthz`, `/metrics`, docs) are added
/// in `app.rs` and kept out of the partner spec.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(oauth::routes())
        .merge(products::routes())
        .merge(consents::routes())
        .merge(accounts::routes())
        .merge(payments::routes())
        .merge(events::routes())
        .merge(adapters::routes())
}

/// What a money-moving call may answer besides [`CallErrors`].
#[derive(utoipa::IntoResponses)]
pub enum MoneyMovingErrors {
    /// A field is malformed (`invalid_request`, `errors` names it; also a missing or malformed
    /// `Idempotency-Key`), or the signature is missing (`signature_missing`) or unusable
    /// (`signature_malformed`).
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// The signature names an unknown key (`signature_key_unknown`), does not match the body
    /// (`signature_invalid`), is stale (`signature_stale`) or was used before
    /// (`signature_replayed`). Also `invalid_token`.
    #[response(status = 401, content_type = "application/problem+json")]
    SignatureRefused(Problem),
    /// No such consent or payment of yours.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The consent is not `authorised` (`consent_state`, with `consent_status`), the payment
    /// is not refundable (`payment_not_refundable`), or a request with this key is still in
    /// flight (`idempotency_in_flight`, see `Retry-After`).
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// Not what the customer consented to (`amount_not_consented`), over the consent's
    /// allowance (`consent_limit_exceeded`), over the partner's limits
    /// (`partner_limit_exceeded`), over what remains refundable (`refund_exceeds_payment`),
    /// or an `Idempotency-Key` reused for another request (`idempotency_key_reused`).
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(Problem),
    /// The payment store is briefly unavailable (`service_unavailable`): retry with the same key.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// The errors every partner API call may answer, whatever the operation; each operation
/// lists its own (400, 404, 409) beside these.
#[derive(utoipa::IntoResponses)]
pub enum CallErrors {
    /// Missing, invalid, expired or revoked access token (`invalid_token`).
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token lacks the operation's scope (`insufficient_scope`), the partner is suspended
    /// (`partner_suspended`) or below the operation's security level (`security_level`). For
    /// customer data also: no consent behind the token (`consent_required`), a consent no longer
    /// in force (`consent_inactive`, with `consent_status`) or one not covering the data
    /// (`consent_permission`).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Rate limit exceeded (`rate_limited`); see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem),
    /// A core banking service failed (`core_unavailable`).
    #[response(status = 502, content_type = "application/problem+json")]
    BadGateway(Problem),
    /// A core banking service did not answer in time (`core_timeout`), or the request took
    /// longer than the gateway allows (`gateway_timeout`).
    #[response(status = 504, content_type = "application/problem+json")]
    GatewayTimeout(Problem),
}
