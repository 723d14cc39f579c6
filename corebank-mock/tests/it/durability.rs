//! What an acknowledged transfer leaves on disk survives closing and reopening the core.

use scenegate_corebank_mock::{CoreBank, CoreBankConfig};

use crate::support::{all_accounts, all_txns, balance, get_ok, post, transfer};

async fn open(dir: &std::path::Path) -> CoreBank {
    CoreBank::open(CoreBankConfig { data_dir: Some(dir.to_owned()), seed: true }).await.unwrap()
}

#[tokio::test]
async fn transfer_and_balances_survive_reopen_and_seed_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested/core");
    let core = open(&data_dir).await;
    assert!(data_dir.join("corebank.sqlite").is_file());

    let accts = all_accounts(&core).await;
    let (dr, cr) = (accts[0]["acct_no"].as_str().unwrap(), accts[2]["acct_no"].as_str().unwrap());
    let body = transfer("DURABLE-1", dr, cr, 77_700, "CNY");
    let (_, env) = post(&core, "/core/transfers", &body).await;
    assert_eq!(env["ret_code"], "0000", "{env}");
    let txn_id = env["data"]["txn_id"].clone();
    let check = core.ledger_check().await.unwrap();
    let balances = (balance(&core, dr).await, balance(&core, cr).await);
    drop(core);

    let core = open(&data_dir).await;
    assert_eq!(core.ledger_check().await.unwrap(), check, "reopen must not seed again");
    assert_eq!((balance(&core, dr).await, balance(&core, cr).await), balances);
    let history = all_txns(&core, dr).await;
    let last = history.last().unwrap();
    assert_eq!((&last["txn_id"], &last["amt_fen"], &last["dr_cr"]), (&txn_id, &77_700.into(), &"D".into()));
    assert_eq!(all_accounts(&core).await, accts, "customers and accounts exist once");
    assert_eq!(get_ok(&core, "/core/products?limit=1000").await["items"].as_array().unwrap().len(), 12);

    // The req_seq record is durable too: a retry after a restart is still a replay.
    let (_, again) = post(&core, "/core/transfers", &body).await;
    assert_eq!(again["data"]["txn_id"], txn_id);
    assert_eq!(core.ledger_check().await.unwrap().txn_count, check.txn_count);
}

#[tokio::test]
async fn unseeded_core_has_only_the_clearing_accounts() {
    let core = CoreBank::open(CoreBankConfig { data_dir: None, seed: false }).await.unwrap();
    let check = core.ledger_check().await.unwrap();
    assert_eq!((check.txn_count, check.posting_count, check.balanced), (0, 0, true));
    assert_eq!(check.totals_by_ccy.keys().collect::<Vec<_>>(), ["CNY", "USD"]);
    let (_, env) = crate::support::get(&core, "/core/customers/C0001").await;
    assert_eq!(env["ret_code"], "E404");
}
