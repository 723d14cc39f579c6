//! `/core/payments`: post a payment or refund, ask what became of a `req_seq`, and void one
//! whose outcome the gateway does not know. The payment API as a whole is described in the
//! crate documentation.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};

use crate::CoreBank;
use crate::error::CoreError;
use crate::payment::{self, PaymentRequest, Voided};
use crate::wire::{Body, Reply, TransferReceipt, VoidAnswer, ok};

pub(crate) fn router() -> Router<CoreBank> {
    Router::new()
        .route("/core/payments", post(create))
        .route("/core/payments/{req_seq}", get(status))
        .route("/core/payments/{req_seq}/void", post(void))
}

/// Posts one payment (`kind: "payment"`) or refund (`kind: "refund"`) as one balanced
/// double-entry transaction and answers its receipt `{txn_id, req_seq, status: "S",
/// txn_time}`. Idempotent by `req_seq`: the same body again answers the same receipt and
/// writes nothing; another body under a used `req_seq` is E409, a voided one E410. With the
/// mock-only `payment_delay_ms` fault set, the answer waits that long after the transaction
/// has ended, whatever its outcome.
async fn create(State(core): State<CoreBank>, body: Bytes) -> Reply<TransferReceipt> {
    let req = PaymentRequest::parse(&Body::parse(&body)?)?;
    let outcome = payment::pay(&core.batch, &req, core.clock.now_unix()).await;
    core.faults.delay_payment_answer().await;
    ok(outcome?.receipt)
}

/// The reconciler's question "what became of `req_seq`?": the receipt of the payment or
/// refund posted under it, E410 if it was voided, E404 if nothing (or only a plain transfer)
/// was ever posted under it.
async fn status(State(core): State<CoreBank>, Path(req_seq): Path<String>) -> Reply<TransferReceipt> {
    ok(payment::status(&core.batch, &checked(&req_seq)?).await?)
}

/// Settles an unknown outcome for good: if a payment was posted under `req_seq`, answers its
/// receipt (`status: "S"`: it happened, nothing is voided); otherwise burns `req_seq` so any
/// later `POST /core/payments` with it is E410, and answers `{req_seq, status: "V"}`. Takes
/// the same write lock as posting, so a racing post and void cannot both win. Voiding twice
/// answers "V" twice; a `req_seq` used by a plain transfer is E409.
async fn void(State(core): State<CoreBank>, Path(req_seq): Path<String>) -> Reply<VoidAnswer> {
    let req_seq = checked(&req_seq)?;
    match payment::void(&core.batch, &req_seq, core.clock.now_unix()).await? {
        Voided::Posted(receipt) => ok(VoidAnswer::Posted(receipt)),
        Voided::Voided => ok(VoidAnswer::Voided { req_seq, status: "V" }),
    }
}

fn checked(req_seq: &str) -> Result<String, CoreError> {
    if req_seq.is_empty() || req_seq.chars().count() > 64 {
        return Err(CoreError::bad("req_seq", "must be 1 to 64 characters"));
    }
    Ok(req_seq.to_owned())
}
