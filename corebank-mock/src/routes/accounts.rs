//! `/core/accounts`: account details, derived balances and the posting history.
//!
//! Only customer accounts are visible here; the bank's GL accounts answer E404 (they can
//! still be the counterpart of a transfer).

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use rusqlite::OptionalExtension;
use scenegate_sqlite_batch::InlineReads;
use serde::Deserialize;

use crate::error::CoreError;
use crate::wire::{Account, Balance, Page, Reply, Statement, TxnItem, ok};
use crate::{CoreBank, clock, ledger, params};

pub(crate) fn router() -> Router<CoreBank> {
    Router::new()
        .route("/core/accounts/{acct_no}", get(one))
        .route("/core/accounts/{acct_no}/balance", get(balance))
        .route("/core/accounts/{acct_no}/txns", get(txns))
}

pub(crate) fn customer_accounts(reads: &InlineReads, cust_no: &str) -> rusqlite::Result<Vec<Account>> {
    reads.with(|c| {
        c.prepare_cached(
            "SELECT acct_no, cust_no, acct_name, ccy, acct_type, acct_status, open_date
             FROM accounts WHERE cust_no = ?1 ORDER BY acct_no",
        )?
        .query_map([cust_no], Account::from_row)?
        .collect()
    })
}

/// A customer account (GL accounts are not found).
pub(crate) fn find(reads: &InlineReads, acct_no: &str) -> Result<Account, CoreError> {
    let acct = reads.with(|c| {
        c.prepare_cached(
            "SELECT acct_no, cust_no, acct_name, ccy, acct_type, acct_status, open_date
             FROM accounts WHERE acct_no = ?1 AND cust_no IS NOT NULL",
        )?
        .query_row([acct_no], Account::from_row)
        .optional()
    })?;
    acct.ok_or(CoreError::NotFound("account"))
}

async fn one(State(core): State<CoreBank>, Path(acct_no): Path<String>) -> Reply<Account> {
    ok(find(&core.reads, &acct_no)?)
}

async fn balance(State(core): State<CoreBank>, Path(acct_no): Path<String>) -> Reply<Balance> {
    let acct = find(&core.reads, &acct_no)?;
    let ledger_bal_fen = ledger::balance_of(&core.reads, &acct.acct_no)?;
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
    let acct = find(&core.reads, &acct_no)?;
    let rows = statement_rows(&core.reads, &acct.acct_no, newest_first, bound, from, until, limit)?;
    let items = rows.into_iter().map(txn_item).collect();
    ok(Statement { acct_no: acct.acct_no, cust_no: acct.cust_no, page: Page::from_overfetch(items, limit) })
}

/// One page of an account's postings, `limit + 1` rows (the extra one says another page
/// exists) in the page's order: after `bound` going forward, before it newest first; booked
/// in `from..until` (Unix seconds, end exclusive). Both dialects' statements read it.
pub(crate) fn statement_rows(
    reads: &InlineReads,
    acct_no: &str,
    newest_first: bool,
    bound: i64,
    from: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<TxnRow>, CoreError> {
    // Each posting's statement line was written with it (`statement_lines`: its txn's time
    // and memo, the counterparty, the running balance), keyed by account and posting, so a
    // page is one range scan of that key. Deriving each line here instead (the posting, its
    // balance, its txn, the other leg and that leg's account: five lookups a line, and a
    // five-table join to plan) made SQLite 632k of the 1,877k instructions of a 25-line read
    // through the gateway; reading this table, 283k of 1,419k, and 173k of 1,253k once the
    // page was no longer planned afresh each time ([`page_sql`]; `bench/cost.sh`).
    Ok(reads.with(|c| {
        c.prepare_cached(page_sql(newest_first))?
            .query_map(rusqlite::params![acct_no, bound, from, until, limit + 1], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
            })?
            .collect()
    })?)
}

