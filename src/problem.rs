//! RFC 9457 problem details: the one error body every response uses.
//!
//! Handlers and the pipeline return [`crate::error::ApiError`]; it becomes a [`Problem`]
//! stored in the response's extensions. The [`render`] middleware, outermost but for the
//! request id, writes the body with the request id in it, and also turns the bare statuses
//! that tower layers and the router produce (404, 405, 408, 413, 504, a caught panic) into
//! problems. So no error leaves the gateway in any other shape.

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// Base of every problem `type`. Each slug has an anchor in `openapi/problems.md`.
pub const TYPE_BASE: &str = "https://scenegate.dev/problems/";
pub const CONTENT_TYPE: &str = "application/problem+json";

/// A stable problem type: the slug is part of the public API and never changes meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    pub slug: &'static str,
    pub title: &'static str,
}

macro_rules! kinds {
    ($($konst:ident = $slug:literal, $title:literal;)*) => {
        $(pub const $konst: Kind = Kind { slug: $slug, title: $title };)*
        /// Every problem type, for the catalogue test and the OpenAPI description.
        pub const ALL: &[Kind] = &[$($konst),*];
    };
}

kinds! {
    INVALID_REQUEST = "invalid_request", "The request is malformed";
    INVALID_TOKEN = "invalid_token", "The access token is missing, invalid or expired";
    TOKEN_NOT_BOUND_HERE = "token_sender_mismatch", "The access token is bound to a client certificate or key this request did not prove";
    INVALID_DPOP_PROOF = "invalid_dpop_proof", "The DPoP proof is missing or invalid";
    USE_DPOP_NONCE = "use_dpop_nonce", "The DPoP proof must carry the server's current nonce";
    INSUFFICIENT_SCOPE = "insufficient_scope", "The access token lacks the scope this operation needs";
    SECURITY_LEVEL = "security_level", "The partner is not registered at the security level this operation needs";
    PARTNER_SUSPENDED = "partner_suspended", "The partner is suspended";
    NOT_FOUND = "not_found", "No such resource";
    METHOD_NOT_ALLOWED = "method_not_allowed", "Method not allowed on this resource";
    REQUEST_TIMEOUT = "request_timeout", "The request body did not arrive in time";
    PAYLOAD_TOO_LARGE = "payload_too_large", "The request body is too large";
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", "Unsupported content type";
    RATE_LIMITED = "rate_limited", "Too many requests";
    CONSENT_REQUIRED = "consent_required", "This operation needs a customer's consent";
    CONSENT_INACTIVE = "consent_inactive", "The consent is no longer in force";
    CONSENT_PERMISSION = "consent_permission", "The consent does not cover this data";
    CONSENT_STATE = "consent_state", "The consent cannot make this change in its current status";
    INVALID_CLIENT = "invalid_client", "Client authentication failed";
    INVALID_SCOPE = "invalid_scope", "The requested scope is invalid";
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type", "The grant type is not supported";
    INVALID_GRANT = "invalid_grant", "The authorization code or refresh token is invalid";
    UNSUPPORTED_RESPONSE_TYPE = "unsupported_response_type", "The response type is not supported";
    UNAUTHORIZED_CLIENT = "unauthorized_client", "The client may not use this flow";
    SIGNATURE_MISSING = "signature_missing", "The request must carry a detached JWS in x-jws-signature";
    SIGNATURE_MALFORMED = "signature_malformed", "The x-jws-signature value is not a usable detached JWS";
    SIGNATURE_KEY_UNKNOWN = "signature_key_unknown", "The signature names a key this partner has not registered";
    SIGNATURE_INVALID = "signature_invalid", "The signature does not match the request body";
    SIGNATURE_STALE = "signature_stale", "The signature's iat is too old or in the future";
    SIGNATURE_REPLAYED = "signature_replayed", "This signature was already used";
    REQUEST_SIGNATURE_REFUSED = "request_signature_refused", "The request's protocol signature was refused";
    REQUEST_STALE = "request_stale", "The request's timestamp is outside the accepted window";
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused", "The Idempotency-Key was used with another request";
    IDEMPOTENCY_IN_FLIGHT = "idempotency_in_flight", "A request with this Idempotency-Key is still being processed";
    AMOUNT_NOT_CONSENTED = "amount_not_consented", "The payment is not the one the customer consented to";
    CONSENT_LIMIT_EXCEEDED = "consent_limit_exceeded", "The payment exceeds what the customer's consent allows";
    PARTNER_LIMIT_EXCEEDED = "partner_limit_exceeded", "The payment exceeds the partner's limits";
    REFUND_EXCEEDS_PAYMENT = "refund_exceeds_payment", "The refund exceeds what remains refundable";
    PAYMENT_NOT_REFUNDABLE = "payment_not_refundable", "Only a completed payment can be refunded";
    CORE_UNAVAILABLE = "core_unavailable", "A core banking service failed";
    CORE_TIMEOUT = "core_timeout", "A core banking service did not answer in time";
    GATEWAY_TIMEOUT = "gateway_timeout", "The gateway did not finish the request in time";
    SERVICE_UNAVAILABLE = "service_unavailable", "The service is temporarily unavailable";
    INTERNAL = "internal", "Internal error";
}

