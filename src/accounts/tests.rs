//! The accounts service against the real core-bank mock (in process, port 0, seeded), with
//! consents built by hand: every rule checked end to end, the JSON as partners would get it.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use scenegate_adapter_contract::{
    AccountId, ConsentId,
    canonical::{AccountStatus, ConsentStatus, Permission, SortOrder, Transaction, TransactionQuery},
};
use scenegate_adapters::native::wire;
use scenegate_corebank_mock::{CoreBank, CoreBankConfig, serve};
use serde_json::{Value, json};

use super::*;
use crate::auth::ManualClock;

const PARTNER: &str = "ptn_skytrip";
/// 张三 (C0001): CNY and USD savings; 李四 (C0002); 赵磊 (C0004), frozen.
const CNY: &str = "6222020000000000018";
const USD: &str = "6222020000000000026";
const LISI: &str = "6222020000000000034";
const FROZEN: &str = "6222020000000000067";

use Permission::*;

/// A value as partners get it: in its native wire type, as JSON.
fn as_sent<W: From<C> + serde::Serialize, C>(value: C) -> Value {
    serde_json::to_value(W::from(value)).unwrap()
}

/// A list as partners get it (the items of `data`).
fn each_as_sent<W: From<C> + serde::Serialize, C: Clone>(values: &[C]) -> Value {
    Value::Array(values.iter().cloned().map(as_sent::<W, C>).collect())
}

mod paging;

struct Bank {
    accounts: Accounts,
    pseudonyms: Pseudonyms,
    core: CoreClient,
    now: i64,
    _dir: tempfile::TempDir,
}

fn secs(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_second()
}

async fn start() -> Bank {
    let dir = tempfile::tempdir().unwrap();
    let bank = CoreBank::open(CoreBankConfig { data_dir: Some(dir.path().to_owned()), seed: true }).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, bank));
    let core = CoreClient::new(&url, Duration::from_secs(5), Duration::from_secs(1)).unwrap();
    let pseudonyms = Pseudonyms::from_key(&[42; 32]);
    let now = secs("2026-11-02T00:00:00Z");
    let accounts = Accounts::new(core.clone(), pseudonyms.clone(), Arc::new(ManualClock::at(now)));
    Bank { accounts, pseudonyms, core, now, _dir: dir }
}

impl Bank {
    fn id(&self, acct_no: &str) -> AccountId {
        self.pseudonyms.account_id(PARTNER, acct_no)
    }

    fn consent(&self, customer: &str, permissions: &[Permission], accounts: &[&str]) -> Consent {
        consent_at(self.now, customer, permissions, accounts)
    }

    /// The id [`PARTNER`] sees for core statement line `seq` of the CNY account.
    fn txn_id(&self, seq: i64) -> String {
        self.pseudonyms.transaction_id(PARTNER, CNY, seq).to_string()
    }

    /// Every transaction of an account straight from the core, no date filter.
    async fn core_history(&self, acct_no: &str) -> Vec<(i64, i64)> {
        let (mut out, mut after) = (Vec::new(), None);
        loop {
            let q = TxnQuery { past_seq: after, limit: 1000, ..TxnQuery::default() };
            let page = self.core.transactions(acct_no, &q).await.unwrap();
            for t in &page.items {
                out.push((t.seq, t.booked_at.as_second()));
            }
            after = page.items.last().map(|t| t.seq);
            if !page.has_more {
                return out;
            }
        }
    }
}

/// An authorised consent of `customer` for [`PARTNER`], in force for 90 days from `now`.
fn consent_at(now: i64, customer: &str, permissions: &[Permission], accounts: &[&str]) -> Consent {
    Consent {
        id: ConsentId::from_key("T1").unwrap(),
        partner_id: PARTNER.into(),
        customer_id: Some(customer.into()),
        permissions: permissions.iter().copied().collect(),
        expiration: now + 90 * 86_400,
        transaction_from: None,
        transaction_to: None,
        purpose: "test".into(),
        status: ConsentStatus::Authorised,
        accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
        created_at: now - 60,
        status_updated_at: now - 60,
        history: vec![],
        payment: None,
    }
}

/// Oldest first: the order most of these tests reason in; [`newest_first`] for the default.
fn query(from: Option<&str>, to: Option<&str>, limit: u32, cursor: Option<String>) -> TransactionQuery {
    TransactionQuery { from: from.map(Into::into), to: to.map(Into::into), limit, cursor, order: SortOrder::Asc }
}

fn newest_first(q: TransactionQuery) -> TransactionQuery {
    TransactionQuery { order: SortOrder::Desc, ..q }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, ApiError>) -> bool {
    matches!(r, Err(ApiError::NotFound("account")))
}

