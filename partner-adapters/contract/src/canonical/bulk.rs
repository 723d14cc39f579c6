//! Bulk payments: one batch of credit transfers (an ISO 20022 `pain.001` payment
//! information block) that a customer authorises once, then paid as one payment per
//! transaction.

use crate::{AccountId, ConsentId, Currency, Money, PaymentId};

use super::{ConsentStatus, Creditor, Iso20022Status, StatusReason};

/// Most transactions one bulk may carry: the consent page lists each one.
pub const MAX_BULK_TRANSACTIONS: usize = 100;

/// A batch a partner asks a customer to authorise: every amount in one currency.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkPaymentRequest {
    /// The partner's own message id (`GrpHdr/MsgId`): its duplicate-detection key.
    pub message_id: String,
    /// The batch's id (`PmtInf/PmtInfId`).
    pub payment_info_id: String,
    pub currency: Currency,
    /// The customer's account to pay from, if the partner knows it (an id from an accounts
    /// consent); otherwise the customer chooses on the consent page.
    pub debtor_account_id: Option<AccountId>,
    /// 1 to [`MAX_BULK_TRANSACTIONS`], end-to-end ids unique.
    pub transactions: Vec<BulkTransaction>,
}

/// One credit transfer of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkTransaction {
    /// The partner's reference for this transfer, unique within the batch.
    pub end_to_end_id: String,
    pub amount: Money,
    pub creditor: Creditor,
    /// Shown to the customer and on both statements.
    pub remittance_reference: String,
}

/// What a bulk call did: created the consent, executed it, or read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkStage {
    Initiated,
    Executed,
    Read,
}

/// A bulk consent as its partner sees it, with the payment made for each transaction once
/// it was executed.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkPaymentView {
    pub consent_id: ConsentId,
    pub consent_status: ConsentStatus,
    pub message_id: String,
    pub payment_info_id: String,
    pub currency: Currency,
    pub transactions: Vec<BulkTransactionView>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BulkTransactionView {
    pub end_to_end_id: String,
    pub amount: Money,
    /// `None` until the bulk is executed.
    pub payment: Option<BulkPaymentOutcome>,
}

/// The payment made for one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkPaymentOutcome {
    pub payment_id: PaymentId,
    pub status: Iso20022Status,
    pub reason: Option<StatusReason>,
}
