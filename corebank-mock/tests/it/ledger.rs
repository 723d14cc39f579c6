//! The ledger's invariants, after seeding and after random transfers checked against a model.

use std::collections::BTreeMap;

use proptest::prelude::*;
use scenegate_corebank_mock::CoreBank;
use serde_json::Value;

use crate::support::{
    SKYTRIP, ZHANG_CNY, all_accounts, all_txns, assert_balanced, away_from_midnight, balance, get_ok, payment, post,
    post_ok, seeded, set_limits, signed_sum, transfer,
};

/// Each customer account's balance is the sum of its postings, never negative, and each
/// line's running balance follows from the one before.
async fn assert_accounts_consistent(core: &CoreBank) {
    for acct in all_accounts(core).await {
        let no = acct["acct_no"].as_str().expect("acct_no");
        let txns = all_txns(core, no).await;
        let bal = balance(core, no).await;
        assert_eq!(bal, signed_sum(&txns), "{no}: balance is not the sum of its postings");
        assert!(bal >= 0, "{no}: customer balance went negative: {bal}");
        let mut running = 0;
        for t in &txns {
            running += if t["dr_cr"] == "D" { -t["amt_fen"].as_i64().unwrap() } else { t["amt_fen"].as_i64().unwrap() };
            assert_eq!(t["bal_after_fen"].as_i64(), Some(running), "{no}: bal_after_fen of {t}");
            assert!(running >= 0, "{no}: went negative at {t}");
        }
    }
}

#[tokio::test]
async fn seeded_ledger_balances_and_every_balance_is_its_postings() {
    let core = seeded().await;
    let check = core.ledger_check().await.unwrap();
    assert!(check.balanced, "{check:?}");
    assert!(check.unbalanced_txns.is_empty());
    assert!((250..=400).contains(&check.txn_count), "about 300 seeded txns, got {}", check.txn_count);
    assert_eq!(check.posting_count, 2 * check.txn_count);
    assert_eq!(check.totals_by_ccy, BTreeMap::from([("CNY".into(), 0), ("USD".into(), 0)]));
    assert_eq!(get_ok(&core, "/core/ledger/check").await, serde_json::to_value(&check).unwrap());
    assert_accounts_consistent(&core).await;
}

#[tokio::test]
async fn seeding_is_deterministic() {
    let (a, b) = (seeded().await, seeded().await);
    assert_eq!(a.ledger_check().await.unwrap(), b.ledger_check().await.unwrap());
    for acct in all_accounts(&a).await {
        let no = acct["acct_no"].as_str().unwrap();
        assert_eq!(all_txns(&a, no).await, all_txns(&b, no).await, "{no}");
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Indices into the account table; `other_ccy` asks in the currency the debit account lacks.
    Transfer { dr: usize, cr: usize, amt_fen: i64, other_ccy: bool },
    /// Resend an earlier successful request unchanged (`tweak` false) or with another amount.
    Resend { nth: usize, tweak: bool },
}

fn op() -> impl Strategy<Value = Op> {
    let amount = prop_oneof![3 => 1_i64..200_000, 1 => 1_000_000_i64..50_000_000_000];
    prop_oneof![
        6 => (0_usize..64, 0_usize..64, amount, proptest::bool::weighted(0.15))
            .prop_map(|(dr, cr, amt_fen, other_ccy)| Op::Transfer { dr, cr, amt_fen, other_ccy }),
        1 => (0_usize..64, any::<bool>()).prop_map(|(nth, tweak)| Op::Resend { nth, tweak }),
    ]
}

struct ModelAcct {
    no: String,
    ccy: String,
    normal: bool,
    customer: bool,
    bal: i64,
}

/// What the core must answer, in the order it checks: each leg's currency then status, then
/// the debit side's funds.
fn expected(accts: &[ModelAcct], dr: usize, cr: usize, amt: i64, ccy: &str) -> &'static str {
    for leg in [&accts[dr], &accts[cr]] {
        if leg.ccy != ccy {
            return "E415";
        }
        if !leg.normal {
            return "E423";
        }
    }
    if accts[dr].customer && accts[dr].bal < amt { "E402" } else { "0000" }
}

