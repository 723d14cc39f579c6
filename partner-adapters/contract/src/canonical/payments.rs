//! Payments: the consent a customer gives for a payment (single or recurring), the payment
//! a partner initiates under it, and refunds.
//!
//! Status follows ISO 20022 (`RCVD`, `ACTC`, `ACSP`, `ACSC`, `RJCT` with a reason code)
//! beside a plain `status` (`pending`, `completed`, `rejected`) for partners who only need
//! to know whether the money moved.

use serde::{Deserialize, Serialize};

use crate::{AccountId, ConsentId, Money, PaymentId, RefundId};

use super::ConsentStatus;

/// Single: one payment of a fixed amount. Recurring: many payments to one creditor, each
/// within the limits the customer agreed (variable recurring payments; 无感支付 for parking,
/// tolls and transport). Bulk: a listed batch of payments to several creditors.
///
/// Serde here is the gateway's storage form (a stored payment consent's terms), not the
/// wire: partners see `native::wire::PaymentConsentType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentConsentType {
    Single,
    Recurring,
    /// A batch of payments to several creditors, authorised once and paid once each
    /// (created by [`super::BulkPaymentRequest`], never by a payment-consent request).
    Bulk,
}

/// The scenario the payment is made in, carried to the core for its risk checks.
///
/// Serde here is the gateway's storage form (inside [`Scenario`]), not the wire: partners
/// see `native::wire::ScenarioCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioCode {
    EcommerceGoods,
    BillPayment,
    Transport,
    Parking,
    TopUp,
    Travel,
    Government,
    Other,
}

impl ScenarioCode {
    pub const ALL: &'static [ScenarioCode] = &[
        Self::EcommerceGoods,
        Self::BillPayment,
        Self::Transport,
        Self::Parking,
        Self::TopUp,
        Self::Travel,
        Self::Government,
        Self::Other,
    ];

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// The codes, for an error that lists them.
    pub fn known() -> String {
        Self::ALL.iter().map(|c| c.code()).collect::<Vec<_>>().join(", ")
    }

    pub const fn code(self) -> &'static str {
        match self {
            Self::EcommerceGoods => "ecommerce_goods",
            Self::BillPayment => "bill_payment",
            Self::Transport => "transport",
            Self::Parking => "parking",
            Self::TopUp => "top_up",
            Self::Travel => "travel",
            Self::Government => "government",
            Self::Other => "other",
        }
    }
}

/// The scenario of a payment consent and of each payment under it.
///
/// Serde here is the gateway's storage form (a stored payment consent's terms, a stored
/// payment's `scenario` column), not the wire: partners see `native::wire::Scenario`.
/// Changing it changes what is already stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub code: ScenarioCode,
    /// ISO 18245 merchant category code, 4 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_category_code: Option<String>,
}

/// Who is paid: one of the merchant settlement accounts named in the partner's file, or an
/// account by number, name and bank code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creditor {
    /// A merchant id from the partner's file (`[payments.merchants]`).
    pub merchant: Option<String>,
    pub account_number: Option<String>,
    pub name: Option<String>,
    /// The creditor's bank (CNAPS code or BIC); absent for an account of this bank.
    pub bank_code: Option<String>,
}

/// Maximum amounts of a recurring consent, in its currency. Each is optional but at least
/// `per_payment` is required.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecurringLimits {
    pub per_payment: String,
    pub per_day: Option<String>,
    pub per_month: Option<String>,
}

/// What a partner asks a customer to authorise: a single payment or recurring payments.
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentConsentRequest {
    pub consent_type: PaymentConsentType,
    /// Single consents: the exact amount to pay.
    pub instructed_amount: Option<Money>,
    /// Recurring consents: the currency of every payment.
    pub currency: Option<String>,
    /// Recurring consents: the limits.
    pub limits: Option<RecurringLimits>,
    pub creditor: Creditor,
    /// Shown to the customer and on both statements; 1 to 140 characters.
    pub remittance_reference: String,
    pub scenario: Scenario,
    /// The customer's account to pay from, if the partner knows it (an id from an accounts
    /// consent); otherwise the customer chooses on the consent page.
    pub debtor_account_id: Option<AccountId>,
    /// RFC 3339. Single: at most 24 h ahead (default 1 h). Recurring: at most one year ahead.
    pub expiration: Option<String>,
}

/// A payment consent as its partner sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentConsentView {
    pub consent_id: ConsentId,
    pub consent_type: PaymentConsentType,
    pub status: ConsentStatus,
    pub instructed_amount: Option<Money>,
    pub currency: Option<String>,
    pub limits: Option<RecurringLimits>,
    /// The creditor as agreed; an account number is masked.
    pub creditor: Creditor,
    pub remittance_reference: String,
    pub scenario: Scenario,
    /// Set once the customer chose the account to pay from.
    pub debtor_account_id: Option<AccountId>,
    pub expiration: String,
    pub created_at: String,
    pub status_updated_at: String,
}

/// A payment a partner initiates under an authorised payment consent.
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentRequest {
    /// Must be the consent the access token is bound to.
    pub consent_id: ConsentId,
    /// Single consents: exactly the consented amount. Recurring: within the limits.
    pub instructed_amount: Money,
    /// Recurring consents: this payment's own reference (default: the consent's).
    pub remittance_reference: Option<String>,
}

/// Plain payment status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// Accepted, outcome not yet known (retry `GET` or wait for the webhook).
    Pending,
    /// Booked: the money moved.
    Completed,
    /// Refused; `status_reason` says why. No money moved.
    Rejected,
}

/// ISO 20022 `ExternalPaymentTransactionStatus1Code` subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Iso20022Status {
    /// Received.
    Rcvd,
    /// Accepted technical validation.
    Actc,
    /// Accepted, settlement in process.
    Acsp,
    /// Accepted, settlement completed.
    Acsc,
    /// Rejected.
    Rjct,
}

impl Iso20022Status {
    pub const fn code(self) -> &'static str {
        match self {
            Self::Rcvd => "RCVD",
            Self::Actc => "ACTC",
            Self::Acsp => "ACSP",
            Self::Acsc => "ACSC",
            Self::Rjct => "RJCT",
        }
    }

    pub const fn plain(self) -> PaymentStatus {
        match self {
            Self::Rcvd | Self::Actc | Self::Acsp => PaymentStatus::Pending,
            Self::Acsc => PaymentStatus::Completed,
            Self::Rjct => PaymentStatus::Rejected,
        }
    }
}

/// Why a payment was rejected: an ISO 20022 `ExternalStatusReason1Code` and plain words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReason {
    pub code: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PaymentView {
    pub payment_id: PaymentId,
    pub consent_id: ConsentId,
    pub status: PaymentStatus,
    pub status_code: Iso20022Status,
    pub status_reason: Option<StatusReason>,
    pub instructed_amount: Money,
    /// What has been refunded so far (refunds completed or still pending).
    pub refunded_amount: Money,
    pub creditor: Creditor,
    pub remittance_reference: String,
    pub created_at: String,
    pub status_updated_at: String,
}

/// A refund a partner asks for, of part or all of a payment.
#[derive(Clone, Debug, PartialEq)]
pub struct RefundRequest {
    /// Part or all of what remains refundable, in the payment's currency.
    pub amount: Money,
    /// Shown on the customer's statement; 1 to 140 characters.
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RefundView {
    pub refund_id: RefundId,
    pub payment_id: PaymentId,
    pub status: PaymentStatus,
    pub status_code: Iso20022Status,
    pub status_reason: Option<StatusReason>,
    pub amount: Money,
    pub reason: String,
    pub created_at: String,
    pub status_updated_at: String,
}
