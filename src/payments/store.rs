//! Where payments and refunds live. Each write is one atomic unit that also consumes the
//! consent or its allowance, counts the partner's limits, links the idempotency record and
//! appends the outbox event, so none of them can disagree after a crash.

use async_trait::async_trait;
use scenegate_adapter_contract::{
    ConsentId, PaymentId, RefundId,
    canonical::{ConsentStatus, PaymentConsentType},
};

use super::model::{Payment, Refund, Settlement};
use crate::{
    events::NewEvent,
    idempotency::{Claim, StoredResponse},
};

pub use crate::config::PaymentLimits as PartnerLimits;

/// Why a write was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the consent is {}", .0.code())]
    ConsentState(ConsentStatus),
    #[error("the amount or currency is not the one the customer consented to")]
    AmountNotConsented,
    #[error("the amount exceeds the consent's per-payment limit")]
    OverConsentPerPayment,
    #[error("the amount exceeds what remains of the consent's daily allowance")]
    OverConsentDaily,
    #[error("the amount exceeds what remains of the consent's monthly allowance")]
    OverConsentMonthly,
    #[error("the amount exceeds this partner's per-payment limit")]
    OverPartnerPerPayment,
    #[error("the amount exceeds what remains of this partner's daily limit")]
    OverPartnerDaily,
    #[error("the refund exceeds what remains refundable ({remaining_minor} minor units)")]
    RefundExceeds { remaining_minor: i64 },
    #[error("only a completed payment can be refunded")]
    NotRefundable,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentStoreError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("not found")]
    NotFound,
    #[error("payment store unavailable: {0}")]
    Unavailable(String),
    /// A deferred idempotency claim met a live record of its key: nothing was written.
    #[error("another request holds this idempotency key")]
    KeyTaken,
}

impl PaymentStoreError {
    /// What writing a claim's link failed with: its deferred key taken, or the engine.
    pub fn of_link(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Conflict(_) => Self::KeyTaken,
            e => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for PaymentStoreError {
    /// Whatever the engine said, a payment write that did not happen is unavailable.
    fn from(e: crate::store::StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// A payment to record, with everything its transaction must also do.
pub struct NewPayment<'a> {
    pub payment: &'a Payment,
    /// The kind of the consent it pays, as read when the token was checked (a consent's
    /// kind never changes): payments under one recurring consent may proceed side by side
    /// and lock it shared, a single consent is consumed and locked exclusively. The store
    /// still checks it against the consent it locks.
    pub consent_kind: PaymentConsentType,
    pub claim: &'a Claim,
    pub partner_limits: PartnerLimits,
    pub event: NewEvent,
    pub now: i64,
}

/// The payments of a bulk consent's execution, one per listed transaction (by its
/// end-to-end id), recorded together.
pub struct NewBulk<'a> {
    pub payments: &'a [(String, Payment)],
    pub claim: &'a Claim,
    pub partner_limits: PartnerLimits,
    pub events: Vec<NewEvent>,
    pub now: i64,
}

impl NewBulk<'_> {
    /// How the partner hears of the execution: its consent's change as of its payments.
    pub fn notify(&self) -> crate::events::Notify {
        self.events.first().map_or(crate::events::Notify::Webhook, |e| e.notify)
    }
}

pub struct NewRefund<'a> {
    pub refund: &'a Refund,
    pub claim: &'a Claim,
    pub event: NewEvent,
}

/// Makes the event that announces a settled payment or refund, inside the store's write.
pub type EventOf<T> = std::sync::Arc<dyn Fn(&T) -> NewEvent + Send + Sync>;

/// The answer to the request that made a payment, rendered from the payment as its
/// settlement would leave it: the write that settles the payment stores it under the
/// request's idempotency key, but only if that write leaves the payment exactly as
/// `rendered_from` (otherwise the request renders and stores its answer itself). A payment's
/// request then ends in one write, not a settlement and a second write for its answer.
pub struct SettledAnswer<'a> {
    pub claim: &'a Claim,
    pub rendered_from: &'a Payment,
    pub answer: &'a StoredResponse,
}

