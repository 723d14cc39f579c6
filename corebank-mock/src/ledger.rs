//! Double-entry postings: the only code that writes money.
//!
//! A transfer is one `txns` row and two `postings` rows (debit negative, credit positive)
//! written in one `BEGIN IMMEDIATE` transaction, so the balance check and the write see the
//! same ledger and concurrent transfers queue on SQLite's write lock. A balance is the sum
//! of an account's postings; the running balance after each posting and each statement line
//! are kept beside them (written by triggers in the posting's transaction, as a real core
//! keeps its balances and statement file), and [`check`] recomputes both from the
//! postings.
//!
//! Payments post through the same [`post_with`], adding their own [`Check`] (limits, a
//! refund's bound) between the leg checks and the funds check, and their own [`Write`]
//! (the `payment_meta` row) around it; `req_seq` is one namespace for both, and a voided
//! `req_seq` is refused by every write.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use scenegate_sqlite_batch::WriterThread;
use sha2::{Digest, Sha256};

use crate::clock;
use crate::error::CoreError;
use crate::wire::{LedgerCheck, TransferReceipt};

/// Caps one transfer at 10^14 minor units so no sum of postings can overflow an i64.
pub(crate) const MAX_AMT_FEN: i64 = 100_000_000_000_000;

/// A transfer as the ledger records it; the HTTP body and the seed both build one.
#[derive(Debug, Clone)]
pub(crate) struct TransferSpec {
    pub req_seq: String,
    pub dr_acct: String,
    pub cr_acct: String,
    pub amt_fen: i64,
    pub ccy: String,
    pub memo: String,
    /// Outside party (employer, merchant) shown on statements when the other leg is a GL
    /// account; a customer-to-customer transfer shows the other customer instead.
    pub cpty_name: Option<String>,
    pub cpty_acct: Option<String>,
    pub at_unix: i64,
    /// Whatever else the caller chose that makes this request what it is (a payment's kind,
    /// scene, channel…); `None` for a plain transfer, whose fingerprint stays as it always was.
    pub extra_fingerprint: Option<serde_json::Value>,
}

