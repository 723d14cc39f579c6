//! Calling the mock's router in-process and reading its envelope; serving a file-backed core
//! over a real listener for the races; the seeded accounts and request bodies tests share.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use scenegate_corebank_mock::{CoreBank, CoreBankConfig, router, serve};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

pub const CUSTOMERS: [&str; 5] = ["C0001", "C0002", "C0003", "C0004", "C0005"];

/// 张三 (C0001), personal: CNY and USD savings.
pub const ZHANG_CNY: &str = "6222020000000000018";
pub const ZHANG_USD: &str = "6222020000000000026";
/// 李四 (C0002), personal, CNY.
pub const LI_CNY: &str = "6222020000000000034";
/// 王芳 (C0003), personal, CNY.
pub const WANG_CNY: &str = "6222020000000000042";
/// 赵磊's CNY savings, frozen by the seed.
pub const FROZEN: &str = "6222020000000000067";
/// Settlement accounts of the demo merchants C0006–C0009.
pub const SKYTRIP: &str = "6222020000000000091";
pub const PARKEASE: &str = "6222020000000000109";
pub const TOPUP: &str = "6222020000000000117";
pub const CITYPAY: &str = "6222020000000000125";

pub async fn seeded() -> CoreBank {
    CoreBank::open(CoreBankConfig { data_dir: None, seed: true }).await.expect("open seeded core")
}

pub async fn call(core: &CoreBank, req: Request<Body>) -> (StatusCode, Value) {
    let res = router(core.clone()).oneshot(req).await.expect("router is infallible");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 22).await.expect("body");
    (status, serde_json::from_slice(&bytes).expect("every answer is JSON"))
}

pub async fn get(core: &CoreBank, uri: &str) -> (StatusCode, Value) {
    call(core, Request::get(uri).body(Body::empty()).expect("request")).await
}

pub async fn post(core: &CoreBank, uri: &str, body: &Value) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    call(core, req).await
}

/// `data` of a successful answer; panics with the envelope otherwise.
pub async fn get_ok(core: &CoreBank, uri: &str) -> Value {
    let (status, env) = get(core, uri).await;
    assert_eq!((status, env["ret_code"].as_str()), (StatusCode::OK, Some("0000")), "{uri}: {env}");
    env["data"].clone()
}

pub fn transfer(req_seq: &str, dr: &str, cr: &str, amt_fen: i64, ccy: &str) -> Value {
    json!({ "req_seq": req_seq, "dr_acct": dr, "cr_acct": cr, "amt_fen": amt_fen, "ccy": ccy, "memo": "test" })
}

/// Every customer account of the five demo customers, as the wire shows them.
pub async fn all_accounts(core: &CoreBank) -> Vec<Value> {
    let mut out = Vec::new();
    for c in CUSTOMERS {
        let data = get_ok(core, &format!("/core/customers/{c}/accounts")).await;
        out.extend(data["items"].as_array().expect("items").iter().cloned());
    }
    out
}

pub async fn balance(core: &CoreBank, acct: &str) -> i64 {
    let data = get_ok(core, &format!("/core/accounts/{acct}/balance")).await;
    data["ledger_bal_fen"].as_i64().expect("ledger_bal_fen")
}

/// The account's whole history, following `after_seq` page by page.
pub async fn all_txns(core: &CoreBank, acct: &str) -> Vec<Value> {
    let (mut out, mut after) = (Vec::new(), 0);
    loop {
        let page = get_ok(core, &format!("/core/accounts/{acct}/txns?after_seq={after}&limit=50")).await;
        let items = page["items"].as_array().expect("items").clone();
        if let Some(last) = items.last() {
            after = last["txn_seq"].as_i64().expect("txn_seq");
        }
        out.extend(items);
        if page["has_more"] != json!(true) {
            return out;
        }
    }
}

/// Credits minus debits over the history: what the balance must equal.
pub fn signed_sum(txns: &[Value]) -> i64 {
    txns.iter()
        .map(|t| {
            let amt = t["amt_fen"].as_i64().expect("amt_fen");
            if t["dr_cr"] == "D" { -amt } else { amt }
        })
        .sum()
}

/// A payment of `amt_fen` CNY from `dr` to the account `cr`, as the gateway sends one.
pub fn payment(req_seq: &str, dr: &str, cr: &str, amt_fen: i64) -> Value {
    json!({
        "req_seq": req_seq, "kind": "payment", "dr_acct": dr, "cr_acct": cr, "amt_fen": amt_fen,
        "ccy": "CNY", "memo": "SkyTrip order 42", "scene": "travel", "mcc": "4722", "channel": "ptn_skytrip"
    })
}

