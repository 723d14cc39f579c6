use std::sync::Arc;

use scenegate_adapter_contract::canonical::{ConsentRequest, ConsentStatus, Permission};

use super::*;
use crate::auth::ManualClock;
use crate::store::test_support::{self, TestStores};

const T0: i64 = 1_800_000_000;

async fn service() -> (Consents, Arc<ManualClock>, TestStores) {
    let stores = test_support::current().await;
    let clock = Arc::new(ManualClock::at(T0));
    (Consents::new(stores.consents.clone(), clock.clone()), clock, stores)
}

fn request() -> ConsentRequest {
    ConsentRequest {
        permissions: vec![Permission::ReadAccountsBasic, Permission::ReadBalances],
        expiration: None,
        transaction_from: None,
        transaction_to: None,
        purpose: "Show balances".into(),
    }
}

fn field(e: ConsentError) -> &'static str {
    match e {
        ConsentError::InvalidField { field, .. } => field,
        other => panic!("{other:?}"),
    }
}

async fn requests_are_validated_field_by_field() {
    let (consents, _, _d) = service().await;
    let c = consents.create("ptn_a", request()).await.unwrap();
    assert_eq!(c.status, ConsentStatus::AwaitingAuthorisation);
    assert_eq!(c.expiration, T0 + DEFAULT_LIFETIME_SECS);

    let mut r = request();
    r.permissions.clear();
    assert_eq!(field(consents.create("ptn_a", r).await.unwrap_err()), "permissions");
    let mut r = request();
    r.permissions.push(Permission::ReadBalances);
    assert_eq!(field(consents.create("ptn_a", r).await.unwrap_err()), "permissions");
    let mut r = request();
    r.expiration = Some(super::model::rfc3339(T0 + MAX_LIFETIME_SECS + 1));
    assert_eq!(field(consents.create("ptn_a", r).await.unwrap_err()), "expiration");
    let mut r = request();
    r.expiration = Some("tomorrow".into());
    assert_eq!(field(consents.create("ptn_a", r).await.unwrap_err()), "expiration");
    let mut r = request();
    r.transaction_from = Some("2026-10-01T00:00:00Z".into());
    r.transaction_to = Some("2026-09-01T00:00:00Z".into());
    assert_eq!(field(consents.create("ptn_a", r).await.unwrap_err()), "transaction_to");
    let mut r = request();
    r.purpose = " ".into();
    assert_eq!(field(consents.create("ptn_a", r).await.unwrap_err()), "purpose");
}

async fn another_partners_consent_answers_like_a_missing_one() {
    let (consents, _, _d) = service().await;
    let c = consents.create("ptn_a", request()).await.unwrap();
    assert!(matches!(consents.for_partner("ptn_b", &c.id).await, Err(ConsentError::NotFound)));
    assert!(matches!(consents.revoke_by_partner("ptn_b", &c.id).await, Err(ConsentError::NotFound)));
    let missing = ConsentId::from_key("nope").unwrap();
    assert!(matches!(consents.for_partner("ptn_a", &missing).await, Err(ConsentError::NotFound)));
}

async fn the_clock_expires_unanswered_and_authorised_consents() {
    let (consents, clock, _d) = service().await;
    let waiting = consents.create("ptn_a", request()).await.unwrap();
    clock.advance(model::AWAITING_TTL_SECS);
    assert_eq!(consents.load(&waiting.id).await.unwrap().status, ConsentStatus::Expired);
    assert!(matches!(
        consents.authorise(&waiting.id, "C1", vec!["6222".into()]).await,
        Err(ConsentError::State(ConsentStatus::Expired))
    ));

    let mut r = request();
    r.expiration = Some(super::model::rfc3339(clock.now() + 3600));
    let c = consents.create("ptn_a", r).await.unwrap();
    consents.authorise(&c.id, "C1", vec!["6222".into()]).await.unwrap();
    clock.advance(3599);
    assert_eq!(consents.load(&c.id).await.unwrap().status, ConsentStatus::Authorised);
    clock.advance(1);
    let expired = consents.load(&c.id).await.unwrap();
    assert_eq!(expired.status, ConsentStatus::Expired);
    assert_eq!(expired.history.last().unwrap().actor, Actor::System);
}