#[tokio::test]
async fn basic_lists_only_the_chosen_account_masked() {
    let bank = start().await;
    let list = bank.accounts.list(&bank.consent("C0001", &[ReadAccountsBasic], &[CNY])).await.unwrap();
    let json = each_as_sent::<wire::Account, _>(&list);
    println!("masked account: {json}");
    assert_eq!(
        json,
        json!([{
            "account_id": bank.id(CNY).as_str(), "currency": "CNY", "account_type": "savings", "status": "enabled",
            "account_number": "622202*********0018", "account_name": "张*"
        }])
    );
    assert!(!json.to_string().contains(CNY), "the number never leaves in full");
    let one = bank.accounts.get(&bank.consent("C0001", &[ReadAccountsBasic], &[CNY]), &bank.id(CNY)).await.unwrap();
    assert_eq!(as_sent::<wire::Account, _>(one), json[0]);
}

#[tokio::test]
async fn detail_shows_full_number_name_and_opening_date() {
    let bank = start().await;
    let consent = bank.consent("C0001", &[ReadAccountsDetail], &[CNY, USD]);
    let list = bank.accounts.list(&consent).await.unwrap();
    let json = each_as_sent::<wire::Account, _>(&list);
    assert_eq!(json[0]["account_number"], CNY);
    assert_eq!(json[0]["account_name"], "张三");
    assert_eq!(json[0]["opened_on"], "2019-03-18");
    assert_eq!(
        (json[1]["account_id"].as_str(), json[1]["currency"].as_str()),
        (Some(bank.id(USD).as_str()), Some("USD"))
    );
}

#[tokio::test]
async fn anything_but_a_chosen_account_is_not_found_alike() {
    let bank = start().await;
    let consent = bank.consent("C0001", &[ReadAccountsBasic, ReadBalances, ReadTransactionsDetail], &[CNY]);
    let probes: Vec<AccountId> = vec![
        bank.id(USD),                                 // the customer's, not chosen
        bank.id(LISI),                                // another customer's
        bank.pseudonyms.account_id("ptn_other", CNY), // the right account, another partner's id
        "acc_aaaaaaaaaaaaaaaaaaaa".parse().unwrap(),  // unknown, well formed
        "acc_6222020000000000018".parse().unwrap(),   // the raw number
        "acc_x".parse().unwrap(),                     // malformed but well prefixed
    ];
    for id in &probes {
        assert!(is_not_found(bank.accounts.get(&consent, id).await), "{id}");
        assert!(is_not_found(bank.accounts.balances(&consent, id).await), "{id}");
        assert!(is_not_found(bank.accounts.transactions(&consent, id, query(None, None, 5, None)).await), "{id}");
    }
    assert!(bank.accounts.get(&consent, &bank.id(CNY)).await.is_ok());
}

#[tokio::test]
async fn the_core_owner_is_checked_against_the_consent_customer() {
    let bank = start().await;
    // A consent (however it came to be) naming an account of someone else.
    let tampered = bank.consent("C0001", &[ReadAccountsBasic, ReadBalances], &[CNY, LISI]);
    let list = bank.accounts.list(&tampered).await.unwrap();
    assert_eq!(list.iter().map(|a| a.account_id.clone()).collect::<Vec<_>>(), vec![bank.id(CNY)]);
    assert!(is_not_found(bank.accounts.get(&tampered, &bank.id(LISI)).await));
    assert!(is_not_found(bank.accounts.balances(&tampered, &bank.id(LISI)).await));
    let wrong_customer = bank.consent("C0002", &[ReadAccountsBasic], &[CNY]);
    assert!(bank.accounts.list(&wrong_customer).await.unwrap().is_empty());
    assert!(is_not_found(bank.accounts.get(&wrong_customer, &bank.id(CNY)).await));
    let mut unanswered = bank.consent("C0001", &[ReadAccountsBasic], &[CNY]);
    unanswered.customer_id = None;
    assert!(is_not_found(bank.accounts.get(&unanswered, &bank.id(CNY)).await));
}

