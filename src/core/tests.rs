//! Payments between two cores, against two in-memory cores that keep balanced books and
//! de-duplicate by key like real ones: every failure of the second posting ends with both
//! postings booked or neither's money moved, and each key booked at most once.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use scenegate_adapter_contract::Currency;

use super::{
    AccountKind, AccountState, CoreAccount, CoreBalance, CoreError, CoreTxnPage, TxnQuery,
    connector::{CoreConnector, Dialect},
    crosscore::Transfer,
    posting::{CoreCreditor, PostingKind, PostingOrder, PostingOutcome, Refusal, Settlement},
};

const GL: &str = "GL";

#[derive(Clone, Debug, PartialEq)]
enum Entry {
    Booked { dr: String, cr: String, amount: i64 },
    Voided,
}

#[derive(Default)]
struct Books {
    accounts: HashMap<String, (AccountState, i64)>,
    entries: HashMap<String, Entry>,
}

/// A core holding some accounts. `down`: every call fails to connect. `lose_answers`: that
/// many postings are booked but answered with a timeout. `refuse_inbound`: inbound credits
/// are refused with it (an account closed between the check and the credit).
#[derive(Default)]
struct FakeCore {
    books: Mutex<Books>,
    down: AtomicBool,
    lose_answers: AtomicU32,
    refuse_inbound: Mutex<Option<Refusal>>,
}

impl FakeCore {
    fn holding(accounts: &[(&str, i64)]) -> Self {
        let core = Self::default();
        let mut books = core.books.lock().unwrap();
        books.accounts.insert(GL.into(), (AccountState::Normal, 0));
        for (acct, balance) in accounts {
            books.accounts.insert((*acct).into(), (AccountState::Normal, *balance));
        }
        drop(books);
        core
    }

    fn balance_of(&self, acct: &str) -> i64 {
        self.books.lock().unwrap().accounts[acct].1
    }

    fn set_state(&self, acct: &str, state: AccountState) {
        self.books.lock().unwrap().accounts.get_mut(acct).unwrap().0 = state;
    }

    fn entry(&self, key: &str) -> Option<Entry> {
        self.books.lock().unwrap().entries.get(key).cloned()
    }

    fn total(&self) -> i64 {
        self.books.lock().unwrap().accounts.values().map(|(_, b)| b).sum()
    }

    fn reachable(&self) -> Result<(), CoreError> {
        if self.down.load(Ordering::SeqCst) { Err(CoreError::Connect("refused".into())) } else { Ok(()) }
    }

    fn book(&self, order: &PostingOrder) -> PostingOutcome {
        let mut books = self.books.lock().unwrap();
        match books.entries.get(&order.req_seq) {
            Some(Entry::Booked { .. }) => return PostingOutcome::Booked { txn_id: format!("T-{}", order.req_seq) },
            Some(Entry::Voided) => return PostingOutcome::Refused(Refusal::Voided),
            None => {}
        }
        let (dr, cr) = match &order.kind {
            PostingKind::Payment => match &order.creditor {
                CoreCreditor::Internal { acct_no } => (order.debtor.clone(), acct_no.clone()),
                CoreCreditor::External { .. } => (order.debtor.clone(), GL.to_owned()),
            },
            PostingKind::Inbound { .. } => {
                if let Some(r) = self.refuse_inbound.lock().unwrap().clone() {
                    return PostingOutcome::Refused(r);
                }
                (GL.to_owned(), order.debtor.clone())
            }
            PostingKind::Reversal { original } => match books.entries.get(original) {
                Some(Entry::Booked { dr, cr, .. }) => (cr.clone(), dr.clone()),
                _ => return PostingOutcome::Refused(Refusal::AccountNotFound),
            },
            PostingKind::Refund { .. } => {
                let never = Refusal::Other { code: "REFUND".into(), message: "not sent between cores".into() };
                return PostingOutcome::Refused(never);
            }
        };
        for acct in [&dr, &cr] {
            match books.accounts.get(acct) {
                None => return PostingOutcome::Refused(Refusal::AccountNotFound),
                Some((AccountState::Frozen, _)) => return PostingOutcome::Refused(Refusal::AccountFrozen),
                Some((AccountState::Closed, _)) => return PostingOutcome::Refused(Refusal::AccountClosed),
                Some(_) => {}
            }
        }
        if dr != GL && books.accounts[&dr].1 < order.amount_minor {
            return PostingOutcome::Refused(Refusal::InsufficientFunds);
        }
        books.accounts.get_mut(&dr).unwrap().1 -= order.amount_minor;
        books.accounts.get_mut(&cr).unwrap().1 += order.amount_minor;
        books.entries.insert(order.req_seq.clone(), Entry::Booked { dr, cr, amount: order.amount_minor });
        PostingOutcome::Booked { txn_id: format!("T-{}", order.req_seq) }
    }
}