async fn run_model(ops: Vec<Op>) {
    let core = seeded().await;
    let before = core.ledger_check().await.unwrap();
    let mut accts = Vec::new();
    for a in all_accounts(&core).await {
        let no = a["acct_no"].as_str().unwrap().to_owned();
        let bal = balance(&core, &no).await;
        let (ccy, normal) = (a["ccy"].as_str().unwrap().to_owned(), a["acct_status"] == "N");
        accts.push(ModelAcct { no, ccy, normal, customer: true, bal });
    }
    assert!(accts.iter().any(|a| !a.normal), "the seed has a frozen account");
    for (no, ccy) in [("GL-CNY-CLEARING", "CNY"), ("GL-USD-CLEARING", "USD")] {
        accts.push(ModelAcct { no: no.into(), ccy: ccy.into(), normal: true, customer: false, bal: 0 });
    }
    let mut sent: Vec<(Value, String)> = Vec::new();
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            Op::Transfer { dr, cr, amt_fen, other_ccy } => {
                let (dr, cr) = (dr % accts.len(), cr % accts.len());
                if dr == cr {
                    continue;
                }
                let ccy = match (other_ccy, accts[dr].ccy.as_str()) {
                    (false, c) => c.to_owned(),
                    (true, "CNY") => "USD".to_owned(),
                    (true, _) => "CNY".to_owned(),
                };
                let body = transfer(&format!("P-{i}"), &accts[dr].no, &accts[cr].no, amt_fen, &ccy);
                let (_, env) = post(&core, "/core/transfers", &body).await;
                let want = expected(&accts, dr, cr, amt_fen, &ccy);
                assert_eq!(env["ret_code"], want, "{body} -> {env}");
                if want == "0000" {
                    accts[dr].bal -= amt_fen;
                    accts[cr].bal += amt_fen;
                    sent.push((body, env["data"]["txn_id"].as_str().unwrap().to_owned()));
                } else {
                    assert_eq!(env["data"], Value::Null);
                }
            }
            Op::Resend { nth, tweak } if !sent.is_empty() => {
                let (mut body, txn_id) = sent[nth % sent.len()].clone();
                if tweak {
                    body["amt_fen"] = (body["amt_fen"].as_i64().unwrap() + 1).into();
                }
                let (_, env) = post(&core, "/core/transfers", &body).await;
                if tweak {
                    assert_eq!(env["ret_code"], "E409", "{env}");
                } else {
                    assert_eq!(env["data"]["txn_id"], txn_id.as_str(), "{env}");
                }
            }
            Op::Resend { .. } => {}
        }
    }
    let after = core.ledger_check().await.unwrap();
    assert!(after.balanced, "{after:?}");
    assert_eq!(after.totals_by_ccy, before.totals_by_ccy, "total per currency changed");
    assert_eq!(after.txn_count, before.txn_count + i64::try_from(sent.len()).unwrap());
    assert_eq!(after.posting_count, 2 * after.txn_count);
    for a in accts.iter().filter(|a| a.customer) {
        assert_eq!(balance(&core, &a.no).await, a.bal, "{}: model and core disagree", a.no);
    }
    assert_accounts_consistent(&core).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]

    #[test]
    fn random_transfers_keep_the_ledger_balanced(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run_model(ops));
    }
}

/// The audit must see damage done behind the API's back, not just echo "balanced".
#[tokio::test]
async fn ledger_check_names_a_one_sided_txn() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = scenegate_corebank_mock::CoreBankConfig { data_dir: Some(dir.path().to_owned()), seed: true };
    let core = CoreBank::open(cfg).await.unwrap();
    let acct = all_accounts(&core).await[0]["acct_no"].as_str().unwrap().to_owned();

    let url = format!("sqlite://{}", dir.path().join("corebank.sqlite").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO txns VALUES ('TFORGED', 'forged', 0, 'forged', NULL, NULL, '')")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO postings (txn_id, acct_no, amount_fen, ccy) VALUES ('TFORGED', ?1, 100, 'CNY')")
        .bind(&acct)
        .execute(&pool)
        .await
        .unwrap();
    let rewrite = sqlx::query("UPDATE postings SET amount_fen = 1 WHERE txn_id = 'TFORGED'").execute(&pool).await;
    assert!(rewrite.is_err(), "postings are append-only");
    pool.close().await;

    let check = core.ledger_check().await.unwrap();
    assert!(!check.balanced);
    assert_eq!(check.unbalanced_txns, ["TFORGED"]);
    assert_eq!(check.totals_by_ccy["CNY"], 100);
}

/// The daily limit's running totals are checked against the payments posted that day: a
/// total changed behind the API's back is named.
#[tokio::test]
async fn ledger_check_names_a_daily_total_that_differs_from_the_day_payments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = scenegate_corebank_mock::CoreBankConfig { data_dir: Some(dir.path().to_owned()), seed: true };
    let core = CoreBank::open(cfg).await.unwrap();
    away_from_midnight(&core);
    set_limits(&core, "C0001", "CNY", 10_000, 100_000).await;
    for n in 0..3 {
        post_ok(&core, "/core/payments", &payment(&format!("S-{n}"), ZHANG_CNY, SKYTRIP, 1_000)).await;
    }
    assert_balanced(&core).await;

    let url = format!("sqlite://{}", dir.path().join("corebank.sqlite").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (used,): (i64,) = sqlx::query_as("SELECT used_fen FROM cust_day_spend WHERE cust_no = 'C0001' AND ccy = 'CNY'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(used, 3_000, "the running total counts each payment once");
    sqlx::query("UPDATE cust_day_spend SET used_fen = 0").execute(&pool).await.unwrap();
    pool.close().await;

    let check = core.ledger_check().await.unwrap();
    assert_eq!(check.spend_mismatches.len(), 1, "{check:?}");
    assert!(check.spend_mismatches[0].starts_with("C0001/CNY/"), "{check:?}");
}
