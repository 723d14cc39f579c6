//! The modern dialect (`/api/v2/...`) over real HTTP: every endpoint, every error code,
//! idempotent replay and 409, void before post, an inbound credit, the full refund of an
//! external payment, and exact decimal amounts.

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use reqwest::StatusCode;
use scenegate_corebank_mock::{CoreBank, CoreBankConfig, CoreRole, Dialect, Holding, router_in, serve};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::support::{FROZEN, LI_CNY, SKYTRIP, WANG_CNY, ZHANG_CNY, ZHANG_USD, away_from_midnight};

struct Modern {
    base: String,
    core: CoreBank,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Modern {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Modern {
    async fn start(accounts: Holding) -> Modern {
        let role = CoreRole { accounts, dialect: Dialect::Modern };
        let core = CoreBank::open_as(CoreBankConfig { data_dir: None, seed: true }, role).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(serve(listener, core.clone()));
        Modern { base, core, client: reqwest::Client::new(), server }
    }

    async fn all() -> Modern {
        Self::start(Holding::All).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let res = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        (res.status(), res.json().await.unwrap())
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let res = self.client.post(format!("{}{path}", self.base)).json(body).send().await.unwrap();
        (res.status(), res.json().await.unwrap())
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// A posting that must be refused with `status` and `code`; answers the message.
    async fn refused(&self, body: &Value, status: StatusCode, code: &str) -> String {
        let (got, answer) = self.post("/api/v2/postings", body).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "{body}: {answer}");
        answer["error"]["message"].as_str().unwrap().to_owned()
    }

    async fn booked(&self, body: &Value) -> Value {
        let (status, answer) = self.post("/api/v2/postings", body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {answer}");
        answer
    }

    /// The mock-only hooks are legacy routes: reached in-process over the same core.
    async fn admin(&self, path: &str, body: &Value) {
        let req = Request::post(path).header("content-type", "application/json").body(Body::from(body.to_string()));
        let res = router_in(self.core.clone(), Dialect::Legacy).oneshot(req.unwrap()).await.unwrap();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        let env: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(env["ret_code"], "0000", "{path}: {env}");
    }

    async fn booked_balance(&self, acct: &str) -> String {
        self.ok(&format!("/api/v2/accounts/{acct}/balance")).await["booked"].as_str().unwrap().to_owned()
    }

    async fn last_transaction(&self, acct: &str) -> Value {
        let page = self.ok(&format!("/api/v2/accounts/{acct}/transactions?order=desc&limit=1")).await;
        page["transactions"][0].clone()
    }

    async fn assert_balanced(&self) {
        let check = self.ok("/api/v2/ledger/check").await;
        assert_eq!(check["balanced"], true, "{check}");
        assert_eq!(check["totals_by_currency"], json!({ "CNY": "0.00", "USD": "0.00" }), "{check}");
    }
}

fn payment(id: &str, dr: &str, cr: &str, amount: &str) -> Value {
    json!({
        "posting_id": id, "type": "payment", "debit_account": dr, "credit_account": cr, "amount": amount,
        "currency": "CNY", "narrative": "SkyTrip order 42", "scenario": "travel", "merchant_category_code": "4722",
        "channel": "ptn_skytrip"
    })
}

fn external(id: &str, dr: &str, amount: &str) -> Value {
    json!({
        "posting_id": id, "type": "payment", "debit_account": dr, "amount": amount, "currency": "CNY",
        "external_creditor": { "account_number": "6217000010001234567", "name": "广州白云机场停车场", "bank_code": "CCBCCNBJ" },
        "narrative": "parking", "scenario": "parking", "channel": "ptn_parkease"
    })
}

fn refund(id: &str, orig: &str, amount: &str) -> Value {
    json!({
        "posting_id": id, "type": "refund", "original_posting_id": orig, "amount": amount, "currency": "CNY",
        "narrative": "refund", "channel": "ptn_skytrip"
    })
}

fn inbound(id: &str, cr: &str, amount: &str, currency: &str) -> Value {
    json!({
        "posting_id": id, "type": "inbound", "credit_account": cr, "amount": amount, "currency": currency,
        "external_debtor": { "account_number": "6222020000000000018", "name": "张三" },
        "narrative": "cross-core payment", "channel": "ptn_skytrip"
    })
}

/// Decimal string to minor units, for arithmetic in the tests only.
fn fen(s: &str) -> i64 {
    let (int, frac) = s.split_once('.').unwrap();
    int.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap()
}

#[tokio::test]
async fn health_and_only_this_dialects_paths() {
    let m = Modern::all().await;
    assert_eq!(m.ok("/api/v2/health").await, json!({ "status": "up" }));
    let (status, body) = m.get("/core/health").await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("NOT_FOUND")), "{body}");
    let (status, body) = m.post("/api/v2/health", &json!({})).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::METHOD_NOT_ALLOWED, &json!("INVALID_REQUEST")));

    // And a legacy core knows nothing of /api/v2.
    let legacy = router_in(m.core.clone(), Dialect::Legacy);
    let res = legacy.oneshot(Request::get("/api/v2/health").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn accounts_and_balances() {
    let m = Modern::all().await;
    let accounts = m.ok("/api/v2/customers/C0001/accounts").await;
    assert_eq!(
        accounts["accounts"][0],
        json!({
            "account_number": ZHANG_CNY, "customer_number": "C0001", "name": "张三", "currency": "CNY",
            "type": "savings", "status": "active", "opened_on": "2019-03-18"
        })
    );
    assert_eq!(accounts["accounts"][1]["account_number"], ZHANG_USD);
    let (status, body) = m.get("/api/v2/customers/C9999/accounts").await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("NOT_FOUND")));

    let frozen = m.ok(&format!("/api/v2/accounts/{FROZEN}")).await;
    assert_eq!((&frozen["status"], &frozen["customer_number"]), (&json!("frozen"), &json!("C0004")));
    assert_eq!(m.ok("/api/v2/accounts/6222020000000000083").await["type"], "current");
    for unknown in ["GL-CNY-CLEARING", "6222020000000000000"] {
        let (status, body) = m.get(&format!("/api/v2/accounts/{unknown}")).await;
        assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("NOT_FOUND")), "{body}");
        assert_eq!(m.get(&format!("/api/v2/accounts/{unknown}/balance")).await.0, StatusCode::NOT_FOUND);
    }

    let balance = m.ok(&format!("/api/v2/accounts/{ZHANG_CNY}/balance")).await;
    assert_eq!((&balance["account_number"], &balance["currency"]), (&json!(ZHANG_CNY), &json!("CNY")));
    assert_eq!(balance["booked"], balance["available"]);
    let as_of = balance["as_of"].as_str().unwrap();
    assert!(as_of.ends_with('Z') && as_of.len() == 20, "{as_of}");
    let last = m.last_transaction(ZHANG_CNY).await;
    assert_eq!(last["balance_after"], balance["booked"], "the statement ends at the balance");
    let frozen = m.ok(&format!("/api/v2/accounts/{FROZEN}/balance")).await;
    assert_eq!(frozen["available"], "0.00");
    assert_ne!(frozen["booked"], "0.00");

    // A core holding none of the customer's accounts still knows the customer.
    let shard = Modern::start(Holding::Only("6222020000000000050".into(), "6222020000000000089".into())).await;
    assert_eq!(shard.ok("/api/v2/customers/C0001/accounts").await, json!({ "accounts": [] }));
    let held: Vec<Value> = shard.ok("/api/v2/customers/C0005/accounts").await["accounts"].as_array().unwrap().clone();
    assert_eq!(held.len(), 2);
    shard.assert_balanced().await;
}

