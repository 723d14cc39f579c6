//! From a request to what the ledger posts, and the checks only a payment has: the payer's
//! per-payment and daily limits, and what remains refundable of an original payment. They
//! run inside the posting's `BEGIN IMMEDIATE` transaction, which is what makes them hold
//! under concurrency.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Creditor, Kind, Meta, PaymentRequest, Plan, Scene};
use crate::clock;
use crate::error::CoreError;
use crate::ledger::{self, TransferSpec};
use crate::seed;

/// What a payment checks beyond a transfer's own checks, once both legs passed.
#[derive(Debug)]
pub(super) enum Check {
    /// An outgoing payment counts against its payer's limits.
    Limits { cust_no: String },
    /// A refund may not take more than the original's amount less earlier refunds.
    Refund { orig_req_seq: String, orig_amt_fen: i64 },
    /// An inbound credit is the other bank's (or core's) to check: nothing more here.
    Nothing,
}

impl ledger::Check for Check {
    fn check(&self, conn: &Connection, spec: &TransferSpec) -> Result<(), CoreError> {
        match self {
            Self::Limits { cust_no } => limits(conn, cust_no, spec),
            Self::Nothing => Ok(()),
            Self::Refund { orig_req_seq, orig_amt_fen } => {
                let left_fen = orig_amt_fen - refunded(conn, orig_req_seq)?;
                if spec.amt_fen > left_fen {
                    return Err(CoreError::RefundExceeds { left_fen: left_fen.max(0) });
                }
                Ok(())
            }
        }
    }
}

/// Who a payment or refund moves money between, and the outside party when one leg is the
/// clearing account.
struct Legs {
    dr_acct: String,
    cr_acct: String,
    cpty_name: Option<String>,
    cpty_acct: Option<String>,
    cpty_bank: Option<String>,
}

/// Turns the request into the ledger's transfer, its `payment_meta` row and its check.
pub(super) fn resolve(conn: &Connection, req: &PaymentRequest, at_unix: i64) -> Result<Plan, CoreError> {
    let (legs, kind, scene, orig_req_seq, check) = match &req.kind {
        Kind::Payment { dr_acct, creditor, scene } => {
            let (legs, cust_no) = payment_legs(conn, dr_acct, creditor, &req.ccy)?;
            (legs, "payment", Some(*scene), None, Check::Limits { cust_no })
        }
        Kind::Refund { orig_req_seq, dr_acct, cr_acct, scene } => {
            let orig = original(conn, orig_req_seq)?;
            if req.ccy != orig.ccy {
                return Err(CoreError::CurrencyMismatch("orig_req_seq"));
            }
            if dr_acct.as_ref().is_some_and(|a| *a != orig.cr_acct) {
                return Err(CoreError::bad("dr_acct", "a refund debits the original payment's creditor"));
            }
            if cr_acct.as_ref().is_some_and(|a| *a != orig.dr_acct) {
                return Err(CoreError::bad("cr_acct", "a refund credits the original payment's debtor"));
            }
            let check = Check::Refund { orig_req_seq: orig_req_seq.clone(), orig_amt_fen: orig.amt_fen };
            // Money coming back through clearing shows the outside party, as the payment did.
            let legs = Legs {
                dr_acct: orig.cr_acct,
                cr_acct: orig.dr_acct,
                cpty_name: orig.cpty_name,
                cpty_acct: orig.cpty_acct,
                cpty_bank: orig.cpty_bank,
            };
            (legs, "refund", Some(scene.unwrap_or(orig.scene)), Some(orig_req_seq.clone()), check)
        }
        Kind::Inbound { cr_acct, debtor, scene } => {
            customer_of(conn, cr_acct)?.ok_or(CoreError::NotFound("cr_acct"))?;
            let legs = Legs {
                dr_acct: seed::clearing_account(&req.ccy).to_owned(),
                cr_acct: cr_acct.clone(),
                cpty_name: Some(debtor.name.clone()),
                cpty_acct: Some(debtor.acct.clone()),
                cpty_bank: debtor.bank.clone(),
            };
            (legs, "inbound", *scene, None, Check::Nothing)
        }
    };
    let meta = Meta {
        kind,
        scene,
        mcc: req.mcc.clone(),
        channel: req.channel.clone(),
        orig_req_seq,
        cpty_bank: legs.cpty_bank,
    };
    // Resolved values, so a retry naming a refund's accounts and one leaving them out are
    // the same request; `payment` makes a payment's fingerprint differ from a transfer's.
    let extra = serde_json::json!({
        "payment": meta.kind,
        "scene": meta.scene.map(Scene::code),
        "mcc": meta.mcc,
        "channel": meta.channel,
        "orig_req_seq": meta.orig_req_seq,
        "cpty_bank": meta.cpty_bank,
    });
    let spec = TransferSpec {
        req_seq: req.req_seq.clone(),
        dr_acct: legs.dr_acct,
        cr_acct: legs.cr_acct,
        amt_fen: req.amt_fen,
        ccy: req.ccy.clone(),
        memo: req.memo.clone(),
        cpty_name: legs.cpty_name,
        cpty_acct: legs.cpty_acct,
        at_unix,
        extra_fingerprint: Some(extra),
    };
    Ok(Plan { spec, meta, check })
}

