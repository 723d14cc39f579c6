//! Settles payments and refunds whose core answer was lost (a timeout, a crash between
//! recording and booking, the core down): asks the core what happened and, if nothing did,
//! voids the posting there so it can never happen later. Only then is it reported rejected.
//! A payment between two cores whose first posting was booked has its second one sent again
//! each round, for up to [`SECOND_LEG_RETRY_SECS`]; then it is given up and the first one
//! reversed (`crate::core` records both).

use std::time::Duration;

use super::{Payments, Reason, Settlement, payment_order, refund_order};
use crate::core::{CoreError, PostingOrder, Refusal, Settlement as Core};

/// How often the reconciler looks for unsettled postings.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// A posting younger than this may still be in its own request: leave it alone. (Acting
/// early would still be correct, the core arbitrates, but would void needlessly.)
pub const GRACE_SECS: i64 = 5;
const BATCH: u32 = 100;
/// How long the second posting of a payment between two cores is retried before the first
/// is reversed: long enough to ride out a core restart, short enough that a customer's money
/// does not sit in a clearing account for a day.
pub const SECOND_LEG_RETRY_SECS: i64 = 15 * 60;

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
        let now = self.now();
        for p in self.store.unsettled_payments(before, BATCH).await? {
            let give_up = now - p.created_at > SECOND_LEG_RETRY_SECS;
            if let Some(outcome) = self.ask_core(&payment_order(&p), give_up).await
                && self.settle_payment(&p.id, &outcome).await.is_ok()
            {
                tracing::info!(payment = %p.id, outcome = ?outcome, "reconciled");
                settled += 1;
            }
        }
        for r in self.store.unsettled_refunds(before, BATCH).await? {
            let Some(payment) = self.store.payment(&r.payment_id).await? else { continue };
            let give_up = now - r.created_at > SECOND_LEG_RETRY_SECS;
            let Ok(order) = refund_order(&r, &payment) else { continue };
            if let Some(outcome) = self.ask_core(&order, give_up).await
                && self.settle_refund(&r.id, &outcome).await.is_ok()
            {
                tracing::info!(refund = %r.id, outcome = ?outcome, "reconciled");
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Booked, or voided or reversed (certain never to book); `None` while the cores cannot
    /// say.
    async fn ask_core(&self, order: &PostingOrder, give_up: bool) -> Option<Settlement> {
        let rejected = |refusal: Refusal| {
            let (code, text) = refusal.iso_reason();
            Some(Settlement::Rejected(Reason::new(code, text)))
        };
        match self.core.settle(order, give_up).await {
            Ok(Core::Booked { txn_id }) => Some(Settlement::Booked { txn_id }),
            Ok(Core::Voided) => rejected(Refusal::Voided),
            Ok(Core::Reversed(refusal)) => rejected(refusal),
            Ok(Core::Unknown) => None,
            Err(
                e @ (CoreError::Connect(_) | CoreError::Timeout(_) | CoreError::Status(_) | CoreError::NotSent { .. }),
            ) => {
                tracing::debug!(posting = %order.req_seq, error = %e, "core not answering; will ask again");
                None
            }
            Err(e) => {
                tracing::error!(posting = %order.req_seq, error = %e, "core gave an unexpected answer to reconciliation");
                None
            }
        }
    }
}