async fn revocation_by_customer_or_partner_is_final() {
    let (consents, _, _d) = service().await;
    let c = consents.create("ptn_a", request()).await.unwrap();
    assert!(matches!(
        consents.revoke_by_partner("ptn_a", &c.id).await,
        Err(ConsentError::State(ConsentStatus::AwaitingAuthorisation))
    ));
    consents.authorise(&c.id, "C1", vec!["6222".into()]).await.unwrap();
    assert!(matches!(consents.revoke_by_customer("C2", &c.id).await, Err(ConsentError::NotFound)), "only its customer");
    let revoked = consents.revoke_by_customer("C1", &c.id).await.unwrap();
    assert_eq!(revoked.status, ConsentStatus::Revoked);
    assert!(matches!(
        consents.revoke_by_partner("ptn_a", &c.id).await,
        Err(ConsentError::State(ConsentStatus::Revoked))
    ));
    let kept = consents.for_customer("C1").await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].history.len(), 2);
}

async fn concurrent_answers_apply_exactly_one() {
    let (consents, _, _d) = service().await;
    let c = consents.create("ptn_a", request()).await.unwrap();
    let approve = consents.authorise(&c.id, "C1", vec!["6222".into()]);
    let deny = consents.reject(&c.id, "C1");
    let (a, b) = tokio::join!(approve, deny);
    assert!(a.is_ok() ^ b.is_ok(), "exactly one answer wins: {a:?} {b:?}");
    assert_eq!(consents.load(&c.id).await.unwrap().history.len(), 1);
}

#[tokio::test]
async fn consents_and_their_history_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite");
    let open = || async {
        crate::store::Stores::sqlite(crate::store::sqlite::open_migrated(&path).await.unwrap(), Default::default())
    };
    let clock = Arc::new(ManualClock::at(T0));
    let first = open().await;
    let consents = Consents::new(first.consents.clone(), clock.clone());
    let c = consents.create("ptn_a", request()).await.unwrap();
    consents.authorise(&c.id, "C1", vec!["6222".into()]).await.unwrap();
    first.close().await;

    let reopened = Consents::new(open().await.consents, clock);
    let back = reopened.load(&c.id).await.unwrap();
    assert_eq!(back.status, ConsentStatus::Authorised);
    assert_eq!(back.accounts, vec!["6222".to_owned()]);
    assert_eq!(back.history.len(), 1);
    assert_eq!(reopened.for_customer("C1").await.unwrap().len(), 1);
}

async fn every_status_change_is_announced_in_the_outbox_with_the_change() {
    let stores = test_support::current().await;
    let consents = Consents::new(stores.consents.clone(), Arc::new(ManualClock::at(T0)));
    let events = stores.events.clone();

    let c = consents.create("ptn_a", request()).await.unwrap();
    assert!(events.list_for_partner("ptn_a", None, 10).await.unwrap().is_empty(), "creation is not a change");
    consents.authorise(&c.id, "C1", vec!["A1".into()]).await.unwrap();
    consents.revoke_by_customer("C1", &c.id).await.unwrap();
    let seen = events.list_for_partner("ptn_a", None, 10).await.unwrap();
    let statuses: Vec<_> = seen.iter().map(|e| e.data["status"].as_str().unwrap().to_owned()).collect();
    assert_eq!(statuses, ["authorised", "revoked"]);
    assert!(seen.iter().all(|e| e.event_type == "consent.status_changed" && e.subject_id == c.id.as_str()));
    assert!(events.list_for_partner("ptn_b", None, 10).await.unwrap().is_empty(), "only its own partner's");
}

fn payment_terms() -> PaymentTerms {
    use scenegate_adapter_contract::{
        Currency,
        canonical::{PaymentConsentType, Scenario, ScenarioCode},
    };
    PaymentTerms {
        kind: PaymentConsentType::Single,
        currency: Currency::Cny,
        amount_minor: Some(4500),
        limits: None,
        payee: Some(Payee::Merchant { id: "shop".into(), account: "6222000000009999".into(), name: "Shop Ltd".into() }),
        reference: "ORDER-1".into(),
        scenario: Scenario { code: ScenarioCode::Parking, merchant_category_code: None },
        proposed_debtor: None,
        bulk: None,
    }
}