impl Kind {
    pub fn type_uri(&self) -> String {
        format!("{TYPE_BASE}{}", self.slug)
    }
}

/// One field-level complaint, so a partner can fix every field in one round trip.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FieldIssue {
    pub field: String,
    pub reason: String,
}

/// An RFC 9457 problem. Extension members are optional and only present when they help
/// the caller act: `errors` for fields, `error`/`error_description` on the OAuth endpoints
/// (RFC 6749 §5.2 names), `retry_after` with 429.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://scenegate.dev/problems/insufficient_scope",
    "title": "The access token lacks the scope this operation needs",
    "status": 403,
    "detail": "this operation needs scope `products:read`",
    "request_id": "4f1c2a7e-6f0b-4c43-9a53-1f1d0c3b2a10"
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The `x-request-id` of the call; quote it when asking the bank for help.
    pub request_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldIssue>,
    /// RFC 6749 error code (OAuth endpoints only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// Seconds to wait before retrying (429, 502, 503; also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// The consent's status, when a consent's status is why the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_status: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            type_: kind.type_uri(),
            title: kind.title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: String::new(),
            errors: Vec::new(),
            error: None,
            error_description: None,
            retry_after: None,
            consent_status: None,
        }
    }

    /// The stable slug of `type` (`insufficient_scope`), as metrics, logs and partner
    /// protocols name the problem.
    pub fn slug(&self) -> &str {
        self.type_.strip_prefix(TYPE_BASE).unwrap_or(&self.type_)
    }

    /// The response carries the problem unrendered; [`render`] writes it with the request id.
    pub fn into_response_with(self, mut res: Response) -> Response {
        *res.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        res.extensions_mut().insert(self);
        res
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.into_response_with(Response::new(Body::empty()))
    }
}

/// The problem for a bare status that some layer answered with.
fn for_status(status: StatusCode) -> Problem {
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => (NOT_FOUND, "no resource at this path"),
        StatusCode::METHOD_NOT_ALLOWED => (METHOD_NOT_ALLOWED, "this resource does not support the method"),
        StatusCode::REQUEST_TIMEOUT => (REQUEST_TIMEOUT, "the request body did not arrive in time"),
        StatusCode::PAYLOAD_TOO_LARGE => (PAYLOAD_TOO_LARGE, "the request body exceeds the gateway's limit"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            (UNSUPPORTED_MEDIA_TYPE, "send the content type this operation documents")
        }
        StatusCode::GATEWAY_TIMEOUT => (GATEWAY_TIMEOUT, "the request took longer than the gateway allows"),
        StatusCode::SERVICE_UNAVAILABLE => (SERVICE_UNAVAILABLE, "try again shortly"),
        s if s.is_client_error() => (INVALID_REQUEST, "the request could not be processed"),
        _ => (INTERNAL, "the gateway failed to process the request; quote the request id to the bank"),
    };
    Problem::new(status, kind, detail)
}

/// Middleware: every error response leaves as `application/problem+json` with the request
/// id. Bodies of bare layer errors are dropped, since they are plain text from libraries
/// and may carry internals.
pub async fn render(req: Request, next: Next) -> Response {
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut res = next.run(req).await;
    // A partner protocol's own refusal (its envelope, its signature) is already its answer.
    if res.extensions().get::<ProtocolAnswer>().is_some() {
        return res;
    }
    let problem = match res.extensions_mut().remove::<Problem>() {
        Some(p) => p,
        None if res.status().is_client_error() || res.status().is_server_error() => for_status(res.status()),
        None => return res,
    };
    write(res, Problem { request_id, ..problem })
}

/// Marks a refusal an adapter wrote in its protocol's own form: [`render`] leaves it as is.
#[derive(Clone, Copy, Debug)]
pub struct ProtocolAnswer;

/// The problem type a response carried, for the access log (outside [`render`]).
#[derive(Clone, Debug)]
pub struct ProblemSlug(pub String);

fn write(res: Response, problem: Problem) -> Response {
    let (mut parts, _) = res.into_parts();
    let slug = problem.slug().to_owned();
    parts.extensions.insert(ProblemSlug(slug));
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(secs) = problem.retry_after {
        parts.headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Response::from_parts(parts, Body::from(body))
}

/// Panics become a plain 500 that [`render`] turns into an `internal` problem; the panic
/// message is logged, never sent.
pub fn from_panic(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %msg, "handler panicked");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        INTERNAL,
        "the gateway failed to process the request; quote the request id to the bank",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_url_safe() {
        let mut seen = std::collections::HashSet::new();
        for k in ALL {
            assert!(seen.insert(k.slug), "duplicate slug {}", k.slug);
            assert!(k.slug.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{}", k.slug);
        }
    }

    #[test]
    fn every_problem_type_is_catalogued() {
        let catalogue = include_str!("../openapi/problems.md");
        for k in ALL {
            assert!(catalogue.contains(&format!("## {}", k.slug)), "openapi/problems.md lacks `## {}`", k.slug);
        }
    }
}
