//! Payments: consented, idempotent, booked exactly once.
//!
//! - `terms.rs` checks a partner's payment-consent request into [`PaymentTerms`].
//! - `model.rs` is the payment and the refund; `store.rs` where they live (one atomic write
//!   per step, with the consent, the limits, the idempotency record and the outbox event).
//! - `bulk.rs` is the bulk: one consent for a batch, one payment per transaction.
//! - `reconcile.rs` settles every payment whose core answer was lost.
//!
//! A payment is recorded (`ACTC`) before the core is asked, under its id as the core's
//! de-duplication key, so a retry, a crash or a timeout can never book it twice: a lost
//! answer leaves it `ACSP` until the reconciler asks the core, and voids it there if the
//! core never booked it. Nothing reports a failure that may have succeeded.

mod bulk;
pub mod model;
mod reconcile;
pub mod store;
mod terms;

use std::sync::Arc;

use scenegate_adapter_contract::{
    ConsentId, Currency, PaymentId, RefundId,
    canonical::{
        Iso20022Status, PaymentConsentRequest, PaymentConsentView, PaymentRequest, PaymentView, RefundRequest,
        RefundView,
    },
};
use scenegate_adapters::native::wire;

pub use model::{Payment, Reason, Refund, Settlement};
pub use reconcile::spawn_reconciler;
pub use store::{PartnerLimits, PaymentStore, PaymentStoreError, Refused, SettledAnswer};

/// Renders the answer to a payment's request from the payment as its settlement will leave
/// it (see [`SettledAnswer`]); `None` when it cannot be rendered there, and the request
/// renders and stores its answer itself.
pub type RenderAnswer<'a> = &'a (dyn Fn(&PaymentView) -> Option<StoredResponse> + Sync);

/// A payment as its request leaves it, with the request's answer when that was stored with
/// the payment's settlement.
#[derive(Debug)]
pub struct Booked {
    pub payment: PaymentView,
    pub answer: Option<StoredResponse>,
}

use crate::{
    accounts::Pseudonyms,
    auth::Clock,
    config::Partner,
    consent::{Consent, ConsentError, Consents, Payee},
    core::{CoreClient, CoreCreditor, CoreError, PostingKind, PostingOrder, PostingOutcome},
    events::{NewEvent, Notify, types},
    idempotency::{Claim, StoredResponse},
};