/// A payment to someone at another bank.
pub fn external_payment(req_seq: &str, dr: &str, amt_fen: i64, ccy: &str) -> Value {
    json!({
        "req_seq": req_seq, "kind": "payment", "dr_acct": dr, "amt_fen": amt_fen, "ccy": ccy,
        "cr_ext_acct": "6217000010001234567", "cr_ext_name": "广州白云机场停车场", "cr_ext_bank": "CCBCCNBJ",
        "memo": "parking", "scene": "parking", "channel": "ptn_parkease"
    })
}

/// A refund of `amt_fen` CNY of the payment `orig`, leaving the accounts to the core.
pub fn refund(req_seq: &str, orig: &str, amt_fen: i64) -> Value {
    json!({
        "req_seq": req_seq, "kind": "refund", "orig_req_seq": orig, "amt_fen": amt_fen, "ccy": "CNY",
        "memo": "refund", "channel": "ptn_skytrip"
    })
}

/// `(ret_code, data)` of a POST.
pub async fn post_code(core: &CoreBank, uri: &str, body: &Value) -> (String, Value) {
    let (status, env) = post(core, uri, body).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {env}");
    (env["ret_code"].as_str().expect("ret_code").to_owned(), env["data"].clone())
}

/// The whole envelope of a POST that must be refused with `code`.
pub async fn refused(core: &CoreBank, uri: &str, body: &Value, code: &str) -> Value {
    let (status, env) = post(core, uri, body).await;
    assert_eq!((status, env["ret_code"].as_str()), (StatusCode::OK, Some(code)), "{uri} {body}: {env}");
    assert_eq!(env["data"], Value::Null, "a refusal carries no data: {env}");
    env
}

/// `data` of a successful POST; panics with the envelope otherwise.
pub async fn post_ok(core: &CoreBank, uri: &str, body: &Value) -> Value {
    let (code, data) = post_code(core, uri, body).await;
    assert_eq!(code, "0000", "{uri} {body}: {data}");
    data
}

/// Replaces a customer's payment limits in one currency (mock-only hook).
pub async fn set_limits(core: &CoreBank, cust_no: &str, ccy: &str, per_txn_fen: i64, daily_fen: i64) {
    let body = json!({ "ccy": ccy, "per_txn_fen": per_txn_fen, "daily_fen": daily_fen });
    post_ok(core, &format!("/core/admin/customers/{cust_no}/limits"), &body).await;
}

pub async fn assert_balanced(core: &CoreBank) {
    let check = core.ledger_check().await.expect("ledger check");
    assert!(check.balanced, "{check:?}");
    assert_eq!(check.posting_count, 2 * check.txn_count, "{check:?}");
    assert!(check.spend_mismatches.is_empty(), "daily totals differ from the payments posted: {check:?}");
}

/// Daily-limit tests must not straddle Beijing midnight: when it is less than ten minutes
/// away, move the core's clock past it.
pub fn away_from_midnight(core: &CoreBank) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    let into_day = (now + 8 * 3600) % 86_400;
    if into_day > 86_400 - 600 {
        core.advance_clock(Duration::from_secs(900));
    }
}

/// A seeded, file-backed core served on a real listener, so several SQLite connections
/// really race for the write lock.
pub struct Served {
    pub base: String,
    pub core: CoreBank,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Served {
    pub async fn start() -> Served {
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
        Served { base, core, client, dir, server }
    }

    pub async fn post(&self, path: &str, body: &Value) -> Value {
        let res = self.client.post(format!("{}{path}", self.base)).json(body).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        let res = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// Sends every `(path, body)` at once, each from its own task; answers in the same order.
    pub async fn post_all(&self, calls: Vec<(String, Value)>) -> Vec<Value> {
        let tasks: Vec<_> = calls
            .into_iter()
            .map(|(path, body)| {
                let (client, url) = (self.client.clone(), format!("{}{path}", self.base));
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

    /// A second connection to the core's file, to look at tables the API does not show.
    pub async fn raw_db(&self) -> sqlx::SqlitePool {
        let url = format!("sqlite://{}", self.dir.path().join("corebank.sqlite").display());
        sqlx::SqlitePool::connect(&url).await.unwrap()
    }
}

/// Minor units as a two-decimal string (`1` → `"0.01"`), as the modern dialect writes them.
pub fn fen_to_decimal(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}
