//! `ApiError`: every way a partner call can fail, mapped to HTTP in exactly one place.
//!
//! The mapping decides status, problem type and a public `detail`. Internal causes (core
//! messages, store failures) are logged here and never sent.

use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use scenegate_adapter_contract::AdapterError;

use scenegate_adapter_contract::canonical::ConsentStatus;

use crate::{
    auth::{OAuthError, access_token::TokenError},
    consent::ConsentError,
    core::CoreError,
    problem::{self, FieldIssue, Problem},
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("this operation needs scope `{0}`")]
    InsufficientScope(&'static str),
    #[error("this operation needs security level {0:?}; the partner is registered at {1:?}")]
    SecurityLevel(scenegate_adapter_contract::SecurityLevel, scenegate_adapter_contract::SecurityLevel),
    #[error("the partner is suspended; contact the bank")]
    PartnerSuspended,
    #[error("`{field}`: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("{0}")]
    NotFound(&'static str),
    #[error("rate limit of {limit} requests exceeded")]
    RateLimited { retry_after: Duration, limit: u32 },
    #[error(transparent)]
    Adapter(AdapterError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Consent(#[from] ConsentError),
    #[error("this operation reads a customer's data: use an access token from the customer authorisation flow")]
    ConsentRequired,
    #[error("the consent is {}", .0.code())]
    ConsentInactive(ConsentStatus),
    #[error("the consent does not include {0}")]
    ConsentPermission(&'static str),
    #[error(transparent)]
    Signature(#[from] crate::auth::jws::JwsError),
    #[error("this signature was already used; sign each request afresh")]
    SignatureReplayed,
    #[error("the `Idempotency-Key` header: {0}")]
    IdempotencyKey(#[from] crate::idempotency::KeyError),
    #[error("this Idempotency-Key was used with another method, path or body; use a new key for a new request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed; retry after the time in `Retry-After`")]
    IdempotencyInFlight { retry_after: u64 },
    #[error(transparent)]
    Payment(#[from] crate::payments::PaymentError),
    /// A store failed: unavailable or timed out (503, retry) or worse (500).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<crate::events::EventStoreError> for ApiError {
    fn from(e: crate::events::EventStoreError) -> Self {
        use crate::{events::EventStoreError as E, store::StoreError as S};
        Self::Store(match e {
            E::Unavailable(m) => S::Unavailable(m),
            E::NotFound => S::NotFound,
            E::Conflict(m) => S::Conflict(m),
            E::Corrupt(m) => S::Corrupt(m),
        })
    }
}

impl From<AdapterError> for ApiError {
    fn from(e: AdapterError) -> Self {
        match e {
            AdapterError::InvalidField { field, reason } => Self::InvalidField { field, reason },
            other => Self::Adapter(other),
        }
    }
}

impl ApiError {
    pub(crate) fn problem(&self) -> Problem {
        use StatusCode as S;
        let p = |status, kind, detail: String| Problem::new(status, kind, detail);
        match self {
            Self::Token(TokenError::SenderMismatch | TokenError::DpopMismatch(_)) => {
                p(S::UNAUTHORIZED, problem::TOKEN_NOT_BOUND_HERE, self.to_string())
            }
            Self::Token(TokenError::UseDpopNonce) => p(S::UNAUTHORIZED, problem::USE_DPOP_NONCE, self.to_string()),
            Self::Token(e) => p(S::UNAUTHORIZED, problem::INVALID_TOKEN, e.to_string()),
            Self::InsufficientScope(_) => p(S::FORBIDDEN, problem::INSUFFICIENT_SCOPE, self.to_string()),
            Self::SecurityLevel(..) => p(S::FORBIDDEN, problem::SECURITY_LEVEL, self.to_string()),
            Self::PartnerSuspended => p(S::FORBIDDEN, problem::PARTNER_SUSPENDED, self.to_string()),
            Self::InvalidField { field, reason } => Problem {
                errors: vec![FieldIssue { field: field.clone(), reason: reason.clone() }],
                ..p(S::BAD_REQUEST, problem::INVALID_REQUEST, self.to_string())
            },
            Self::NotFound(what) => p(S::NOT_FOUND, problem::NOT_FOUND, format!("no such {what}")),
            Self::RateLimited { retry_after, .. } => Problem {
                retry_after: Some(retry_after.as_secs().max(1)),
                ..p(
                    S::TOO_MANY_REQUESTS,
                    problem::RATE_LIMITED,
                    format!("{self}; retry after the time in `Retry-After`"),
                )
            },
            Self::Adapter(AdapterError::MalformedBody(_)) => {
                p(S::BAD_REQUEST, problem::INVALID_REQUEST, self.to_string())
            }
            Self::Adapter(AdapterError::UnsupportedMediaType { .. }) => {
                p(S::UNSUPPORTED_MEDIA_TYPE, problem::UNSUPPORTED_MEDIA_TYPE, self.to_string())
            }
            Self::Adapter(AdapterError::Unsupported(_)) => {
                p(S::FORBIDDEN, problem::INSUFFICIENT_SCOPE, self.to_string())
            }
            Self::Adapter(AdapterError::Signature(_)) => {
                p(S::UNAUTHORIZED, problem::REQUEST_SIGNATURE_REFUSED, self.to_string())
            }
            Self::Adapter(AdapterError::Stale(_)) => p(S::UNAUTHORIZED, problem::REQUEST_STALE, self.to_string()),
            Self::Adapter(AdapterError::WrongPartner(_)) => {
                p(S::UNAUTHORIZED, problem::INVALID_CLIENT, self.to_string())
            }
            Self::Core(CoreError::NotFound) => p(S::NOT_FOUND, problem::NOT_FOUND, "no such resource".into()),
            Self::Core(CoreError::BadInput { field, reason }) => Problem {
                errors: vec![FieldIssue { field: (*field).into(), reason: reason.clone() }],
                ..p(S::BAD_REQUEST, problem::INVALID_REQUEST, format!("`{field}`: {reason}"))
            },
            Self::Core(CoreError::NotSent { retry_after, .. }) => Problem {
                retry_after: Some((retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1)),
                ..p(
                    S::SERVICE_UNAVAILABLE,
                    problem::CORE_UNAVAILABLE,
                    "the core banking service is failing; the gateway is not calling it for now: retry after \
                     `Retry-After`"
                        .into(),
                )
            },
            Self::Core(CoreError::Timeout(_)) => p(
                S::GATEWAY_TIMEOUT,
                problem::CORE_TIMEOUT,
                "the core banking service did not answer in time; the call may be retried".into(),
            ),
            Self::Core(_) => Problem {
                retry_after: Some(1),
                ..p(
                    S::BAD_GATEWAY,
                    problem::CORE_UNAVAILABLE,
                    "the core banking service failed; quote the request id to the bank".into(),
                )
            },
            Self::OAuth(e) => oauth_problem(e),
            Self::Consent(ConsentError::InvalidField { field, reason }) => Problem {
                errors: vec![FieldIssue { field: (*field).into(), reason: reason.clone() }],
                ..p(S::BAD_REQUEST, problem::INVALID_REQUEST, format!("`{field}`: {reason}"))
            },
            Self::Consent(ConsentError::NotFound) => p(S::NOT_FOUND, problem::NOT_FOUND, "no such consent".into()),
            Self::Consent(ConsentError::State(status)) => Problem {
                consent_status: Some(status.code().into()),
                ..p(S::CONFLICT, problem::CONSENT_STATE, self.to_string())
            },
            Self::ConsentRequired => p(S::FORBIDDEN, problem::CONSENT_REQUIRED, self.to_string()),
            Self::ConsentInactive(status) => Problem {
                consent_status: Some(status.code().into()),
                ..p(S::FORBIDDEN, problem::CONSENT_INACTIVE, self.to_string())
            },
            Self::ConsentPermission(_) => p(S::FORBIDDEN, problem::CONSENT_PERMISSION, self.to_string()),
            Self::Signature(e) => signature_problem(e),
            Self::SignatureReplayed => p(S::UNAUTHORIZED, problem::SIGNATURE_REPLAYED, self.to_string()),
            Self::IdempotencyKey(_) => Problem {
                errors: vec![FieldIssue { field: "Idempotency-Key".into(), reason: self.to_string() }],
                ..p(S::BAD_REQUEST, problem::INVALID_REQUEST, self.to_string())
            },
            Self::IdempotencyKeyReused => p(S::UNPROCESSABLE_ENTITY, problem::IDEMPOTENCY_KEY_REUSED, self.to_string()),
            Self::IdempotencyInFlight { retry_after } => Problem {
                retry_after: Some(*retry_after),
                ..p(S::CONFLICT, problem::IDEMPOTENCY_IN_FLIGHT, self.to_string())
            },
            Self::Payment(e) => payment_problem(e),
            Self::Store(e) | Self::Consent(ConsentError::Store(e)) if e.is_transient() => Problem {
                retry_after: Some(1),
                ..p(
                    S::SERVICE_UNAVAILABLE,
                    problem::SERVICE_UNAVAILABLE,
                    "the gateway's database is unavailable; retry shortly (money-moving calls with the same \
                     Idempotency-Key)"
                        .into(),
                )
            },
            Self::Adapter(AdapterError::InvalidField { .. } | AdapterError::Encode(_))
            | Self::Consent(ConsentError::Store(_))
            | Self::Store(_)
            | Self::Internal(_) => p(
                S::INTERNAL_SERVER_ERROR,
                problem::INTERNAL,
                "the gateway failed to process the request; quote the request id to the bank".into(),
            ),
        }
    }
}

fn signature_problem(e: &crate::auth::jws::JwsError) -> Problem {
    use crate::auth::jws::JwsError as J;
    use StatusCode as S;
    let (status, kind) = match e {
        J::Missing => (S::BAD_REQUEST, problem::SIGNATURE_MISSING),
        J::Malformed(_) | J::UnsupportedAlgorithm | J::MissingIat | J::UnsupportedCritical(_) => {
            (S::BAD_REQUEST, problem::SIGNATURE_MALFORMED)
        }
        J::UnknownKey => (S::UNAUTHORIZED, problem::SIGNATURE_KEY_UNKNOWN),
        J::Stale => (S::UNAUTHORIZED, problem::SIGNATURE_STALE),
        J::BadSignature => (S::UNAUTHORIZED, problem::SIGNATURE_INVALID),
        J::Signing(_) => (S::INTERNAL_SERVER_ERROR, problem::INTERNAL),
    };
    let detail = match e {
        J::Signing(_) => "the gateway failed to process the request; quote the request id to the bank".to_owned(),
        other => other.to_string(),
    };
    Problem::new(status, kind, detail)
}

fn payment_problem(e: &crate::payments::PaymentError) -> Problem {
    use crate::payments::{PaymentError as E, Refused as R};
    use StatusCode as S;
    let p = |status, kind, detail: String| Problem::new(status, kind, detail);
    match e {
        E::InvalidField { field, reason } => Problem {
            errors: vec![FieldIssue { field: (*field).into(), reason: reason.clone() }],
            ..p(S::BAD_REQUEST, problem::INVALID_REQUEST, e.to_string())
        },
        E::NotFound(what) => p(S::NOT_FOUND, problem::NOT_FOUND, format!("no such {what}")),
        // The pipeline answers it with what the key's record holds; never seen otherwise.
        E::KeyTaken => ApiError::IdempotencyInFlight { retry_after: 1 }.problem(),
        E::Refused(R::ConsentState(status)) => Problem {
            consent_status: Some(status.code().into()),
            ..p(S::CONFLICT, problem::CONSENT_STATE, e.to_string())
        },
        E::Refused(R::AmountNotConsented) => p(S::UNPROCESSABLE_ENTITY, problem::AMOUNT_NOT_CONSENTED, e.to_string()),
        E::Refused(R::OverConsentPerPayment | R::OverConsentDaily | R::OverConsentMonthly) => {
            p(S::UNPROCESSABLE_ENTITY, problem::CONSENT_LIMIT_EXCEEDED, e.to_string())
        }
        E::Refused(R::OverPartnerPerPayment | R::OverPartnerDaily) => {
            p(S::UNPROCESSABLE_ENTITY, problem::PARTNER_LIMIT_EXCEEDED, e.to_string())
        }
        E::Refused(R::RefundExceeds { .. }) => {
            p(S::UNPROCESSABLE_ENTITY, problem::REFUND_EXCEEDS_PAYMENT, e.to_string())
        }
        E::Refused(R::NotRefundable) => p(S::CONFLICT, problem::PAYMENT_NOT_REFUNDABLE, e.to_string()),
        E::Consent(c) => ApiError::Consent(clone_consent_error(c)).problem(),
        E::Core(CoreError::Timeout(_)) => {
            p(S::GATEWAY_TIMEOUT, problem::CORE_TIMEOUT, "the core banking service did not answer in time".into())
        }
        E::Core(_) => Problem {
            retry_after: Some(1),
            ..p(
                S::BAD_GATEWAY,
                problem::CORE_UNAVAILABLE,
                "the core banking service failed; quote the request id to the bank".into(),
            )
        },
        E::Unavailable(_) => Problem {
            retry_after: Some(1),
            ..p(
                S::SERVICE_UNAVAILABLE,
                problem::SERVICE_UNAVAILABLE,
                "the payment store is unavailable; retry with the same Idempotency-Key".into(),
            )
        },
    }
}

fn clone_consent_error(e: &ConsentError) -> ConsentError {
    match e {
        ConsentError::InvalidField { field, reason } => ConsentError::InvalidField { field, reason: reason.clone() },
        ConsentError::NotFound => ConsentError::NotFound,
        ConsentError::State(s) => ConsentError::State(*s),
        ConsentError::Store(s) => ConsentError::Store(s.clone()),
    }
}

fn oauth_problem(e: &OAuthError) -> Problem {
    use StatusCode as S;
    let (status, kind) = match e {
        OAuthError::InvalidRequest(_) => (S::BAD_REQUEST, problem::INVALID_REQUEST),
        OAuthError::UnsupportedMediaType(_) => (S::UNSUPPORTED_MEDIA_TYPE, problem::UNSUPPORTED_MEDIA_TYPE),
        OAuthError::InvalidClient(_) => (S::UNAUTHORIZED, problem::INVALID_CLIENT),
        OAuthError::InvalidDpopProof(_) => (S::BAD_REQUEST, problem::INVALID_DPOP_PROOF),
        OAuthError::UseDpopNonce => (S::BAD_REQUEST, problem::USE_DPOP_NONCE),
        OAuthError::InvalidScope(_) => (S::BAD_REQUEST, problem::INVALID_SCOPE),
        OAuthError::UnsupportedGrantType(_) => (S::BAD_REQUEST, problem::UNSUPPORTED_GRANT_TYPE),
        OAuthError::InvalidGrant(_) => (S::BAD_REQUEST, problem::INVALID_GRANT),
        OAuthError::UnsupportedResponseType(_) => (S::BAD_REQUEST, problem::UNSUPPORTED_RESPONSE_TYPE),
        OAuthError::UnauthorizedClient(_) => (S::FORBIDDEN, problem::UNAUTHORIZED_CLIENT),
        OAuthError::PartnerSuspended => (S::FORBIDDEN, problem::PARTNER_SUSPENDED),
        OAuthError::Unavailable(_) => (S::SERVICE_UNAVAILABLE, problem::SERVICE_UNAVAILABLE),
    };
    let detail = match e {
        OAuthError::PartnerSuspended => "the partner is suspended; contact the bank".to_owned(),
        other => other.to_string(),
    };
    Problem {
        error: Some(e.code().into()),
        error_description: Some(detail.clone()),
        retry_after: matches!(e, OAuthError::Unavailable(_)).then_some(1),
        ..Problem::new(status, kind, detail)
    }
}

impl ApiError {
    /// Logs the error as its answer (of `status`) is written: a failure as an error, a
    /// refusal at debug.
    pub(crate) fn log(&self, status: u16) {
        if status >= 500 {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        self.log(problem.status);
        let mut res = problem.into_response();
        let headers = res.headers_mut();
        match &self {
            Self::Token(TokenError::DpopMismatch(_)) => {
                let challenge = r#"DPoP error="invalid_dpop_proof", algs="ES256 PS256""#;
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            Self::Token(TokenError::UseDpopNonce) => {
                let challenge = r#"DPoP error="use_dpop_nonce", algs="ES256 PS256""#;
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            Self::Token(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer error="invalid_token""#));
            }
            Self::InsufficientScope(scope) => {
                if let Ok(v) = HeaderValue::from_str(&format!(r#"Bearer error="insufficient_scope", scope="{scope}""#))
                {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            Self::RateLimited { retry_after, limit } => {
                headers.insert("ratelimit-limit", HeaderValue::from(*limit));
                headers.insert("ratelimit-remaining", HeaderValue::from(0));
                headers.insert("ratelimit-reset", HeaderValue::from(retry_after.as_secs().max(1)));
            }
            Self::OAuth(OAuthError::InvalidClient(_)) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer error="invalid_client""#));
            }
            _ => {}
        }
        if matches!(self, Self::OAuth(_)) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        res
    }
}
