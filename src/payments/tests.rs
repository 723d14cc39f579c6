//! The payment service against a real core-bank mock over HTTP and a real SQLite file:
//! exactly-once booking under concurrent retries, allowances under races, lost answers
//! reconciled, refund bounds. The core's ledger check runs after each.

use std::sync::Arc;

use scenegate_adapter_contract::{
    Currency, Money,
    canonical::{
        ConsentStatus, Iso20022Status, PaymentConsentType, PaymentRequest, RefundRequest, Scenario, ScenarioCode,
    },
};
use scenegate_corebank_mock::{CoreBank, CoreBankConfig};

use super::*;
use crate::{
    auth::ManualClock,
    config::{Partner, PartnerRegistry},
    consent::{Allowance, Consents, Payee, PaymentTerms},
    idempotency::{self, Begin, IdempotencyKey, IdempotencyStore},
};

const MERCHANT: &str = "6222020000000000091";

/// The payment's event as a partner with a webhook is told it.
/// The answer a partner's payment request gets, as these tests store it.
fn answer_of(view: &PaymentView) -> idempotency::StoredResponse {
    let body = serde_json::to_vec(&wire::PaymentView::from(view.clone())).unwrap();
    idempotency::StoredResponse { status: 201, headers: vec![("content-type".into(), "application/json".into())], body }
}

fn webhook_event() -> store::EventOf<Payment> {
    Arc::new(|p: &Payment| payment_event(p, Notify::Webhook))
}

pub(super) struct World {
    pub(super) payments: Payments,
    pub(super) consents: Consents,
    pub(super) idem: Arc<dyn IdempotencyStore>,
    core: CoreClient,
    core_url: String,
    pub(super) clock: Arc<ManualClock>,
    pub(super) partner: Arc<Partner>,
    pub(super) debtor: String,
    /// Whether the partner polls (no webhook target) from now on.
    polls: Arc<std::sync::atomic::AtomicBool>,
    pub(super) _stores: crate::store::test_support::TestStores,
    _dir: tempfile::TempDir,
}

fn partner_file(dir: &std::path::Path) -> Arc<Partner> {
    let jwks = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys/test-partner.jwks.json");
    let text = format!(
        r#"id = "ptn_pay"
display_name = "Pay Test"
status = "active"
environment = "sandbox"
security_level = "A2"
risk_assessment_ref = "RA-TEST"
scopes = ["payments:write", "payments:initiate"]

[keys]
jwks_file = "{}"

[adapter]
name = "native"

[payments]
require_signatures = false
[payments.merchants.shop]
account = "{MERCHANT}"
name = "Shop Ltd"
[payments.limits.CNY]
per_payment = "5000.00"
per_day = "100000.00"
"#,
        jwks.display()
    );
    let partners = dir.join("partners");
    std::fs::create_dir_all(&partners).unwrap();
    std::fs::write(partners.join("pay.toml"), text).unwrap();
    let registry = PartnerRegistry::open(partners).unwrap();
    let set = registry.live().load_full();
    assert!(set.rejected().is_empty(), "{:?}", set.rejected());
    set.get("ptn_pay").unwrap().clone()
}

pub(super) async fn world(core_timeout_ms: u64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let bank = CoreBank::open(CoreBankConfig { data_dir: Some(dir.path().join("core")), seed: true }).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let core_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(scenegate_corebank_mock::serve(listener, bank));
    let core = CoreClient::new(
        &core_url,
        std::time::Duration::from_millis(core_timeout_ms),
        std::time::Duration::from_millis(500),
    )
    .unwrap();

    let stores = crate::store::test_support::current().await;
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now().as_second()));
    let pseudonyms = crate::accounts::Pseudonyms::from_key(&[7; 32]);
    // The partner has a webhook unless a test says it polls.
    let polls = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let notify: crate::events::NotifyOf = {
        let polls = polls.clone();
        Arc::new(move |_: &str| Notify::for_target(!polls.load(std::sync::atomic::Ordering::SeqCst)))
    };
    let consents = Consents::new(stores.consents.clone(), clock.clone()).notifying(notify.clone());
    let payments =
        Payments::new(stores.payments.clone(), consents.clone(), core.clone(), pseudonyms, clock.clone(), notify);
    let debtor = core
        .customer_accounts("C0001")
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.currency == scenegate_adapter_contract::Currency::Cny)
        .expect("C0001 has a CNY account")
        .acct_no;
    World {
        payments,
        consents,
        idem: stores.idempotency.clone(),
        _stores: stores,
        core,
        core_url,
        clock,
        partner: partner_file(dir.path()),
        debtor,
        polls,
        _dir: dir,
    }
}

fn cny(amount: &str) -> Money {
    Money::parse(amount, Currency::Cny).unwrap()
}

impl World {
    /// A payment consent the customer C0001 authorised from their CNY account.
    async fn authorised(
        &self,
        kind: PaymentConsentType,
        amount_minor: Option<i64>,
        limits: Option<Allowance>,
    ) -> Consent {
        let terms = PaymentTerms {
            kind,
            currency: Currency::Cny,
            amount_minor,
            limits,
            payee: Some(Payee::Merchant { id: "shop".into(), account: MERCHANT.into(), name: "Shop Ltd".into() }),
            reference: "ORDER-1".into(),
            scenario: Scenario { code: ScenarioCode::Parking, merchant_category_code: Some("7523".into()) },
            proposed_debtor: None,
            bulk: None,
        };
        let now = self.clock.now();
        let c = self.consents.create_payment("ptn_pay", terms, now + 3600).await.unwrap();
        self.consents.authorise(&c.id, "C0001", vec![self.debtor.clone()]).await.unwrap()
    }