impl SettledAnswer<'_> {
    /// Whether this answer belongs with `settled`: what every engine asks before storing it,
    /// and what tells the caller that it was stored.
    pub fn fits(&self, settled: &Payment) -> bool {
        self.rendered_from == settled
    }
}

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Records an accepted payment (`ACTC`) under its consent: a single consent becomes
    /// `consumed`, a recurring one's day and month allowances are counted, as are the
    /// partner's daily limit; the idempotency record is linked and the event appended.
    async fn create_payment(&self, new: NewPayment<'_>) -> Result<(), PaymentStoreError>;
    /// Moves a payment that is not final yet. A rejection gives back what it counted against
    /// allowances and limits. Returns the payment after the change, or `None` when it was
    /// already final (someone else settled it first). `last_read` is the payment as the caller
    /// last read it: a store may move it in one step when it is still so, and otherwise reads
    /// it again under a lock. `answer` is stored with the change when it
    /// [fits](SettledAnswer::fits) the payment after it.
    async fn settle_payment(
        &self,
        last_read: &Payment,
        outcome: &Settlement,
        event: EventOf<Payment>,
        answer: Option<&SettledAnswer<'_>>,
        now: i64,
    ) -> Result<Option<Payment>, PaymentStoreError>;
    /// Records a bulk consent's payments (`ACTC`) in one unit: the consent is consumed (it
    /// must be authorised, and each payment one of its transactions, as listed), each
    /// payment counted against the partner's limits (one over refuses them all), each tied to
    /// its transaction, which no second payment can be (`(consent, end-to-end id)` is unique
    /// in the store); the idempotency record is linked to the consent, the events appended.
    async fn create_bulk_payments(&self, new: NewBulk<'_>) -> Result<(), PaymentStoreError>;
    /// The payments made for a bulk consent's transactions, by end-to-end id.
    async fn bulk_payments(&self, consent_id: &ConsentId) -> Result<Vec<(String, Payment)>, PaymentStoreError>;
    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, PaymentStoreError>;
    /// Payments not final and last changed before `before`: the reconciler's work list.
    async fn unsettled_payments(&self, before: i64, limit: u32) -> Result<Vec<Payment>, PaymentStoreError>;

    /// Records a refund (`ACTC`) if it fits in what remains refundable of a completed payment.
    async fn create_refund(&self, new: NewRefund<'_>) -> Result<(), PaymentStoreError>;
    async fn settle_refund(
        &self,
        id: &RefundId,
        outcome: &Settlement,
        event: EventOf<Refund>,
        now: i64,
    ) -> Result<Option<Refund>, PaymentStoreError>;
    async fn refund(&self, id: &RefundId) -> Result<Option<Refund>, PaymentStoreError>;
    /// A payment's refunds, oldest first.
    async fn refunds_of(&self, payment_id: &PaymentId) -> Result<Vec<Refund>, PaymentStoreError>;
    async fn unsettled_refunds(&self, before: i64, limit: u32) -> Result<Vec<Refund>, PaymentStoreError>;
    /// How many of a partner's payments are in each ISO 20022 status (staff reports).
    async fn status_counts(&self, partner_id: &str) -> Result<Vec<(String, i64)>, PaymentStoreError>;
}

/// What a payment draws on its consent, as [`draw_on_consent`] decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drawn {
    /// A single consent, now consumed by this payment: the caller saves the consent with it.
    Single,
    /// A recurring consent: the allowance its spend counts against.
    Recurring(crate::consent::payment_terms::Allowance),
}

/// What either engine checks, inside its transaction and under the consent's lock, before it
/// records a payment: the consent is the partner's and customer's, authorised (and not
/// expired by now), for this currency and debtor; a single consent is for exactly this
/// amount and is consumed (the caller saves it), a recurring one allows this amount per
/// payment. A bulk consent is paid by its execution only.
pub fn draw_on_consent(
    consent: &mut crate::consent::Consent,
    p: &Payment,
    now: i64,
) -> Result<Drawn, PaymentStoreError> {
    if consent.id != p.consent_id
        || consent.partner_id != p.partner_id
        || consent.customer_id.as_deref() != Some(p.customer_id.as_str())
    {
        return Err(PaymentStoreError::NotFound);
    }
    consent.expire_if_due(now);
    if consent.status != ConsentStatus::Authorised {
        return Err(Refused::ConsentState(consent.status).into());
    }
    let Some(terms) = consent.payment.clone() else { return Err(PaymentStoreError::NotFound) };
    if terms.currency != p.currency || consent.accounts.first() != Some(&p.debtor) {
        return Err(Refused::AmountNotConsented.into());
    }
    match terms.kind {
        PaymentConsentType::Single => {
            if terms.amount_minor != Some(p.amount_minor) {
                return Err(Refused::AmountNotConsented.into());
            }
            consent
                .transition(ConsentStatus::Consumed, crate::consent::Actor::Partner(p.partner_id.clone()), now)
                .map_err(|e| Refused::ConsentState(e.from))?;
            Ok(Drawn::Single)
        }
        PaymentConsentType::Recurring => {
            let allowance = terms
                .limits
                .ok_or_else(|| PaymentStoreError::Unavailable("recurring consent without limits".into()))?;
            if p.amount_minor > allowance.per_payment {
                return Err(Refused::OverConsentPerPayment.into());
            }
            Ok(Drawn::Recurring(allowance))
        }
        // A bulk is paid by its execution, transaction by transaction, never by one payment.
        PaymentConsentType::Bulk => Err(Refused::AmountNotConsented.into()),
    }
}

/// What a payment's counters held before it, as its transaction locked them: its recurring
/// consent's day and month (zero for a single consent) and its partner's day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub consent_day: i64,
    pub consent_month: i64,
    pub partner_day: i64,
}