#[async_trait]
impl CoreConnector for FakeCore {
    fn dialect(&self) -> Dialect {
        Dialect::Modern
    }
    fn breaker_state(&self) -> &'static str {
        "closed"
    }
    async fn health(&self) -> Result<(), CoreError> {
        self.reachable()
    }
    async fn customer_accounts(&self, _: &str) -> Result<Vec<CoreAccount>, CoreError> {
        Err(CoreError::NotOffered("customer_accounts"))
    }
    async fn account(&self, acct_no: &str) -> Result<CoreAccount, CoreError> {
        self.reachable()?;
        let (state, _) = *self.books.lock().unwrap().accounts.get(acct_no).ok_or(CoreError::NotFound)?;
        Ok(CoreAccount {
            acct_no: acct_no.into(),
            cust_no: "C0001".into(),
            acct_name: format!("holder of {acct_no}"),
            currency: Currency::Cny,
            kind: AccountKind::Savings,
            state,
            opened_on: jiff::civil::date(2020, 1, 1),
        })
    }
    async fn balance(&self, _: &str) -> Result<CoreBalance, CoreError> {
        Err(CoreError::NotOffered("balance"))
    }
    async fn transactions(&self, _: &str, _: &TxnQuery) -> Result<CoreTxnPage, CoreError> {
        Err(CoreError::NotOffered("transactions"))
    }
    async fn post(&self, order: &PostingOrder) -> Result<PostingOutcome, CoreError> {
        self.reachable()?;
        let outcome = self.book(order);
        let lost = self.lose_answers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if lost { Err(CoreError::Timeout(Duration::from_secs(2))) } else { Ok(outcome) }
    }
    async fn posting_status(&self, req_seq: &str) -> Result<Settlement, CoreError> {
        self.reachable()?;
        Ok(match self.entry(req_seq) {
            Some(Entry::Booked { .. }) => Settlement::Booked { txn_id: format!("T-{req_seq}") },
            Some(Entry::Voided) => Settlement::Voided,
            None => Settlement::Unknown,
        })
    }
    async fn void(&self, req_seq: &str) -> Result<Settlement, CoreError> {
        self.reachable()?;
        let mut books = self.books.lock().unwrap();
        Ok(match books.entries.get(req_seq) {
            Some(Entry::Booked { .. }) => Settlement::Booked { txn_id: format!("T-{req_seq}") },
            _ => {
                books.entries.insert(req_seq.into(), Entry::Voided);
                Settlement::Voided
            }
        })
    }
}

const PAYER: &str = "6222020000000000018";
const PAYEE: &str = "6222020000000000075";

/// The payer's core and the payee's core; the payer holds 100.00.
fn cores() -> (FakeCore, FakeCore) {
    (FakeCore::holding(&[(PAYER, 10_000)]), FakeCore::holding(&[(PAYEE, 0)]))
}

fn order(amount_minor: i64) -> PostingOrder {
    PostingOrder {
        req_seq: "pay_01".into(),
        debtor: PAYER.into(),
        creditor: CoreCreditor::Internal { acct_no: PAYEE.into() },
        amount_minor,
        currency: "CNY".into(),
        memo: "货款".into(),
        scene: "ecommerce_goods".into(),
        mcc: None,
        channel: "ptn_x".into(),
        kind: PostingKind::Payment,
    }
}

/// Each core's books balance by themselves (the clearing account holds what crossed), and
/// money crossed as a whole: what left the payer's core arrived in the payee's or came back.
fn assert_books(a: &FakeCore, b: &FakeCore, moved: i64) {
    assert_eq!(a.total(), 10_000, "the payer's core created or lost money");
    assert_eq!(b.total(), 0, "the payee's core created or lost money");
    assert_eq!((a.balance_of(PAYER), a.balance_of(GL)), (10_000 - moved, moved));
    assert_eq!((b.balance_of(PAYEE), b.balance_of(GL)), (moved, -moved));
}

