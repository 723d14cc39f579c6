//! Paging against a core that misbehaves on purpose: endless statements of out-of-window
//! bookings, sequence numbers that do not move. The service must move forward or fail, and
//! never loop.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Json, Router,
    extract::{Query, State},
    routing::get,
};
use serde_json::{Value, json};

use super::*;

#[derive(Clone, Copy)]
enum Mode {
    /// Every page is full of bookings before the window and there is always more.
    Endless,
    /// The same sequence number whatever `after_seq` says.
    Stuck,
    /// "More to come", with nothing on the page.
    Empty,
}

#[derive(Clone)]
struct Fake {
    mode: Mode,
    calls: Arc<AtomicUsize>,
}

async fn account() -> Json<Value> {
    Json(json!({"ret_code": "0000", "ret_msg": "success", "data": {
        "acct_no": CNY, "cust_no": "C0001", "acct_name": "张三", "ccy": "CNY",
        "acct_type": "SAV", "acct_status": "N", "open_date": "20190318"
    }}))
}

async fn txns(State(fake): State<Fake>, Query(q): Query<std::collections::HashMap<String, String>>) -> Json<Value> {
    fake.calls.fetch_add(1, Ordering::SeqCst);
    let after: i64 = q.get("after_seq").map_or(0, |s| s.parse().unwrap());
    let limit: i64 = q["limit"].parse().unwrap();
    let item = |seq: i64| {
        json!({"txn_seq": seq, "txn_id": format!("T{seq}"), "txn_time": "20260101080000", "dr_cr": "D",
               "amt_fen": 100, "ccy": "CNY", "memo": "m", "cpty_name": null, "cpty_acct": null, "bal_after_fen": 0})
    };
    let items: Vec<Value> = match fake.mode {
        Mode::Endless => (after + 1..=after + limit).map(item).collect(),
        Mode::Stuck => vec![item(5)],
        Mode::Empty => vec![],
    };
    Json(json!({"ret_code": "0000", "ret_msg": "success", "data": {
        "acct_no": CNY, "cust_no": "C0001", "items": items, "has_more": true
    }}))
}

/// The service over a fake core, the consent it serves and the account's id.
async fn fake_core(mode: Mode) -> (Accounts, Arc<AtomicUsize>, Consent, AccountId) {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/core/accounts/{acct_no}", get(account))
        .route("/core/accounts/{acct_no}/txns", get(txns))
        .with_state(Fake { mode, calls: calls.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let core = CoreClient::new(&url, Duration::from_secs(5), Duration::from_secs(1)).unwrap();
    let pseudonyms = Pseudonyms::from_key(&[42; 32]);
    let now = secs("2026-11-02T00:00:00Z");
    let accounts = Accounts::new(core, pseudonyms.clone(), Arc::new(ManualClock::at(now)));
    let mut consent = consent_at(now, "C0001", &[ReadTransactionsBasic], &[CNY]);
    consent.transaction_from = Some(secs("2026-06-01T00:00:00Z"));
    (accounts, calls, consent, pseudonyms.account_id(PARTNER, CNY))
}

#[tokio::test]
async fn a_page_of_filtered_out_bookings_is_short_but_moves_forward() {
    let (accounts, calls, consent, id) = fake_core(Mode::Endless).await;
    let mut cursor = None;
    let mut last = 0;
    for _ in 0..3 {
        let page = accounts.transactions(&consent, &id, query(None, None, 10, cursor)).await.unwrap();
        assert!(page.items.is_empty());
        let next = page.next_cursor.expect("the core has more, so there is a next page");
        let seq = window::decode_cursor(&next, SortOrder::Asc).unwrap();
        assert!(seq > last, "every page moves strictly forward");
        last = seq;
        cursor = Some(next);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3 * MAX_CORE_ROUNDS, "a page costs at most {MAX_CORE_ROUNDS} core calls");
    assert_eq!(last, 3 * 10 * MAX_CORE_ROUNDS as i64, "nothing read twice, nothing skipped");
}

#[tokio::test]
async fn a_core_that_does_not_move_is_an_error_not_a_loop() {
    for mode in [Mode::Stuck, Mode::Empty] {
        let (accounts, calls, consent, id) = fake_core(mode).await;
        let r = accounts.transactions(&consent, &id, query(None, None, 10, None)).await;
        assert!(matches!(r, Err(ApiError::Core(CoreError::Decode(_)))), "{r:?}");
        assert!(calls.load(Ordering::SeqCst) <= 2);
    }
}
