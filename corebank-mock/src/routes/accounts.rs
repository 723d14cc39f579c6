//! `/core/accounts`: account details, derived balances and the posting history.
//!
//! Only customer accounts are visible here; the bank's GL accounts answer E404 (they can
//! still be the counterpart of a transfer).

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::Deserialize;
use sqlx::SqlitePool;

use crate::error::CoreError;
use crate::wire::{Account, AccountRow, Balance, Page, Reply, Statement, TxnItem, ok};
use crate::{CoreBank, clock, ledger, params};

pub(crate) fn router() -> Router<CoreBank> {
    Router::new()
        .route("/core/accounts/{acct_no}", get(one))
        .route("/core/accounts/{acct_no}/balance", get(balance))
        .route("/core/accounts/{acct_no}/txns", get(txns))
}

pub(crate) async fn customer_accounts(pool: &SqlitePool, cust_no: &str) -> sqlx::Result<Vec<Account>> {
    let rows: Vec<AccountRow> = sqlx::query_as(
        "SELECT acct_no, cust_no, acct_name, ccy, acct_type, acct_status, open_date
         FROM accounts WHERE cust_no = ?1 ORDER BY acct_no",
    )
    .bind(cust_no)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Account::from).collect())
}

/// A customer account (GL accounts are not found).
pub(crate) async fn find(pool: &SqlitePool, acct_no: &str) -> Result<Account, CoreError> {
    let acct: Option<AccountRow> = sqlx::query_as(
        "SELECT acct_no, cust_no, acct_name, ccy, acct_type, acct_status, open_date
         FROM accounts WHERE acct_no = ?1 AND cust_no IS NOT NULL",
    )
    .bind(acct_no)
    .fetch_optional(pool)
    .await?;
    acct.map(Account::from).ok_or(CoreError::NotFound("account"))
}

async fn one(State(core): State<CoreBank>, Path(acct_no): Path<String>) -> Reply<Account> {
    ok(find(&core.pool, &acct_no).await?)
}

async fn balance(State(core): State<CoreBank>, Path(acct_no): Path<String>) -> Reply<Balance> {
    let acct = find(&core.pool, &acct_no).await?;
    let ledger_bal_fen = ledger::balance_of(&core.pool, &acct.acct_no).await?;
    // A frozen or closed account keeps its ledger balance but none of it can be spent.
    let avail_bal_fen = if acct.acct_status == "N" { ledger_bal_fen } else { 0 };
    ok(Balance {
        cust_no: acct.cust_no,
        acct_no: acct.acct_no,
        ccy: acct.ccy,
        ledger_bal_fen,
        avail_bal_fen,
        as_of: clock::fmt_time(core.clock.now_unix()),
    })
}

/// A statement page: `order=asc` (default) pages forward with `after_seq`, `order=desc`
/// (newest first) pages backward with `before_seq`.
#[derive(Debug, Deserialize)]
struct TxnQuery {
    start_date: Option<String>,
    end_date: Option<String>,
    after_seq: Option<String>,
    before_seq: Option<String>,
    order: Option<String>,
    limit: Option<String>,
}

/// `(seq, txn_id, at_unix, signed amount, ccy, memo, cpty_name, cpty_acct, bal_after_fen)`.
pub(crate) type TxnRow = (i64, String, i64, i64, String, String, Option<String>, Option<String>, i64);

