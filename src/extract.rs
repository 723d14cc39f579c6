//! Request parts shared by handlers: the body within its limits, the peer's address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::StatusCode,
    http::request::Parts,
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

/// The address of the connection's peer (the listener records it), for per-address
/// throttling. Never `X-Forwarded-For`: that is whatever the client says it is. Unspecified
/// when a request did not come through a listener (tests calling the router directly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))))
    }
}
