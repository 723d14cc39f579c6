//! Two cores holding complementary account ranges (the new core's `Only`, the legacy core's
//! `Except`) together hold exactly what one unsharded core holds, account for account, with
//! the same balances and statements; each balances by itself.

use std::collections::BTreeMap;

use scenegate_corebank_mock::{CoreBank, CoreBankConfig, CoreRole, Holding};
use serde_json::{Value, json};

use crate::support::{all_txns, assert_balanced, balance, get_ok, seeded};

/// The demo split: 王芳's USD account, 赵磊's frozen CNY account, both 北京云杉科技 accounts.
const FROM: &str = "6222020000000000050";
const TO: &str = "6222020000000000089";
const EVERY_CUSTOMER: [&str; 9] = ["C0001", "C0002", "C0003", "C0004", "C0005", "C0006", "C0007", "C0008", "C0009"];

async fn shard(accounts: Holding) -> CoreBank {
    let role = CoreRole { accounts, ..CoreRole::default() };
    CoreBank::open_as(CoreBankConfig { data_dir: None, seed: true }, role).await.expect("open shard")
}

/// Every customer account the core holds, with its status, balance and statement as seen by
/// a partner (transaction ids and sequence numbers are the core's own, so left out).
async fn holdings(core: &CoreBank) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for c in EVERY_CUSTOMER {
        let items = get_ok(core, &format!("/core/customers/{c}/accounts")).await["items"].clone();
        for a in items.as_array().expect("items") {
            let acct = a["acct_no"].as_str().expect("acct_no").to_owned();
            let statement: Vec<Value> = all_txns(core, &acct)
                .await
                .into_iter()
                .map(|t| {
                    json!([
                        t["txn_time"],
                        t["dr_cr"],
                        t["amt_fen"],
                        t["memo"],
                        t["cpty_name"],
                        t["cpty_acct"],
                        t["bal_after_fen"]
                    ])
                })
                .collect();
            out.insert(
                acct.clone(),
                json!({ "account": a, "balance": balance(core, &acct).await, "statement": statement }),
            );
        }
    }
    out
}

#[tokio::test]
async fn complementary_shards_hold_the_unsharded_core_between_them() {
    let whole = holdings(&seeded().await).await;
    let (new_core, legacy_core) =
        (shard(Holding::Only(FROM.into(), TO.into())).await, shard(Holding::Except(FROM.into(), TO.into())).await);
    let (new, legacy) = (holdings(&new_core).await, holdings(&legacy_core).await);

    let new_accounts: Vec<&str> = new.keys().map(String::as_str).collect();
    assert_eq!(
        new_accounts,
        ["6222020000000000059", "6222020000000000067", "6222020000000000075", "6222020000000000083"],
        "serials 5 to 8"
    );
    assert!(new.keys().all(|a| !legacy.contains_key(a)), "no account in both");
    let mut union = legacy.clone();
    union.extend(new.clone());
    assert_eq!(union.len(), whole.len());
    for (acct, want) in &whole {
        assert_eq!(&union[acct], want, "{acct}: account, balance and statement as in the unsharded core");
    }
    assert_eq!(new["6222020000000000067"]["account"]["acct_status"], "F", "frozen after its history");
    // 李四's pay came from 北京云杉科技 in the other core: same counterparty as unsharded.
    let li = &legacy["6222020000000000034"]["statement"];
    assert!(
        li.as_array()
            .unwrap()
            .iter()
            .any(|t| t[3] == "工资" && t[4] == "北京云杉科技有限公司" && t[5] == "6222020000000000083"),
        "{li}"
    );

    for core in [&new_core, &legacy_core] {
        assert_balanced(core).await;
        for c in EVERY_CUSTOMER {
            get_ok(core, &format!("/core/customers/{c}")).await;
        }
    }
    // Customers without an account here are known, with none listed.
    let none = get_ok(&new_core, "/core/customers/C0001/accounts").await;
    assert_eq!(none["items"], json!([]));
}
