//! Payments under concurrency, over a real listener and a file-backed core, so several SQLite
//! connections really race for the write lock: limits, idempotency, void against post, and
//! refunds hold whatever the interleaving.

use serde_json::{Value, json};

use crate::support::{
    SKYTRIP, Served, ZHANG_CNY, assert_balanced, away_from_midnight, balance, payment, refund, set_limits,
};

fn codes(answers: &[Value]) -> Vec<&str> {
    answers.iter().map(|a| a["ret_code"].as_str().unwrap()).collect()
}

fn count(codes: &[&str], code: &str) -> usize {
    codes.iter().filter(|c| **c == code).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_payments_never_pass_the_daily_limit() {
    let run = Served::start().await;
    away_from_midnight(&run.core);
    set_limits(&run.core, "C0001", "CNY", 10_000, 10_000).await;
    let before = balance(&run.core, ZHANG_CNY).await;
    // 14 × 700 = 9,800 fits in 10,000; a 15th would not.
    let calls = (0..20).map(|i| ("/core/payments".to_owned(), payment(&format!("LIM-{i}"), ZHANG_CNY, SKYTRIP, 700)));
    let answers = run.post_all(calls.collect()).await;
    let codes = codes(&answers);
    assert_eq!((count(&codes, "0000"), count(&codes, "E452")), (14, 6), "{codes:?}");
    assert_eq!(balance(&run.core, ZHANG_CNY).await, before - 14 * 700);
    assert_eq!(balance(&run.core, SKYTRIP).await, 14 * 700);
    assert_balanced(&run.core).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_identical_payments_post_once() {
    let run = Served::start().await;
    let before = run.core.ledger_check().await.unwrap();
    let body = payment("SAME-1", ZHANG_CNY, SKYTRIP, 1_234);
    let answers = run.post_all(vec![("/core/payments".to_owned(), body); 20]).await;
    assert!(answers.iter().all(|a| a["ret_code"] == "0000" && a["data"] == answers[0]["data"]), "{answers:?}");
    assert_eq!(run.core.ledger_check().await.unwrap().txn_count, before.txn_count + 1);
    assert_eq!(balance(&run.core, SKYTRIP).await, 1_234);
    assert_balanced(&run.core).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_void_racing_a_post_leaves_exactly_one_outcome() {
    let run = Served::start().await;
    let before = run.core.ledger_check().await.unwrap();
    const ROUNDS: usize = 20;
    let mut calls = Vec::new();
    for i in 0..ROUNDS {
        let seq = format!("RACE-{i}");
        let post = ("/core/payments".to_owned(), payment(&seq, ZHANG_CNY, SKYTRIP, 100));
        let void = (format!("/core/payments/{seq}/void"), json!({}));
        // Alternate who is sent first, so both orders get their chance.
        if i % 2 == 0 {
            calls.extend([post, void]);
        } else {
            calls.extend([void, post]);
        }
    }
    let answers = run.post_all(calls).await;
    let mut posted = 0;
    for (i, pair) in answers.chunks(2).enumerate() {
        let (post, void) = if i % 2 == 0 { (&pair[0], &pair[1]) } else { (&pair[1], &pair[0]) };
        assert_eq!(void["ret_code"], "0000", "{void}");
        match post["ret_code"].as_str().unwrap() {
            "0000" => {
                posted += 1;
                assert_eq!(void["data"], post["data"], "the void must report the posting it lost to");
            }
            "E410" => assert_eq!(void["data"]["status"], "V", "{void}"),
            other => panic!("round {i}: post answered {other}: {post}"),
        }
        let status = run.get(&format!("/core/payments/RACE-{i}")).await;
        let want = if post["ret_code"] == "0000" { "0000" } else { "E410" };
        assert_eq!(status["ret_code"], want, "round {i}: {status}");
    }
    assert_eq!(run.core.ledger_check().await.unwrap().txn_count, before.txn_count + posted);
    let db = run.raw_db().await;
    let (both,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM voided_req_seqs v JOIN txns t ON t.req_seq = v.req_seq")
        .fetch_one(&db)
        .await
        .unwrap();
    let (voided,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM voided_req_seqs").fetch_one(&db).await.unwrap();
    assert_eq!(
        (both, voided + posted),
        (0, i64::try_from(ROUNDS).unwrap()),
        "each req_seq is posted or voided, never both"
    );
    assert_balanced(&run.core).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refunds_never_exceed_the_original() {
    let run = Served::start().await;
    let payer = balance(&run.core, ZHANG_CNY).await;
    assert_eq!(run.post("/core/payments", &payment("ORDER-1", ZHANG_CNY, SKYTRIP, 10_000)).await["ret_code"], "0000");
    // Six of 1,500 fit in 10,000; the other four must be refused, whatever the order.
    let calls = (0..10).map(|i| ("/core/payments".to_owned(), refund(&format!("RF-{i}"), "ORDER-1", 1_500)));
    let answers = run.post_all(calls.collect()).await;
    let codes = codes(&answers);
    assert_eq!((count(&codes, "0000"), count(&codes, "E453")), (6, 4), "{codes:?}");
    assert_eq!(balance(&run.core, SKYTRIP).await, 1_000);
    assert_eq!(balance(&run.core, ZHANG_CNY).await, payer - 1_000);
    assert_balanced(&run.core).await;
}
