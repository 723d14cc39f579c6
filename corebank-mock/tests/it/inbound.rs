//! Inbound credits (money from another bank or the other core, through clearing) and the
//! full refund of an external payment: the two halves of a payment across cores.

use serde_json::{Value, json};

use crate::support::{
    FROZEN, LI_CNY, ZHANG_CNY, ZHANG_USD, all_txns, assert_balanced, balance, external_payment, get, post_ok, refund,
    refused, seeded,
};

fn inbound(req_seq: &str, cr: &str, amt_fen: i64, ccy: &str) -> Value {
    json!({
        "req_seq": req_seq, "kind": "inbound", "cr_acct": cr, "amt_fen": amt_fen, "ccy": ccy,
        "dr_ext_acct": "6222020000000000083", "dr_ext_name": "北京云杉科技有限公司", "dr_ext_bank": "SCENEGATE2",
        "memo": "cross-core payment", "channel": "ptn_skytrip"
    })
}

#[tokio::test]
async fn an_inbound_credit_debits_clearing_and_shows_its_debtor() {
    let core = seeded().await;
    let before = balance(&core, LI_CNY).await;
    let receipt = post_ok(&core, "/core/payments", &inbound("IN-1", LI_CNY, 12_345, "CNY")).await;
    assert_eq!((&receipt["req_seq"], &receipt["status"]), (&json!("IN-1"), &json!("S")));
    assert_eq!(balance(&core, LI_CNY).await, before + 12_345);
    let last = all_txns(&core, LI_CNY).await.pop().unwrap();
    assert_eq!(
        [&last["dr_cr"], &last["amt_fen"], &last["cpty_name"], &last["cpty_acct"], &last["memo"]],
        [
            &json!("C"),
            &json!(12_345),
            &json!("北京云杉科技有限公司"),
            &json!("6222020000000000083"),
            &json!("cross-core payment")
        ]
    );

    assert_eq!(post_ok(&core, "/core/payments", &inbound("IN-1", LI_CNY, 12_345, "CNY")).await, receipt, "replay");
    assert_eq!(balance(&core, LI_CNY).await, before + 12_345, "a replay posts nothing");
    refused(&core, "/core/payments", &inbound("IN-1", LI_CNY, 12_346, "CNY"), "E409").await;
    assert_eq!(get(&core, "/core/payments/IN-1").await.1["data"], receipt);
    assert_eq!(post_ok(&core, "/core/payments/IN-1/void", &json!({})).await, receipt, "it happened");

    let mut no_bank = inbound("IN-2", LI_CNY, 1, "CNY");
    no_bank.as_object_mut().unwrap().remove("dr_ext_bank");
    no_bank["scene"] = "travel".into();
    post_ok(&core, "/core/payments", &no_bank).await;
    // Only a payment can be refunded.
    refused(&core, "/core/payments", &refund("RF-IN", "IN-1", 1), "E404").await;
    assert_balanced(&core).await;
}

#[tokio::test]
async fn an_inbound_credit_is_refused_as_a_payment_would_be() {
    let core = seeded().await;
    refused(&core, "/core/payments", &inbound("IN-1", "6222020000000000000", 100, "CNY"), "E404").await;
    refused(&core, "/core/payments", &inbound("IN-1", "GL-CNY-CLEARING", 100, "CNY"), "E404").await;
    refused(&core, "/core/payments", &inbound("IN-1", ZHANG_CNY, 100, "USD"), "E415").await;
    refused(&core, "/core/payments", &inbound("IN-1", FROZEN, 100, "CNY"), "E423").await;
    post_ok(&core, &format!("/core/admin/accounts/{ZHANG_USD}/status"), &json!({ "acct_status": "C" })).await;
    refused(&core, "/core/payments", &inbound("IN-1", ZHANG_USD, 100, "USD"), "E424").await;
    let mut bad = inbound("IN-1", ZHANG_CNY, 100, "CNY");
    bad["dr_ext_acct"] = "".into();
    let env = refused(&core, "/core/payments", &bad, "E400").await;
    assert!(env["ret_msg"].as_str().unwrap().contains("dr_ext_acct"), "{env}");

    // Voided first, then the late post: refused for good.
    post_ok(&core, "/core/payments/IN-9/void", &json!({})).await;
    refused(&core, "/core/payments", &inbound("IN-9", ZHANG_CNY, 100, "CNY"), "E410").await;
    // Far over any payer limit: an inbound credit has none, nor a funds check.
    post_ok(&core, "/core/payments", &inbound("IN-BIG", ZHANG_CNY, 90_000_000_000, "CNY")).await;
    assert_balanced(&core).await;
}

/// How the gateway reverses the first leg of a cross-core payment when the second fails.
#[tokio::test]
async fn an_external_payment_can_be_refunded_in_full() {
    let core = seeded().await;
    let before = balance(&core, ZHANG_CNY).await;
    post_ok(&core, "/core/payments", &external_payment("EXT-1", ZHANG_CNY, 25_000, "CNY")).await;
    assert_eq!(balance(&core, ZHANG_CNY).await, before - 25_000);

    let back = post_ok(&core, "/core/payments", &refund("EXT-1-RF", "EXT-1", 25_000)).await;
    assert_eq!(back["status"], "S");
    assert_eq!(balance(&core, ZHANG_CNY).await, before, "all of it back");
    let last = all_txns(&core, ZHANG_CNY).await.pop().unwrap();
    assert_eq!(
        [&last["dr_cr"], &last["amt_fen"], &last["cpty_name"], &last["cpty_acct"]],
        [&json!("C"), &json!(25_000), &json!("广州白云机场停车场"), &json!("6217000010001234567")]
    );
    refused(&core, "/core/payments", &refund("EXT-1-RF2", "EXT-1", 1), "E453").await;
    assert_balanced(&core).await;
}
