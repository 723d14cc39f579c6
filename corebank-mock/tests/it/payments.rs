//! `POST /core/payments`, `GET /core/payments/{req_seq}` and `…/void`, one caller at a time:
//! the receipt, the money, and every refusal's own code.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    FROZEN, LI_CNY, SKYTRIP, TOPUP, ZHANG_CNY, ZHANG_USD, all_txns, assert_balanced, away_from_midnight, balance,
    external_payment, get, payment, post_ok, refused, seeded, set_limits, transfer,
};

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn a_payment_posts_once_and_answers_a_receipt() {
    let core = seeded().await;
    let before = core.ledger_check().await.unwrap();
    let (payer, merchant) = (balance(&core, ZHANG_CNY).await, balance(&core, SKYTRIP).await);
    assert_eq!(merchant, 0, "settlement accounts start empty");

    let body = payment("PAY-1", ZHANG_CNY, SKYTRIP, 1_250);
    let receipt = post_ok(&core, "/core/payments", &body).await;
    assert_eq!(keys(&receipt), ["req_seq", "status", "txn_id", "txn_time"], "no balances in the receipt");
    assert_eq!((&receipt["req_seq"], &receipt["status"]), (&json!("PAY-1"), &json!("S")));
    assert_eq!(receipt["txn_time"].as_str().unwrap().len(), 14);

    assert_eq!(post_ok(&core, "/core/payments", &body).await, receipt, "a replay answers the same receipt");
    assert_eq!(get(&core, "/core/payments/PAY-1").await.1["data"], receipt);
    assert_eq!((balance(&core, ZHANG_CNY).await, balance(&core, SKYTRIP).await), (payer - 1_250, 1_250));
    let after = core.ledger_check().await.unwrap();
    assert_eq!(after.txn_count, before.txn_count + 1);
    assert_balanced(&core).await;

    // Both statements show the other customer and the memo.
    let paid = all_txns(&core, ZHANG_CNY).await.pop().unwrap();
    assert_eq!((&paid["txn_id"], &paid["dr_cr"], &paid["amt_fen"]), (&receipt["txn_id"], &json!("D"), &json!(1_250)));
    assert_eq!((&paid["memo"], &paid["cpty_acct"]), (&json!("SkyTrip order 42"), &json!(SKYTRIP)));
    let got = all_txns(&core, SKYTRIP).await.pop().unwrap();
    assert_eq!((&got["dr_cr"], &got["cpty_name"]), (&json!("C"), &json!("张三")));
}

#[tokio::test]
async fn an_external_creditor_is_credited_to_clearing_under_its_own_name() {
    let core = seeded().await;
    let before = core.ledger_check().await.unwrap();
    let receipt = post_ok(&core, "/core/payments", &external_payment("EXT-1", ZHANG_CNY, 3_000, "CNY")).await;
    let line = all_txns(&core, ZHANG_CNY).await.pop().unwrap();
    assert_eq!(line["txn_id"], receipt["txn_id"]);
    assert_eq!((&line["cpty_name"], &line["cpty_acct"]), (&json!("广州白云机场停车场"), &json!("6217000010001234567")));
    let usd = post_ok(&core, "/core/payments", &external_payment("EXT-2", ZHANG_USD, 1_999, "USD")).await;
    assert_eq!(usd["status"], "S");
    let after = core.ledger_check().await.unwrap();
    assert_eq!(after.txn_count, before.txn_count + 2);
    assert_eq!(after.totals_by_ccy, before.totals_by_ccy, "clearing holds the other side");
    assert_balanced(&core).await;
}

#[tokio::test]
async fn every_refusal_has_its_own_code() {
    let core = seeded().await;
    let before = core.ledger_check().await.unwrap();
    let pay = |seq: &str, dr: &str, cr: &str, amt: i64| payment(seq, dr, cr, amt);
    let env = refused(&core, "/core/payments", &json!({ "req_seq": "X" }), "E400").await;
    assert!(env["ret_msg"].as_str().unwrap().contains("amt_fen"), "{env}");

    for (dr, cr, code, what) in [
        ("6222020000000000999", SKYTRIP, "E404", "unknown debtor"),
        ("GL-CNY-CLEARING", SKYTRIP, "E404", "a GL account is no debtor"),
        (ZHANG_CNY, "6222020000000000999", "E404", "unknown creditor"),
        (ZHANG_CNY, "GL-CNY-CLEARING", "E404", "a GL account is no creditor"),
        (ZHANG_USD, SKYTRIP, "E415", "USD account, CNY payment"),
        (FROZEN, SKYTRIP, "E423", "frozen debtor"),
        (ZHANG_CNY, FROZEN, "E423", "frozen creditor"),
        (ZHANG_CNY, SKYTRIP, "E451", "over the per-payment limit"),
    ] {
        let amt = if code == "E451" { 5_000_001 } else { 100 };
        let env = refused(&core, "/core/payments", &pay(what, dr, cr, amt), code).await;
        if code == "E404" {
            let field = if what.contains("debtor") { "dr_acct" } else { "cr_acct" };
            assert!(env["ret_msg"].as_str().unwrap().contains(field), "{what}: {env}");
        }
    }
    post_ok(&core, "/core/payments", &pay("LIMIT-EXACT", ZHANG_CNY, SKYTRIP, 5_000_000)).await;

    // Closed is not frozen: its own code.
    post_ok(&core, &format!("/core/admin/accounts/{TOPUP}/status"), &json!({ "acct_status": "C" })).await;
    refused(&core, "/core/payments", &pay("CLOSED-1", ZHANG_CNY, TOPUP, 100), "E424").await;

    // Funds: a USD balance is below the USD per-payment limit, so E402 is what stops it.
    let usd = balance(&core, ZHANG_USD).await;
    assert!(usd < 500_000, "{usd}");
    let mut too_much = external_payment("USD-ALL", ZHANG_USD, usd + 1, "USD");
    refused(&core, "/core/payments", &too_much, "E402").await;
    too_much["amt_fen"] = usd.into();
    post_ok(&core, "/core/payments", &too_much).await;

    // One req_seq, one request: another amount, or a transfer's req_seq, is E409.
    let mut changed = pay("LIMIT-EXACT", ZHANG_CNY, SKYTRIP, 4_999_999);
    refused(&core, "/core/payments", &changed, "E409").await;
    changed["scene"] = "other".into();
    changed["amt_fen"] = 5_000_000.into();
    refused(&core, "/core/payments", &changed, "E409").await;
    post_ok(&core, "/core/transfers", &transfer("TRF-1", LI_CNY, ZHANG_CNY, 100, "CNY")).await;
    refused(&core, "/core/payments", &pay("TRF-1", LI_CNY, ZHANG_CNY, 100), "E409").await;

    // Voided: E410 on post and on status.
    post_ok(&core, "/core/payments/GONE-1/void", &json!({})).await;
    refused(&core, "/core/payments", &pay("GONE-1", ZHANG_CNY, SKYTRIP, 100), "E410").await;
    assert_eq!(get(&core, "/core/payments/GONE-1").await.1["ret_code"], "E410");

    let after = core.ledger_check().await.unwrap();
    assert_eq!(after.txn_count, before.txn_count + 3, "only the two accepted payments and the transfer");
    assert_balanced(&core).await;
}