#[tokio::test]
async fn a_payment_between_cores_is_one_posting_on_each() {
    let (a, b) = cores();
    let o = order(2_500);
    let outcome = Transfer::new(&a, &b, &o).post().await.unwrap();
    assert_eq!(outcome, PostingOutcome::Booked { txn_id: "T-pay_01".into() });
    assert_books(&a, &b, 2_500);
    // Sent again (a retry after a lost answer): the same outcome, nothing booked twice.
    assert_eq!(Transfer::new(&a, &b, &o).post().await.unwrap(), outcome);
    assert_books(&a, &b, 2_500);
    assert_eq!(
        Transfer::new(&a, &b, &o).settle(false).await.unwrap(),
        Settlement::Booked { txn_id: "T-pay_01".into() }
    );
}

#[tokio::test]
async fn the_same_payment_sent_at_once_many_times_is_booked_once_on_each_core() {
    let (a, b) = cores();
    let o = order(2_500);
    let transfers: Vec<Transfer<'_>> = (0..8).map(|_| Transfer::new(&a, &b, &o)).collect();
    let runs = transfers.iter().map(Transfer::post);
    for outcome in futures_util::future::join_all(runs).await {
        assert!(matches!(outcome, Ok(PostingOutcome::Booked { .. })), "{outcome:?}");
    }
    assert_books(&a, &b, 2_500);
}

#[tokio::test]
async fn a_payee_that_cannot_be_credited_is_refused_before_anything_moves() {
    let (a, b) = cores();
    b.set_state(PAYEE, AccountState::Frozen);
    let o = order(2_500);
    assert_eq!(Transfer::new(&a, &b, &o).post().await.unwrap(), PostingOutcome::Refused(Refusal::AccountFrozen));
    assert_eq!(a.entry("pay_01"), None, "nothing debited");
    assert_books(&a, &b, 0);
    let mut elsewhere = order(2_500);
    elsewhere.creditor = CoreCreditor::Internal { acct_no: "6222020000000000083".into() };
    assert_eq!(
        Transfer::new(&a, &b, &elsewhere).post().await.unwrap(),
        PostingOutcome::Refused(Refusal::AccountNotFound)
    );
    // The payer's own refusals are the payer's core's to give.
    b.set_state(PAYEE, AccountState::Normal);
    assert_eq!(
        Transfer::new(&a, &b, &order(20_000)).post().await.unwrap(),
        PostingOutcome::Refused(Refusal::InsufficientFunds)
    );
    assert_books(&a, &b, 0);
}

#[tokio::test]
async fn a_credit_refused_after_the_debit_is_reversed_and_recorded_on_the_payers_core() {
    let (a, b) = cores();
    *b.refuse_inbound.lock().unwrap() = Some(Refusal::AccountClosed);
    let o = order(2_500);
    assert_eq!(Transfer::new(&a, &b, &o).post().await.unwrap(), PostingOutcome::Refused(Refusal::AccountClosed));
    assert_books(&a, &b, 0);
    assert!(matches!(a.entry("pay_01"), Some(Entry::Booked { .. })), "the debit stays on the books");
    assert_eq!(a.entry("pay_01-rv"), Some(Entry::Booked { dr: GL.into(), cr: PAYER.into(), amount: 2_500 }));
    assert_eq!(b.entry("pay_01-in"), Some(Entry::Voided), "the credit can never be booked late");
    // Asked again later, the cores say the same, and nothing more moves.
    *b.refuse_inbound.lock().unwrap() = None;
    assert_eq!(Transfer::new(&a, &b, &o).settle(false).await.unwrap(), Settlement::Reversed(Refusal::NotCredited));
    assert_eq!(Transfer::new(&a, &b, &o).post().await.unwrap(), PostingOutcome::Refused(Refusal::Voided));
    assert_books(&a, &b, 0);
}

#[tokio::test]
async fn a_lost_answer_from_the_payees_core_is_asked_again_not_booked_twice() {
    let (a, b) = cores();
    b.lose_answers.store(1, Ordering::SeqCst);
    let o = order(2_500);
    assert!(matches!(Transfer::new(&a, &b, &o).post().await.unwrap(), PostingOutcome::Booked { .. }));
    assert_books(&a, &b, 2_500);
}

