//! The modern dialect's one mapping from the engine's refusals to `{"error": {code,
//! message}}` with a real HTTP status: 400 bad request, 404, 409, 410, 422 business refusal,
//! 500 (cause logged, never answered).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::amount;
use crate::error::CoreError;

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// `INVALID_REQUEST`, the message naming the field first.
    pub(crate) fn invalid(field: &str, why: &str) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "INVALID_REQUEST", message: format!("{field}: {why}") }
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self { status: StatusCode::NOT_FOUND, code: "NOT_FOUND", message: format!("{what} not found") }
    }

    fn refused(code: &'static str, message: String) -> Self {
        Self { status: StatusCode::UNPROCESSABLE_ENTITY, code, message }
    }
}

/// The engine names fields as the legacy wire does; the modern names of the same fields.
fn modern_name(legacy: &str) -> &str {
    match legacy {
        "req_seq" => "posting_id",
        "orig_req_seq" => "original_posting_id",
        "dr_acct" => "debit_account",
        "cr_acct" => "credit_account",
        "amt_fen" => "amount",
        "ccy" => "currency",
        "memo" => "narrative",
        "scene" => "scenario",
        "mcc" => "merchant_category_code",
        "payment" => "posting",
        "acct_no" => "account",
        "cust_no" => "customer",
        other => other,
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        // Every engine amount is in a currency of two minor digits (CNY, USD).
        let money = |fen: i64| amount::format(fen, 2);
        match e {
            CoreError::BadParam { name, why } => Self::invalid(modern_name(name), why),
            CoreError::NotFound(what) => Self::not_found(modern_name(what)),
            CoreError::ReqSeqReused => Self {
                status: StatusCode::CONFLICT,
                code: "POSTING_ID_REUSED",
                message: "posting_id already used with different content".into(),
            },
            CoreError::ReqSeqVoided => {
                Self { status: StatusCode::GONE, code: "VOIDED", message: "posting_id has been voided".into() }
            }
            CoreError::InsufficientFunds => {
                Self::refused("INSUFFICIENT_FUNDS", "insufficient available balance".into())
            }
            CoreError::CurrencyMismatch(field) => Self::refused(
                "CURRENCY_MISMATCH",
                format!("currency differs from the currency of {}", modern_name(field)),
            ),
            CoreError::AccountFrozen(acct) => Self::refused("ACCOUNT_FROZEN", format!("account {acct} is frozen")),
            CoreError::AccountClosed(acct) => Self::refused("ACCOUNT_CLOSED", format!("account {acct} is closed")),
            CoreError::OverTxnLimit { limit_fen } => Self::refused(
                "LIMIT_PER_PAYMENT",
                format!("amount over the customer's per-payment limit of {}", money(limit_fen)),
            ),
            CoreError::OverDailyLimit { limit_fen, left_fen } => Self::refused(
                "LIMIT_DAILY",
                format!(
                    "amount over the customer's daily payment limit of {} ({} left today)",
                    money(limit_fen),
                    money(left_fen)
                ),
            ),
            CoreError::RefundExceeds { left_fen } => Self::refused(
                "REFUND_EXCEEDS_ORIGINAL",
                format!("refund over what remains refundable of the original posting ({})", money(left_fen)),
            ),
            CoreError::MethodNotAllowed => Self {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "INVALID_REQUEST",
                message: "method not allowed".into(),
            },
            // Logins and one-time codes are not in this dialect; should one reach here it
            // is a request the dialect does not take.
            e @ (CoreError::BadCredentials
            | CoreError::OtpWrong { .. }
            | CoreError::OtpLocked
            | CoreError::OtpExpired
            | CoreError::OtpUsed) => Self::invalid("request", &e.to_string()),
            CoreError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "core bank mock internal error");
                Self { status: StatusCode::INTERNAL_SERVER_ERROR, code: "INTERNAL", message: "internal error".into() }
            }
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        CoreError::from(e).into()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        CoreError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": { "code": self.code, "message": self.message } }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(e: ApiError) -> (StatusCode, serde_json::Value) {
        let res = e.into_response();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn an_internal_error_is_500_and_keeps_its_cause_to_the_log() {
        let (status, answer) =
            body(CoreError::Internal(anyhow::anyhow!("disk I/O error at /secret/path")).into()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer, json!({ "error": { "code": "INTERNAL", "message": "internal error" } }));
    }

    #[tokio::test]
    async fn engine_field_names_become_modern_ones() {
        let (status, answer) = body(CoreError::bad("orig_req_seq", "required").into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(answer["error"]["message"], "original_posting_id: required");
        let (_, answer) = body(CoreError::CurrencyMismatch("cr_acct").into()).await;
        assert_eq!(answer["error"]["message"], "currency differs from the currency of credit_account");
    }
}
