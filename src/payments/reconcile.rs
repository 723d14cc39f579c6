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
            match payments.reconcile().await {
                // What operators alert on: money whose outcome nobody knows yet, and for how
                // long (a payment between two cores waits up to SECOND_LEG_RETRY_SECS; one
                // older than that means a core keeps refusing or not answering).
                Ok(round) => {
                    metrics::gauge!("scenegate_payments_unsettled").set(round.waiting as f64);
                    metrics::gauge!("scenegate_payments_unsettled_oldest_seconds")
                        .set(round.oldest_waiting_secs as f64);
                }
                Err(e) => tracing::warn!(error = %e, "reconciliation round failed; retrying next round"),
            }
        }
    });
}

/// What one reconciliation round settled and what it left waiting for a core's answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub settled: usize,
    /// Payments and refunds past the grace period still without a known outcome (at most
    /// [`BATCH`] of each kind are looked at per round).
    pub waiting: usize,
    /// How long the oldest of them has waited since it was recorded; 0 when none waits.
    pub oldest_waiting_secs: i64,
}

impl Round {
    fn left(&mut self, created_at: i64, now: i64) {
        self.waiting += 1;
        self.oldest_waiting_secs = self.oldest_waiting_secs.max(now - created_at);
    }
}

impl Payments {
    /// One round: every unsettled payment and refund older than the grace period.
    pub async fn reconcile(&self) -> Result<Round, super::PaymentError> {
        let now = self.now();
        let before = now - GRACE_SECS;
        let mut round = Round::default();
        for p in self.store.unsettled_payments(before, BATCH).await? {
            let give_up = now - p.created_at > SECOND_LEG_RETRY_SECS;
            if let Some(outcome) = self.ask_core(&payment_order(&p), give_up).await
                && self.settle_payment(&p, &outcome).await.is_ok()
            {
                tracing::info!(payment = %p.id, outcome = ?outcome, "reconciled");
                round.settled += 1;
            } else {
                round.left(p.created_at, now);
            }
        }
        for r in self.store.unsettled_refunds(before, BATCH).await? {
            let Some(payment) = self.store.payment(&r.payment_id).await? else { continue };
            let give_up = now - r.created_at > SECOND_LEG_RETRY_SECS;
            let Ok(order) = refund_order(&r, &payment) else { continue };
            if let Some(outcome) = self.ask_core(&order, give_up).await
                && self.settle_refund(&r, &outcome).await.is_ok()
            {
                tracing::info!(refund = %r.id, outcome = ?outcome, "reconciled");
                round.settled += 1;
            } else {
                round.left(r.created_at, now);
            }
        }
        Ok(round)
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
