//! A payment (or refund) between accounts held by two different core systems: two postings,
//! each booked exactly once on its own core under its own de-duplication key.
//!
//! 1. The debtor's core books the payment to its clearing account, the creditor named as an
//!    outside party (`req_seq` = the payment id: the same key as a payment within one core).
//! 2. The creditor's core books an inbound credit from its clearing account (`<id>-in`).
//!
//! The creditor account is checked first, so the usual refusals (closed, frozen, another
//! currency) move nothing. If the second posting is refused all the same, or cannot be
//! booked in time, it is voided (so it can never book later) and the first is reversed
//! (`<id>-rv`): no money moved in the end, and both cores' ledgers show what happened. A
//! lost answer anywhere leaves the outcome unknown, never failed: [`Transfer::settle`]
//! finds out from the cores themselves, so a crash between the postings loses nothing.

use super::{
    CoreError,
    connector::CoreConnector,
    posting::{CoreCreditor, ExternalDebtor, PostingKind, PostingOrder, PostingOutcome, Refusal, Settlement},
};

/// How the other core is named as the counterparty's bank on each side's statement.
const INTERNAL_BANK_CODE: &str = "OWNBANK";

pub(super) struct Transfer<'a> {
    debtor_core: &'a dyn CoreConnector,
    creditor_core: &'a dyn CoreConnector,
    order: &'a PostingOrder,
}

impl<'a> Transfer<'a> {
    pub fn new(
        debtor_core: &'a dyn CoreConnector,
        creditor_core: &'a dyn CoreConnector,
        order: &'a PostingOrder,
    ) -> Self {
        Self { debtor_core, creditor_core, order }
    }

    fn creditor_account(&self) -> &str {
        match &self.order.creditor {
            CoreCreditor::Internal { acct_no } | CoreCreditor::External { acct_no, .. } => acct_no,
        }
    }

    fn inbound_key(&self) -> String {
        format!("{}-in", self.order.req_seq)
    }

    fn reversal_key(&self) -> String {
        format!("{}-rv", self.order.req_seq)
    }

    pub async fn post(&self) -> Result<PostingOutcome, CoreError> {
        let (debtor_name, creditor_name) = match self.parties().await? {
            Ok(names) => names,
            Err(refusal) => return Ok(PostingOutcome::Refused(refusal)),
        };
        let first = PostingOrder {
            creditor: CoreCreditor::External {
                acct_no: self.creditor_account().to_owned(),
                name: creditor_name,
                bank_code: INTERNAL_BANK_CODE.into(),
            },
            // The original is not on this core (a refund's payment arrived by an inbound
            // credit): giving money back across cores is a payment back.
            kind: PostingKind::Payment,
            ..self.order.clone()
        };
        let txn_id = match self.debtor_core.post(&first).await? {
            PostingOutcome::Booked { txn_id } => txn_id,
            refused @ PostingOutcome::Refused(_) => return Ok(refused),
        };
        let second = self.inbound(debtor_name);
        let answer = match self.creditor_core.post(&second).await {
            // Safe to send again: the creditor's core de-duplicates by its key.
            Err(e) if !matches!(e, CoreError::NotSent { .. }) => self.creditor_core.post(&second).await,
            other => other,
        };
        match answer? {
            PostingOutcome::Booked { .. } => Ok(PostingOutcome::Booked { txn_id }),
            PostingOutcome::Refused(refusal) => self.undo(refusal, txn_id).await.map(outcome),
        }
    }

    /// What the cores say happened; `Unknown` while one cannot say.
    pub async fn settle(&self, give_up: bool) -> Result<Settlement, CoreError> {
        let txn_id = match self.debtor_core.posting_status(&self.order.req_seq).await? {
            Settlement::Unknown => match self.debtor_core.void(&self.order.req_seq).await? {
                Settlement::Booked { txn_id } => txn_id,
                other => return Ok(other),
            },
            Settlement::Booked { txn_id } => txn_id,
            other => return Ok(other),
        };
        if let Settlement::Booked { .. } = self.debtor_core.posting_status(&self.reversal_key()).await? {
            return Ok(Settlement::Reversed(Refusal::NotCredited));
        }
        match self.creditor_core.posting_status(&self.inbound_key()).await? {
            Settlement::Booked { .. } => Ok(Settlement::Booked { txn_id }),
            Settlement::Voided | Settlement::Reversed(_) => self.undo(Refusal::NotCredited, txn_id).await,
            Settlement::Unknown if give_up => self.undo(Refusal::NotCredited, txn_id).await,
            Settlement::Unknown => {
                let debtor_name = match self.parties().await? {
                    Ok((name, _)) => name,
                    Err(refusal) => return self.undo(refusal, txn_id).await,
                };
                match self.creditor_core.post(&self.inbound(debtor_name)).await {
                    Ok(PostingOutcome::Booked { .. }) => Ok(Settlement::Booked { txn_id }),
                    Ok(PostingOutcome::Refused(refusal)) => self.undo(refusal, txn_id).await,
                    Err(e) => {
                        tracing::debug!(posting = %self.inbound_key(), error = %e, "creditor's core not answering; will try again");
                        Ok(Settlement::Unknown)
                    }
                }
            }
        }
    }

