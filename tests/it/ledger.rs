//! The core-bank mock's ledger, over its own HTTP API: balanced, derived, and durable
//! across a restart of the process.

use serde_json::{Value, json};

use crate::support::{core_mock, http};

async fn core_get(url: &str) -> Value {
    let env: Value = http().get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(env["ret_code"], "0000", "{env}");
    env["data"].clone()
}

async fn balance(core: &str, acct: &str) -> i64 {
    core_get(&format!("{core}/core/accounts/{acct}/balance")).await["ledger_bal_fen"].as_i64().unwrap()
}

async fn cny_account(core: &str, cust: &str) -> String {
    let accounts = core_get(&format!("{core}/core/customers/{cust}/accounts")).await;
    accounts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ccy"] == "CNY" && a["acct_status"] == "N")
        .unwrap()["acct_no"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn transfers_balance_and_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let core = core_mock(data.path());
    let check = core_get(&format!("{}/core/ledger/check", core.url)).await;
    assert_eq!(check["balanced"], true, "{check}");
    assert!(check["txn_count"].as_i64().unwrap() >= 200, "seeded history: {check}");

    let from = cny_account(&core.url, "C0001").await;
    let to = cny_account(&core.url, "C0002").await;
    let (from_before, to_before) = (balance(&core.url, &from).await, balance(&core.url, &to).await);
    let transfer = json!({"req_seq": "it-restart-1", "dr_acct": from, "cr_acct": to, "amt_fen": 1234, "ccy": "CNY", "memo": "test"});
    let first: Value =
        http().post(format!("{}/core/transfers", core.url)).json(&transfer).send().await.unwrap().json().await.unwrap();
    assert_eq!(first["ret_code"], "0000", "{first}");

    // A retry of the same request is answered, not re-posted.
    let again: Value =
        http().post(format!("{}/core/transfers", core.url)).json(&transfer).send().await.unwrap().json().await.unwrap();
    assert_eq!(again["data"]["txn_id"], first["data"]["txn_id"]);
    assert_eq!(balance(&core.url, &from).await, from_before - 1234);
    assert_eq!(balance(&core.url, &to).await, to_before + 1234);

    drop(core);
    let core = core_mock(data.path());
    assert_eq!(balance(&core.url, &from).await, from_before - 1234, "debit survives the restart");
    assert_eq!(balance(&core.url, &to).await, to_before + 1234, "credit survives the restart");
    let after = core_get(&format!("{}/core/ledger/check", core.url)).await;
    assert_eq!(after["balanced"], true);
    assert_eq!(
        after["txn_count"].as_i64().unwrap(),
        check["txn_count"].as_i64().unwrap() + 1,
        "seeded once, one transfer"
    );
    for (ccy, total) in after["totals_by_ccy"].as_object().unwrap() {
        assert_eq!(total, 0, "money created or destroyed in {ccy}");
    }
}