/// A payment's legs and the paying customer. GL accounts are the bank's own: a partner can
/// neither pay from nor into one (E404, as `/core/accounts` does not show them either).
fn payment_legs(conn: &Connection, dr_acct: &str, creditor: &Creditor, ccy: &str) -> Result<(Legs, String), CoreError> {
    let cust_no = customer_of(conn, dr_acct)?.ok_or(CoreError::NotFound("dr_acct"))?;
    let legs = match creditor {
        Creditor::Account(cr) => {
            customer_of(conn, cr)?.ok_or(CoreError::NotFound("cr_acct"))?;
            Legs { dr_acct: dr_acct.to_owned(), cr_acct: cr.clone(), cpty_name: None, cpty_acct: None, cpty_bank: None }
        }
        Creditor::External { acct, name, bank } => Legs {
            dr_acct: dr_acct.to_owned(),
            cr_acct: seed::clearing_account(ccy).to_owned(),
            cpty_name: Some(name.clone()),
            cpty_acct: Some(acct.clone()),
            cpty_bank: Some(bank.clone()),
        },
    };
    Ok((legs, cust_no))
}

/// `Some(cust_no)` for a customer account, `None` for an unknown or GL account.
fn customer_of(conn: &Connection, acct_no: &str) -> rusqlite::Result<Option<String>> {
    let row: Option<Option<String>> = conn
        .prepare_cached("SELECT cust_no FROM accounts WHERE acct_no = ?1")?
        .query_row(params![acct_no], |r| r.get(0))
        .optional()?;
    Ok(row.flatten())
}

struct Original {
    dr_acct: String,
    cr_acct: String,
    amt_fen: i64,
    ccy: String,
    scene: super::Scene,
    cpty_name: Option<String>,
    cpty_acct: Option<String>,
    cpty_bank: Option<String>,
}

/// The payment (not a refund, not a plain transfer) posted under `orig_req_seq`; E404 if none.
fn original(conn: &Connection, orig_req_seq: &str) -> Result<Original, CoreError> {
    type Row = (String, String, i64, String, String, Option<String>, Option<String>, Option<String>);
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT d.acct_no, c.acct_no, c.amount_fen, c.ccy, m.scene, t.cpty_name, t.cpty_acct, m.cpty_bank
             FROM txns t
             JOIN payment_meta m ON m.txn_id = t.txn_id AND m.kind = 'payment'
             JOIN postings d ON d.txn_id = t.txn_id AND d.amount_fen < 0
             JOIN postings c ON c.txn_id = t.txn_id AND c.amount_fen > 0
             WHERE t.req_seq = ?1",
        )?
        .query_row(params![orig_req_seq], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
        })
        .optional()?;
    let (dr_acct, cr_acct, amt_fen, ccy, scene, cpty_name, cpty_acct, cpty_bank) =
        row.ok_or(CoreError::NotFound("orig_req_seq"))?;
    let scene = super::Scene::parse(&scene)
        .ok_or_else(|| CoreError::Internal(anyhow::anyhow!("payment {orig_req_seq} has unknown scene {scene}")))?;
    Ok(Original { dr_acct, cr_acct, amt_fen, ccy, scene, cpty_name, cpty_acct, cpty_bank })
}