/// [`statement_rows`]' query: `?1` the account, `?2` the bound, `?3..?4` the booking window,
/// `?5` how many lines.
const fn page_sql(newest_first: bool) -> &'static str {
    // `LIMIT ?5 + 0`, not `LIMIT ?5`: SQLite (3.51) plans a bare `LIMIT ?` with the value
    // bound to it, and so throws the prepared statement away whenever that parameter is
    // bound again, which is every page: each page was parsed and planned afresh, 168k
    // instructions a page (367k with the five-table join `statement_lines` replaced), more
    // than reading it. An expression is evaluated as the statement runs; the plan is kept.
    if newest_first {
        "SELECT posting_id, txn_id, txn_time, amount_fen, ccy, memo, cpty_name, cpty_acct, bal_after_fen
         FROM statement_lines
         WHERE acct_no = ?1 AND posting_id < ?2 AND txn_time >= ?3 AND txn_time < ?4
         ORDER BY posting_id DESC LIMIT ?5 + 0"
    } else {
        "SELECT posting_id, txn_id, txn_time, amount_fen, ccy, memo, cpty_name, cpty_acct, bal_after_fen
         FROM statement_lines
         WHERE acct_no = ?1 AND posting_id > ?2 AND txn_time >= ?3 AND txn_time < ?4
         ORDER BY posting_id LIMIT ?5 + 0"
    }
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;
    use crate::ledger::TransferSpec;
    use crate::{CoreBankConfig, CoreRole};

    /// The statement page as it was read before `statement_lines`: derived per line from the
    /// postings, their running balances, their txns and the other leg and its account.
    fn derived_page(newest_first: bool) -> String {
        let page = if newest_first {
            "p.posting_id < ?2 AND t.txn_time >= ?3 AND t.txn_time < ?4 ORDER BY p.posting_id DESC LIMIT ?5"
        } else {
            "p.posting_id > ?2 AND t.txn_time >= ?3 AND t.txn_time < ?4 ORDER BY p.posting_id LIMIT ?5"
        };
        format!(
            "SELECT p.posting_id, p.txn_id, t.txn_time, p.amount_fen, p.ccy, t.memo,
                    CASE WHEN oa.cust_no IS NOT NULL THEN oa.acct_name ELSE t.cpty_name END AS cpty_name,
                    CASE WHEN oa.cust_no IS NOT NULL THEN oa.acct_no ELSE t.cpty_acct END AS cpty_acct,
                    b.bal_after_fen
             FROM postings p
             JOIN posting_balances b ON b.posting_id = p.posting_id
             JOIN txns t ON t.txn_id = p.txn_id
             LEFT JOIN postings o ON o.txn_id = p.txn_id AND o.posting_id <> p.posting_id
             LEFT JOIN accounts oa ON oa.acct_no = o.acct_no
             WHERE p.acct_no = ?1 AND {page}"
        )
    }

    #[derive(Debug, Clone, Copy)]
    struct Ask {
        newest_first: bool,
        bound: i64,
        from: i64,
        until: i64,
        limit: i64,
    }

    fn both(reads: &InlineReads, acct: &str, a: Ask) -> (Vec<TxnRow>, Vec<TxnRow>) {
        let now = statement_rows(reads, acct, a.newest_first, a.bound, a.from, a.until, a.limit).unwrap();
        let before = reads
            .with(|c| {
                c.prepare(&derived_page(a.newest_first))?
                    .query_map(rusqlite::params![acct, a.bound, a.from, a.until, a.limit + 1], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                            r.get(8)?,
                        ))
                    })?
                    .collect()
            })
            .unwrap();
        (now, before)
    }

    /// Postings beyond the seed's, with what the counterparty can be: another customer
    /// (whose name wins over a recorded outside party), a GL account with an outside party
    /// recorded, and one without.
    async fn more_postings(core: &CoreBank) {
        let spec = |n: usize, dr: &str, cr: &str, cpty: Option<&str>| TransferSpec {
            req_seq: format!("STMT-{n}"),
            dr_acct: dr.into(),
            cr_acct: cr.into(),
            amt_fen: 1_234 + i64::try_from(n).unwrap(),
            ccy: "CNY".into(),
            memo: format!("line {n}"),
            cpty_name: cpty.map(Into::into),
            cpty_acct: cpty.map(|_| "6217000010001234567".into()),
            at_unix: core.clock.now_unix(),
            extra_fingerprint: None,
        };
        let (zhang, li) = ("6222020000000000018", "6222020000000000034");
        let legs = [
            (zhang, li, Some("某某公司")),
            (li, zhang, None),
            ("GL-CNY-CLEARING", zhang, None),
            ("GL-CNY-CLEARING", li, Some("杭州青禾商贸有限公司")),
            (zhang, "GL-CNY-CLEARING", Some("广州白云机场停车场")),
            (li, "GL-CNY-CLEARING", None),
        ];
        for (n, (dr, cr, cpty)) in legs.into_iter().enumerate() {
            ledger::transfer(&core.batch, &spec(n, dr, cr, cpty)).await.unwrap();
        }
    }

    /// Every page `statement_lines` answers is the page the per-line derivation answered:
    /// every account (GL ones too), both directions, any bound, any booking window, any
    /// page size; whole histories first, then random pages.
    #[test]
    fn pages_are_the_pages_the_postings_made() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let core = rt.block_on(async {
            let cfg = CoreBankConfig { data_dir: None, seed: true };
            let core = CoreBank::open_as(cfg, CoreRole::default()).await.unwrap();
            more_postings(&core).await;
            core
        });
        let reads = core.reads.clone();
        // Every account's postings: (posting_id, txn_time), in posting order.
        let (histories, last) = {
            let rows: Vec<(String, Option<i64>, Option<i64>)> = reads
                .with(|c| {
                    c.prepare(
                        "SELECT a.acct_no, p.posting_id, t.txn_time FROM accounts a
                         LEFT JOIN postings p ON p.acct_no = a.acct_no LEFT JOIN txns t ON t.txn_id = p.txn_id
                         ORDER BY a.acct_no, p.posting_id",
                    )?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
                })
                .unwrap();
            let mut histories: Vec<(String, Vec<(i64, i64)>)> = Vec::new();
            for (acct, posting, at) in rows {
                if histories.last().is_none_or(|h| h.0 != acct) {
                    histories.push((acct, Vec::new()));
                }
                if let (Some(h), Some(posting), Some(at)) = (histories.last_mut(), posting, at) {
                    h.1.push((posting, at));
                }
            }
            let last = histories.iter().flat_map(|h| h.1.iter().map(|l| l.0)).max().unwrap_or(0);
            (histories, last)
        };
        assert!(last > 500, "a seeded ledger: {last} postings");
        let accts: Vec<String> = histories.iter().map(|h| h.0.clone()).collect();

        for acct in &accts {
            for newest_first in [false, true] {
                let bound = if newest_first { i64::MAX } else { 0 };
                let a = Ask { newest_first, bound, from: i64::MIN, until: i64::MAX, limit: 100_000 };
                let (now, before) = both(&reads, acct, a);
                assert_eq!(now, before, "{acct} {a:?}");
            }
        }

        // Bounds and window ends anywhere, and on one of the account's own postings (its id,
        // its very second) or either side of it, where an off-by-one would show.
        let ask = (0..histories.len()).prop_flat_map(move |i| {
            let lines = if histories[i].1.is_empty() { vec![(1, 0)] } else { histories[i].1.clone() };
            let ids: Vec<i64> = lines.iter().map(|l| l.0).collect();
            let times: Vec<i64> = lines.iter().map(|l| l.1).collect();
            let (lo, hi) = (times.iter().min().unwrap() - 86_400, times.iter().max().unwrap() + 86_400);
            let instant = prop_oneof![
                1 => Just(None),
                2 => (lo..=hi).prop_map(Some),
                3 => (proptest::sample::select(times), -1_i64..=1).prop_map(|(t, d)| Some(t + d)),
            ];
            let bound = prop_oneof![
                1 => Just(None),
                1 => (0..=last + 2).prop_map(Some),
                3 => (proptest::sample::select(ids), -1_i64..=1).prop_map(|(p, d)| Some(p + d)),
            ];
            (Just(i), any::<bool>(), bound, instant.clone(), instant, 1_i64..=100)
        });
        let mut runner = TestRunner::new(Config { cases: 300, ..Config::default() });
        runner
            .run(&ask, |(i, newest_first, bound, from, until, limit)| {
                let default_bound = if newest_first { i64::MAX } else { 0 };
                let a = Ask {
                    newest_first,
                    bound: bound.unwrap_or(default_bound),
                    from: from.unwrap_or(i64::MIN),
                    until: until.unwrap_or(i64::MAX),
                    limit,
                };
                let (now, before) = both(&reads, &accts[i], a);
                prop_assert_eq!(now, before, "{} {:?}", accts[i], a);
                Ok(())
            })
            .unwrap();
    }

    /// A page is one range scan of `statement_lines`' key, whichever the direction.
    #[tokio::test]
    async fn a_page_is_one_range_scan() {
        let core = CoreBank::open(CoreBankConfig { data_dir: None, seed: false }).await.unwrap();
        for (newest_first, cmp) in [(false, ">"), (true, "<")] {
            let sql = format!("EXPLAIN QUERY PLAN {}", page_sql(newest_first));
            let plan: Vec<String> = core
                .reads
                .with(|c| c.prepare(&sql)?.query_map(rusqlite::params!["A", 1, 0, 1, 26], |r| r.get(3))?.collect())
                .unwrap();
            let reads: Vec<&str> = plan
                .iter()
                .map(String::as_str)
                .filter(|s| (s.starts_with("SCAN") || s.starts_with("SEARCH")) && !s.contains("subquery"))
                .collect();
            let search = format!("SEARCH statement_lines USING PRIMARY KEY (acct_no=? AND posting_id{cmp}?)");
            assert_eq!(reads, [search.as_str()], "{plan:?}");
        }
    }

    /// A page's statement stays prepared from one page to the next, whatever it is bound to.
    #[test]
    fn a_page_is_planned_once() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for stmt in crate::db::SCHEMA {
            conn.execute_batch(stmt).unwrap();
        }
        for newest_first in [false, true] {
            let mut page = conn.prepare(page_sql(newest_first)).unwrap();
            for (bound, limit) in [(0, 26), (0, 26), (5, 11), (i64::MAX, 101)] {
                let lines =
                    page.query_map(rusqlite::params!["A", bound, i64::MIN, i64::MAX, limit], |_| Ok(())).unwrap();
                assert_eq!(lines.count(), 0);
            }
            assert_eq!(page.get_status(rusqlite::StatementStatus::RePrepare), 0, "newest first: {newest_first}");
        }
    }
}