    /// One partner request: claim the key, initiate, store the answer (as the pipeline does).
    async fn pay(&self, consent: &Consent, amount: &str, key: &str) -> Outcome {
        let key = IdempotencyKey::parse(Some(key)).unwrap();
        let fingerprint = idempotency::fingerprint("POST", "/v1/payments", amount.as_bytes());
        match self.idem.begin("ptn_pay", &key, &fingerprint, self.clock.now()).await.unwrap() {
            Begin::Claimed(claim) => {
                let req = PaymentRequest {
                    consent_id: consent.id.clone(),
                    instructed_amount: cny(amount),
                    remittance_reference: None,
                };
                // The answer is rendered for the settlement to store, as the pipeline does;
                // stored after it only when the settlement did not.
                let render = |view: &PaymentView| Some(answer_of(view));
                match self.payments.initiate(&self.partner, consent, req, &claim, Some(&render)).await {
                    Ok(booked) => {
                        if booked.answer.is_none() {
                            self.idem.complete(&claim, &answer_of(&booked.payment), self.clock.now()).await.unwrap();
                        }
                        Outcome::Paid(Box::new(booked.payment))
                    }
                    Err(e) => {
                        self.idem.release(&claim).await.unwrap();
                        Outcome::Refused(e)
                    }
                }
            }
            Begin::Replay(_) => Outcome::Replayed,
            Begin::InFlight { .. } => Outcome::InFlight,
            Begin::Reused => panic!("same body, same key"),
        }
    }

    async fn ledger(&self) -> serde_json::Value {
        let url = format!("{}/core/ledger/check", self.core_url);
        let body: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        assert_eq!(body["data"]["balanced"], true, "ledger out of balance: {body}");
        body["data"].clone()
    }

    pub(super) async fn txn_count(&self) -> i64 {
        self.ledger().await["txn_count"].as_i64().unwrap()
    }

    /// Records a payment of `amount_minor` under `consent` with the store alone, under an
    /// idempotency key of its own, as `Payments::initiate` does before it asks the core.
    async fn record(
        &self,
        store: &dyn PaymentStore,
        consent: &Consent,
        key: &str,
        amount_minor: i64,
    ) -> Result<Payment, PaymentStoreError> {
        self.record_under(store, consent, key, key, amount_minor).await
    }

    /// Records payment `id` as [`Self::record`] does, under idempotency key `key`, deferred
    /// as the pipeline defers a payment's key: the store claims it with the payment.
    async fn record_under(
        &self,
        store: &dyn PaymentStore,
        consent: &Consent,
        key: &str,
        id: &str,
        amount_minor: i64,
    ) -> Result<Payment, PaymentStoreError> {
        let terms = consent.payment.as_ref().unwrap();
        let claim = self.idem.defer("ptn_pay", &IdempotencyKey::parse(Some(key)).unwrap(), "fp", self.clock.now());
        let (day, month) = model::beijing_periods(self.clock.now());
        let payment = Payment {
            id: PaymentId::from_key(id).unwrap(),
            partner_id: "ptn_pay".into(),
            consent_id: consent.id.clone(),
            customer_id: "C0001".into(),
            debtor: self.debtor.clone(),
            payee: terms.payee.clone().unwrap(),
            amount_minor,
            currency: Currency::Cny,
            reference: "ORDER-1".into(),
            scenario: terms.scenario.clone(),
            status: Iso20022Status::Actc,
            reason: None,
            core_txn_id: None,
            refunded_minor: 0,
            day,
            month,
            created_at: self.clock.now(),
            updated_at: self.clock.now(),
        };
        let new = store::NewPayment {
            payment: &payment,
            consent_kind: terms.kind,
            claim: &claim,
            partner_limits: self.partner.payments.limits[&Currency::Cny],
            event: payment_event(&payment, Notify::Webhook),
            now: self.clock.now(),
        };
        store.create_payment(new).await.map(|()| payment)
    }

    async fn set_core_delay(&self, ms: u64) {
        let url = format!("{}/core/admin/faults", self.core_url);
        let res = reqwest::Client::new().post(url).json(&serde_json::json!({ "payment_delay_ms": ms })).send().await;
        assert!(res.unwrap().status().is_success());
    }
}

#[derive(Debug)]
enum Outcome {
    Paid(Box<PaymentView>),
    Refused(PaymentError),
    Replayed,
    InFlight,
}

async fn fifty_concurrent_requests_with_one_key_book_one_payment() {
    let w = Arc::new(world(2_000).await);
    let before = w.txn_count().await;
    let consent = w.authorised(PaymentConsentType::Single, Some(1_250), None).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (w, consent) = (w.clone(), consent.clone());
            tokio::spawn(async move { w.pay(&consent, "12.50", "order-1-attempt").await })
        })
        .collect();
    let mut paid = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Outcome::Paid(view) => paid.push(view),
            Outcome::Replayed | Outcome::InFlight => {}
            Outcome::Refused(e) => panic!("a retry must never be refused: {e}"),
        }
    }
    assert_eq!(paid.len(), 1, "one request did the work");
    assert_eq!(paid[0].status_code, Iso20022Status::Acsc);
    assert_eq!(w.txn_count().await, before + 1, "booked exactly once");
    // The consent is used up: a new key cannot pay it again.
    match w.pay(&consent, "12.50", "order-1-new-key").await {
        Outcome::Refused(PaymentError::Refused(Refused::ConsentState(ConsentStatus::Consumed))) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(w.txn_count().await, before + 1);
}