#[tokio::test]
async fn transactions_page_both_ways_within_exact_bounds() {
    let m = Modern::all().await;
    let path = format!("/api/v2/accounts/{ZHANG_CNY}/transactions");
    let (mut forward, mut after) = (Vec::new(), 0);
    loop {
        let page = m.ok(&format!("{path}?limit=40&after_sequence={after}")).await;
        assert_eq!((&page["account_number"], &page["customer_number"]), (&json!(ZHANG_CNY), &json!("C0001")));
        let items = page["transactions"].as_array().unwrap().clone();
        after = items.last().map_or(after, |t| t["sequence"].as_i64().unwrap());
        forward.extend(items);
        if page["has_more"] == false {
            break;
        }
    }
    assert!(forward.len() > 40, "{}", forward.len());
    let first = &forward[0];
    assert_eq!(
        (&first["direction"], &first["description"], &first["counterparty"]),
        (&json!("credit"), &json!("开户存入"), &json!(null))
    );
    assert_eq!(first["amount"], "58000.00");
    assert_eq!(first["booked_at"], "2019-03-18T02:00:00Z", "10:00 Beijing time");
    let with_cpty = forward.iter().find(|t| t["counterparty"] != json!(null)).unwrap();
    assert!(with_cpty["counterparty"]["name"].is_string(), "{with_cpty}");

    let (mut backward, mut before) = (Vec::new(), None::<i64>);
    loop {
        let cursor = before.map(|b| format!("&before_sequence={b}")).unwrap_or_default();
        let page = m.ok(&format!("{path}?order=desc&limit=33{cursor}")).await;
        let items = page["transactions"].as_array().unwrap().clone();
        before = items.last().map(|t| t["sequence"].as_i64().unwrap());
        backward.extend(items);
        if page["has_more"] == false {
            break;
        }
    }
    backward.reverse();
    assert_eq!(backward, forward, "both ways read the same statement");

    // Inclusive, exact bounds: a window of one instant holds the bookings at that second.
    let at = forward[5]["booked_at"].as_str().unwrap();
    let page = m.ok(&format!("{path}?booked_from={at}&booked_to={at}")).await;
    let seqs: Vec<&Value> = page["transactions"].as_array().unwrap().iter().map(|t| &t["sequence"]).collect();
    assert_eq!(seqs, [&forward[5]["sequence"]]);
    let later = at.replace('Z', ".5Z");
    assert_eq!(m.ok(&format!("{path}?booked_from={later}&booked_to={at}")).await["transactions"], json!([]));

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("order=sideways", "order"),
        ("before_sequence=3", "before_sequence"),
        ("order=desc&after_sequence=3", "after_sequence"),
        ("after_sequence=-1", "after_sequence"),
        ("booked_from=2026-11-01", "booked_from"),
        ("booked_from=2026-11-02T00:00:00Z&booked_to=2026-11-01T00:00:00Z", "booked_to"),
    ] {
        let (status, body) = m.get(&format!("{path}?{query}")).await;
        assert_eq!((status, &body["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("INVALID_REQUEST")), "{query}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with(field), "{query}: {body}");
    }
}

#[tokio::test]
async fn a_posting_is_booked_once_replayed_and_its_id_guarded() {
    let m = Modern::all().await;
    let before = fen(&m.booked_balance(ZHANG_CNY).await);
    let receipt = m.booked(&payment("P-1", ZHANG_CNY, SKYTRIP, "38.50")).await;
    assert_eq!((&receipt["posting_id"], &receipt["status"]), (&json!("P-1"), &json!("booked")));
    assert!(receipt["transaction_id"].is_string() && receipt["booked_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(fen(&m.booked_balance(ZHANG_CNY).await), before - 3_850);

    let (status, again) = m.post("/api/v2/postings", &payment("P-1", ZHANG_CNY, SKYTRIP, "38.50")).await;
    assert_eq!((status, &again), (StatusCode::OK, &receipt), "the same body again: the same receipt");
    assert_eq!(fen(&m.booked_balance(ZHANG_CNY).await), before - 3_850, "nothing posted again");
    m.refused(&payment("P-1", ZHANG_CNY, SKYTRIP, "38.51"), StatusCode::CONFLICT, "POSTING_ID_REUSED").await;
    assert_eq!(m.ok("/api/v2/postings/P-1").await, receipt);
    assert_eq!(m.post("/api/v2/postings/P-1/void", &json!({})).await, (StatusCode::OK, receipt.clone()), "it happened");
    let (status, body) = m.get("/api/v2/postings/NEVER").await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("NOT_FOUND")));

    let last = m.last_transaction(SKYTRIP).await;
    assert_eq!(
        [&last["direction"], &last["amount"], &last["description"], &last["counterparty"]],
        [
            &json!("credit"),
            &json!("38.50"),
            &json!("SkyTrip order 42"),
            &json!({ "name": "张三", "account_number": ZHANG_CNY })
        ]
    );
    m.assert_balanced().await;
}

#[tokio::test]
async fn a_voided_posting_id_refuses_the_late_post() {
    let m = Modern::all().await;
    let voided = json!({ "posting_id": "LATE-1", "status": "voided" });
    assert_eq!(m.post("/api/v2/postings/LATE-1/void", &json!({})).await, (StatusCode::OK, voided.clone()));
    assert_eq!(m.post("/api/v2/postings/LATE-1/void", &json!({})).await, (StatusCode::OK, voided.clone()), "again");
    assert_eq!(m.ok("/api/v2/postings/LATE-1").await, voided, "a status read is not a refusal");
    m.refused(&payment("LATE-1", ZHANG_CNY, SKYTRIP, "1.00"), StatusCode::GONE, "VOIDED").await;
    let (status, body) = m.post(&format!("/api/v2/postings/{}/void", "x".repeat(65)), &json!({})).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("INVALID_REQUEST")));
}