/// What has been refunded of `orig_req_seq` so far.
fn refunded(conn: &Connection, orig_req_seq: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COALESCE(SUM(p.amount_fen), 0) FROM payment_meta m
         JOIN postings p ON p.txn_id = m.txn_id AND p.amount_fen > 0
         WHERE m.kind = 'refund' AND m.orig_req_seq = ?1",
    )?
    .query_row(params![orig_req_seq], |r| r.get(0))
}

/// Per payment, then per Beijing calendar day: the sum of the customer's outgoing payments
/// (refunds do not give the day's allowance back) in this currency, from any of their
/// accounts. A customer with no limit row for the currency cannot pay in it. A payment that
/// fits is counted in the day's running total here, in the posting's transaction: if the
/// posting is refused later, the count goes with it.
fn limits(conn: &Connection, cust_no: &str, spec: &TransferSpec) -> Result<(), CoreError> {
    let day = clock::day_start(clock::day_of(spec.at_unix));
    // The limits and the day's running total in one lookup.
    let row: Option<(i64, i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT l.per_txn_fen, l.daily_fen, s.used_fen FROM cust_limits l
             LEFT JOIN cust_day_spend s ON s.cust_no = l.cust_no AND s.ccy = l.ccy AND s.day = ?3
             WHERE l.cust_no = ?1 AND l.ccy = ?2",
        )?
        .query_row(params![cust_no, spec.ccy, day], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (per_txn_fen, daily_fen, counted) = row.unwrap_or((0, 0, None));
    if spec.amt_fen > per_txn_fen {
        return Err(CoreError::OverTxnLimit { limit_fen: per_txn_fen });
    }
    let used = match counted {
        Some(used) => used,
        None => paid_on(conn, cust_no, &spec.ccy, day)?,
    };
    if used + spec.amt_fen > daily_fen {
        return Err(CoreError::OverDailyLimit { limit_fen: daily_fen, left_fen: (daily_fen - used).max(0) });
    }
    conn.prepare_cached(
        "INSERT INTO cust_day_spend (cust_no, ccy, day, used_fen) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (cust_no, ccy, day) DO UPDATE SET used_fen = excluded.used_fen",
    )?
    .execute(params![cust_no, spec.ccy, day, used + spec.amt_fen])?;
    Ok(())
}

/// What the customer's posted payments in `ccy` add up to on the Beijing day starting at
/// `day`, from the postings themselves (the ledger check compares the running totals to it).
pub(crate) fn paid_on(conn: &Connection, cust_no: &str, ccy: &str, day: i64) -> rusqlite::Result<i64> {
    let until = clock::day_of(day).tomorrow().map_or(i64::MAX, clock::day_start);
    conn.prepare_cached(
        "SELECT COALESCE(SUM(-p.amount_fen), 0) FROM payment_meta m
         JOIN txns t ON t.txn_id = m.txn_id
         JOIN postings p ON p.txn_id = m.txn_id AND p.amount_fen < 0
         JOIN accounts a ON a.acct_no = p.acct_no
         WHERE m.kind = 'payment' AND a.cust_no = ?1 AND p.ccy = ?2 AND t.txn_time >= ?3 AND t.txn_time < ?4",
    )?
    .query_row(params![cust_no, ccy, day, until], |r| r.get(0))
}