/// A partner withdraws its own payment consent before the customer answers or once
/// authorised; never a finished one, never another partner's, never an account consent
/// through this door; each withdrawal is announced like any other change.
async fn a_partner_withdraws_its_payment_consent_while_it_is_unused() {
    let stores = test_support::current().await;
    let consents = Consents::new(stores.consents.clone(), Arc::new(ManualClock::at(T0)));
    let waiting = consents.create_payment("ptn_a", payment_terms(), T0 + 3600).await.unwrap();
    assert!(matches!(consents.revoke_payment_by_partner("ptn_b", &waiting.id).await, Err(ConsentError::NotFound)));
    let revoked = consents.revoke_payment_by_partner("ptn_a", &waiting.id).await.unwrap();
    assert_eq!(revoked.status, ConsentStatus::Revoked);
    assert_eq!(revoked.history.last().unwrap().actor, Actor::Partner("ptn_a".into()));
    assert!(
        matches!(
            consents.authorise(&waiting.id, "C1", vec!["6222".into()]).await,
            Err(ConsentError::State(ConsentStatus::Revoked))
        ),
        "the customer can no longer approve it"
    );
    assert!(matches!(
        consents.revoke_payment_by_partner("ptn_a", &waiting.id).await,
        Err(ConsentError::State(ConsentStatus::Revoked))
    ));

    let c = consents.create_payment("ptn_a", payment_terms(), T0 + 3600).await.unwrap();
    consents.authorise(&c.id, "C1", vec!["6222".into()]).await.unwrap();
    assert_eq!(consents.revoke_payment_by_partner("ptn_a", &c.id).await.unwrap().status, ConsentStatus::Revoked);
    assert_eq!(consents.for_customer("C1").await.unwrap()[0].status, ConsentStatus::Revoked, "the customer sees it");

    let rejected = consents.create_payment("ptn_a", payment_terms(), T0 + 3600).await.unwrap();
    consents.reject(&rejected.id, "C1").await.unwrap();
    assert!(matches!(
        consents.revoke_payment_by_partner("ptn_a", &rejected.id).await,
        Err(ConsentError::State(ConsentStatus::Rejected))
    ));
    let accounts = consents.create("ptn_a", request()).await.unwrap();
    consents.authorise(&accounts.id, "C1", vec!["6222".into()]).await.unwrap();
    assert!(
        matches!(consents.revoke_payment_by_partner("ptn_a", &accounts.id).await, Err(ConsentError::NotFound)),
        "an account consent is not a payment consent"
    );

    let seen = stores.events.list_for_partner("ptn_a", None, 20).await.unwrap();
    let changes: Vec<_> = seen
        .iter()
        .filter(|e| e.subject_id != accounts.id.as_str())
        .map(|e| (e.subject_id.clone(), e.data["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        changes,
        [
            (waiting.id.as_str().to_owned(), "revoked".to_owned()),
            (c.id.as_str().to_owned(), "authorised".to_owned()),
            (c.id.as_str().to_owned(), "revoked".to_owned()),
            (rejected.id.as_str().to_owned(), "rejected".to_owned()),
        ]
    );
}

/// With the in-memory cache of the embedded default, every change and the clock still bite on
/// the very next read, through any handle of the service.
async fn a_kept_consent_never_outlives_a_change_or_its_expiry() {
    let stores = test_support::current().await;
    let clock = Arc::new(ManualClock::at(T0));
    let consents = Consents::new(stores.consents.clone(), clock.clone()).cached(Arc::new(crate::kept::SingleWriter));
    let dashboard = consents.clone(); // the customer's pages hold another handle
    let mut r = request();
    r.expiration = Some(super::model::rfc3339(T0 + 3600));
    let c = consents.create("ptn_a", r).await.unwrap();
    consents.authorise(&c.id, "C1", vec!["6222".into()]).await.unwrap();
    for _ in 0..3 {
        assert_eq!(consents.for_partner("ptn_a", &c.id).await.unwrap().status, ConsentStatus::Authorised);
    }
    assert!(matches!(consents.for_partner("ptn_b", &c.id).await, Err(ConsentError::NotFound)), "still only its own");
    dashboard.revoke_by_customer("C1", &c.id).await.unwrap();
    assert_eq!(consents.for_partner("ptn_a", &c.id).await.unwrap().status, ConsentStatus::Revoked);

    let c = consents.create("ptn_a", request()).await.unwrap();
    consents.authorise(&c.id, "C1", vec!["6222".into()]).await.unwrap();
    assert_eq!(consents.load(&c.id).await.unwrap().status, ConsentStatus::Authorised);
    clock.advance(DEFAULT_LIFETIME_SECS);
    let expired = consents.load(&c.id).await.unwrap();
    assert_eq!(expired.status, ConsentStatus::Expired, "the clock, not a change, ends a kept consent");
    assert_eq!(Consents::new(stores.consents.clone(), clock).load(&c.id).await.unwrap().status, ConsentStatus::Expired);
}

/// Counts the reads that reach the store.
struct Counting {
    inner: Arc<dyn ConsentStore>,
    gets: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl ConsentStore for Counting {
    async fn insert(&self, consent: &Consent) -> Result<(), StoreError> {
        self.inner.insert(consent).await
    }
    async fn get(&self, id: &ConsentId) -> Result<Option<(Consent, i64)>, StoreError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get(id).await
    }
    async fn update(&self, consent: &Consent, version: i64, notify: crate::events::Notify) -> Result<bool, StoreError> {
        self.inner.update(consent, version, notify).await
    }
    async fn list_for_customer(&self, customer_id: &str) -> Result<Vec<(Consent, i64)>, StoreError> {
        self.inner.list_for_customer(customer_id).await
    }
    async fn list_for_partner(&self, partner_id: &str) -> Result<Vec<Consent>, StoreError> {
        self.inner.list_for_partner(partner_id).await
    }
}

/// Two instances of a cluster on one store, announcing their changes through Redis: each
/// reads a consent from the store once while nothing changes, and a change made through one
/// reaches the other's next read.
async fn instances_keep_a_consent_until_another_changes_it() {
    use std::sync::atomic::Ordering::SeqCst;

    use crate::store::redis::{Redis, RedisMarks, test_support as redis_support};
    let Some(shared) = redis_support::config().await else { return };
    let stores = test_support::current().await;
    let clock = Arc::new(ManualClock::at(T0));
    let instance = || {
        let store = Arc::new(Counting { inner: stores.consents.clone(), gets: 0.into() });
        let marks = Arc::new(RedisMarks::new(Redis::connect(&shared).unwrap()));
        (Consents::new(store.clone(), clock.clone()).cached(marks), store)
    };
    let (one, one_store) = instance();
    let (two, two_store) = instance();
    let c = one.create("ptn_a", request()).await.unwrap();
    one.authorise(&c.id, "C1", vec!["6222".into()]).await.unwrap();
    for _ in 0..5 {
        assert_eq!(two.for_partner("ptn_a", &c.id).await.unwrap().status, ConsentStatus::Authorised);
    }
    assert_eq!(two_store.gets.load(SeqCst), 1, "read from the store once, then kept");

    let before = one_store.gets.load(SeqCst);
    one.revoke_by_customer("C1", &c.id).await.unwrap();
    assert!(one_store.gets.load(SeqCst) > before, "a change reads the store");
    assert_eq!(two.for_partner("ptn_a", &c.id).await.unwrap().status, ConsentStatus::Revoked, "seen at once");
    assert_eq!(two.for_partner("ptn_a", &c.id).await.unwrap().status, ConsentStatus::Revoked);
    assert_eq!(two_store.gets.load(SeqCst), 2, "read again once after the change, then kept");
}

crate::store::test_support::on_every_engine!(
    a_kept_consent_never_outlives_a_change_or_its_expiry,
    instances_keep_a_consent_until_another_changes_it,
    requests_are_validated_field_by_field,
    another_partners_consent_answers_like_a_missing_one,
    the_clock_expires_unanswered_and_authorised_consents,
    revocation_by_customer_or_partner_is_final,
    concurrent_answers_apply_exactly_one,
    every_status_change_is_announced_in_the_outbox_with_the_change,
    a_partner_withdraws_its_payment_consent_while_it_is_unused,
);