#[tokio::test]
async fn every_refusal_has_its_code() {
    let m = Modern::all().await;
    away_from_midnight(&m.core);
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    let msg = m.refused(&payment("E-1", ZHANG_CNY, SKYTRIP, "1.5"), StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
    assert!(msg.starts_with("amount:"), "{msg}");
    let (status, body) = m.post("/api/v2/postings", &json!("not an object")).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("INVALID_REQUEST")));
    let msg =
        m.refused(&payment("E-1", "6222020000000000000", SKYTRIP, "1.00"), StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert!(msg.contains("debit_account"), "{msg}");
    let msg = m.refused(&refund("E-1", "NO-SUCH", "1.00"), StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert!(msg.contains("original_posting_id"), "{msg}");

    let msg = m.refused(&payment("E-2", ZHANG_CNY, SKYTRIP, "50000.01"), unprocessable, "LIMIT_PER_PAYMENT").await;
    assert!(msg.contains("50000.00"), "{msg}");
    m.admin(
        "/core/admin/customers/C0002/limits",
        &json!({ "ccy": "CNY", "per_txn_fen": 10_000_000, "daily_fen": 15_000 }),
    )
    .await;
    m.booked(&payment("E-3", LI_CNY, SKYTRIP, "100.00")).await;
    let msg = m.refused(&payment("E-4", LI_CNY, SKYTRIP, "100.00"), unprocessable, "LIMIT_DAILY").await;
    assert!(msg.contains("50.00 left today"), "{msg}");
    m.admin(
        "/core/admin/customers/C0002/limits",
        &json!({ "ccy": "CNY", "per_txn_fen": 10_000_000, "daily_fen": 10_000_000 }),
    )
    .await;
    let li = m.booked_balance(LI_CNY).await;
    let over = crate::support::fen_to_decimal(fen(&li) + 1);
    m.refused(&payment("E-5", LI_CNY, SKYTRIP, &over), unprocessable, "INSUFFICIENT_FUNDS").await;
    m.refused(&payment("E-6", FROZEN, SKYTRIP, "1.00"), unprocessable, "ACCOUNT_FROZEN").await;
    m.admin(&format!("/core/admin/accounts/{WANG_CNY}/status"), &json!({ "acct_status": "C" })).await;
    m.refused(&payment("E-7", ZHANG_CNY, WANG_CNY, "1.00"), unprocessable, "ACCOUNT_CLOSED").await;
    let mut dollars = payment("E-8", ZHANG_CNY, SKYTRIP, "1.00");
    dollars["currency"] = "USD".into();
    let msg = m.refused(&dollars, unprocessable, "CURRENCY_MISMATCH").await;
    assert!(msg.contains("debit_account"), "{msg}");
    m.booked(&payment("E-9", ZHANG_CNY, SKYTRIP, "10.00")).await;
    m.booked(&refund("E-9-R1", "E-9", "4.00")).await;
    let msg = m.refused(&refund("E-9-R2", "E-9", "6.01"), unprocessable, "REFUND_EXCEEDS_ORIGINAL").await;
    assert!(msg.contains("6.00"), "{msg}");
    m.assert_balanced().await;
}

#[tokio::test]
async fn an_inbound_credit_and_the_full_refund_of_an_external_payment() {
    let m = Modern::all().await;
    let before = fen(&m.booked_balance(LI_CNY).await);
    let receipt = m.booked(&inbound("IN-1", LI_CNY, "1234.56", "CNY")).await;
    assert_eq!(receipt["status"], "booked");
    assert_eq!(fen(&m.booked_balance(LI_CNY).await), before + 123_456);
    let last = m.last_transaction(LI_CNY).await;
    assert_eq!(
        [&last["direction"], &last["amount"], &last["counterparty"]],
        [&json!("credit"), &json!("1234.56"), &json!({ "name": "张三", "account_number": "6222020000000000018" })]
    );
    assert_eq!(m.post("/api/v2/postings", &inbound("IN-1", LI_CNY, "1234.56", "CNY")).await, (StatusCode::OK, receipt));
    m.refused(&inbound("IN-2", ZHANG_USD, "1.00", "CNY"), StatusCode::UNPROCESSABLE_ENTITY, "CURRENCY_MISMATCH").await;
    m.refused(&inbound("IN-3", FROZEN, "1.00", "CNY"), StatusCode::UNPROCESSABLE_ENTITY, "ACCOUNT_FROZEN").await;

    let payer = fen(&m.booked_balance(ZHANG_CNY).await);
    m.booked(&external("X-1", ZHANG_CNY, "250.00")).await;
    assert_eq!(fen(&m.booked_balance(ZHANG_CNY).await), payer - 25_000);
    m.booked(&refund("X-1-R", "X-1", "250.00")).await;
    assert_eq!(fen(&m.booked_balance(ZHANG_CNY).await), payer, "all of it back");
    let back = m.last_transaction(ZHANG_CNY).await;
    assert_eq!(back["counterparty"], json!({ "name": "广州白云机场停车场", "account_number": "6217000010001234567" }));
    m.refused(&refund("X-1-R2", "X-1", "0.01"), StatusCode::UNPROCESSABLE_ENTITY, "REFUND_EXCEEDS_ORIGINAL").await;
    let check = m.ok("/api/v2/ledger/check").await;
    assert_eq!(check["unbalanced_transactions"], json!([]));
    assert_eq!(check["daily_spend_mismatches"], json!([]));
    assert_eq!(check["entry_count"], 2 * check["transaction_count"].as_i64().unwrap());
    m.assert_balanced().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any amount in minor units, written as the dialect writes it, is credited and read
    /// back exactly: the statement's amount string is the one posted.
    #[test]
    fn amount_strings_round_trip_minor_units(cents in proptest::collection::vec(1_i64..=100_000_000_000_000, 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let m = Modern::all().await;
            for (i, c) in cents.into_iter().enumerate() {
                let before = fen(&m.booked_balance(ZHANG_USD).await);
                let amount = crate::support::fen_to_decimal(c);
                m.booked(&inbound(&format!("RT-{i}"), ZHANG_USD, &amount, "USD")).await;
                let last = m.last_transaction(ZHANG_USD).await;
                assert_eq!(last["amount"].as_str(), Some(amount.as_str()));
                assert_eq!(fen(&m.booked_balance(ZHANG_USD).await), before + c);
            }
        });
    }
}

