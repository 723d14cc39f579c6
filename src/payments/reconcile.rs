//! Settles payments and refunds whose core answer was lost (a timeout, a crash between
//! recording and booking, the core down): asks the core what happened and, if nothing did,
//! voids the posting there so it can never happen later. Only then is it reported rejected.

use std::time::Duration;

use super::{Payments, Reason, Settlement};
use crate::core::{CoreError, Refusal, Settlement as Core};

/// How often the reconciler looks for unsettled postings.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// A posting younger than this may still be in its own request: leave it alone. (Acting
/// early would still be correct, the core arbitrates, but would void needlessly.)
pub const GRACE_SECS: i64 = 5;
const BATCH: u32 = 100;

pub fn spawn_reconciler(payments: Payments) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = payments.reconcile().await {
                tracing::warn!(error = %e, "reconciliation round failed; retrying next round");
            }
        }
    });
}

impl Payments {
    /// One round: every unsettled payment and refund older than the grace period.
    pub async fn reconcile(&self) -> Result<usize, super::PaymentError> {
        let before = self.now() - GRACE_SECS;
        let mut settled = 0;
        for p in self.store.unsettled_payments(before, BATCH).await? {
            if let Some(outcome) = self.ask_core(p.id.as_str()).await
                && self.settle_payment(&p.id, &outcome).await.is_ok()
            {
                tracing::info!(payment = %p.id, outcome = ?outcome, "reconciled");
                settled += 1;
            }
        }
        for r in self.store.unsettled_refunds(before, BATCH).await? {
            if let Some(outcome) = self.ask_core(r.id.as_str()).await
                && self.settle_refund(&r.id, &outcome).await.is_ok()
            {
                tracing::info!(refund = %r.id, outcome = ?outcome, "reconciled");
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Booked, or voided (certain never to book); `None` while the core cannot say.
    async fn ask_core(&self, req_seq: &str) -> Option<Settlement> {
        let answer = match self.core.payment_status(req_seq).await {
            Ok(Core::Unknown) => self.core.void_payment(req_seq).await,
            other => other,
        };
        match answer {
            Ok(Core::Booked { txn_id }) => Some(Settlement::Booked { txn_id }),
            Ok(Core::Voided) => {
                let (code, text) = Refusal::Voided.iso_reason();
                Some(Settlement::Rejected(Reason::new(code, text)))
            }
            Ok(Core::Unknown) => None,
            Err(e @ (CoreError::Connect(_) | CoreError::Timeout(_) | CoreError::Status(_))) => {
                tracing::debug!(posting = %req_seq, error = %e, "core not answering; will ask again");
                None
            }
            Err(e) => {
                tracing::error!(posting = %req_seq, error = %e, "core gave an unexpected answer to reconciliation");
                None
            }
        }
    }
}