async fn txns(
    State(core): State<CoreBank>,
    Path(acct_no): Path<String>,
    q: Result<Query<TxnQuery>, QueryRejection>,
) -> Reply<Statement<TxnItem>> {
    let q = params::query(q)?;
    let limit = params::limit(q.limit.as_deref())?;
    let newest_first = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(CoreError::bad("order", "must be asc or desc")),
    };
    // The keyset bound: after it going forward, before it going backward (none: the end).
    let bound = match (newest_first, q.after_seq.as_deref(), q.before_seq.as_deref()) {
        (false, after, None) => params::seq("after_seq", after)?,
        (true, None, before) => before.map_or(Ok(i64::MAX), |b| params::seq("before_seq", Some(b)))?,
        (false, _, Some(_)) => return Err(CoreError::bad("before_seq", "only with order=desc")),
        (true, Some(_), _) => return Err(CoreError::bad("after_seq", "only with order=asc")),
    };
    let start = params::date("start_date", q.start_date.as_deref())?;
    let end = params::date("end_date", q.end_date.as_deref())?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(CoreError::bad("end_date", "before start_date"));
    }
    let from = start.map_or(i64::MIN, clock::day_start);
    // Inclusive end date: everything before the next Beijing midnight.
    let until = match end {
        Some(e) => e.tomorrow().map_or(i64::MAX, clock::day_start),
        None => i64::MAX,
    };
    let acct = find(&core.pool, &acct_no).await?;
    let rows = statement_rows(&core.pool, &acct.acct_no, newest_first, bound, from, until, limit).await?;
    let items = rows.into_iter().map(txn_item).collect();
    ok(Statement { acct_no: acct.acct_no, cust_no: acct.cust_no, page: Page::from_overfetch(items, limit) })
}

/// One page of an account's postings, `limit + 1` rows (the extra one says another page
/// exists) in the page's order: after `bound` going forward, before it newest first; booked
/// in `from..until` (Unix seconds, end exclusive). Both dialects' statements read it.
pub(crate) async fn statement_rows(
    pool: &SqlitePool,
    acct_no: &str,
    newest_first: bool,
    bound: i64,
    from: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<TxnRow>, CoreError> {
    // Each posting's running balance was written with it (`posting_balances`), so a page
    // reads only its own rows. The counterparty is the other leg's customer, or the outside
    // party recorded on the txn when that leg is a GL account.
    let page = if newest_first {
        "p.posting_id < ?2 AND t.txn_time >= ?3 AND t.txn_time < ?4 ORDER BY p.posting_id DESC LIMIT ?5"
    } else {
        "p.posting_id > ?2 AND t.txn_time >= ?3 AND t.txn_time < ?4 ORDER BY p.posting_id LIMIT ?5"
    };
    // The page comes back as one JSON array in one row: sqlx hands SQLite rows over from its
    // worker thread one at a time, and a thread hand-off per statement line cost more than
    // the query itself.
    let sql = format!(
        "SELECT COALESCE(json_group_array(json_array(
                posting_id, txn_id, txn_time, amount_fen, ccy, memo, cpty_name, cpty_acct, bal_after_fen)), '[]')
         FROM (
         SELECT p.posting_id, p.txn_id, t.txn_time, p.amount_fen, p.ccy, t.memo,
                CASE WHEN oa.cust_no IS NOT NULL THEN oa.acct_name ELSE t.cpty_name END AS cpty_name,
                CASE WHEN oa.cust_no IS NOT NULL THEN oa.acct_no ELSE t.cpty_acct END AS cpty_acct,
                b.bal_after_fen
         FROM postings p
         JOIN posting_balances b ON b.posting_id = p.posting_id
         JOIN txns t ON t.txn_id = p.txn_id
         LEFT JOIN postings o ON o.txn_id = p.txn_id AND o.posting_id <> p.posting_id
         LEFT JOIN accounts oa ON oa.acct_no = o.acct_no
         WHERE p.acct_no = ?1 AND {page})"
    );
    let (rows,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(acct_no)
        .bind(bound)
        .bind(from)
        .bind(until)
        .bind(limit + 1)
        .fetch_one(pool)
        .await?;
    let mut rows: Vec<TxnRow> = serde_json::from_str(&rows).map_err(|e| CoreError::Internal(e.into()))?;
    // SQL promises no order inside an aggregate: the page's order is restored here.
    if newest_first {
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    } else {
        rows.sort_by_key(|r| r.0);
    }
    Ok(rows)
}

fn txn_item(row: TxnRow) -> TxnItem {
    let (txn_seq, txn_id, at, amount, ccy, memo, cpty_name, cpty_acct, bal_after_fen) = row;
    TxnItem {
        txn_seq,
        txn_id,
        txn_time: clock::fmt_time(at),
        dr_cr: if amount < 0 { "D" } else { "C" },
        amt_fen: amount.abs(),
        ccy,
        memo,
        cpty_name,
        cpty_acct,
        bal_after_fen,
    }
}
