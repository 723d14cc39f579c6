//! What an acknowledged transfer leaves on disk survives closing and reopening the core.

use scenegate_corebank_mock::{CoreBank, CoreBankConfig};

use crate::support::{all_accounts, all_txns, balance, get_ok, post, transfer};

async fn open(dir: &std::path::Path) -> CoreBank {
    CoreBank::open(CoreBankConfig { data_dir: Some(dir.to_owned()), seed: true }).await.unwrap()
}

#[tokio::test]
async fn transfer_and_balances_survive_reopen_and_seed_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested/core");
    let core = open(&data_dir).await;
    assert!(data_dir.join("corebank.sqlite").is_file());

    let accts = all_accounts(&core).await;
    let (dr, cr) = (accts[0]["acct_no"].as_str().unwrap(), accts[2]["acct_no"].as_str().unwrap());
    let body = transfer("DURABLE-1", dr, cr, 77_700, "CNY");
    let (_, env) = post(&core, "/core/transfers", &body).await;
    assert_eq!(env["ret_code"], "0000", "{env}");
    let txn_id = env["data"]["txn_id"].clone();
    let check = core.ledger_check().await.unwrap();
    let balances = (balance(&core, dr).await, balance(&core, cr).await);
    drop(core);

    let core = open(&data_dir).await;
    assert_eq!(core.ledger_check().await.unwrap(), check, "reopen must not seed again");
    assert_eq!((balance(&core, dr).await, balance(&core, cr).await), balances);
    let history = all_txns(&core, dr).await;
    let last = history.last().unwrap();
    assert_eq!((&last["txn_id"], &last["amt_fen"], &last["dr_cr"]), (&txn_id, &77_700.into(), &"D".into()));
    assert_eq!(all_accounts(&core).await, accts, "customers and accounts exist once");
    assert_eq!(get_ok(&core, "/core/products?limit=1000").await["items"].as_array().unwrap().len(), 12);

    // The req_seq record is durable too: a retry after a restart is still a replay.
    let (_, again) = post(&core, "/core/transfers", &body).await;
    assert_eq!(again["data"]["txn_id"], txn_id);
    assert_eq!(core.ledger_check().await.unwrap().txn_count, check.txn_count);
}

#[tokio::test]
async fn unseeded_core_has_only_the_clearing_accounts() {
    let core = CoreBank::open(CoreBankConfig { data_dir: None, seed: false }).await.unwrap();
    let check = core.ledger_check().await.unwrap();
    assert_eq!((check.txn_count, check.posting_count, check.balanced), (0, 0, true));
    assert_eq!(check.totals_by_ccy.keys().collect::<Vec<_>>(), ["CNY", "USD"]);
    let (_, env) = crate::support::get(&core, "/core/customers/C0001").await;
    assert_eq!(env["ret_code"], "E404");
}

#[tokio::test]
async fn payments_and_voids_survive_reopen() {
    use crate::support::{SKYTRIP, ZHANG_CNY, payment, post_ok, refused};
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await;
    let receipt = post_ok(&core, "/core/payments", &payment("KEEP-1", ZHANG_CNY, SKYTRIP, 900)).await;
    post_ok(&core, "/core/payments/GONE-1/void", &serde_json::json!({})).await;
    drop(core);

    let core = open(dir.path()).await;
    assert_eq!(get_ok(&core, "/core/payments/KEEP-1").await, receipt);
    refused(&core, "/core/payments", &payment("GONE-1", ZHANG_CNY, SKYTRIP, 900), "E410").await;
    assert_eq!(balance(&core, SKYTRIP).await, 900);
}

