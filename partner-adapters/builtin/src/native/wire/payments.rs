//! Payment consents, payments and refunds as the native API takes and sends them.
//!
//! Status follows ISO 20022 (`RCVD`, `ACTC`, `ACSP`, `ACSC`, `RJCT` with a reason code)
//! beside a plain `status` (`pending`, `completed`, `rejected`) for partners who only need
//! to know whether the money moved.

use scenegate_adapter_contract::{AccountId, ConsentId, Money, PaymentId, RefundId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ConsentStatus;

/// Single: one payment of a fixed amount. Recurring: many payments to one creditor, each
/// within the limits the customer agreed (variable recurring payments; 无感支付 for parking,
/// tolls and transport). Bulk: a batch of payments to several creditors, authorised once;
/// made from an ISO 20022 `pain.001` and refused as a payment-consent request here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentConsentType {
    Single,
    Recurring,
    Bulk,
}

/// The scenario the payment is made in, carried to the core for its risk checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub code: ScenarioCode,
    /// ISO 18245 merchant category code, 4 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]{4}$", example = "4722")]
    pub merchant_category_code: Option<String>,
}

/// Who is paid: one of the merchant settlement accounts named in the partner's file, or an
/// account by number, name and bank code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Creditor {
    /// A merchant id from the partner's file (`[payments.merchants]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "skytrip")]
    pub merchant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The creditor's bank: a CNAPS bank code (12 digits) or a BIC (8 or 11 characters);
    /// absent for an account of this bank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^([0-9]{12}|[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?)$", example = "102100099996")]
    pub bank_code: Option<String>,
}

/// Maximum amounts of a recurring consent, in its currency. Each is optional but at least
/// `per_payment` is required.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringLimits {
    #[schema(value_type = String, example = "50.00")]
    pub per_payment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "100.00")]
    pub per_day: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "1000.00")]
    pub per_month: Option<String>,
}

/// Body of `POST /v1/payment-consents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "type": "single",
    "instructed_amount": {"amount": "268.00", "currency": "CNY"},
    "creditor": {"merchant": "skytrip"},
    "remittance_reference": "SKYTRIP-ORDER-88231",
    "scenario": {"code": "travel", "merchant_category_code": "4722"},
    "expiration": "2026-12-03T12:00:00Z"
}))]
pub struct PaymentConsentRequest {
    #[serde(rename = "type")]
    pub consent_type: PaymentConsentType,
    /// Single consents: the exact amount to pay.
    #[serde(default)]
    pub instructed_amount: Option<Money>,
    /// Recurring consents: the currency of every payment.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "CNY")]
    pub currency: Option<String>,
    /// Recurring consents: the limits.
    #[serde(default)]
    pub limits: Option<RecurringLimits>,
    pub creditor: Creditor,
    /// Shown to the customer and on both statements; 1 to 140 characters.
    pub remittance_reference: String,
    pub scenario: Scenario,
    /// The customer's account to pay from, if the partner knows it (an id from an accounts
    /// consent); otherwise the customer chooses on the consent page.
    #[serde(default)]
    pub debtor_account_id: Option<AccountId>,
    /// RFC 3339. Single: at most 24 h ahead (default 1 h). Recurring: at most one year ahead.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expiration: Option<String>,
}

/// A payment consent as its partner sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "consent_id": "cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P",
    "type": "single",
    "status": "awaiting_authorisation",
    "instructed_amount": {"amount": "268.00", "currency": "CNY"},
    "creditor": {"merchant": "skytrip", "name": "SkyTrip Travel Ltd"},
    "remittance_reference": "SKYTRIP-ORDER-88231",
    "scenario": {"code": "travel", "merchant_category_code": "4722"},
    "expiration": "2026-12-03T12:00:00Z",
    "created_at": "2026-12-03T11:00:00Z",
    "status_updated_at": "2026-12-03T11:00:00Z"
}))]
pub struct PaymentConsentView {
    pub consent_id: ConsentId,
    #[serde(rename = "type")]
    pub consent_type: PaymentConsentType,
    pub status: ConsentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructed_amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<RecurringLimits>,
    /// The creditor as agreed; an account number is masked.
    pub creditor: Creditor,
    pub remittance_reference: String,
    pub scenario: Scenario,
    /// Set once the customer chose the account to pay from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debtor_account_id: Option<AccountId>,
    #[schema(format = DateTime)]
    pub expiration: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub status_updated_at: String,
}

