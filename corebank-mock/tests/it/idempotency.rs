//! Transfers under concurrency, over a real listener and a file-backed core, so several
//! SQLite connections really race for the write lock.

use scenegate_corebank_mock::CoreBank;
use serde_json::Value;

use crate::support::{Served, all_accounts, balance, post, seeded, transfer};

/// (first customer CNY account, second customer CNY account), both normal.
async fn two_cny_accounts(core: &CoreBank) -> (String, String) {
    let accts = all_accounts(core).await;
    let mut cny = accts
        .iter()
        .filter(|a| a["ccy"] == "CNY" && a["acct_status"] == "N")
        .map(|a| a["acct_no"].as_str().unwrap().to_owned());
    (cny.next().unwrap(), cny.next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_requests_with_one_req_seq_post_once() {
    let run = Served::start().await;
    let (dr, cr) = two_cny_accounts(&run.core).await;
    let (dr_before, cr_before) = (balance(&run.core, &dr).await, balance(&run.core, &cr).await);
    let before = run.core.ledger_check().await.unwrap();

    let body = transfer("RACE-1", &dr, &cr, 12_345, "CNY");
    let answers = run.post_all(vec![("/core/transfers".into(), body.clone()); 10]).await;

    let ids: Vec<&Value> = answers.iter().map(|a| &a["data"]["txn_id"]).collect();
    assert!(answers.iter().all(|a| a["ret_code"] == "0000"), "{answers:?}");
    assert!(ids.iter().all(|id| *id == ids[0] && id.is_string()), "{ids:?}");
    let after = run.core.ledger_check().await.unwrap();
    assert_eq!(after.txn_count, before.txn_count + 1);
    assert!(after.balanced);
    assert_eq!(balance(&run.core, &dr).await, dr_before - 12_345);
    assert_eq!(balance(&run.core, &cr).await, cr_before + 12_345);

    let mut changed = body.clone();
    changed["amt_fen"] = 12_346.into();
    let conflict = run.post("/core/transfers", &changed).await;
    assert_eq!((conflict["ret_code"].as_str(), &conflict["data"]), (Some("E409"), &Value::Null));
    let mut memo_changed = body.clone();
    memo_changed["memo"] = "another memo".into();
    assert_eq!(run.post("/core/transfers", &memo_changed).await["ret_code"], "E409");
    assert_eq!(run.core.ledger_check().await.unwrap().txn_count, after.txn_count);
    assert_eq!(run.post("/core/transfers", &body).await["data"]["txn_id"], *ids[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_debits_never_overdraw() {
    let run = Served::start().await;
    let (dr, cr) = two_cny_accounts(&run.core).await;
    let start_bal = balance(&run.core, &dr).await;
    // Each asks for 40% of the balance: exactly two can succeed, whatever the interleaving.
    let share = start_bal * 2 / 5;
    let calls = (0..10).map(|i| ("/core/transfers".into(), transfer(&format!("DRAIN-{i}"), &dr, &cr, share, "CNY")));
    let answers = run.post_all(calls.collect()).await;

    let codes: Vec<&str> = answers.iter().map(|a| a["ret_code"].as_str().unwrap()).collect();
    assert_eq!(codes.iter().filter(|c| **c == "0000").count(), 2, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == "E402").count(), 8, "{codes:?}");
    assert_eq!(balance(&run.core, &dr).await, start_bal - 2 * share);
    assert!(run.core.ledger_check().await.unwrap().balanced);
}

#[tokio::test]
async fn in_process_replays_answer_the_original_receipt() {
    let core = seeded().await;
    let (dr, cr) = two_cny_accounts(&core).await;
    let body = transfer("ONESHOT-1", &dr, &cr, 500, "CNY");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (core, body) = (core.clone(), body.clone());
            tokio::spawn(async move { post(&core, "/core/transfers", &body).await.1 })
        })
        .collect();
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.push(t.await.unwrap()["data"].clone());
    }
    assert!(receipts.iter().all(|r| *r == receipts[0] && r["status"] == "S"), "{receipts:?}");
    let day = &receipts[0]["txn_time"].as_str().unwrap()[..8];
    assert!(receipts[0]["txn_id"].as_str().unwrap().starts_with(&format!("T{day}")));
}
