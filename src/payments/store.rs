//! Where payments and refunds live. Each write is one atomic unit that also consumes the
//! consent or its allowance, counts the partner's limits, links the idempotency record and
//! appends the outbox event, so none of them can disagree after a crash.

use async_trait::async_trait;
use scenegate_adapter_contract::{
    ConsentId, PaymentId, RefundId,
    canonical::{ConsentStatus, PaymentConsentType},
};

use super::model::{Payment, Refund, Settlement};
use crate::{events::NewEvent, idempotency::Claim};

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

pub struct NewRefund<'a> {
    pub refund: &'a Refund,
    pub claim: &'a Claim,
    pub event: NewEvent,
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
    /// it again under a lock.
    async fn settle_payment(
        &self,
        last_read: &Payment,
        outcome: &Settlement,
        event: for<'x> fn(&'x Payment) -> NewEvent,
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
        event: for<'x> fn(&'x Refund) -> NewEvent,
        now: i64,
    ) -> Result<Option<Refund>, PaymentStoreError>;
    async fn refund(&self, id: &RefundId) -> Result<Option<Refund>, PaymentStoreError>;
    /// A payment's refunds, oldest first.
    async fn refunds_of(&self, payment_id: &PaymentId) -> Result<Vec<Refund>, PaymentStoreError>;
    async fn unsettled_refunds(&self, before: i64, limit: u32) -> Result<Vec<Refund>, PaymentStoreError>;
    /// How many of a partner's payments are in each ISO 20022 status (staff reports).
    async fn status_counts(&self, partner_id: &str) -> Result<Vec<(String, i64)>, PaymentStoreError>;
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