#[tokio::test]
async fn a_payees_core_that_is_down_leaves_the_payment_unknown_until_it_is_back() {
    let (a, b) = cores();
    b.down.store(true, Ordering::SeqCst);
    let o = order(2_500);
    // The payee's account cannot even be checked: nothing is debited, the outcome is unknown.
    assert!(Transfer::new(&a, &b, &o).post().await.is_err());
    assert_eq!(a.entry("pay_01"), None);
    // The reconciler: the debit is voided, the payment certain never to happen.
    assert_eq!(Transfer::new(&a, &b, &o).settle(false).await.unwrap(), Settlement::Voided);
    assert_books(&a, &b, 0);

    // Down between the two postings (a crash, a restart): the debit is booked, the credit is not.
    let (a, b) = cores();
    let mut first = o.clone();
    first.creditor = CoreCreditor::External { acct_no: PAYEE.into(), name: "x".into(), bank_code: "OWNBANK".into() };
    assert!(matches!(a.post(&first).await.unwrap(), PostingOutcome::Booked { .. }));
    b.down.store(true, Ordering::SeqCst);
    assert!(Transfer::new(&a, &b, &o).settle(false).await.is_err(), "while down: ask again later");
    b.down.store(false, Ordering::SeqCst);
    assert_eq!(
        Transfer::new(&a, &b, &o).settle(false).await.unwrap(),
        Settlement::Booked { txn_id: "T-pay_01".into() }
    );
    assert_books(&a, &b, 2_500);
}

#[tokio::test]
async fn a_credit_never_confirmed_is_given_up_and_the_debit_reversed() {
    let (a, b) = cores();
    let o = order(2_500);
    let mut first = o.clone();
    first.creditor = CoreCreditor::External { acct_no: PAYEE.into(), name: "x".into(), bank_code: "OWNBANK".into() };
    a.post(&first).await.unwrap();
    // Retried for as long as the reconciler's window; then given up.
    assert_eq!(Transfer::new(&a, &b, &o).settle(true).await.unwrap(), Settlement::Reversed(Refusal::NotCredited));
    assert_books(&a, &b, 0);
    assert_eq!(b.entry("pay_01-in"), Some(Entry::Voided));
    // A late retry of the credit (another instance's request still in flight) cannot book.
    assert_eq!(Transfer::new(&a, &b, &o).settle(false).await.unwrap(), Settlement::Reversed(Refusal::NotCredited));
    assert_books(&a, &b, 0);
}

#[tokio::test]
async fn a_reversal_whose_answer_is_lost_is_finished_by_the_reconciler_once() {
    let (a, b) = cores();
    *b.refuse_inbound.lock().unwrap() = Some(Refusal::AccountClosed);
    let o = order(2_500);
    let first = PostingOrder {
        creditor: CoreCreditor::External { acct_no: PAYEE.into(), name: "x".into(), bank_code: "OWNBANK".into() },
        ..o.clone()
    };
    a.post(&first).await.unwrap();
    a.lose_answers.store(1, Ordering::SeqCst);
    // The credit refused, the reversal booked but its answer lost: unknown.
    assert!(Transfer::new(&a, &b, &o).settle(false).await.is_err());
    assert_eq!(Transfer::new(&a, &b, &o).settle(false).await.unwrap(), Settlement::Reversed(Refusal::NotCredited));
    assert_books(&a, &b, 0);
}

#[test]
fn instants_are_printed_in_utc_to_the_second() {
    let at = |s: i64, ns: i32| jiff::Timestamp::new(s, ns).unwrap();
    assert_eq!(super::rfc3339(at(0, 0)), "1970-01-01T00:00:00Z");
    assert_eq!(super::rfc3339(at(1_796_490_222, 0)), "2026-12-05T17:03:42Z");
    // A fraction is cut, never printed: partners parse whole seconds.
    assert_eq!(super::rfc3339(at(1_796_490_222, 999_999_999)), "2026-12-05T17:03:42Z");
    assert_eq!(super::rfc3339(at(-1, 0)), "1969-12-31T23:59:59Z");
}