/// The limits a payment must fit in, checked in this order (the first it exceeds is the
/// refusal): its recurring consent's daily and monthly allowances, the partner's per-payment
/// limit and what remains of its daily one. An allowance without a limit has no bound.
pub fn check_spend(amount: i64, spent: Spent, drawn: Drawn, partner: PartnerLimits) -> Result<(), Refused> {
    let fits = |spent: i64, limit: Option<i64>| limit.is_none_or(|l| spent.checked_add(amount).is_some_and(|t| t <= l));
    if let Drawn::Recurring(allowance) = drawn {
        if !fits(spent.consent_day, allowance.per_day) {
            return Err(Refused::OverConsentDaily);
        }
        if !fits(spent.consent_month, allowance.per_month) {
            return Err(Refused::OverConsentMonthly);
        }
    }
    if amount > partner.per_payment {
        return Err(Refused::OverPartnerPerPayment);
    }
    if !fits(spent.partner_day, Some(partner.per_day)) {
        return Err(Refused::OverPartnerDaily);
    }
    Ok(())
}

/// What either engine checks, inside its transaction, before it records a bulk consent's
/// payments: the consent is the partner's and customer's, authorised, and the payments are
/// exactly its transactions as listed (each once, amount, payee, currency, debtor). The
/// consent is then consumed; the caller saves it with the payments.
pub fn check_bulk_use(
    consent: &mut crate::consent::Consent,
    payments: &[(String, Payment)],
    now: i64,
) -> Result<(), PaymentStoreError> {
    let Some((_, first)) = payments.first() else { return Err(PaymentStoreError::NotFound) };
    let ours = |p: &Payment| {
        p.consent_id == consent.id
            && p.partner_id == consent.partner_id
            && consent.customer_id.as_deref() == Some(p.customer_id.as_str())
    };
    if !payments.iter().all(|(_, p)| ours(p)) {
        return Err(PaymentStoreError::NotFound);
    }
    consent.expire_if_due(now);
    if consent.status != ConsentStatus::Authorised {
        return Err(Refused::ConsentState(consent.status).into());
    }
    let terms = consent.payment.as_ref().ok_or(PaymentStoreError::NotFound)?;
    let bulk = terms.bulk.as_ref().ok_or(PaymentStoreError::NotFound)?;
    let listed = |(end_to_end_id, p): &(String, Payment)| {
        bulk.transactions.iter().any(|t| {
            &t.end_to_end_id == end_to_end_id
                && t.amount_minor == p.amount_minor
                && t.payee == p.payee
                && p.currency == terms.currency
                && consent.accounts.first() == Some(&p.debtor)
        })
    };
    let mut ids: Vec<&str> = payments.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != bulk.transactions.len() || payments.len() != ids.len() || !payments.iter().all(listed) {
        return Err(Refused::AmountNotConsented.into());
    }
    consent
        .transition(ConsentStatus::Consumed, crate::consent::Actor::Partner(first.partner_id.clone()), now)
        .map_err(|e| Refused::ConsentState(e.from).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::payment_terms::Allowance;
    use proptest::prelude::*;

    const PARTNER: PartnerLimits = PartnerLimits { per_payment: 1_000, per_day: 5_000 };

    fn recurring(per_day: Option<i64>, per_month: Option<i64>) -> Drawn {
        Drawn::Recurring(Allowance { per_payment: 1_000, per_day, per_month })
    }

    fn spent(consent_day: i64, consent_month: i64, partner_day: i64) -> Spent {
        Spent { consent_day, consent_month, partner_day }
    }

    #[test]
    fn a_payment_that_exactly_uses_up_every_limit_fits() {
        let drawn = recurring(Some(300), Some(900));
        assert_eq!(check_spend(100, spent(200, 800, 4_900), drawn, PARTNER), Ok(()));
        assert_eq!(check_spend(101, spent(200, 0, 0), drawn, PARTNER), Err(Refused::OverConsentDaily));
        assert_eq!(check_spend(101, spent(0, 800, 0), drawn, PARTNER), Err(Refused::OverConsentMonthly));
        assert_eq!(check_spend(101, spent(0, 0, 4_900), drawn, PARTNER), Err(Refused::OverPartnerDaily));
    }

    #[test]
    fn the_first_limit_exceeded_in_the_listed_order_is_the_refusal() {
        let drawn = recurring(Some(10), Some(10));
        let everything_over = spent(10, 10, 5_000);
        assert_eq!(check_spend(1_001, everything_over, drawn, PARTNER), Err(Refused::OverConsentDaily));
        let day_free = spent(0, 10, 5_000);
        assert_eq!(check_spend(1_001, day_free, recurring(None, Some(10)), PARTNER), Err(Refused::OverConsentMonthly));
        let consent_free = recurring(None, None);
        assert_eq!(check_spend(1_001, spent(0, 0, 5_000), consent_free, PARTNER), Err(Refused::OverPartnerPerPayment));
        assert_eq!(check_spend(1_000, spent(0, 0, 4_001), consent_free, PARTNER), Err(Refused::OverPartnerDaily));
    }

    #[test]
    fn a_single_consent_counts_only_against_the_partner() {
        // Its consent counters are not its own: whatever they hold does not refuse it.
        assert_eq!(check_spend(500, spent(i64::MAX, i64::MAX, 0), Drawn::Single, PARTNER), Ok(()));
        assert_eq!(check_spend(500, spent(0, 0, 4_600), Drawn::Single, PARTNER), Err(Refused::OverPartnerDaily));
    }

    #[test]
    fn a_sum_past_the_largest_integer_is_over_the_limit_not_wrapped() {
        let huge = PartnerLimits { per_payment: i64::MAX, per_day: i64::MAX };
        assert_eq!(
            check_spend(2, spent(0, 0, i64::MAX - 1), recurring(None, None), huge),
            Err(Refused::OverPartnerDaily)
        );
        assert_eq!(
            check_spend(1, spent(i64::MAX, 0, 0), recurring(Some(i64::MAX), None), huge),
            Err(Refused::OverConsentDaily)
        );
    }

    proptest! {
        /// Admitted exactly when every limit holds after the payment: never past a limit, and
        /// never refused with room left.
        #[test]
        fn admitted_exactly_when_every_limit_holds(
            amount in 1i64..2_000,
            day in 0i64..6_000, month in 0i64..6_000, partner in 0i64..6_000,
            per_day in proptest::option::of(0i64..6_000), per_month in proptest::option::of(0i64..6_000),
        ) {
            let within = |spent: i64, limit: Option<i64>| limit.is_none_or(|l| spent + amount <= l);
            let fits = within(day, per_day) && within(month, per_month)
                && amount <= PARTNER.per_payment && within(partner, Some(PARTNER.per_day));
            let decided = check_spend(amount, spent(day, month, partner), recurring(per_day, per_month), PARTNER);
            prop_assert_eq!(decided.is_ok(), fits);
        }
    }
}
