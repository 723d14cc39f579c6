//! Refunds: money back from the original payment's creditor to its debtor, never more than
//! was paid, and only of a real payment.

use serde_json::json;

use crate::support::{
    LI_CNY, PARKEASE, SKYTRIP, WANG_CNY, ZHANG_CNY, all_txns, assert_balanced, away_from_midnight, balance,
    external_payment, get, payment, post_ok, refund, refused, seeded, set_limits, transfer,
};

#[tokio::test]
async fn partial_refunds_add_up_to_the_original_and_not_a_fen_more() {
    let core = seeded().await;
    let payer = balance(&core, ZHANG_CNY).await;
    post_ok(&core, "/core/payments", &payment("ORDER-1", ZHANG_CNY, SKYTRIP, 10_000)).await;

    let first = post_ok(&core, "/core/payments", &refund("RF-1", "ORDER-1", 3_000)).await;
    assert_eq!((&first["req_seq"], &first["status"]), (&json!("RF-1"), &json!("S")));
    assert_eq!(get(&core, "/core/payments/RF-1").await.1["data"], first, "a refund has a status too");
    assert_eq!(post_ok(&core, "/core/payments", &refund("RF-1", "ORDER-1", 3_000)).await, first, "replay");
    let env = refused(&core, "/core/payments", &refund("RF-2", "ORDER-1", 7_001), "E453").await;
    assert!(env["ret_msg"].as_str().unwrap().contains("7000 fen"), "{env}");

    // Naming the accounts is allowed when they are the original's, the other way round.
    let mut named = refund("RF-2", "ORDER-1", 6_999);
    named["dr_acct"] = SKYTRIP.into();
    named["cr_acct"] = ZHANG_CNY.into();
    post_ok(&core, "/core/payments", &named).await;
    let mut swapped = refund("RF-3", "ORDER-1", 1);
    swapped["dr_acct"] = ZHANG_CNY.into();
    let env = refused(&core, "/core/payments", &swapped, "E400").await;
    assert!(env["ret_msg"].as_str().unwrap().contains("dr_acct"), "{env}");
    swapped["dr_acct"] = SKYTRIP.into();
    swapped["cr_acct"] = LI_CNY.into();
    refused(&core, "/core/payments", &swapped, "E400").await;

    post_ok(&core, "/core/payments", &refund("RF-4", "ORDER-1", 1)).await;
    refused(&core, "/core/payments", &refund("RF-5", "ORDER-1", 1), "E453").await;
    assert_eq!((balance(&core, ZHANG_CNY).await, balance(&core, SKYTRIP).await), (payer, 0));
    let back = all_txns(&core, ZHANG_CNY).await.pop().unwrap();
    assert_eq!((&back["dr_cr"], &back["amt_fen"], &back["cpty_acct"]), (&json!("C"), &json!(1), &json!(SKYTRIP)));
    assert_balanced(&core).await;
}

#[tokio::test]
async fn only_a_posted_payment_can_be_refunded() {
    let core = seeded().await;
    refused(&core, "/core/payments", &refund("R-1", "NO-SUCH-ORDER", 100), "E404").await;
    post_ok(&core, "/core/transfers", &transfer("TRF-1", ZHANG_CNY, SKYTRIP, 5_000, "CNY")).await;
    let env = refused(&core, "/core/payments", &refund("R-2", "TRF-1", 100), "E404").await;
    assert!(env["ret_msg"].as_str().unwrap().contains("orig_req_seq"), "{env}");
    post_ok(&core, "/core/payments", &payment("P-1", ZHANG_CNY, SKYTRIP, 1_000)).await;
    post_ok(&core, "/core/payments", &refund("R-3", "P-1", 100)).await;
    refused(&core, "/core/payments", &refund("R-4", "R-3", 50), "E404").await;
    post_ok(&core, "/core/payments/VOIDED/void", &json!({})).await;
    refused(&core, "/core/payments", &refund("R-5", "VOIDED", 50), "E404").await;

    let mut dollars = refund("R-6", "P-1", 100);
    dollars["ccy"] = "USD".into();
    refused(&core, "/core/payments", &dollars, "E415").await;
    let mut bad = refund("R-7", "P-1", 100);
    bad["cr_ext_acct"] = "123".into();
    refused(&core, "/core/payments", &bad, "E400").await;
    assert_balanced(&core).await;
}

#[tokio::test]
async fn a_refund_needs_the_merchants_funds_and_an_open_payer_account() {
    let core = seeded().await;
    post_ok(&core, "/core/payments", &payment("P-1", WANG_CNY, PARKEASE, 2_000)).await;
    // The merchant moved the money on: the refund cannot overdraw it.
    post_ok(&core, "/core/transfers", &transfer("SWEEP-1", PARKEASE, LI_CNY, 1_500, "CNY")).await;
    refused(&core, "/core/payments", &refund("R-1", "P-1", 600), "E402").await;
    post_ok(&core, "/core/payments", &refund("R-2", "P-1", 500)).await;

    post_ok(&core, &format!("/core/admin/accounts/{WANG_CNY}/status"), &json!({ "acct_status": "F" })).await;
    refused(&core, "/core/payments", &refund("R-3", "P-1", 1), "E423").await;
    post_ok(&core, &format!("/core/admin/accounts/{WANG_CNY}/status"), &json!({ "acct_status": "C" })).await;
    refused(&core, "/core/payments", &refund("R-3", "P-1", 1), "E424").await;
    assert_balanced(&core).await;
}

#[tokio::test]
async fn an_external_payment_is_refunded_through_clearing() {
    let core = seeded().await;
    let payer = balance(&core, ZHANG_CNY).await;
    post_ok(&core, "/core/payments", &external_payment("EXT-1", ZHANG_CNY, 8_800, "CNY")).await;
    let mut through_clearing = refund("EXT-R1", "EXT-1", 8_800);
    through_clearing["dr_acct"] = "GL-CNY-CLEARING".into();
    post_ok(&core, "/core/payments", &through_clearing).await;
    refused(&core, "/core/payments", &refund("EXT-R2", "EXT-1", 1), "E453").await;
    assert_eq!(balance(&core, ZHANG_CNY).await, payer);
    let back = all_txns(&core, ZHANG_CNY).await.pop().unwrap();
    assert_eq!((&back["dr_cr"], &back["cpty_name"]), (&json!("C"), &json!("广州白云机场停车场")));
    assert_balanced(&core).await;
}

#[tokio::test]
async fn refunds_do_not_give_the_days_allowance_back() {
    let core = seeded().await;
    away_from_midnight(&core);
    set_limits(&core, "C0001", "CNY", 10_000, 10_000).await;
    post_ok(&core, "/core/payments", &payment("P-1", ZHANG_CNY, SKYTRIP, 10_000)).await;
    // Limits hold payments only: a merchant with none can still refund.
    set_limits(&core, "C0006", "CNY", 0, 0).await;
    post_ok(&core, "/core/payments", &refund("R-1", "P-1", 10_000)).await;
    refused(&core, "/core/payments", &payment("P-2", ZHANG_CNY, SKYTRIP, 1), "E452").await;
    assert_balanced(&core).await;
}