impl TransferSpec {
    /// Covers what the caller chose, not when it arrived: a retry minutes later with the same
    /// body is the same request; any changed field makes it a different one (E409).
    fn fingerprint(&self) -> String {
        let mut canonical = serde_json::json!([
            self.dr_acct,
            self.cr_acct,
            self.amt_fen,
            self.ccy,
            self.memo,
            self.cpty_name,
            self.cpty_acct
        ]);
        if let (Some(extra), Some(fields)) = (&self.extra_fingerprint, canonical.as_array_mut()) {
            fields.push(extra.clone());
        }
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Posts `spec` in its own transaction. Replays of an already-posted `req_seq` answer the
/// original receipt and write nothing.
pub(crate) async fn transfer(batch: &WriterThread, spec: &TransferSpec) -> Result<TransferReceipt, CoreError> {
    immediate(batch, spec.clone()).await
}

/// One write under the ledger's lock, as [`immediate`] runs it, on the writer thread's
/// connection. Owned and cloneable: the group commit may run a write twice (once more behind
/// a savepoint when another write of its batch is refused), answering only the last run.
pub(crate) trait Write: Clone + Send + Sync + 'static {
    type Done: Send + 'static;
    fn write(&self, conn: &Connection) -> Result<Self::Done, Posting>;
}

impl Write for TransferSpec {
    type Done = TransferReceipt;
    fn write(&self, conn: &Connection) -> Result<TransferReceipt, Posting> {
        post(conn, self)
    }
}

/// Runs `w` in the ledger's group commit (`scenegate-sqlite-batch`'s writer thread): inside
/// one `BEGIN IMMEDIATE` transaction with the other writes waiting, answered once that
/// commits; a refusal keeps nothing of `w`. Holding the write lock means every check `w`
/// makes and the rows it writes see the same ledger.
///
/// The UNIQUE(req_seq) constraint is the real guard against double posting; the lookup in
/// [`post_with`] only turns the common case into a clean replay. Should the constraint fire
/// (another write of the same batch took the `req_seq`), the batch is run again with each
/// write behind a savepoint, and the second run finds and replays the first.
pub(crate) async fn immediate<W: Write>(batch: &WriterThread, w: W) -> Result<W::Done, CoreError> {
    let answer = batch.write(move |conn| w.write(conn)).await.map_err(|e| CoreError::Internal(e.into()))?;
    match answer {
        Ok(done) => Ok(done),
        Err(Posting::Refused(e)) => Err(e),
        Err(Posting::Lost) => Err(CoreError::Internal(anyhow::anyhow!("a req_seq kept colliding"))),
    }
}

/// What a caller checks beyond a transfer's own checks (a payment's limits, a refund's
/// bound), inside the posting's transaction once both legs have passed.
pub(crate) trait Check {
    fn check(&self, conn: &Connection, spec: &TransferSpec) -> Result<(), CoreError>;
}

/// A plain transfer checks nothing more.
pub(crate) struct NoCheck;

impl Check for NoCheck {
    fn check(&self, _: &Connection, _: &TransferSpec) -> Result<(), CoreError> {
        Ok(())
    }
}

pub(crate) enum Posting {
    /// Another writer inserted the same `req_seq` first.
    Lost,
    Refused(CoreError),
}

impl From<CoreError> for Posting {
    fn from(e: CoreError) -> Self {
        Self::Refused(e)
    }
}

impl From<rusqlite::Error> for Posting {
    fn from(e: rusqlite::Error) -> Self {
        Self::Refused(e.into())
    }
}

/// The outcome of a write that was not refused.
#[derive(Debug)]
pub(crate) struct Posted {
    pub receipt: TransferReceipt,
    /// False when `req_seq` was already posted with the same content (a replay).
    pub fresh: bool,
}

/// Checks and writes one transfer inside the caller's transaction.
pub(crate) fn post(conn: &Connection, spec: &TransferSpec) -> Result<TransferReceipt, Posting> {
    Ok(post_with(conn, spec, &NoCheck)?.receipt)
}

/// Checks and writes one transfer inside the caller's transaction, in this order: `req_seq`
/// voided (E410), already posted (replay, or E409 when the content differs), each leg
/// (exists E404, currency E415, frozen E423, closed E424), then `extra` (what a payment adds:
/// limits, a refund's bound), then the debtor's funds (E402). Every refusal happens before
/// the first write, so a refused transfer leaves the transaction untouched.
pub(crate) fn post_with(conn: &Connection, spec: &TransferSpec, extra: &impl Check) -> Result<Posted, Posting> {
    ensure_not_voided(conn, &spec.req_seq)?;
    let fingerprint = spec.fingerprint();
    let prior: Option<(String, i64, String)> = conn
        .prepare_cached("SELECT txn_id, txn_time, fingerprint FROM txns WHERE req_seq = ?1")?
        .query_row(params![spec.req_seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((txn_id, at, fp)) = prior {
        if fp != fingerprint {
            return Err(CoreError::ReqSeqReused.into());
        }
        return Ok(Posted { receipt: receipt(txn_id, &spec.req_seq, at), fresh: false });
    }
    let dr = leg(conn, &spec.dr_acct, "dr_acct", &spec.ccy)?;
    leg(conn, &spec.cr_acct, "cr_acct", &spec.ccy)?;
    extra.check(conn, spec)?;
    // Customer money may not go below zero; GL accounts are the bank's side and may.
    if dr.is_customer && balance_in(conn, &spec.dr_acct)? < spec.amt_fen {
        return Err(CoreError::InsufficientFunds.into());
    }
    // The txn id is the day and the next row number, chosen by the insert itself.
    let day = clock::to_zoned(spec.at_unix).strftime("%Y%m%d").to_string();
    let inserted = conn
        .prepare_cached(
            "INSERT INTO txns (txn_id, req_seq, txn_time, memo, cpty_name, cpty_acct, fingerprint)
             SELECT 'T' || ?1 || printf('%010d', COALESCE(MAX(rowid), 0) + 1), ?2, ?3, ?4, ?5, ?6, ?7 FROM txns
             RETURNING txn_id",
        )?
        .query_row(
            params![day, spec.req_seq, spec.at_unix, spec.memo, spec.cpty_name, spec.cpty_acct, fingerprint],
            |r| r.get::<_, String>(0),
        );
    let txn_id = match inserted {
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
            return Err(Posting::Lost);
        }
        other => other?,
    };
    // Both legs in one statement; each leg's running balance is written with it
    // (`postings_running_balance`).
    conn.prepare_cached(
        "INSERT INTO postings (txn_id, acct_no, amount_fen, ccy) VALUES (?1, ?2, ?3, ?5), (?1, ?4, ?6, ?5)",
    )?
    .execute(params![txn_id, spec.dr_acct, -spec.amt_fen, spec.cr_acct, spec.ccy, spec.amt_fen])?;
    Ok(Posted { receipt: receipt(txn_id, &spec.req_seq, spec.at_unix), fresh: true })
}

/// E410 once `req_seq` has been voided (`POST /core/payments/{req_seq}/void`).
pub(crate) fn ensure_not_voided(conn: &Connection, req_seq: &str) -> Result<(), CoreError> {
    let voided: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM voided_req_seqs WHERE req_seq = ?1")?
        .query_row(params![req_seq], |r| r.get(0))?;
    if voided > 0 { Err(CoreError::ReqSeqVoided) } else { Ok(()) }
}

pub(crate) fn receipt(txn_id: String, req_seq: &str, at_unix: i64) -> TransferReceipt {
    TransferReceipt { txn_id, req_seq: req_seq.to_owned(), status: "S", txn_time: clock::fmt_time(at_unix), at_unix }
}

struct Leg {
    is_customer: bool,
}

/// One side of a transfer must exist, hold the transfer's currency and be in normal status.
fn leg(conn: &Connection, acct_no: &str, field: &'static str, ccy: &str) -> Result<Leg, CoreError> {
    let row: Option<(Option<String>, String, String)> = conn
        .prepare_cached("SELECT cust_no, ccy, acct_status FROM accounts WHERE acct_no = ?1")?
        .query_row(params![acct_no], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (cust_no, acct_ccy, status) = row.ok_or(CoreError::NotFound(field))?;
    if acct_ccy != ccy {
        return Err(CoreError::CurrencyMismatch(field));
    }
    match status.as_str() {
        "N" => Ok(Leg { is_customer: cust_no.is_some() }),
        "F" => Err(CoreError::AccountFrozen(acct_no.to_owned())),
        // The schema allows only N, F and C.
        _ => Err(CoreError::AccountClosed(acct_no.to_owned())),
    }
}

/// The account's ledger balance: the running balance after its latest posting (0 before its
/// first). One index lookup; the ledger check proves it equals the sum of the postings.
const BALANCE: &str = "SELECT bal_after_fen FROM posting_balances WHERE acct_no = ?1 ORDER BY posting_id DESC LIMIT 1";

/// [`BALANCE`] for the routes that read it.
pub(crate) fn balance_of(reads: &scenegate_sqlite_batch::InlineReads, acct_no: &str) -> rusqlite::Result<i64> {
    reads.with(|c| balance_in(c, acct_no))
}

/// [`BALANCE`] on a connection: the writer thread's transaction or a read.
fn balance_in(conn: &Connection, acct_no: &str) -> rusqlite::Result<i64> {
    Ok(conn.prepare_cached(BALANCE)?.query_row(params![acct_no], |r| r.get(0)).optional()?.unwrap_or(0))
}

/// Audits the whole book on the writer thread, inside one transaction, so counts and sums
/// see one snapshot (and no posting lands halfway through).
pub(crate) async fn check(batch: &WriterThread) -> anyhow::Result<LedgerCheck> {
    batch.write(audit).await?.map_err(anyhow::Error::from)
}

fn audit(conn: &Connection) -> rusqlite::Result<LedgerCheck> {
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    let (txn_count, posting_count) = (count("SELECT COUNT(*) FROM txns")?, count("SELECT COUNT(*) FROM postings")?);
    let unbalanced_txns: Vec<String> = conn
        .prepare(
            "SELECT txn_id FROM postings GROUP BY txn_id, ccy HAVING SUM(amount_fen) <> 0
             UNION
             SELECT t.txn_id FROM txns t LEFT JOIN postings p ON p.txn_id = t.txn_id
             GROUP BY t.txn_id HAVING COUNT(p.posting_id) < 2
             UNION
             SELECT p.txn_id FROM postings p JOIN accounts a ON a.acct_no = p.acct_no
             WHERE p.ccy <> a.ccy
             UNION
             SELECT r.txn_id FROM (
               SELECT posting_id, txn_id, acct_no,
                      SUM(amount_fen) OVER (PARTITION BY acct_no ORDER BY posting_id) AS running
               FROM postings
             ) r LEFT JOIN posting_balances b ON b.posting_id = r.posting_id
             WHERE b.bal_after_fen IS NOT r.running OR b.acct_no IS NOT r.acct_no
             ORDER BY 1",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    // Every statement line against the line the postings, txns and accounts make: one per
    // posting, nothing else, each field as the statement query used to derive it (the
    // running balance summed afresh, not read from `posting_balances`). A line that is
    // missing, extra or differs names its posting.
    let statement_mismatches: Vec<i64> = conn
        .prepare(
            "WITH derived AS (
               SELECT p.acct_no, p.posting_id, p.txn_id, t.txn_time, p.amount_fen, p.ccy, t.memo,
                      CASE WHEN oa.cust_no IS NOT NULL THEN oa.acct_name ELSE t.cpty_name END,
                      CASE WHEN oa.cust_no IS NOT NULL THEN oa.acct_no ELSE t.cpty_acct END,
                      r.running
               FROM postings p
               JOIN (SELECT posting_id, SUM(amount_fen) OVER (PARTITION BY acct_no ORDER BY posting_id) AS running
                     FROM postings) r ON r.posting_id = p.posting_id
               LEFT JOIN txns t ON t.txn_id = p.txn_id
               LEFT JOIN postings o ON o.txn_id = p.txn_id AND o.posting_id <> p.posting_id
               LEFT JOIN accounts oa ON oa.acct_no = o.acct_no
             ), lines AS (
               SELECT acct_no, posting_id, txn_id, txn_time, amount_fen, ccy, memo, cpty_name, cpty_acct, bal_after_fen
               FROM statement_lines
             )
             SELECT posting_id FROM (SELECT * FROM derived EXCEPT SELECT * FROM lines)
             UNION
             SELECT posting_id FROM (SELECT * FROM lines EXCEPT SELECT * FROM derived)
             ORDER BY 1",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    // Every currency the bank keeps accounts in is reported, even with no postings yet.
    let totals_by_ccy: BTreeMap<String, i64> = conn
        .prepare(
            "SELECT a.ccy, COALESCE(SUM(p.amount_fen), 0) FROM accounts a
             LEFT JOIN postings p ON p.acct_no = a.acct_no GROUP BY a.ccy",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // Every day's running payment total against the payments posted that day.
    let counters: Vec<(String, String, i64, i64)> = conn
        .prepare("SELECT cust_no, ccy, day, used_fen FROM cust_day_spend ORDER BY cust_no, ccy, day")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut spend_mismatches = Vec::new();
    for (cust_no, ccy, day, used_fen) in counters {
        if crate::payment::paid_on(conn, &cust_no, &ccy, day)? != used_fen {
            spend_mismatches.push(format!("{cust_no}/{ccy}/{day}"));
        }
    }
    Ok(LedgerCheck {
        balanced: unbalanced_txns.is_empty()
            && totals_by_ccy.values().all(|v| *v == 0)
            && statement_mismatches.is_empty(),
        txn_count,
        posting_count,
        unbalanced_txns,
        totals_by_ccy,
        spend_mismatches,
        statement_mismatches,
    })
}
