//! `POST /core/transfers`: a plain account-to-account transfer, idempotent by `req_seq`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;

use crate::CoreBank;
use crate::error::CoreError;
use crate::ledger::{self, TransferSpec};
use crate::wire::{Body, Reply, TransferReceipt, ok};

pub(crate) fn router() -> Router<CoreBank> {
    Router::new().route("/core/transfers", post(create))
}

/// Moves `amt_fen` from `dr_acct` to `cr_acct` (same currency, both in normal status, a
/// customer debtor must have the funds). Body: `req_seq` (1–64), `dr_acct`, `cr_acct`,
/// `amt_fen`, `ccy`, `memo` (optional, ≤ 100). Answers the receipt; a replay with the same
/// body answers the same receipt.
async fn create(State(core): State<CoreBank>, body: Bytes) -> Reply<TransferReceipt> {
    let spec = parse(&Body::parse(&body)?, core.clock.now_unix())?;
    ok(ledger::transfer(&core.batch, &spec).await?)
}

fn parse(body: &Body, at_unix: i64) -> Result<TransferSpec, CoreError> {
    let req_seq = body.req_seq("req_seq")?;
    let dr_acct = body.text("dr_acct", 32)?;
    let cr_acct = body.text("cr_acct", 32)?;
    if dr_acct == cr_acct {
        return Err(CoreError::bad("cr_acct", "same as dr_acct"));
    }
    let amt_fen = body.amt_fen()?;
    let ccy = body.ccy()?;
    let memo = body.opt_text("memo", 100)?.unwrap_or_default();
    Ok(TransferSpec {
        req_seq,
        dr_acct,
        cr_acct,
        amt_fen,
        ccy,
        memo,
        cpty_name: None,
        cpty_acct: None,
        at_unix,
        extra_fingerprint: None,
    })
}
