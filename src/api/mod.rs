//! The partner-facing HTTP surface. Each resource module ends in `routes()`; this file is
//! the table of contents.

pub mod accounts;
pub mod consents;
pub mod oauth;
pub mod ops;
pub mod products;

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// Every documented route. Operational endpoints (`/healthz`, `/metrics`, docs) are added
/// in `app.rs` and kept out of the partner spec.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(oauth::routes())
        .merge(products::routes())
        .merge(consents::routes())
        .merge(accounts::routes())
}
