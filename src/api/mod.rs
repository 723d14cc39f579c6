//! The partner-facing HTTP surface. Each resource module ends in `routes()`; this file is
//! the table of contents.

pub mod accounts;
pub mod consents;
pub mod oauth;
pub mod ops;
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