/// Longest a single payment consent may wait for its customer and its payment.
pub const SINGLE_MAX_SECS: i64 = 24 * 3600;
pub const SINGLE_DEFAULT_SECS: i64 = 3600;
pub const RECURRING_MAX_SECS: i64 = 365 * 86_400;
pub const MAX_REFERENCE_CHARS: usize = 140;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("`{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// Missing, or not the caller's: the two answer alike.
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Consent(#[from] ConsentError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("payment store unavailable: {0}")]
    Unavailable(String),
    /// The request's deferred idempotency key was another request's: nothing was recorded.
    #[error("another request holds this idempotency key")]
    KeyTaken,
}

impl From<PaymentStoreError> for PaymentError {
    fn from(e: PaymentStoreError) -> Self {
        match e {
            PaymentStoreError::Refused(r) => Self::Refused(r),
            PaymentStoreError::NotFound => Self::NotFound("payment"),
            PaymentStoreError::Unavailable(m) => Self::Unavailable(m),
            PaymentStoreError::KeyTaken => Self::KeyTaken,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> PaymentError {
    PaymentError::InvalidField { field, reason: reason.into() }
}

#[derive(Clone)]
pub struct Payments {
    store: Arc<dyn PaymentStore>,
    consents: Consents,
    core: CoreClient,
    pseudonyms: Pseudonyms,
    clock: Arc<dyn Clock>,
    /// How each partner hears of its events, as configured now ([`Notify`]).
    notify: crate::events::NotifyOf,
}

impl Payments {
    pub fn new(
        store: Arc<dyn PaymentStore>,
        consents: Consents,
        core: CoreClient,
        pseudonyms: Pseudonyms,
        clock: Arc<dyn Clock>,
        notify: crate::events::NotifyOf,
    ) -> Self {
        Self { store, consents, core, pseudonyms, clock, notify }
    }

    /// How this partner hears of its payments' and refunds' changes.
    fn notify(&self, partner_id: &str) -> Notify {
        (self.notify)(partner_id)
    }

    /// A partner asks a customer to authorise a payment.
    pub async fn create_consent(
        &self,
        partner: &Partner,
        req: PaymentConsentRequest,
    ) -> Result<PaymentConsentView, PaymentError> {
        let now = self.clock.now();
        let (terms, expiration) = terms::check(partner, req, now)?;
        let consent = self.consents.create_payment(&partner.id, terms, expiration).await?;
        self.consent_view(&consent)
    }

    /// A payment consent of this partner.
    pub async fn consent(&self, partner_id: &str, id: &ConsentId) -> Result<PaymentConsentView, PaymentError> {
        let consent = self.consents.for_partner(partner_id, id).await?;
        self.consent_view(&consent)
    }

    /// The partner withdraws a payment consent of its own it no longer needs (see
    /// [`Consents::revoke_payment_by_partner`]); the consent as it now is.
    pub async fn revoke_consent(&self, partner_id: &str, id: &ConsentId) -> Result<PaymentConsentView, PaymentError> {
        let consent = self.consents.revoke_payment_by_partner(partner_id, id).await?;
        self.consent_view(&consent)
    }

    pub fn consent_view(&self, c: &Consent) -> Result<PaymentConsentView, PaymentError> {
        let terms = c.payment.as_ref().ok_or(PaymentError::NotFound("payment consent"))?;
        Ok(PaymentConsentView {
            consent_id: c.id.clone(),
            consent_type: terms.kind,
            status: c.status,
            instructed_amount: terms.amount_minor.map(|m| terms.money(m)),
            currency: terms.limits.map(|_| terms.currency.code().to_owned()),
            limits: terms.limits_view(),
            creditor: Payee::view_of(terms.payee.as_ref()),
            remittance_reference: terms.reference.clone(),
            scenario: terms.scenario.clone(),
            debtor_account_id: c.accounts.first().map(|a| self.pseudonyms.account_id(&c.partner_id, a)),
            expiration: crate::consent::model::rfc3339(c.expiration),
            created_at: crate::consent::model::rfc3339(c.created_at),
            status_updated_at: crate::consent::model::rfc3339(c.status_updated_at),
        })
    }

    /// The payment a crashed request recorded under `claim`'s key, which the claim took over:
    /// booked if it is not yet, as it now stands. `None` when the key has none to resume.
    pub async fn resume(
        &self,
        partner_id: &str,
        claim: &Claim,
        render: Option<RenderAnswer<'_>>,
    ) -> Result<Option<Booked>, PaymentError> {
        let Some(id) = claim.resume.as_deref().and_then(|r| r.parse::<PaymentId>().ok()) else { return Ok(None) };
        let payment = match self.store.payment(&id).await? {
            Some(p) if p.partner_id == partner_id => p,
            // Keys are scoped to their partner: never, unless the store is corrupt.
            _ => return Err(PaymentError::NotFound("payment")),
        };
        if model::is_final(payment.status) {
            return Ok(Some(Booked { payment: payment.view(), answer: None }));
        }
        Ok(Some(self.book_payment(payment, render.map(|r| (claim, r))).await?))
    }

    /// Initiates a payment under the consent the customer's token is bound to. `claim` holds
    /// the request's idempotency key (a claim taken over from a crashed request is first
    /// offered to [`Self::resume`], which answers with what that request recorded); `render`,
    /// if given, renders the request's answer to be stored with the payment's settlement.
    pub async fn initiate(
        &self,
        partner: &Partner,
        consent: &Consent,
        req: PaymentRequest,
        claim: &Claim,
        render: Option<RenderAnswer<'_>>,
    ) -> Result<Booked, PaymentError> {
        if let Some(resumed) = self.resume(&partner.id, claim, render).await? {
            return Ok(resumed);
        }
        if req.consent_id != consent.id {
            return Err(invalid("consent_id", "must be the consent your access token was issued for"));
        }
        let terms = consent.payment.as_ref().ok_or(PaymentError::NotFound("payment consent"))?;
        // A bulk has a payee per transaction and is paid by its execution.
        let payee = terms
            .payee
            .clone()
            .ok_or_else(|| invalid("consent_id", "a bulk payment consent is paid by executing it"))?;
        let amount = terms::minor_units("instructed_amount", &req.instructed_amount)?;
        if req.instructed_amount.currency() != terms.currency {
            return Err(invalid(
                "instructed_amount.currency",
                format!("must be {}, the consent's currency", terms.currency),
            ));
        }
        let reference = match req.remittance_reference {
            Some(r) if terms.kind == scenegate_adapter_contract::canonical::PaymentConsentType::Recurring => {
                terms::reference("remittance_reference", &r)?
            }
            Some(_) => return Err(invalid("remittance_reference", "a single payment uses its consent's reference")),
            None => terms.reference.clone(),
        };
        let limits = partner_limits(partner, terms.currency, "instructed_amount.currency")?;
        let debtor = consent.accounts.first().cloned().ok_or(PaymentError::NotFound("payment consent"))?;
        let customer_id = consent.customer_id.clone().ok_or(PaymentError::NotFound("payment consent"))?;
        let now = self.clock.now();
        let (day, month) = model::beijing_periods(now);
        let payment = Payment {
            id: PaymentId::from_key(&fresh_key()).map_err(id_error)?,
            partner_id: partner.id.clone(),
            consent_id: consent.id.clone(),
            customer_id,
            debtor,
            payee,
            amount_minor: amount,
            currency: terms.currency,
            reference,
            scenario: terms.scenario.clone(),
            status: Iso20022Status::Actc,
            reason: None,
            core_txn_id: None,
            refunded_minor: 0,
            day,
            month,
            created_at: now,
            updated_at: now,
        };
        let new = store::NewPayment {
            payment: &payment,
            consent_kind: terms.kind,
            claim,
            partner_limits: limits,
            event: payment_event(&payment, self.notify(&partner.id)),
            now,
        };
        match self.store.create_payment(new).await {
            Ok(()) => {}
            Err(PaymentStoreError::NotFound) => return Err(PaymentError::NotFound("payment consent")),
            Err(e) => return Err(e.into()),
        }
        self.book_payment(payment, render.map(|r| (claim, r))).await
    }

    /// Asks the core to book a recorded payment and records what it said, with the answer
    /// `answering` renders from the payment as that leaves it. A lost answer leaves the
    /// payment `ACSP` for the reconciler.
    async fn book_payment(
        &self,
        payment: Payment,
        answering: Option<(&Claim, RenderAnswer<'_>)>,
    ) -> Result<Booked, PaymentError> {
        let order = payment_order(&payment);
        let outcome = settlement_of(self.core.post_payment(&order).await, &payment.id);
        let now = self.clock.now();
        let rendered = answering.and_then(|(claim, render)| {
            let settled = payment.settled(&outcome, now)?;
            let answer = render(&settled.view())?;
            Some((claim, settled, answer))
        });
        let with =
            rendered.as_ref().map(|(claim, rendered_from, answer)| SettledAnswer { claim, rendered_from, answer });
        let (settled, answered) = self.settle_at(&payment, &outcome, with.as_ref(), now).await?;
        // The rendered answer goes back to be sent only if the settlement stored it.
        let answer = rendered.filter(|_| answered).map(|(_, _, answer)| answer);
        Ok(Booked { payment: settled.unwrap_or(payment).view(), answer })
    }

    /// Records `outcome` unless the payment is already final; returns it as it now stands.
    pub(crate) async fn settle_payment(
        &self,
        last_read: &Payment,
        outcome: &Settlement,
    ) -> Result<Option<Payment>, PaymentError> {
        Ok(self.settle_at(last_read, outcome, None, self.clock.now()).await?.0)
    }

    /// [`Self::settle_payment`] at `now`, storing `answer` with the settlement if it fits the
    /// payment the settlement leaves (then `true`).
    async fn settle_at(
        &self,
        last_read: &Payment,
        outcome: &Settlement,
        answer: Option<&SettledAnswer<'_>>,
        now: i64,
    ) -> Result<(Option<Payment>, bool), PaymentError> {
        let notify = self.notify(&last_read.partner_id);
        let event = Arc::new(move |p: &Payment| payment_event(p, notify));
        match self.store.settle_payment(last_read, outcome, event, answer, now).await? {
            Some(settled) => {
                let answered = answer.is_some_and(|a| a.fits(&settled));
                Ok((Some(settled), answered))
            }
            // Already final: as it stands.
            None => Ok((self.store.payment(&last_read.id).await?, false)),
        }
    }

    pub async fn payment(&self, partner_id: &str, id: &PaymentId) -> Result<PaymentView, PaymentError> {
        match self.store.payment(id).await? {
            Some(p) if p.partner_id == partner_id => Ok(p.view()),
            _ => Err(PaymentError::NotFound("payment")),
        }
    }

    /// Refunds part or all of a completed payment of this partner.
    pub async fn refund(
        &self,
        partner: &Partner,
        payment_id: &PaymentId,
        req: RefundRequest,
        claim: &Claim,
    ) -> Result<RefundView, PaymentError> {
        if let Some(id) = claim.resume.as_deref().and_then(|r| r.parse::<RefundId>().ok()) {
            let refund = self.store.refund(&id).await?.ok_or(PaymentError::NotFound("refund"))?;
            return Ok(self.book_refund(refund).await?.view());
        }
        let payment = match self.store.payment(payment_id).await? {
            Some(p) if p.partner_id == partner.id => p,
            _ => return Err(PaymentError::NotFound("payment")),
        };
        let amount = terms::minor_units("amount", &req.amount)?;
        if req.amount.currency() != payment.currency {
            return Err(invalid("amount.currency", format!("must be {}, the payment's currency", payment.currency)));
        }
        let reason = terms::reference("reason", &req.reason)?;
        let now = self.clock.now();
        let refund = Refund {
            id: RefundId::from_key(&fresh_key()).map_err(id_error)?,
            payment_id: payment.id.clone(),
            partner_id: partner.id.clone(),
            amount_minor: amount,
            currency: payment.currency,
            reason_text: reason,
            status: Iso20022Status::Actc,
            reason: None,
            core_txn_id: None,
            created_at: now,
            updated_at: now,
        };
        let new = store::NewRefund { refund: &refund, claim, event: refund_event(&refund, self.notify(&partner.id)) };
        self.store.create_refund(new).await?;
        Ok(self.book_refund(refund).await?.view())
    }

    async fn book_refund(&self, refund: Refund) -> Result<Refund, PaymentError> {
        if model::is_final(refund.status) {
            return Ok(refund);
        }
        let payment = self.store.payment(&refund.payment_id).await?.ok_or(PaymentError::NotFound("payment"))?;
        let order = refund_order(&refund, &payment)?;
        let outcome = settlement_of(self.core.post_payment(&order).await, &refund.id);
        self.settle_refund(&refund, &outcome).await.map(|r| r.unwrap_or(refund))
    }

    /// Records `outcome` for the refund last read as `last_read` unless it is final already;
    /// returns it as it now stands.
    pub(crate) async fn settle_refund(
        &self,
        last_read: &Refund,
        outcome: &Settlement,
    ) -> Result<Option<Refund>, PaymentError> {
        let notify = self.notify(&last_read.partner_id);
        let event = Arc::new(move |r: &Refund| refund_event(r, notify));
        match self.store.settle_refund(&last_read.id, outcome, event, self.clock.now()).await? {
            Some(settled) => Ok(Some(settled)),
            None => Ok(self.store.refund(&last_read.id).await?),
        }
    }

    pub async fn refunds(&self, partner_id: &str, payment_id: &PaymentId) -> Result<Vec<RefundView>, PaymentError> {
        match self.store.payment(payment_id).await? {
            Some(p) if p.partner_id == partner_id => {}
            _ => return Err(PaymentError::NotFound("payment")),
        }
        Ok(self.store.refunds_of(payment_id).await?.iter().map(Refund::view).collect())
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A partner's payments by ISO 20022 status (staff reports).
    pub async fn status_counts(&self, partner_id: &str) -> Result<Vec<(String, i64)>, PaymentError> {
        Ok(self.store.status_counts(partner_id).await?)
    }
}

/// The partner's limits in `currency` (the bank sets them; none, no payments in it).
fn partner_limits(partner: &Partner, currency: Currency, field: &'static str) -> Result<PartnerLimits, PaymentError> {
    partner
        .payments
        .limits
        .get(&currency)
        .copied()
        .ok_or_else(|| invalid(field, "this partner has no payment limits in it"))
}

/// A payment as the core books it: its id is the core's de-duplication key.
fn payment_order(payment: &Payment) -> PostingOrder {
    PostingOrder {
        req_seq: payment.id.as_str().to_owned(),
        debtor: payment.debtor.clone(),
        creditor: core_creditor(&payment.payee),
        amount_minor: payment.amount_minor,
        currency: payment.currency.code().to_owned(),
        memo: payment.reference.clone(),
        scene: payment.scenario.code.code().to_owned(),
        mcc: payment.scenario.merchant_category_code.clone(),
        channel: payment.partner_id.clone(),
        kind: PostingKind::Payment,
    }
}

/// A refund as the core books it: back from where the payment went to the account it came
/// from, under the refund's id.
fn refund_order(refund: &Refund, payment: &Payment) -> Result<PostingOrder, PaymentError> {
    Ok(PostingOrder {
        req_seq: refund.id.as_str().to_owned(),
        debtor: match &payment.payee {
            Payee::Merchant { account, .. } => account.clone(),
            Payee::Account { .. } => {
                return Err(invalid("payment_id", "only payments to a merchant can be refunded"));
            }
        },
        creditor: CoreCreditor::Internal { acct_no: payment.debtor.clone() },
        amount_minor: refund.amount_minor,
        currency: refund.currency.code().to_owned(),
        memo: refund.reason_text.clone(),
        scene: payment.scenario.code.code().to_owned(),
        mcc: payment.scenario.merchant_category_code.clone(),
        channel: refund.partner_id.clone(),
        kind: PostingKind::Refund { original: payment.id.as_str().to_owned() },
    })
}

/// The core's answer to a posting, as a settlement. Anything but a clear answer is unknown:
/// the reconciler finds out.
fn settlement_of(answer: Result<PostingOutcome, CoreError>, id: &impl std::fmt::Display) -> Settlement {
    match answer {
        Ok(PostingOutcome::Booked { txn_id }) => Settlement::Booked { txn_id },
        Ok(PostingOutcome::Refused(refusal)) => {
            let (code, text) = refusal.iso_reason();
            if let crate::core::Refusal::Other { code: core_code, .. } = &refusal {
                tracing::warn!(posting = %id, core_code = %core_code, "core refused a posting with an unmapped code");
            }
            Settlement::Rejected(Reason::new(code, text))
        }
        Err(e) => {
            tracing::warn!(posting = %id, error = %e, "core answer lost; the reconciler will settle the posting");
            Settlement::Unknown
        }
    }
}

fn core_creditor(payee: &Payee) -> CoreCreditor {
    match payee {
        Payee::Merchant { account, .. } => CoreCreditor::Internal { acct_no: account.clone() },
        Payee::Account { number, bank_code: None, .. } => CoreCreditor::Internal { acct_no: number.clone() },
        Payee::Account { number, name, bank_code: Some(bank) } => {
            CoreCreditor::External { acct_no: number.clone(), name: name.clone(), bank_code: bank.clone() }
        }
    }
}

/// The body of a fresh id: a UUIDv7, time-ordered and unguessable.
fn fresh_key() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn id_error(e: scenegate_adapter_contract::IdError) -> PaymentError {
    PaymentError::Unavailable(format!("id generation: {e}"))
}

/// The event's `data` is the payment as the native API shows it (its wire JSON, the body of
/// `GET /v1/payments/{id}`): it is stored as is and delivered by webhook and by polling.
fn payment_event(p: &Payment, notify: Notify) -> NewEvent {
    NewEvent {
        partner_id: p.partner_id.clone(),
        event_type: types::PAYMENT_STATUS_CHANGED.to_owned(),
        subject_id: p.id.as_str().to_owned(),
        data: serde_json::to_value(wire::PaymentView::from(p.view())).unwrap_or_default(),
        notify,
    }
}

fn refund_event(r: &Refund, notify: Notify) -> NewEvent {
    NewEvent {
        partner_id: r.partner_id.clone(),
        event_type: types::REFUND_STATUS_CHANGED.to_owned(),
        subject_id: r.payment_id.as_str().to_owned(),
        data: serde_json::to_value(wire::RefundView::from(r.view())).unwrap_or_default(),
        notify,
    }
}

#[cfg(test)]
mod bulk_tests;
#[cfg(test)]
mod tests;
