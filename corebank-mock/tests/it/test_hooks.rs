//! The mock-only `/core/admin` hooks the gateway's failure tests use: account status and
//! limits.

use serde_json::json;

use crate::support::{FROZEN, SKYTRIP, ZHANG_CNY, get_ok, payment, post_ok, refused, seeded};

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
async fn limits_check_what_they_are_given() {
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
}