/// Body of `POST /v1/payments`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "consent_id": "cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P",
    "instructed_amount": {"amount": "268.00", "currency": "CNY"}
}))]
pub struct PaymentRequest {
    /// Must be the consent the access token is bound to.
    pub consent_id: ConsentId,
    /// Single consents: exactly the consented amount. Recurring: within the limits.
    pub instructed_amount: Money,
    /// Recurring consents: this payment's own reference (default: the consent's).
    #[serde(default)]
    pub remittance_reference: Option<String>,
}

/// Plain payment status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Accepted, outcome not yet known (retry `GET` or wait for the webhook).
    Pending,
    /// Booked: the money moved.
    Completed,
    /// Refused; `status_reason` says why. No money moved.
    Rejected,
}

/// ISO 20022 `ExternalPaymentTransactionStatus1Code` subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Iso20022Status {
    /// Received.
    #[serde(rename = "RCVD")]
    Rcvd,
    /// Accepted technical validation.
    #[serde(rename = "ACTC")]
    Actc,
    /// Accepted, settlement in process.
    #[serde(rename = "ACSP")]
    Acsp,
    /// Accepted, settlement completed.
    #[serde(rename = "ACSC")]
    Acsc,
    /// Rejected.
    #[serde(rename = "RJCT")]
    Rjct,
}

/// Why a payment was rejected: an ISO 20022 `ExternalStatusReason1Code` and plain words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusReason {
    #[schema(example = "AM04")]
    pub code: String,
    #[schema(example = "insufficient funds")]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "payment_id": "pay_01JDQ60A7K5S2W8E4R6T0Y1U3I",
    "consent_id": "cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P",
    "status": "completed",
    "status_code": "ACSC",
    "instructed_amount": {"amount": "268.00", "currency": "CNY"},
    "refunded_amount": {"amount": "0.00", "currency": "CNY"},
    "creditor": {"merchant": "skytrip", "name": "SkyTrip Travel Ltd"},
    "remittance_reference": "SKYTRIP-ORDER-88231",
    "created_at": "2026-12-03T11:02:00Z",
    "status_updated_at": "2026-12-03T11:02:00Z"
}))]
pub struct PaymentView {
    pub payment_id: PaymentId,
    pub consent_id: ConsentId,
    pub status: PaymentStatus,
    pub status_code: Iso20022Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<StatusReason>,
    pub instructed_amount: Money,
    /// What has been refunded so far (refunds completed or still pending).
    pub refunded_amount: Money,
    pub creditor: Creditor,
    pub remittance_reference: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub status_updated_at: String,
}

/// Body of `POST /v1/payments/{payment_id}/refunds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": {"amount": "68.00", "currency": "CNY"}, "reason": "One night cancelled"}))]
pub struct RefundRequest {
    /// Part or all of what remains refundable, in the payment's currency.
    pub amount: Money,
    /// Shown on the customer's statement; 1 to 140 characters.
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "refund_id": "rfd_01JDQ6BQ2Y3X4W5V6U7T8S9R0Q",
    "payment_id": "pay_01JDQ60A7K5S2W8E4R6T0Y1U3I",
    "status": "completed",
    "status_code": "ACSC",
    "amount": {"amount": "68.00", "currency": "CNY"},
    "reason": "One night cancelled",
    "created_at": "2026-12-03T15:00:00Z",
    "status_updated_at": "2026-12-03T15:00:00Z"
}))]
pub struct RefundView {
    pub refund_id: RefundId,
    pub payment_id: PaymentId,
    pub status: PaymentStatus,
    pub status_code: Iso20022Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<StatusReason>,
    pub amount: Money,
    pub reason: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub status_updated_at: String,
}

/// Body of `GET /v1/payments/{payment_id}/refunds`, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundList {
    pub data: Vec<RefundView>,
}