#[tokio::test]
async fn the_daily_limit_counts_the_beijing_day() {
    let core = seeded().await;
    away_from_midnight(&core);
    set_limits(&core, "C0001", "CNY", 6_000, 10_000).await;
    post_ok(&core, "/core/payments", &payment("D-1", ZHANG_CNY, SKYTRIP, 6_000)).await;
    refused(&core, "/core/payments", &payment("D-2", ZHANG_CNY, SKYTRIP, 6_001), "E451").await;
    let env = refused(&core, "/core/payments", &payment("D-3", ZHANG_CNY, SKYTRIP, 4_001), "E452").await;
    assert!(env["ret_msg"].as_str().unwrap().contains("4000 fen left"), "{env}");
    // Plain transfers and other customers do not count against C0001's day.
    post_ok(&core, "/core/transfers", &transfer("T-1", ZHANG_CNY, LI_CNY, 50_000, "CNY")).await;
    post_ok(&core, "/core/payments", &payment("D-4", LI_CNY, SKYTRIP, 40_000)).await;
    post_ok(&core, "/core/payments", &payment("D-5", ZHANG_CNY, SKYTRIP, 4_000)).await;
    refused(&core, "/core/payments", &payment("D-6", ZHANG_CNY, SKYTRIP, 1), "E452").await;
    // A replay of a payment that used the day's allowance is still a replay, not a refusal.
    post_ok(&core, "/core/payments", &payment("D-5", ZHANG_CNY, SKYTRIP, 4_000)).await;

    core.advance_clock(Duration::from_secs(86_400));
    post_ok(&core, "/core/payments", &payment("D-7", ZHANG_CNY, SKYTRIP, 6_000)).await;
    // A currency without a limit row cannot be paid in.
    post_ok(&core, "/core/admin/customers/C0001/limits", &json!({ "ccy": "USD", "per_txn_fen": 0, "daily_fen": 0 }))
        .await;
    refused(&core, "/core/payments", &external_payment("U-1", ZHANG_USD, 1, "USD"), "E451").await;
    assert_balanced(&core).await;
}

#[tokio::test]
async fn void_answers_the_receipt_if_posted_and_burns_the_req_seq_otherwise() {
    let core = seeded().await;
    let receipt = post_ok(&core, "/core/payments", &payment("V-1", ZHANG_CNY, SKYTRIP, 700)).await;
    let answer = post_ok(&core, "/core/payments/V-1/void", &json!({})).await;
    assert_eq!(answer, receipt, "posted: the void reports it happened");
    assert_eq!(get(&core, "/core/payments/V-1").await.1["data"], receipt, "and nothing was voided");

    let voided = post_ok(&core, "/core/payments/V-2/void", &json!({})).await;
    assert_eq!(voided, json!({ "req_seq": "V-2", "status": "V" }));
    assert_eq!(post_ok(&core, "/core/payments/V-2/void", &json!({})).await, voided, "voiding again is the same");
    refused(&core, "/core/payments", &payment("V-2", ZHANG_CNY, SKYTRIP, 700), "E410").await;
    refused(&core, "/core/transfers", &transfer("V-2", ZHANG_CNY, LI_CNY, 700, "CNY"), "E410").await;

    assert_eq!(get(&core, "/core/payments/NEVER").await.1["ret_code"], "E404");
    post_ok(&core, "/core/transfers", &transfer("TRF-9", ZHANG_CNY, LI_CNY, 700, "CNY")).await;
    assert_eq!(get(&core, "/core/payments/TRF-9").await.1["ret_code"], "E404", "a transfer is not a payment");
    refused(&core, "/core/payments/TRF-9/void", &json!({}), "E409").await;
    let long = "x".repeat(65);
    refused(&core, &format!("/core/payments/{long}/void"), &json!({}), "E400").await;
    assert_eq!(get(&core, &format!("/core/payments/{long}")).await.1["ret_code"], "E400");
    assert_balanced(&core).await;
}