/// A data file written before payments existed gains the merchants and limits at its next
/// open, and the payment tables, instead of failing.
#[tokio::test]
async fn a_core_seeded_before_payments_gains_them_on_open() {
    use crate::support::{SKYTRIP, ZHANG_CNY, payment, post_ok};
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await;
    let check = core.ledger_check().await.unwrap();
    drop(core);
    let url = format!("sqlite://{}", dir.path().join("corebank.sqlite").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for stmt in [
        "DROP TABLE payment_meta",
        "DROP TABLE voided_req_seqs",
        "DROP TABLE cust_limits",
        "DROP TABLE otps",
        "DROP TABLE sms_outbox",
        "DELETE FROM meta WHERE key = 'seeded_payments'",
        "DELETE FROM accounts WHERE cust_no IN ('C0006', 'C0007', 'C0008', 'C0009')",
        "DELETE FROM customers WHERE cust_no IN ('C0006', 'C0007', 'C0008', 'C0009')",
    ] {
        sqlx::query(stmt).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let core = open(dir.path()).await;
    assert_eq!(core.ledger_check().await.unwrap(), check, "the history is untouched");
    assert_eq!(get_ok(&core, "/core/customers/C0006/accounts").await["items"][0]["acct_no"], SKYTRIP);
    post_ok(&core, "/core/payments", &payment("AFTER-1", ZHANG_CNY, SKYTRIP, 100)).await;
}

/// A data file from before running balances were kept opens with every posting's balance
/// filled in, and a running balance that disagrees with the postings is named by the audit.
#[tokio::test]
async fn running_balances_are_filled_for_an_older_file_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await;
    let acct = all_accounts(&core).await[0]["acct_no"].as_str().unwrap().to_owned();
    let (before, txns) = (balance(&core, &acct).await, all_txns(&core, &acct).await);
    drop(core);
    let url = format!("sqlite://{}", dir.path().join("corebank.sqlite").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DROP TABLE posting_balances").execute(&pool).await.unwrap();
    pool.close().await;

    let core = open(dir.path()).await;
    assert!(core.ledger_check().await.unwrap().balanced);
    assert_eq!(balance(&core, &acct).await, before);
    assert_eq!(all_txns(&core, &acct).await, txns, "the same statement, running balances included");
    drop(core);

    // A running balance written behind the core's back (the table is append-only, so a
    // forger drops and refills it) does not pass the audit.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE b AS SELECT * FROM posting_balances").execute(&pool).await.unwrap();
    sqlx::query("DROP TABLE posting_balances").execute(&pool).await.unwrap();
    sqlx::query(
        "CREATE TABLE posting_balances (posting_id INTEGER PRIMARY KEY, acct_no TEXT NOT NULL, bal_after_fen INTEGER NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO posting_balances SELECT posting_id, acct_no, bal_after_fen + (posting_id = (SELECT MAX(posting_id) FROM b)) FROM b")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let core = open(dir.path()).await;
    let check = core.ledger_check().await.unwrap();
    assert!(!check.balanced);
    assert_eq!(check.unbalanced_txns.len(), 1, "{check:?}");
}

/// A data file from before statement lines were kept opens with a line for every posting,
/// every statement as it was, and keeps writing them; a line changed, removed or added
/// behind the core's back (the table is append-only, so a forger drops its triggers) is
/// named by the audit, in both dialects.
#[tokio::test]
async fn statement_lines_are_filled_for_an_older_file_and_audited() {
    use axum::body::Body;
    use axum::http::Request;
    use scenegate_corebank_mock::{Dialect, router_in};
    use tower::ServiceExt;

    use crate::support::{SKYTRIP, ZHANG_CNY, assert_balanced, external_payment, payment, post_ok};
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await;
    // Besides the seed's: a payment to a merchant, one to another bank (a GL leg with an
    // outside party) and an inbound credit (the same, the other way).
    post_ok(&core, "/core/payments", &payment("OLD-1", ZHANG_CNY, SKYTRIP, 900)).await;
    post_ok(&core, "/core/payments", &external_payment("OLD-2", ZHANG_CNY, 500, "CNY")).await;
    let inbound = serde_json::json!({
        "req_seq": "OLD-3", "kind": "inbound", "cr_acct": ZHANG_CNY, "amt_fen": 700, "ccy": "CNY",
        "dr_ext_acct": "6222020000000000083", "dr_ext_name": "北京云杉科技有限公司", "dr_ext_bank": "SCENEGATE2",
        "memo": "cross-core payment", "channel": "ptn_skytrip"
    });
    post_ok(&core, "/core/payments", &inbound).await;
    let accts: Vec<String> =
        all_accounts(&core).await.iter().map(|a| a["acct_no"].as_str().unwrap().to_owned()).collect();
    let mut statements = Vec::new();
    for a in &accts {
        statements.push(all_txns(&core, a).await);
    }
    let check = core.ledger_check().await.unwrap();
    drop(core);

    // The file as it was before: no table, no trigger writing it.
    let url = format!("sqlite://{}", dir.path().join("corebank.sqlite").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DROP TRIGGER statement_lines_on_second_leg").execute(&pool).await.unwrap();
    sqlx::query("DROP TABLE statement_lines").execute(&pool).await.unwrap();
    pool.close().await;

    let core = open(dir.path()).await;
    assert_eq!(core.ledger_check().await.unwrap(), check, "the same ledger, every line as the postings make it");
    for (a, before) in accts.iter().zip(&statements) {
        assert_eq!(&all_txns(&core, a).await, before, "{a}: the same statement");
    }
    post_ok(&core, "/core/payments", &payment("NEW-1", ZHANG_CNY, SKYTRIP, 100)).await;
    assert_balanced(&core).await;
    let last = all_txns(&core, ZHANG_CNY).await.pop().unwrap();
    assert_eq!((&last["memo"], &last["cpty_acct"]), (&"SkyTrip order 42".into(), &SKYTRIP.into()), "{last}");
    drop(core);

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (lines, postings): (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM statement_lines), (SELECT COUNT(*) FROM postings)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(lines, postings, "one line per posting");
    let ids: Vec<(i64,)> =
        sqlx::query_as("SELECT posting_id FROM statement_lines WHERE acct_no = ?1 ORDER BY posting_id DESC LIMIT 3")
            .bind(ZHANG_CNY)
            .fetch_all(&pool)
            .await
            .unwrap();
    let [(changed,), (removed,), (copied,)] = ids[..] else { panic!("{ids:?}") };
    let edit = sqlx::query("UPDATE statement_lines SET memo = 'x' WHERE posting_id = ?1").bind(changed);
    assert!(edit.execute(&pool).await.is_err(), "statement lines are append-only");
    let delete = sqlx::query("DELETE FROM statement_lines WHERE posting_id = ?1").bind(removed);
    assert!(delete.execute(&pool).await.is_err(), "statement lines are append-only");
    for drop in ["DROP TRIGGER statement_lines_no_update", "DROP TRIGGER statement_lines_no_delete"] {
        sqlx::query(drop).execute(&pool).await.unwrap();
    }
    for (forge, posting) in [
        (
            "UPDATE statement_lines SET cpty_name = '某某', bal_after_fen = bal_after_fen + 1 WHERE posting_id = ?1",
            changed,
        ),
        ("DELETE FROM statement_lines WHERE posting_id = ?1", removed),
        (
            "INSERT INTO statement_lines SELECT 'GL-CNY-CLEARING', posting_id, txn_id, txn_time, amount_fen, ccy, memo,
               cpty_name, cpty_acct, bal_after_fen FROM statement_lines WHERE posting_id = ?1",
            copied,
        ),
    ] {
        let done = sqlx::query(forge).bind(posting).execute(&pool).await.unwrap();
        assert_eq!(done.rows_affected(), 1, "{forge}");
    }
    pool.close().await;

    let core = open(dir.path()).await;
    let check = core.ledger_check().await.unwrap();
    assert!(!check.balanced, "{check:?}");
    assert!(check.unbalanced_txns.is_empty(), "the postings themselves are fine: {check:?}");
    let mut named = vec![changed, removed, copied];
    named.sort_unstable();
    assert_eq!(check.statement_mismatches, named);
    let req = Request::get("/api/v2/ledger/check").body(Body::empty()).unwrap();
    let res = router_in(core.clone(), Dialect::Modern).oneshot(req).await.unwrap();
    let modern: serde_json::Value =
        serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap()).unwrap();
    assert_eq!((&modern["balanced"], &modern["statement_mismatches"]), (&false.into(), &serde_json::json!(named)));
}
