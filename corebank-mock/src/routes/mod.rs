//! The route table: every path the mock serves, and the answers for paths it does not.

mod accounts;
mod admin;
mod customers;
mod modern;
mod otp;
mod payments;
mod products;
mod transfers;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::CoreError;
use crate::wire::{Envelope, LedgerCheck, Reply, ok};
use crate::{CoreBank, Dialect, ledger};

/// The routes of one dialect; the other's paths answer 404.
pub(crate) fn router(core: CoreBank, dialect: Dialect) -> Router {
    match dialect {
        Dialect::Legacy => legacy(core),
        Dialect::Modern => modern::router(core),
    }
}

fn legacy(core: CoreBank) -> Router {
    Router::new()
        .route("/core/health", get(health))
        .route("/core/ledger/check", get(ledger_check))
        .merge(products::router())
        .merge(customers::router())
        .merge(accounts::router())
        .merge(transfers::router())
        .merge(payments::router())
        .merge(otp::router())
        .merge(admin::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(core)
}

/// UP only when the database answers, so a wedged file shows here rather than mid-transfer.
async fn health(State(core): State<CoreBank>) -> Reply<Value> {
    core.reads.with(|c| c.query_row("SELECT 1", [], |_| Ok(())))?;
    ok(json!({ "status": "UP" }))
}

async fn ledger_check(State(core): State<CoreBank>) -> Reply<LedgerCheck> {
    ok(ledger::check(&core.batch).await?)
}

/// Unknown paths still answer in the envelope, with a real 404 status so the gateway can tell
/// a wrong URL from a missing record (which is 200 + E404).
async fn not_found() -> Response {
    let body = Envelope::<()> { ret_code: "E404", ret_msg: "no such path".into(), data: None };
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn method_not_allowed() -> CoreError {
    CoreError::MethodNotAllowed
}
