//! The one mapping from failures to the core's `ret_code` envelope.
//!
//! Business refusals answer HTTP 200 with a non-`0000` code, as the real core does, so the
//! gateway must read `ret_code` rather than the status. Only unexpected failures use 500, and
//! their cause goes to the log, never into `ret_msg`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::wire::Envelope;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CoreError {
    /// Names the offending parameter so a caller can fix its request without guessing.
    #[error("bad parameter: {name} ({why})")]
    BadParam { name: &'static str, why: &'static str },
    /// One answer for unknown login and wrong password, so logins cannot be enumerated.
    #[error("invalid login id or password")]
    BadCredentials,
    #[error("insufficient available balance")]
    InsufficientFunds,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("req_seq already used with different content")]
    ReqSeqReused,
    /// The caller gave up on this `req_seq` (`POST /core/payments/{req_seq}/void`); it can
    /// never be posted, so a late retry cannot turn an abandoned payment into a real one.
    #[error("req_seq has been voided")]
    ReqSeqVoided,
    #[error("ccy differs from the currency of {0}")]
    CurrencyMismatch(&'static str),
    /// Temporary: the account exists and may be unfrozen.
    #[error("account {0} is frozen")]
    AccountFrozen(String),
    /// Final: no money moves into or out of a closed account.
    #[error("account {0} is closed")]
    AccountClosed(String),
    #[error("amount over the customer's per-payment limit of {limit_fen} fen")]
    OverTxnLimit { limit_fen: i64 },
    #[error("amount over the customer's daily payment limit of {limit_fen} fen ({left_fen} fen left today)")]
    OverDailyLimit { limit_fen: i64, left_fen: i64 },
    #[error("refund over what remains refundable of the original payment ({left_fen} fen)")]
    RefundExceeds { left_fen: i64 },
    #[error("wrong code, {remaining} attempts left")]
    OtpWrong { remaining: i64 },
    /// Locked for good after too many wrong codes: even the right code is refused, so the
    /// code cannot be guessed by spreading attempts out.
    #[error("code locked after too many wrong attempts")]
    OtpLocked,
    #[error("code expired")]
    OtpExpired,
    #[error("code already used")]
    OtpUsed,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl CoreError {
    pub(crate) fn bad(name: &'static str, why: &'static str) -> Self {
        Self::BadParam { name, why }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadParam { .. } => (StatusCode::OK, "E400"),
            Self::BadCredentials => (StatusCode::OK, "E401"),
            Self::InsufficientFunds => (StatusCode::OK, "E402"),
            Self::NotFound(_) => (StatusCode::OK, "E404"),
            Self::ReqSeqReused => (StatusCode::OK, "E409"),
            Self::ReqSeqVoided => (StatusCode::OK, "E410"),
            Self::CurrencyMismatch(_) => (StatusCode::OK, "E415"),
            Self::AccountFrozen(_) => (StatusCode::OK, "E423"),
            Self::AccountClosed(_) => (StatusCode::OK, "E424"),
            Self::OverTxnLimit { .. } => (StatusCode::OK, "E451"),
            Self::OverDailyLimit { .. } => (StatusCode::OK, "E452"),
            Self::RefundExceeds { .. } => (StatusCode::OK, "E453"),
            Self::OtpWrong { .. } => (StatusCode::OK, "E461"),
            Self::OtpLocked => (StatusCode::OK, "E462"),
            Self::OtpExpired => (StatusCode::OK, "E463"),
            Self::OtpUsed => (StatusCode::OK, "E464"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "E400"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "E999"),
        }
    }
}

impl From<sqlx::Error> for CoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<rusqlite::Error> for CoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl IntoResponse for CoreError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "core bank mock internal error");
        }
        let body = Envelope::<()> { ret_code: code, ret_msg: self.to_string(), data: None };
        (status, Json(body)).into_response()
    }
}
