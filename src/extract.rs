//! Request-body reading shared by every handler that takes a body.

use axum::{
    extract::{FromRequest, Request},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use bytes::Bytes;

use crate::problem::{self, Problem};

/// The whole body, within the limits the layers set: too large is 413, too slow is 408,
/// both as problems. axum alone would answer a stalled body with a plain 400.
pub struct BoundedBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for BoundedBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        Bytes::from_request(req, state).await.map(Self).map_err(|rejection| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
            while let Some(e) = source {
                if e.is::<tower_http::timeout::TimeoutError>() {
                    return Problem::new(
                        StatusCode::REQUEST_TIMEOUT,
                        problem::REQUEST_TIMEOUT,
                        "the request body did not arrive in time",
                    )
                    .into_response();
                }
                source = e.source();
            }
            rejection.into_response()
        })
    }
}