    /// The debtor's and the creditor's account names, each shown on the other's statement;
    /// or why the creditor cannot be credited (nothing was posted).
    async fn parties(&self) -> Result<Result<(String, String), Refusal>, CoreError> {
        let (debtor, creditor) = tokio::join!(
            self.debtor_core.account(&self.order.debtor),
            self.creditor_core.account(self.creditor_account())
        );
        let (debtor, creditor) = match (debtor, creditor) {
            (Err(CoreError::NotFound), _) | (_, Err(CoreError::NotFound)) => return Ok(Err(Refusal::AccountNotFound)),
            (Err(e), _) | (_, Err(e)) => return Err(e),
            (Ok(d), Ok(c)) => (d, c),
        };
        let refusal = match creditor.state {
            super::AccountState::Frozen => Some(Refusal::AccountFrozen),
            super::AccountState::Closed => Some(Refusal::AccountClosed),
            super::AccountState::Normal if creditor.currency.code() != self.order.currency => {
                Some(Refusal::CurrencyMismatch)
            }
            super::AccountState::Normal => None,
        };
        Ok(refusal.map_or(Ok((debtor.acct_name, creditor.acct_name)), Err))
    }

    fn inbound(&self, debtor_name: String) -> PostingOrder {
        PostingOrder {
            req_seq: self.inbound_key(),
            debtor: self.creditor_account().to_owned(),
            kind: PostingKind::Inbound {
                debtor: ExternalDebtor {
                    acct_no: self.order.debtor.clone(),
                    name: debtor_name,
                    bank_code: Some(INTERNAL_BANK_CODE.into()),
                },
            },
            ..self.order.clone()
        }
    }

    /// The second posting will never be booked: void it (it may have been, after all: then
    /// the transfer is complete), then reverse the first. Either answer lost: unknown.
    async fn undo(&self, refusal: Refusal, txn_id: String) -> Result<Settlement, CoreError> {
        if let Settlement::Booked { .. } = self.creditor_core.void(&self.inbound_key()).await? {
            return Ok(Settlement::Booked { txn_id });
        }
        let reversal = PostingOrder {
            req_seq: self.reversal_key(),
            kind: PostingKind::Reversal { original: self.order.req_seq.clone() },
            memo: format!("Reversal of {}", self.order.req_seq),
            ..self.order.clone()
        };
        match self.debtor_core.post(&reversal).await? {
            PostingOutcome::Booked { txn_id: reversal_txn } => {
                metrics::counter!("scenegate_core_reversals_total").increment(1);
                tracing::warn!(
                    posting = %self.order.req_seq,
                    reversal = %reversal_txn,
                    reason = ?refusal,
                    "the creditor's core could not be credited; the debit was reversed"
                );
                Ok(Settlement::Reversed(refusal))
            }
            PostingOutcome::Refused(why) => {
                // Money sits in the debtor core's clearing account: an operator must look.
                tracing::error!(posting = %self.order.req_seq, refused = ?why, "a reversal was refused; the reconciler keeps trying");
                Err(CoreError::Rejected { code: "REVERSAL_REFUSED".into(), message: format!("{why:?}") })
            }
        }
    }
}

fn outcome(settlement: Settlement) -> PostingOutcome {
    match settlement {
        Settlement::Booked { txn_id } => PostingOutcome::Booked { txn_id },
        Settlement::Reversed(refusal) => PostingOutcome::Refused(refusal),
        Settlement::Voided | Settlement::Unknown => PostingOutcome::Refused(Refusal::Voided),
    }
}