async fn concurrent_payments_never_exceed_a_recurring_allowance() {
    let w = Arc::new(world(2_000).await);
    let before = w.txn_count().await;
    let allowance = Allowance { per_payment: 1_000, per_day: Some(5_500), per_month: Some(100_000) };
    let consent = w.authorised(PaymentConsentType::Recurring, None, Some(allowance)).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (w, consent) = (w.clone(), consent.clone());
            tokio::spawn(async move { w.pay(&consent, "10.00", &format!("park-{i}")).await })
        })
        .collect();
    let (mut completed, mut over) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Outcome::Paid(v) if v.status_code == Iso20022Status::Acsc => completed += 1,
            Outcome::Refused(PaymentError::Refused(Refused::OverConsentDaily)) => over += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((completed, over), (5, 15), "5 × 10.00 fit in 55.00 a day");
    assert_eq!(w.txn_count().await, before + 5);
    match w.pay(&consent, "10.01", "too-big").await {
        Outcome::Refused(PaymentError::Refused(Refused::OverConsentPerPayment)) => {}
        other => panic!("{other:?}"),
    }
    // 5.00 still fits today.
    assert!(matches!(w.pay(&consent, "5.00", "last").await, Outcome::Paid(_)));
}

async fn a_lost_core_answer_is_pending_then_reconciled_and_never_doubled() {
    let w = world(300).await;
    let before = w.txn_count().await;
    let consent = w.authorised(PaymentConsentType::Single, Some(4_200), None).await;
    // The core books, then answers after the gateway gave up waiting.
    w.set_core_delay(1_000).await;
    let Outcome::Paid(view) = w.pay(&consent, "42.00", "slow").await else { panic!("accepted") };
    assert_eq!(view.status_code, Iso20022Status::Acsp, "unknown outcome is pending, never failed");

    // Too fresh: the reconciler leaves it to its own request.
    assert_eq!(w.payments.reconcile().await.unwrap(), reconcile::Round::default());
    // Past the grace period, asked while the core cannot be reached: it waits, and the round
    // says how long the oldest has (what operators alert on).
    w.clock.advance(reconcile::GRACE_SECS + 1);
    let unreachable = CoreClient::new(
        "http://127.0.0.1:9",
        std::time::Duration::from_millis(200),
        std::time::Duration::from_millis(200),
    )
    .unwrap();
    let cut_off = Payments { core: unreachable, ..w.payments.clone() };
    let waiting = cut_off.reconcile().await.unwrap();
    assert_eq!(waiting, reconcile::Round { settled: 0, waiting: 1, oldest_waiting_secs: reconcile::GRACE_SECS + 1 });
    w.set_core_delay(0).await;
    assert_eq!(w.payments.reconcile().await.unwrap().settled, 1);
    let now = w.payments.payment("ptn_pay", &view.payment_id).await.unwrap();
    assert_eq!(now.status_code, Iso20022Status::Acsc, "the core did book it");
    assert_eq!(w.txn_count().await, before + 1);
    assert_eq!(w.payments.reconcile().await.unwrap(), reconcile::Round::default(), "settled once");
}

async fn a_payment_the_core_never_saw_is_voided_there_and_rejected() {
    let w = world(2_000).await;
    let before = w.txn_count().await;
    let consent = w.authorised(PaymentConsentType::Single, Some(900), None).await;
    // Record it as if the gateway crashed right after writing it: never sent to the core.
    let payment = w.record(&*w.payments.store, &consent, "crashed1", 900).await.unwrap();

    w.clock.advance(reconcile::GRACE_SECS + 1);
    assert_eq!(w.payments.reconcile().await.unwrap().settled, 1);
    let view = w.payments.payment("ptn_pay", &payment.id).await.unwrap();
    assert_eq!(view.status_code, Iso20022Status::Rjct);
    assert_eq!(view.status_reason.unwrap().code, "AB03");
    // The core now refuses that req_seq for good: a late retry cannot book it.
    assert_eq!(w.core.settle(&super::payment_order(&payment), false).await.unwrap(), crate::core::Settlement::Voided);
    assert_eq!(w.txn_count().await, before);
}

async fn refunds_never_add_up_to_more_than_the_payment() {
    let w = Arc::new(world(2_000).await);
    let consent = w.authorised(PaymentConsentType::Single, Some(1_250), None).await;
    let Outcome::Paid(paid) = w.pay(&consent, "12.50", "refundable").await else { panic!() };
    let before = w.txn_count().await;
    let refund = |i: usize, amount: &'static str| {
        let w = w.clone();
        let id = paid.payment_id.clone();
        async move {
            let key = IdempotencyKey::parse(Some(&format!("refund-{i}"))).unwrap();
            let Begin::Claimed(claim) = w.idem.begin("ptn_pay", &key, "fp", w.clock.now()).await.unwrap() else {
                panic!()
            };
            let req = RefundRequest { amount: cny(amount), reason: "partial".into() };
            w.payments.refund(&w.partner, &id, req, &claim).await
        }
    };
    let tasks: Vec<_> = (0..10).map(|i| tokio::spawn(refund(i, "2.00"))).collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) if r.status_code == Iso20022Status::Acsc => ok += 1,
            Err(PaymentError::Refused(Refused::RefundExceeds { .. })) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ok, 6, "6 × 2.00 fit in 12.50");
    assert!(refund(100, "0.50").await.is_ok(), "the last 0.50 fits");
    assert!(matches!(
        refund(101, "0.01").await,
        Err(PaymentError::Refused(Refused::RefundExceeds { remaining_minor: 0 }))
    ));
    assert_eq!(w.txn_count().await, before + 7);
    let view = w.payments.payment("ptn_pay", &paid.payment_id).await.unwrap();
    assert_eq!(view.refunded_amount, cny("12.50"));
    assert_eq!(w.payments.refunds("ptn_pay", &paid.payment_id).await.unwrap().len(), 7);
}

