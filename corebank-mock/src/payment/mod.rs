//! Payments and refunds: a transfer with a purpose, posted through the ledger's own
//! [`ledger::post_with`] so it gets the same replay, leg and funds checks, plus what only a
//! payment has: the payer's limits, a refund's bound, an external creditor, and the
//! `payment_meta` row that says which partner asked and why.
//!
//! Everything a payment checks and writes happens in one `BEGIN IMMEDIATE` transaction, so
//! concurrent payments can never add up past a limit, overdraw, or refund more than was paid;
//! and a void (`void`) takes the same lock, so a `req_seq` ends up either posted or voided,
//! never both.

mod checks;
mod request;

use rusqlite::{Connection, OptionalExtension, params};
use scenegate_sqlite_batch::WriterThread;

use crate::error::CoreError;
use crate::ledger::{self, Posted, Posting, TransferSpec, Write};
use crate::wire::TransferReceipt;

pub(crate) use checks::paid_on;
pub(crate) use request::{Creditor, Debtor, Kind, PaymentRequest, Scene};

/// Posts one payment, refund or inbound credit, or replays the receipt of the one already
/// posted under its `req_seq` (`fresh: false`). `at_unix` is when it happens: its Beijing day
/// is the day its limit counts on.
pub(crate) async fn pay(batch: &WriterThread, req: &PaymentRequest, at_unix: i64) -> Result<Posted, CoreError> {
    ledger::immediate(batch, Pay { req: req.clone(), at_unix }).await
}

#[derive(Clone)]
struct Pay {
    req: PaymentRequest,
    at_unix: i64,
}

impl Write for Pay {
    type Done = Posted;
    fn write(&self, conn: &Connection) -> Result<Posted, Posting> {
        post(conn, &self.req, self.at_unix)
    }
}

fn post(conn: &Connection, req: &PaymentRequest, at_unix: i64) -> Result<Posted, Posting> {
    // Before anything else: a voided req_seq is refused whatever the body now says.
    ledger::ensure_not_voided(conn, &req.req_seq)?;
    let plan = checks::resolve(conn, req, at_unix)?;
    let posted = ledger::post_with(conn, &plan.spec, &plan.check)?;
    if posted.fresh {
        let m = &plan.meta;
        conn.prepare_cached(
            "INSERT INTO payment_meta (txn_id, kind, scene, mcc, channel, orig_req_seq, cpty_bank)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            posted.receipt.txn_id,
            m.kind,
            m.scene.map(Scene::code),
            m.mcc,
            m.channel,
            m.orig_req_seq,
            m.cpty_bank
        ])?;
    }
    Ok(posted)
}

/// What `POST /core/payments/{req_seq}/void` found or did.
#[derive(Debug)]
pub(crate) enum Voided {
    /// The payment was posted: it happened, and nothing was voided.
    Posted(TransferReceipt),
    /// Nothing was posted, and now nothing ever can be under this `req_seq`.
    Voided,
}

/// Settles an unknown outcome: either the payment happened (its receipt) or it now never
/// will. Idempotent: voiding a voided `req_seq` answers `Voided` again. A `req_seq` taken by
/// a plain transfer is E409: it is not a payment and can no longer be voided.
pub(crate) async fn void(batch: &WriterThread, req_seq: &str, at_unix: i64) -> Result<Voided, CoreError> {
    ledger::immediate(batch, Void { req_seq: req_seq.to_owned(), at_unix }).await
}

#[derive(Clone)]
struct Void {
    req_seq: String,
    at_unix: i64,
}

impl Write for Void {
    type Done = Voided;
    fn write(&self, conn: &Connection) -> Result<Voided, Posting> {
        match posted(conn, &self.req_seq)? {
            Found::Payment(receipt) => Ok(Voided::Posted(receipt)),
            Found::Transfer => Err(CoreError::ReqSeqReused.into()),
            Found::Nothing => {
                conn.prepare_cached("INSERT OR IGNORE INTO voided_req_seqs (req_seq, voided_at) VALUES (?1, ?2)")?
                    .execute(params![self.req_seq, self.at_unix])?;
                Ok(Voided::Voided)
            }
        }
    }
}

/// The receipt of the payment or refund posted under `req_seq`: E410 if it was voided,
/// E404 if nothing, or only a plain transfer, was ever posted under it. Asked on the writer
/// thread: it is the read that decides a reconciler's next write.
pub(crate) async fn status(batch: &WriterThread, req_seq: &str) -> Result<TransferReceipt, CoreError> {
    let req_seq = req_seq.to_owned();
    batch
        .write(move |conn| match posted(conn, &req_seq)? {
            Found::Payment(receipt) => Ok(receipt),
            Found::Transfer => Err(CoreError::NotFound("payment")),
            Found::Nothing => {
                ledger::ensure_not_voided(conn, &req_seq)?;
                Err(CoreError::NotFound("payment"))
            }
        })
        .await
        .map_err(|e| CoreError::Internal(e.into()))?
}

enum Found {
    Payment(TransferReceipt),
    Transfer,
    Nothing,
}

fn posted(conn: &Connection, req_seq: &str) -> rusqlite::Result<Found> {
    let row: Option<(String, i64, Option<String>)> = conn
        .prepare_cached(
            "SELECT t.txn_id, t.txn_time, m.kind FROM txns t LEFT JOIN payment_meta m ON m.txn_id = t.txn_id
             WHERE t.req_seq = ?1",
        )?
        .query_row(params![req_seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(match row {
        None => Found::Nothing,
        Some((txn_id, at, Some(_))) => Found::Payment(ledger::receipt(txn_id, req_seq, at)),
        Some((_, _, None)) => Found::Transfer,
    })
}

/// The row `payment_meta` gets for a fresh posting.
#[derive(Debug)]
struct Meta {
    kind: &'static str,
    /// Only an inbound credit may have none.
    scene: Option<Scene>,
    mcc: Option<String>,
    channel: String,
    orig_req_seq: Option<String>,
    cpty_bank: Option<String>,
}

/// A request turned into what the ledger posts, plus what only a payment checks.
#[derive(Debug)]
struct Plan {
    spec: TransferSpec,
    meta: Meta,
    check: checks::Check,
}