#[tokio::test]
async fn each_operation_needs_its_permission() {
    let bank = start().await;
    let id = bank.id(CNY);
    let only_balances = bank.consent("C0001", &[ReadBalances], &[CNY]);
    let only_accounts = bank.consent("C0001", &[ReadAccountsDetail], &[CNY]);
    let permission = |r: Result<(), ApiError>| match r {
        Err(ApiError::ConsentPermission(p)) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(permission(bank.accounts.list(&only_balances).await.map(drop)), "ReadAccountsBasic");
    assert_eq!(permission(bank.accounts.get(&only_balances, &id).await.map(drop)), "ReadAccountsBasic");
    assert_eq!(permission(bank.accounts.balances(&only_accounts, &id).await.map(drop)), "ReadBalances");
    let txns = bank.accounts.transactions(&only_balances, &id, query(None, None, 5, None)).await;
    assert_eq!(permission(txns.map(drop)), "ReadTransactionsBasic");
    // Permission is checked before the id, so a refusal says nothing about the account.
    let stranger: AccountId = "acc_aaaaaaaaaaaaaaaaaaaa".parse().unwrap();
    assert_eq!(permission(bank.accounts.balances(&only_accounts, &stranger).await.map(drop)), "ReadBalances");
}

#[tokio::test]
async fn balances_and_blocked_accounts() {
    let bank = start().await;
    let balances =
        bank.accounts.balances(&bank.consent("C0001", &[ReadBalances], &[CNY]), &bank.id(CNY)).await.unwrap();
    let json = each_as_sent::<wire::Balance, _>(&balances);
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["account_id"], bank.id(CNY).as_str());
    assert_eq!(json[0]["booked"]["currency"], "CNY");
    assert_eq!(json[0]["booked"], json[0]["available"]);
    assert!(json[0]["as_of"].as_str().unwrap().ends_with('Z'));

    let zhao = bank.consent("C0004", &[ReadAccountsBasic, ReadBalances], &[FROZEN]);
    assert_eq!(bank.accounts.get(&zhao, &bank.id(FROZEN)).await.unwrap().status, AccountStatus::Blocked);
    let frozen = &bank.accounts.balances(&zhao, &bank.id(FROZEN)).await.unwrap()[0];
    assert_eq!(serde_json::to_value(frozen.available).unwrap()["amount"], "0.00");
}

#[tokio::test]
async fn a_consent_not_in_force_reads_nothing() {
    let bank = start().await;
    let mut revoked = bank.consent("C0001", &[ReadAccountsBasic], &[CNY]);
    revoked.status = ConsentStatus::Revoked;
    assert!(matches!(bank.accounts.list(&revoked).await, Err(ApiError::ConsentInactive(ConsentStatus::Revoked))));
    let mut lapsed = bank.consent("C0001", &[ReadAccountsBasic], &[CNY]);
    lapsed.expiration = bank.now;
    assert!(matches!(bank.accounts.list(&lapsed).await, Err(ApiError::ConsentInactive(ConsentStatus::Expired))));
}

/// Consent window from 2026-06-10T02:00:00Z to 2026-09-20T03:00:00Z; the partner asks
/// from 2026-05-01 to 2026-08-10 09:00 Beijing time, so the effective window is
/// [`LO`, `HI`]. Both edges fall mid Beijing day, on paydays: the salary lands between 09:00
/// and 10:00 Beijing, so it is on the core's first and last dates but outside the window.
const LO: &str = "2026-06-10T02:00:00Z";
const HI: &str = "2026-08-10T01:00:00Z";

async fn windowed(bank: &Bank, permissions: &[Permission], limit: u32) -> (Vec<Vec<Transaction>>, Vec<(i64, i64)>) {
    windowed_in(bank, permissions, limit, SortOrder::Asc).await
}

/// Every page of the windowed listing in `order`, and the core's (seq, time) of what the
/// window holds, oldest first.
async fn windowed_in(
    bank: &Bank,
    permissions: &[Permission],
    limit: u32,
    order: SortOrder,
) -> (Vec<Vec<Transaction>>, Vec<(i64, i64)>) {
    let mut consent = bank.consent("C0001", permissions, &[CNY]);
    consent.transaction_from = Some(secs(LO));
    consent.transaction_to = Some(secs("2026-09-20T03:00:00Z"));
    let (from, to) = (Some("2026-05-01T00:00:00Z"), Some("2026-08-10T09:00:00+08:00"));
    let (lo, hi) = (secs(LO), secs(HI));
    let expected: Vec<(i64, i64)> =
        bank.core_history(CNY).await.into_iter().filter(|(_, at)| (lo..=hi).contains(at)).collect();
    let (mut pages, mut cursor) = (Vec::new(), None);
    loop {
        let q = TransactionQuery { order, ..query(from, to, limit, cursor) };
        let page = bank.accounts.transactions(&consent, &bank.id(CNY), q).await.unwrap();
        assert!(page.items.len() <= limit as usize);
        pages.push(page.items);
        assert!(pages.len() <= expected.len() / limit as usize + 3, "paging does not converge");
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (pages, expected),
        }
    }
}