/// The shape of a payment across the two cores, as the gateway will run it: the first leg
/// an external payment on the payer's (legacy) core, the second an inbound credit on the
/// payee's (modern) core; when the second is refused, a full refund reverses the first.
/// Each core's ledger balances by itself throughout.
#[tokio::test]
async fn a_payment_across_cores_is_two_legs_through_clearing() {
    use crate::support::{assert_balanced, balance, post_ok, refused};

    let (from, to) = ("6222020000000000050".to_owned(), "6222020000000000089".to_owned());
    let new_core = Modern::start(Holding::Only(from.clone(), to.clone())).await;
    let role = CoreRole { accounts: Holding::Except(from, to), dialect: Dialect::Legacy };
    let legacy = CoreBank::open_as(CoreBankConfig { data_dir: None, seed: true }, role).await.unwrap();
    let payee = "6222020000000000083";

    let first_leg = |req_seq: &str| {
        json!({
            "req_seq": req_seq, "kind": "payment", "dr_acct": ZHANG_CNY, "amt_fen": 8_800, "ccy": "CNY",
            "cr_ext_acct": payee, "cr_ext_name": "北京云杉科技有限公司", "cr_ext_bank": "SCENEGATE",
            "memo": "invoice 7", "scene": "ecommerce_goods", "channel": "ptn_skytrip"
        })
    };
    let payer = balance(&legacy, ZHANG_CNY).await;
    let receiving = fen(&new_core.booked_balance(payee).await);
    post_ok(&legacy, "/core/payments", &first_leg("X-1")).await;
    new_core.booked(&inbound("X-1", payee, "88.00", "CNY")).await;
    assert_eq!(balance(&legacy, ZHANG_CNY).await, payer - 8_800);
    assert_eq!(fen(&new_core.booked_balance(payee).await), receiving + 8_800);

    // The second leg refused (a frozen payee): the first is reversed in full.
    post_ok(&legacy, "/core/payments", &first_leg("X-2")).await;
    new_core.refused(&inbound("X-2", FROZEN, "88.00", "CNY"), StatusCode::UNPROCESSABLE_ENTITY, "ACCOUNT_FROZEN").await;
    let reversal = json!({ "req_seq": "X-2-R", "kind": "refund", "orig_req_seq": "X-2", "amt_fen": 8_800,
                           "ccy": "CNY", "memo": "reversal", "channel": "ptn_skytrip" });
    post_ok(&legacy, "/core/payments", &reversal).await;
    refused(&legacy, "/core/payments", &first_leg("X-2-R"), "E409").await;
    assert_eq!(balance(&legacy, ZHANG_CNY).await, payer - 8_800, "only the first payment stands");

    assert_balanced(&legacy).await;
    new_core.assert_balanced().await;
}
