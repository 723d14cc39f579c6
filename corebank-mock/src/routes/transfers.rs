//! `POST /core/transfers`: the one write the core exposes, idempotent by `req_seq`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;

use crate::error::CoreError;
use crate::ledger::{self, MAX_AMT_FEN, TransferSpec};
use crate::wire::{Body, Reply, TransferReceipt, ok};
use crate::{CoreBank, clock};

pub(crate) fn router() -> Router<CoreBank> {
    Router::new().route("/core/transfers", post(create))
}

async fn create(State(core): State<CoreBank>, body: Bytes) -> Reply<TransferReceipt> {
    let spec = parse(&Body::parse(&body)?)?;
    ok(ledger::transfer(&core.pool, &spec).await?)
}

fn parse(body: &Body) -> Result<TransferSpec, CoreError> {
    let req_seq = body.text("req_seq", 64)?;
    if req_seq.is_empty() {
        return Err(CoreError::bad("req_seq", "must be 1 to 64 characters"));
    }
    let dr_acct = body.text("dr_acct", 32)?;
    let cr_acct = body.text("cr_acct", 32)?;
    if dr_acct == cr_acct {
        return Err(CoreError::bad("cr_acct", "same as dr_acct"));
    }
    let amt_fen = body.int("amt_fen")?;
    if !(1..=MAX_AMT_FEN).contains(&amt_fen) {
        return Err(CoreError::bad("amt_fen", "must be a positive integer up to 10^14"));
    }
    let ccy = body.text("ccy", 3)?;
    if ccy.len() != 3 || !ccy.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(CoreError::bad("ccy", "must be an ISO 4217 code"));
    }
    let memo = if body.has("memo") { body.text("memo", 100)? } else { String::new() };
    Ok(TransferSpec {
        req_seq,
        dr_acct,
        cr_acct,
        amt_fen,
        ccy,
        memo,
        cpty_name: None,
        cpty_acct: None,
        at_unix: clock::now_unix(),
    })
}