async fn a_rejected_payment_gives_its_allowance_back() {
    let w = world(2_000).await;
    let allowance = Allowance { per_payment: 500_000, per_day: Some(500_000), per_month: None };
    let consent = w.authorised(PaymentConsentType::Recurring, None, Some(allowance)).await;
    // Freeze the debtor: the core refuses, ISO reason AC06.
    let url = format!("{}/core/admin/accounts/{}/status", w.core_url, w.debtor);
    reqwest::Client::new().post(url).json(&serde_json::json!({"acct_status": "F"})).send().await.unwrap();
    let Outcome::Paid(view) = w.pay(&consent, "5000.00", "frozen").await else { panic!() };
    assert_eq!(view.status_code, Iso20022Status::Rjct);
    assert_eq!(view.status_reason.as_ref().unwrap().code, "AC06");
    let url = format!("{}/core/admin/accounts/{}/status", w.core_url, w.debtor);
    reqwest::Client::new().post(url).json(&serde_json::json!({"acct_status": "N"})).send().await.unwrap();
    // The whole day's allowance is still there.
    let Outcome::Paid(view) = w.pay(&consent, "5000.00", "thawed").await else { panic!() };
    assert_eq!(view.status_code, Iso20022Status::Acsc);
    w.ledger().await;
}

/// A partner withdrawing a recurring consent ends the agreement: the next payment is refused
/// in the payment's own transaction, the ones made stay booked. A single consent used by its
/// payment cannot be withdrawn any more.
async fn a_withdrawn_recurring_consent_pays_no_more_and_keeps_its_payments() {
    let w = world(2_000).await;
    let before = w.txn_count().await;
    let allowance = Allowance { per_payment: 1_000, per_day: Some(5_000), per_month: None };
    let consent = w.authorised(PaymentConsentType::Recurring, None, Some(allowance)).await;
    let Outcome::Paid(first) = w.pay(&consent, "10.00", "park-1").await else { panic!("the first payment") };
    assert_eq!(first.status_code, Iso20022Status::Acsc);
    assert!(matches!(
        w.payments.revoke_consent("ptn_other", &consent.id).await,
        Err(PaymentError::Consent(ConsentError::NotFound))
    ));
    let withdrawn = w.payments.revoke_consent("ptn_pay", &consent.id).await.unwrap();
    assert_eq!(withdrawn.status, ConsentStatus::Revoked);
    // The consent as the caller last read it (still authorised) does not help: the store
    // reads it again inside the payment's transaction.
    match w.pay(&consent, "10.00", "park-2").await {
        Outcome::Refused(PaymentError::Refused(Refused::ConsentState(ConsentStatus::Revoked))) => {}
        other => panic!("{other:?}"),
    }
    let kept = w.payments.payment("ptn_pay", &first.payment_id).await.unwrap();
    assert_eq!(kept.status_code, Iso20022Status::Acsc, "a payment already made is untouched");
    assert_eq!(w.txn_count().await, before + 1);

    let single = w.authorised(PaymentConsentType::Single, Some(1_250), None).await;
    assert!(matches!(w.pay(&single, "12.50", "single-1").await, Outcome::Paid(_)));
    assert!(matches!(
        w.payments.revoke_consent("ptn_pay", &single.id).await,
        Err(PaymentError::Consent(ConsentError::State(ConsentStatus::Consumed)))
    ));
    assert_eq!(w.txn_count().await, before + 2);
}

/// Three instances record payments of one partner at once (on PostgreSQL, three recorders
/// batching into one database; on SQLite, the one writer): together they admit exactly
/// what the partner's daily limit allows, and a refused payment leaves nothing behind.
async fn instances_recording_together_never_exceed_the_partners_daily_limit() {
    let w = Arc::new(world(2_000).await);
    let allowance = Allowance { per_payment: 500_000, per_day: None, per_month: None };
    let consent = w.authorised(PaymentConsentType::Recurring, None, Some(allowance)).await;
    let mut stores: Vec<Arc<dyn PaymentStore>> = vec![w.payments.store.clone()];
    if let crate::store::Engine::Postgres(pool) = &w._stores.engine {
        for _ in 0..2 {
            stores.push(Arc::new(crate::store::postgres::PgPaymentStore::new(pool.clone())));
        }
    }
    // The partner may pay 5,000.00 at most and 100,000.00 a day: 20 of these 30.
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (w, consent, store) = (w.clone(), consent.clone(), stores[i % stores.len()].clone());
            tokio::spawn(async move { (i, w.record(&*store, &consent, &format!("daily-{i}"), 500_000).await) })
        })
        .collect();
    let (mut recorded, mut refused) = (0, 0);
    for t in tasks {
        let (i, outcome) = t.await.unwrap();
        let id = PaymentId::from_key(&format!("daily-{i}")).unwrap();
        let stored = w.payments.store.payment(&id).await.unwrap();
        match outcome {
            Ok(p) => {
                recorded += 1;
                assert_eq!(stored, Some(p));
            }
            Err(PaymentStoreError::Refused(Refused::OverPartnerDaily)) => {
                refused += 1;
                assert_eq!(stored, None, "a refused payment leaves no row");
            }
            Err(other) => panic!("{other:?}"),
        }
        // A recorded payment holds its key; a refused one's is free at once, as if never used.
        let key = IdempotencyKey::parse(Some(&format!("daily-{i}"))).unwrap();
        match w.idem.begin("ptn_pay", &key, "fp", w.clock.now()).await.unwrap() {
            Begin::InFlight { .. } => assert!(stored.is_some(), "{i}: refused, yet its key is held"),
            Begin::Claimed(c) => assert!(stored.is_none() && c.resume.is_none(), "{i}: recorded, yet its key is free"),
            other => panic!("{i}: {other:?}"),
        }
    }
    assert_eq!((recorded, refused), (20, 10));
    // The day is used up, whichever instance asks; the consent itself is not.
    for (i, store) in stores.iter().enumerate() {
        let late = w.record(&**store, &consent, &format!("late-{i}"), 100).await;
        assert!(matches!(late, Err(PaymentStoreError::Refused(Refused::OverPartnerDaily))), "{late:?}");
    }
}

