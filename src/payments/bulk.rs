//! Bulk payments: a partner's batch of credit transfers (ISO 20022 `pain.001`) becomes one
//! payment consent of kind `bulk`, which the customer authorises once; its execution makes
//! one payment per transaction, each its own core posting.
//!
//! Exactly once, whatever is retried: each payment's id is derived from the partner, the
//! message id and the transaction's end-to-end id (the core's de-duplication key), all are
//! recorded in one write that consumes the consent, and the store refuses a second payment
//! for a transaction. A crash after that write leaves the payments `ACTC` for the retry (it
//! resumes them) or the reconciler.

use scenegate_adapter_contract::{
    ConsentId, Money, PaymentId,
    canonical::{BulkPaymentOutcome, BulkPaymentRequest, BulkPaymentView, BulkTransactionView, Iso20022Status},
};
use sha2::{Digest as _, Sha256};

use super::{
    Payment, PaymentError, Payments, id_error, invalid, model, partner_limits, payment_event,
    store::{self, PaymentStoreError},
    terms,
};
use crate::{
    config::Partner,
    consent::{BulkTerms, Consent, PaymentTerms},
    idempotency::Claim,
};

impl Payments {
    /// A partner asks a customer to authorise a bulk.
    pub async fn create_bulk(
        &self,
        partner: &Partner,
        req: BulkPaymentRequest,
    ) -> Result<BulkPaymentView, PaymentError> {
        let (terms, expiration) = terms::check_bulk(partner, req, self.clock.now())?;
        let consent = self.consents.create_payment(&partner.id, terms, expiration).await?;
        self.bulk_view(&consent).await
    }

    /// A bulk consent of this partner, with its payments once executed.
    pub async fn bulk(&self, partner_id: &str, id: &ConsentId) -> Result<BulkPaymentView, PaymentError> {
        let consent = self.consents.for_partner(partner_id, id).await?;
        self.bulk_view(&consent).await
    }

    /// Pays every transaction of the bulk consent the customer's token is bound to, then
    /// answers the bulk as it stands. `claim` holds the execution's idempotency key; one
    /// taken over from a crashed execution books what that one recorded.
    pub async fn execute_bulk(
        &self,
        partner: &Partner,
        consent: &Consent,
        id: &ConsentId,
        claim: &Claim,
    ) -> Result<BulkPaymentView, PaymentError> {
        if id != &consent.id {
            return Err(invalid("consent_id", "must be the consent your access token was issued for"));
        }
        let resumed = claim.resume.as_deref().is_some_and(|r| r == consent.id.as_str());
        if !resumed {
            let payments = self.bulk_payments_of(partner, consent)?;
            let (terms, _) = bulk_terms(consent)?;
            let limits = partner_limits(partner, terms.currency, "currency")?;
            let notify = self.notify(&partner.id);
            let events = payments.iter().map(|(_, p)| payment_event(p, notify)).collect();
            let new =
                store::NewBulk { payments: &payments, claim, partner_limits: limits, events, now: self.clock.now() };
            match self.store.create_bulk_payments(new).await {
                Ok(()) => {}
                Err(PaymentStoreError::NotFound) => return Err(PaymentError::NotFound("bulk payment")),
                Err(e) => return Err(e.into()),
            }
        }
        // One posting per transaction, in the order listed; whatever is already final stays.
        for (_, payment) in self.store.bulk_payments(&consent.id).await? {
            if !model::is_final(payment.status) {
                self.book_payment(payment, None).await?;
            }
        }
        self.bulk(&partner.id, &consent.id).await
    }

    /// The payments an execution records, one per listed transaction, `ACTC`.
    fn bulk_payments_of(&self, partner: &Partner, consent: &Consent) -> Result<Vec<(String, Payment)>, PaymentError> {
        let (terms, bulk) = bulk_terms(consent)?;
        let debtor = consent.accounts.first().cloned().ok_or(PaymentError::NotFound("bulk payment"))?;
        let customer_id = consent.customer_id.clone().ok_or(PaymentError::NotFound("bulk payment"))?;
        let now = self.clock.now();
        let (day, month) = model::beijing_periods(now);
        bulk.transactions
            .iter()
            .map(|t| {
                let payment = Payment {
                    id: payment_id(&partner.id, &bulk.message_id, &t.end_to_end_id)?,
                    partner_id: partner.id.clone(),
                    consent_id: consent.id.clone(),
                    customer_id: customer_id.clone(),
                    debtor: debtor.clone(),
                    payee: t.payee.clone(),
                    amount_minor: t.amount_minor,
                    currency: terms.currency,
                    reference: t.reference.clone(),
                    scenario: terms.scenario.clone(),
                    status: Iso20022Status::Actc,
                    reason: None,
                    core_txn_id: None,
                    refunded_minor: 0,
                    day: day.clone(),
                    month: month.clone(),
                    created_at: now,
                    updated_at: now,
                };
                Ok((t.end_to_end_id.clone(), payment))
            })
            .collect()
    }

    async fn bulk_view(&self, consent: &Consent) -> Result<BulkPaymentView, PaymentError> {
        let (terms, bulk) = bulk_terms(consent)?;
        let paid = self.store.bulk_payments(&consent.id).await?;
        let transactions = bulk
            .transactions
            .iter()
            .map(|t| BulkTransactionView {
                end_to_end_id: t.end_to_end_id.clone(),
                amount: Money::from_minor(t.amount_minor, terms.currency),
                payment: paid.iter().find(|(e2e, _)| *e2e == t.end_to_end_id).map(|(_, p)| {
                    let view = p.view();
                    BulkPaymentOutcome {
                        payment_id: view.payment_id,
                        status: view.status_code,
                        reason: view.status_reason,
                    }
                }),
            })
            .collect();
        Ok(BulkPaymentView {
            consent_id: consent.id.clone(),
            consent_status: consent.status,
            message_id: bulk.message_id.clone(),
            payment_info_id: bulk.payment_info_id.clone(),
            currency: terms.currency,
            transactions,
        })
    }
}

/// A bulk consent's terms; any other consent is not a bulk (404 alike).
fn bulk_terms(consent: &Consent) -> Result<(&PaymentTerms, &BulkTerms), PaymentError> {
    let terms = consent.payment.as_ref().ok_or(PaymentError::NotFound("bulk payment"))?;
    let bulk = terms.bulk.as_ref().ok_or(PaymentError::NotFound("bulk payment"))?;
    Ok((terms, bulk))
}

/// The payment of one transaction: the same for every execution of the same message, so
/// the core (which de-duplicates by it) and the store never take a transaction twice.
pub fn payment_id(partner_id: &str, message_id: &str, end_to_end_id: &str) -> Result<PaymentId, PaymentError> {
    let mut h = Sha256::new();
    for part in ["bulk", partner_id, message_id, end_to_end_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    // 30 hex digits: `pay_` and the key fit in ISO's 35 characters (`AcctSvcrRef`).
    let key: String = h.finalize().iter().take(15).map(|b| format!("{b:02x}")).collect();
    PaymentId::from_key(&key).map_err(id_error)
}
