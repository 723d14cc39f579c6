//! Transfers under concurrency, over a real listener and a file-backed core, so several
//! SQLite connections really race for the write lock.

use std::time::Duration;

use scenegate_corebank_mock::{CoreBank, CoreBankConfig, serve};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::support::{all_accounts, balance, post, seeded, transfer};

struct Running {
    base: String,
    core: CoreBank,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CoreBankConfig { data_dir: Some(dir.path().to_owned()), seed: true };
    let core = CoreBank::open(cfg).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(serve(listener, core.clone()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    Running { base, core, client, _dir: dir, server }
}

impl Running {
    async fn post(&self, path: &str, body: &Value) -> Value {
        let res = self.client.post(format!("{}{path}", self.base)).json(body).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// Sends `bodies` all at once, each from its own task.
    async fn post_all(&self, bodies: Vec<Value>) -> Vec<Value> {
        let tasks: Vec<_> = bodies
            .into_iter()
            .map(|body| {
                let (client, url) = (self.client.clone(), format!("{}/core/transfers", self.base));
                tokio::spawn(async move {
                    client.post(url).json(&body).send().await.unwrap().json::<Value>().await.unwrap()
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }
}

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
    let run = start().await;
    let (dr, cr) = two_cny_accounts(&run.core).await;
    let (dr_before, cr_before) = (balance(&run.core, &dr).await, balance(&run.core, &cr).await);
    let before = run.core.ledger_check().await.unwrap();

    let body = transfer("RACE-1", &dr, &cr, 12_345, "CNY");
    let answers = run.post_all(vec![body.clone(); 10]).await;

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
    let run = start().await;
    let (dr, cr) = two_cny_accounts(&run.core).await;
    let start_bal = balance(&run.core, &dr).await;
    // Each asks for 40% of the balance: exactly two can succeed, whatever the interleaving.
    let share = start_bal * 2 / 5;
    let bodies = (0..10).map(|i| transfer(&format!("DRAIN-{i}"), &dr, &cr, share, "CNY")).collect();
    let answers = run.post_all(bodies).await;

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