#[tokio::test]
async fn transactions_page_through_the_window_once_each_in_order() {
    let bank = start().await;
    let (pages, expected) = windowed(&bank, &[ReadTransactionsBasic], 7).await;
    let seen: Vec<&Transaction> = pages.iter().flatten().collect();
    let (lo, hi) = (secs(LO), secs(HI));
    assert!(expected.len() > 14, "the seeded history should fill three pages, got {}", expected.len());
    assert!(seen.iter().all(|t| (lo..=hi).contains(&secs(&t.booked_at))), "every booking inside the window");
    let ids: Vec<String> = seen.iter().map(|t| t.transaction_id.to_string()).collect();
    let want: Vec<String> = expected.iter().map(|(seq, _)| bank.txn_id(*seq)).collect();
    assert_eq!(ids, want, "each transaction exactly once, oldest first");

    // The default order: the same transactions, newest first, each once across its pages.
    let (pages, _) = windowed_in(&bank, &[ReadTransactionsBasic], 7, SortOrder::Desc).await;
    let newest: Vec<String> = pages.iter().flatten().map(|t| t.transaction_id.to_string()).collect();
    assert_eq!(newest, want.iter().rev().cloned().collect::<Vec<_>>(), "each exactly once, newest first");
    // The core's date filter alone would have let edge-of-day bookings through.
    let whole_days = bank.core_history(CNY).await.into_iter().filter(|(_, at)| {
        let day = |s: i64| jiff::Timestamp::from_second(s + 8 * 3600).unwrap().strftime("%Y%m%d").to_string();
        ("20260610".to_owned()..="20260810".to_owned()).contains(&day(*at))
    });
    let wd = whole_days.count();
    eprintln!(
        "DIAG whole_days={wd} expected={} pages={:?}",
        expected.len(),
        pages.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert!(wd > expected.len(), "edge-of-day bookings must be filtered out");
}

#[tokio::test]
async fn basic_transactions_omit_detail_fields_and_detail_has_them() {
    let bank = start().await;
    let (basic, _) = windowed(&bank, &[ReadTransactionsBasic], 50).await;
    for t in basic.iter().flatten() {
        let json = as_sent::<wire::Transaction, _>(t.clone());
        let keys: BTreeSet<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["transaction_id", "booked_at", "amount", "credit_debit"]), "{json}");
    }
    let (detail, _) = windowed(&bank, &[ReadTransactionsBasic, ReadTransactionsDetail], 50).await;
    let detail: Vec<Value> = detail.iter().flatten().cloned().map(as_sent::<wire::Transaction, _>).collect();
    assert!(detail.iter().all(|t| t.get("description").is_some() && t.get("balance_after").is_some()));
    let names: Vec<&str> = detail.iter().filter_map(|t| t.get("counterparty_name")?.as_str()).collect();
    assert!(!names.is_empty() && names.iter().all(|n| n.contains('*')), "{names:?}");
    for t in detail.iter().filter_map(|t| t.get("counterparty_account")?.as_str()) {
        assert!(t.contains('*') && !t.contains("00000000"), "{t}");
    }
}

#[tokio::test]
async fn transaction_queries_are_checked() {
    let bank = start().await;
    let mut consent = bank.consent("C0001", &[ReadTransactionsBasic], &[CNY]);
    consent.transaction_to = Some(secs("2026-06-30T00:00:00Z"));
    let id = bank.id(CNY);
    let run = |q| bank.accounts.transactions(&consent, &id, q);
    let empty = run(query(Some("2026-07-01T00:00:00Z"), None, 10, None)).await.unwrap();
    assert!(empty.items.is_empty() && empty.next_cursor.is_none(), "an empty intersection is an empty page");
    let field = |r: Result<_, ApiError>| match r {
        Err(ApiError::InvalidField { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(run(query(Some("2026-07-01"), None, 10, None)).await), "from");
    assert_eq!(field(run(query(None, Some("soon"), 10, None)).await), "to");
    assert_eq!(field(run(query(None, None, 10, Some("cDE6REVQLTFZLUNOWQ".into()))).await), "cursor");
    let first = run(query(None, None, 3, None)).await.unwrap();
    let next = run(query(None, None, 3, first.next_cursor.clone())).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(next.items[0].booked_at >= first.items[2].booked_at, "the second page starts after the first");
    assert!(first.items.iter().all(|t| !next.items.contains(t)));
    // A cursor continues only the order it was issued for.
    assert_eq!(field(run(newest_first(query(None, None, 3, first.next_cursor.clone()))).await), "cursor");
    let newest = run(newest_first(query(None, None, 3, None))).await.unwrap();
    assert!(newest.items[0].booked_at > first.items[0].booked_at, "the default starts at the newest");
}
