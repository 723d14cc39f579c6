//! The mock-only `/core/admin` hooks the gateway's failure tests use: account status, limits,
//! and a payment answer that arrives after the gateway has given up.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{
    FROZEN, SKYTRIP, Served, ZHANG_CNY, assert_balanced, balance, get, get_ok, payment, post_ok, refused, seeded,
};

#[tokio::test]
async fn account_status_freezes_closes_and_reopens() {
    let core = seeded().await;
    let path = format!("/core/admin/accounts/{SKYTRIP}/status");
    let acct = post_ok(&core, &path, &json!({ "acct_status": "F" })).await;
    assert_eq!(
        (&acct["acct_no"], &acct["acct_status"], &acct["cust_no"]),
        (&json!(SKYTRIP), &json!("F"), &json!("C0006"))
    );
    assert_eq!(get_ok(&core, &format!("/core/accounts/{SKYTRIP}")).await["acct_status"], "F");
    refused(&core, "/core/payments", &payment("P-1", ZHANG_CNY, SKYTRIP, 100), "E423").await;
    post_ok(&core, &path, &json!({ "acct_status": "C" })).await;
    refused(&core, "/core/payments", &payment("P-1", ZHANG_CNY, SKYTRIP, 100), "E424").await;
    post_ok(&core, &path, &json!({ "acct_status": "N" })).await;
    post_ok(&core, "/core/payments", &payment("P-1", ZHANG_CNY, SKYTRIP, 100)).await;
    post_ok(&core, &format!("/core/admin/accounts/{FROZEN}/status"), &json!({ "acct_status": "N" })).await;
    post_ok(&core, "/core/payments", &payment("P-2", FROZEN, SKYTRIP, 100)).await;

    refused(&core, &path, &json!({ "acct_status": "X" }), "E400").await;
    refused(&core, "/core/admin/accounts/GL-CNY-CLEARING/status", &json!({ "acct_status": "F" }), "E404").await;
    refused(&core, "/core/admin/accounts/6222020000000000999/status", &json!({ "acct_status": "F" }), "E404").await;
}

#[tokio::test]
async fn limits_and_faults_check_what_they_are_given() {
    let core = seeded().await;
    let limits = json!({ "ccy": "CNY", "per_txn_fen": 1, "daily_fen": 2 });
    assert_eq!(post_ok(&core, "/core/admin/customers/C0002/limits", &limits).await["daily_fen"], 2);
    refused(&core, "/core/admin/customers/C9999/limits", &limits, "E404").await;
    refused(
        &core,
        "/core/admin/customers/C0002/limits",
        &json!({ "ccy": "CNY", "per_txn_fen": -1, "daily_fen": 2 }),
        "E400",
    )
    .await;

    assert_eq!(get_ok(&core, "/core/admin/faults").await, json!({ "payment_delay_ms": 0 }));
    for bad in [json!(-1), json!(600_001), json!("100")] {
        refused(&core, "/core/admin/faults", &json!({ "payment_delay_ms": bad }), "E400").await;
    }
    assert_eq!(get(&core, "/core/admin/faults").await.1["data"]["payment_delay_ms"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_still_commits_and_the_void_reports_it() {
    let run = Served::start().await;
    let set = run.post("/core/admin/faults", &json!({ "payment_delay_ms": 2_500 })).await;
    assert_eq!(set["data"], json!({ "payment_delay_ms": 2_500 }));
    assert_eq!(run.get("/core/admin/faults").await["data"]["payment_delay_ms"], 2_500);
    let before = balance(&run.core, ZHANG_CNY).await;

    // The gateway gives up after 1 s; the core has already posted.
    let body = payment("SLOW-1", ZHANG_CNY, SKYTRIP, 4_200);
    let url = format!("{}/core/payments", run.base);
    let started = Instant::now();
    let gave_up = run.client.post(&url).timeout(Duration::from_secs(1)).json(&body).send().await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()), "the answer must come too late");
    assert!(started.elapsed() < Duration::from_millis(2_500));

    let void = run.post("/core/payments/SLOW-1/void", &json!({})).await;
    assert_eq!((&void["ret_code"], &void["data"]["status"]), (&json!("0000"), &json!("S")), "{void}");
    assert_eq!(balance(&run.core, ZHANG_CNY).await, before - 4_200, "posted exactly once");

    let cleared = run.post("/core/admin/faults", &json!({ "payment_delay_ms": 0 })).await;
    assert_eq!(cleared["data"]["payment_delay_ms"], 0);
    let started = Instant::now();
    let replay = run.post("/core/payments", &body).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(replay["data"], void["data"], "the retry replays the receipt the void reported");
    assert_balanced(&run.core).await;
}