/// One single consent, paid by many payments at once through three instances (on SQLite,
/// the one writer): exactly one is recorded and consumes it; every other is refused as the
/// consent being used up and leaves no row, whether it met the first in its own batch or in
/// another instance's.
async fn a_single_consent_pays_once_however_many_try_it_together() {
    let w = Arc::new(world(2_000).await);
    let consent = w.authorised(PaymentConsentType::Single, Some(50_000), None).await;
    let mut stores: Vec<Arc<dyn PaymentStore>> = vec![w.payments.store.clone()];
    if let crate::store::Engine::Postgres(pool) = &w._stores.engine {
        for _ in 0..2 {
            stores.push(Arc::new(crate::store::postgres::PgPaymentStore::new(pool.clone())));
        }
    }
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (w, consent, store) = (w.clone(), consent.clone(), stores[i % stores.len()].clone());
            tokio::spawn(async move { (i, w.record(&*store, &consent, &format!("single-{i}"), 50_000).await) })
        })
        .collect();
    let mut recorded = 0;
    for t in tasks {
        let (i, outcome) = t.await.unwrap();
        let stored = w.payments.store.payment(&PaymentId::from_key(&format!("single-{i}")).unwrap()).await.unwrap();
        match outcome {
            Ok(p) => {
                recorded += 1;
                assert_eq!(stored, Some(p));
            }
            Err(PaymentStoreError::Refused(Refused::ConsentState(ConsentStatus::Consumed))) => {
                assert_eq!(stored, None, "a refused payment leaves no row");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(recorded, 1);
    let now = w.consents.for_partner("ptn_pay", &consent.id).await.unwrap();
    assert_eq!(now.status, ConsentStatus::Consumed);
}

/// One idempotency key under payments recorded at once through three instances (on SQLite,
/// the one writer), each claiming the key with its payment as the pipeline has it: exactly
/// one is recorded and holds the key; every other is refused as the key being another's and
/// counts against nothing. A key past its retention is claimed anew by the next payment.
async fn one_key_records_one_payment_however_many_instances_try_it_together() {
    let w = Arc::new(world(2_000).await);
    let allowance = Allowance { per_payment: 1_000, per_day: Some(2_000), per_month: None };
    let consent = w.authorised(PaymentConsentType::Recurring, None, Some(allowance)).await;
    let mut stores: Vec<Arc<dyn PaymentStore>> = vec![w.payments.store.clone()];
    if let crate::store::Engine::Postgres(pool) = &w._stores.engine {
        for _ in 0..2 {
            stores.push(Arc::new(crate::store::postgres::PgPaymentStore::new(pool.clone())));
        }
    }
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (w, consent, store) = (w.clone(), consent.clone(), stores[i % stores.len()].clone());
            tokio::spawn(
                async move { (i, w.record_under(&*store, &consent, "one-key", &format!("try-{i}"), 1_000).await) },
            )
        })
        .collect();
    let mut recorded = Vec::new();
    for t in tasks {
        let (i, outcome) = t.await.unwrap();
        let stored = w.payments.store.payment(&PaymentId::from_key(&format!("try-{i}")).unwrap()).await.unwrap();
        match outcome {
            Ok(p) => {
                assert_eq!(stored.as_ref(), Some(&p));
                recorded.push(p.id);
            }
            Err(PaymentStoreError::KeyTaken) => assert_eq!(stored, None, "a refused payment leaves no row"),
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    // The key holds that payment: a request taking it over after the lease resumes it.
    let key = IdempotencyKey::parse(Some("one-key")).unwrap();
    let lapsed = w.clock.now() + idempotency::LEASE_SECS + 1;
    let found = w.idem.begin("ptn_pay", &key, "fp", lapsed).await.unwrap();
    assert_eq!(found, Begin::Claimed(idempotency::Claim::held("ptn_pay", &key, Some(recorded[0].to_string()))));
    // Only that payment counted: a second 10.00 fits the day's 20.00, a third does not.
    w.record(&*stores[0], &consent, "second", 1_000).await.unwrap();
    let third = w.record(&*stores[stores.len() - 1], &consent, "third", 1_000).await;
    assert!(matches!(third, Err(PaymentStoreError::Refused(Refused::OverConsentDaily))), "{third:?}");
    // Past its retention the key is forgotten: the next payment under it is recorded.
    w.clock.advance(idempotency::RETENTION_SECS);
    let consent = w.authorised(PaymentConsentType::Recurring, None, Some(allowance)).await;
    let anew = w.record_under(&*stores[0], &consent, "one-key", "anew", 1_000).await.unwrap();
    let found = w.idem.begin("ptn_pay", &key, "fp", w.clock.now() + idempotency::LEASE_SECS + 1).await.unwrap();
    assert_eq!(found, Begin::Claimed(idempotency::Claim::held("ptn_pay", &key, Some(anew.id.to_string()))));
}

/// For the recorder's tests, inside `ENGINE.scope("postgres", …)`: a world, its database, a
/// payment store of its own whose batches are answered unavailable past `deadline`, and a
/// recurring consent.
async fn recorder_world(
    deadline: std::time::Duration,
) -> (World, sqlx::PgPool, crate::store::postgres::PgPaymentStore, Consent) {
    let w = world(2_000).await;
    let crate::store::Engine::Postgres(pool) = &w._stores.engine else { unreachable!("scoped to PostgreSQL") };
    let pool = pool.clone();
    let store = crate::store::postgres::PgPaymentStore::with_batch_deadline(pool.clone(), deadline);
    let allowance = Allowance { per_payment: 1_000, per_day: None, per_month: None };
    let consent = w.authorised(PaymentConsentType::Recurring, None, Some(allowance)).await;
    (w, pool, store, consent)
}

/// A transaction holding `ptn_pay`'s daily counter (recorded by a payment before), as another
/// instance's batch, or a silent one's, would: new payments of the partner wait for it.
async fn hold_the_partners_counter(pool: &sqlx::PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM partner_spend WHERE partner_id = 'ptn_pay' FOR UPDATE")
        .fetch_all(&mut *holder)
        .await
        .unwrap();
    holder
}

/// A batch of new payments that cannot finish (here: the partner's daily counter held by
/// another transaction, as a silent database would hold it) is answered unavailable at its
/// deadline, records nothing, and the recorder goes on with the next batch. PostgreSQL only:
/// the embedded default records on its writer thread, without this deadline.
#[tokio::test]
async fn a_batch_past_its_deadline_is_answered_unavailable_and_the_next_one_records() {
    if !crate::store::test_support::postgres_available().await {
        return;
    }
    crate::store::test_support::ENGINE
        .scope("postgres", async {
            let (w, pool, store, consent) = recorder_world(std::time::Duration::from_millis(500)).await;
            w.record(&store, &consent, "first", 100).await.unwrap();
            let holder = hold_the_partners_counter(&pool).await;
            let stuck =
                tokio::time::timeout(std::time::Duration::from_secs(3), w.record(&store, &consent, "stuck", 100))
                    .await
                    .expect("answered at its deadline, not when the counter is let go");
            assert!(matches!(stuck, Err(PaymentStoreError::Unavailable(_))), "{stuck:?}");
            holder.rollback().await.unwrap();
            w.record(&store, &consent, "next", 100).await.unwrap();
            let stuck_id = PaymentId::from_key("stuck").unwrap();
            assert_eq!(w.payments.store.payment(&stuck_id).await.unwrap(), None, "an abandoned batch commits nothing");
        })
        .await;
}

/// A settlement that cannot be written (here: its payment's row held by another transaction)
/// is answered unavailable at the recorder's deadline, not left waiting (its request's retry
/// or the reconciler settles the payment), and the recorder goes on with the next one.
/// PostgreSQL only, as above.
#[tokio::test]
async fn a_settlement_past_the_batch_deadline_is_answered_unavailable_and_the_next_one_settles() {
    if !crate::store::test_support::postgres_available().await {
        return;
    }
    crate::store::test_support::ENGINE
        .scope("postgres", async {
            let (w, pool, store, consent) = recorder_world(std::time::Duration::from_millis(500)).await;
            let held = w.record(&store, &consent, "held", 100).await.unwrap();
            let next = w.record(&store, &consent, "next", 100).await.unwrap();
            let booked = Settlement::Booked { txn_id: "TXN-1".into() };
            let mut holder = pool.begin().await.unwrap();
            sqlx::query("SELECT 1 FROM payments WHERE id = $1 FOR UPDATE")
                .bind(held.id.as_str())
                .fetch_all(&mut *holder)
                .await
                .unwrap();
            let now = w.clock.now();
            let stuck = tokio::time::timeout(
                std::time::Duration::from_secs(3),
                store.settle_payment(&held, &booked, webhook_event(), None, now),
            )
            .await
            .expect("answered at its deadline, not when the row is let go");
            assert!(matches!(stuck, Err(PaymentStoreError::Unavailable(_))), "{stuck:?}");
            holder.rollback().await.unwrap();
            let settled = store.settle_payment(&next, &booked, webhook_event(), None, now).await.unwrap();
            assert_eq!(settled.map(|p| p.status), Some(Iso20022Status::Acsc));
            // The abandoned statement may still commit once the row is let go (PostgreSQL
            // finishes it; nothing cancels it): the core's answer, written only from the status
            // read, so late is still right, and written once.
            let left = store.payment(&held.id).await.unwrap().unwrap();
            let events = w._stores.events.list_for_partner("ptn_pay", None, 100).await.unwrap();
            let about = events.iter().filter(|e| e.subject_id == held.id.as_str()).count();
            let moved = usize::from(left.status == Iso20022Status::Acsc);
            assert!(left.status == Iso20022Status::Actc || moved == 1, "{:?}", left.status);
            assert_eq!(about, 1 + moved, "recorded, then settled at most once, announced as it moved");
        })
        .await;
}

/// A settlement is written while a batch of new payments waits for a counter another
/// transaction holds (another instance's batch, or one whose instance went silent): a
/// settlement takes no counter lock, and its batches do not queue behind new payments'.
#[tokio::test]
async fn a_settlement_is_not_held_up_by_new_payments_waiting_for_a_counter() {
    if !crate::store::test_support::postgres_available().await {
        return;
    }
    crate::store::test_support::ENGINE
        .scope("postgres", async {
            let (w, pool, store, consent) = recorder_world(std::time::Duration::from_secs(5)).await;
            let recorded = w.record(&store, &consent, "recorded", 100).await.unwrap();
            let holder = hold_the_partners_counter(&pool).await;
            let waiting = w.record(&store, &consent, "waiting", 100);
            let meanwhile = async {
                crate::events::test_support::eventually(
                    std::time::Duration::from_secs(5),
                    "the new payment's batch to wait for the counter",
                    || async {
                        let waiting: i64 = sqlx::query_scalar(
                            "SELECT count(*) FROM pg_stat_activity
                             WHERE datname = current_database() AND wait_event_type = 'Lock'",
                        )
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                        (waiting > 0).then_some(())
                    },
                )
                .await;
                let booked = Settlement::Booked { txn_id: "TXN-1".into() };
                let settled = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    store.settle_payment(&recorded, &booked, webhook_event(), None, w.clock.now()),
                )
                .await
                .expect("written while the batch of new payments waits");
                holder.rollback().await.unwrap();
                settled
            };
            let (waited, settled) = tokio::join!(waiting, meanwhile);
            assert_eq!(settled.unwrap().map(|p| p.status), Some(Iso20022Status::Acsc));
            let waited = waited.expect("recorded once the counter was let go");
            assert_eq!(store.payment(&waited.id).await.unwrap().map(|p| p.status), Some(Iso20022Status::Actc));
        })
        .await;
}

/// A settlement from a stale read (the reconciler's list, a retried request) moves nothing
/// that moved since, and announces nothing twice.
async fn a_settlement_from_a_stale_read_changes_nothing_and_announces_nothing() {
    let w = world(2_000).await;
    let allowance = Allowance { per_payment: 100_000, per_day: None, per_month: None };
    let consent = w.authorised(PaymentConsentType::Recurring, None, Some(allowance)).await;
    let read = w.record(&*w.payments.store, &consent, "stale-1", 900).await.unwrap();
    let booked = Settlement::Booked { txn_id: "TXN-1".into() };
    let settled = w.payments.store.settle_payment(&read, &booked, webhook_event(), None, w.clock.now()).await.unwrap();
    assert_eq!(settled.map(|p| p.status), Some(Iso20022Status::Acsc));
    // The same read again, with each outcome: already final, so nothing moves.
    for outcome in
        [booked, Settlement::Unknown, Settlement::Rejected(Reason { code: "AM04".into(), text: String::new() })]
    {
        let again =
            w.payments.store.settle_payment(&read, &outcome, webhook_event(), None, w.clock.now()).await.unwrap();
        assert_eq!(again, None, "{outcome:?}");
    }
    let now = w.payments.store.payment(&read.id).await.unwrap().unwrap();
    assert_eq!((now.status, now.core_txn_id.as_deref()), (Iso20022Status::Acsc, Some("TXN-1")));
    let events = w._stores.events.list_for_partner("ptn_pay", None, 100).await.unwrap();
    let about: Vec<_> = events.iter().filter(|e| e.subject_id == read.id.as_str()).collect();
    assert_eq!(about.len(), 2, "recorded, then settled once: {about:?}");
}

/// A payment's settlement stores its request's answer under the request's key in the same
/// write, when the answer was rendered from the payment the settlement leaves: on the one-step
/// path (a booking) and on the locked one (a rejection). One rendered from anything else is
/// not stored: the request then stores its own.
async fn a_settlement_stores_the_answer_rendered_from_the_payment_it_leaves() {
    let w = world(2_000).await;
    let allowance = Allowance { per_payment: 100_000, per_day: None, per_month: None };
    let consent = w.authorised(PaymentConsentType::Recurring, None, Some(allowance)).await;
    let store = &*w.payments.store;
    let now = w.clock.now();
    let booked = Settlement::Booked { txn_id: "TXN-1".into() };
    let rejected = Settlement::Rejected(Reason { code: "AM04".into(), text: "insufficient funds".into() });
    // (key, the settlement, the settlement the answer was rendered from, stored?)
    let cases = [
        ("answer-booked", &booked, &booked, true),
        ("answer-rejected", &rejected, &rejected, true),
        ("answer-of-another", &booked, &Settlement::Unknown, false),
    ];
    for (key, outcome, rendered_for, stored) in cases {
        let read = w.record(store, &consent, key, 900).await.unwrap();
        let key = IdempotencyKey::parse(Some(key)).unwrap();
        let claim = w.idem.defer("ptn_pay", &key, "fp", now);
        let rendered_from = read.settled(rendered_for, now).unwrap();
        let answer = answer_of(&rendered_from.view());
        let with = SettledAnswer { claim: &claim, rendered_from: &rendered_from, answer: &answer };
        let settled = store.settle_payment(&read, outcome, webhook_event(), Some(&with), now).await.unwrap().unwrap();
        assert_eq!(with.fits(&settled), stored, "{key:?}");
        let said = w.idem.peek("ptn_pay", &key, "fp", now).await.unwrap();
        if stored {
            assert_eq!(said, Some(Begin::Replay(answer)), "{key:?}: stored with the settlement");
        } else {
            assert!(matches!(said, Some(Begin::InFlight { .. })), "{key:?}: nothing stored: {said:?}");
        }
    }
}

/// Settlements written together (on PostgreSQL, in one statement) each move their own
/// payment, announce it once and store their own answer; a payment settled twice at once (its
/// request and the reconciler) moves once. Run without the batch (each settlement its own
/// statement, or the batch's rows mixed up), the answers or events would not match.
async fn settlements_written_together_keep_their_own_payment_event_and_answer() {
    let w = world(2_000).await;
    let allowance = Allowance { per_payment: 100_000, per_day: None, per_month: None };
    let consent = w.authorised(PaymentConsentType::Recurring, None, Some(allowance)).await;
    let store = &*w.payments.store;
    let now = w.clock.now();
    let mut payments = Vec::new();
    for n in 0..16 {
        let key = format!("together-{n}");
        let read = w.record(store, &consent, &key, 100 + n).await.unwrap();
        let outcome = Settlement::Booked { txn_id: format!("TXN-{n}") };
        let claim = w.idem.defer("ptn_pay", &IdempotencyKey::parse(Some(&key)).unwrap(), "fp", now);
        let answer = answer_of(&read.settled(&outcome, now).unwrap().view());
        payments.push((read, outcome, claim, answer));
    }
    let settling = payments.iter().map(|(read, outcome, claim, answer)| async move {
        let rendered_from = read.settled(outcome, now).unwrap();
        let with = SettledAnswer { claim, rendered_from: &rendered_from, answer };
        store.settle_payment(read, outcome, webhook_event(), Some(&with), now).await.unwrap()
    });
    // The first four settled a second time at once, as the reconciler would.
    let again =
        payments[..4].iter().map(|(read, outcome, ..)| store.settle_payment(read, outcome, webhook_event(), None, now));
    let (settled, again) =
        futures_util::future::join(futures_util::future::join_all(settling), futures_util::future::join_all(again))
            .await;
    let events = w._stores.events.list_for_partner("ptn_pay", None, 1_000).await.unwrap();
    for (n, (read, _, claim, answer)) in payments.iter().enumerate() {
        let txn = format!("TXN-{n}");
        let now_is = store.payment(&read.id).await.unwrap().unwrap();
        assert_eq!((now_is.status, now_is.core_txn_id.as_deref()), (Iso20022Status::Acsc, Some(txn.as_str())));
        let twice = n < 4 && again[n].as_ref().unwrap().is_some();
        assert!(settled[n].is_some() != twice, "payment {n} moved exactly once");
        let said = w.idem.peek("ptn_pay", &claim.key, "fp", now).await.unwrap();
        if settled[n].is_some() {
            assert_eq!(said, Some(Begin::Replay(answer.clone())), "payment {n}: its own answer");
        }
        let about: Vec<_> = events.iter().filter(|e| e.subject_id == read.id.as_str()).collect();
        assert_eq!(about.len(), 2, "payment {n} recorded, then settled once: {about:?}");
        let own = payment_event(&read.settled(&payments[n].1, now).unwrap(), Notify::Webhook).data;
        assert_eq!(about[1].data, own, "payment {n}: its own event");
    }
}

/// A partner that polls hears of its payments, refunds and payment consents by polling alone:
/// their events are listed, with their deliveries finished as skipped when written, so no
/// worker ever claims them; once the partner has a webhook again, the next payment's events,
/// and its consent's, are queued.
async fn a_partner_that_polls_has_no_webhook_queue() {
    use crate::events::DeliveryState;
    let w = world(2_000).await;
    let events = w._stores.events.clone();
    w.polls.store(true, std::sync::atomic::Ordering::SeqCst);
    let consent = w.authorised(PaymentConsentType::Single, Some(1_000), None).await;
    let Outcome::Paid(paid) = w.pay(&consent, "10.00", "polled").await else { panic!() };
    assert_eq!(paid.status_code, Iso20022Status::Acsc);
    let key = IdempotencyKey::parse(Some("polled-refund")).unwrap();
    let Begin::Claimed(claim) = w.idem.begin("ptn_pay", &key, "fp", w.clock.now()).await.unwrap() else { panic!() };
    let req = RefundRequest { amount: cny("4.00"), reason: "partial".into() };
    let refund = w.payments.refund(&w.partner, &paid.payment_id, req, &claim).await.unwrap();
    assert_eq!(refund.status_code, Iso20022Status::Acsc);

    let listed = events.list_for_partner("ptn_pay", None, 100).await.unwrap();
    let polled: Vec<_> = listed.iter().filter(|e| e.subject_id == paid.payment_id.as_str()).collect();
    assert_eq!(polled.len(), 4, "payment recorded and booked, refund recorded and booked: {polled:?}");
    for event in &polled {
        let (_, delivery) = events.get(&event.id).await.unwrap();
        assert_eq!((delivery.state, delivery.attempts), (DeliveryState::Skipped, 0), "{}", event.id);
    }
    // The consent's own: authorised by the customer, consumed by the payment.
    let told: Vec<_> = listed.iter().filter(|e| e.subject_id == consent.id.as_str()).collect();
    let statuses: Vec<_> = told.iter().map(|e| e.data["status"].as_str().unwrap_or_default()).collect();
    assert_eq!(statuses, ["authorised", "consumed"], "{told:?}");
    for event in &told {
        let (_, delivery) = events.get(&event.id).await.unwrap();
        assert_eq!((delivery.state, delivery.attempts), (DeliveryState::Skipped, 0), "{}", event.id);
    }
    let far = w.clock.now() + 86_400;
    let claimed = events.claim_due(far, 100, 60).await.unwrap();
    assert!(claimed.is_empty(), "nothing queued for a worker: {claimed:?}");

    w.polls.store(false, std::sync::atomic::Ordering::SeqCst);
    let consent = w.authorised(PaymentConsentType::Single, Some(500), None).await;
    let Outcome::Paid(hooked) = w.pay(&consent, "5.00", "hooked").await else { panic!() };
    let claimed = events.claim_due(far + 60, 100, 60).await.unwrap();
    let queued: Vec<_> = claimed.iter().filter(|c| c.event.subject_id.starts_with("pay_")).collect();
    assert_eq!(queued.len(), 1, "the payment's first event (its second waits behind it): {queued:?}");
    assert_eq!(queued[0].event.subject_id, hooked.payment_id.as_str());
    let consent_told = claimed.iter().filter(|c| c.event.subject_id == consent.id.as_str()).count();
    assert_eq!(consent_told, 1, "the consent's first event (its second waits behind it): {claimed:?}");
}

crate::store::test_support::on_every_engine!(
    one_key_records_one_payment_however_many_instances_try_it_together,
    a_partner_that_polls_has_no_webhook_queue,
    a_single_consent_pays_once_however_many_try_it_together,
    a_settlement_from_a_stale_read_changes_nothing_and_announces_nothing,
    a_settlement_stores_the_answer_rendered_from_the_payment_it_leaves,
    settlements_written_together_keep_their_own_payment_event_and_answer,
    instances_recording_together_never_exceed_the_partners_daily_limit,
    fifty_concurrent_requests_with_one_key_book_one_payment,
    concurrent_payments_never_exceed_a_recurring_allowance,
    a_lost_core_answer_is_pending_then_reconciled_and_never_doubled,
    a_payment_the_core_never_saw_is_voided_there_and_rejected,
    refunds_never_add_up_to_more_than_the_payment,
    a_rejected_payment_gives_its_allowance_back,
    a_withdrawn_recurring_consent_pays_no_more_and_keeps_its_payments,
);
