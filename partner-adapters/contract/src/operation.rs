//! The canonical operations a partner can call, with what each one requires.

use serde::{Deserialize, Serialize};

/// API security level per JR/T 0185: `A1` covers public product data only, `A2` covers
/// customer account and money data and needs a risk assessment on file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SecurityLevel {
    A1,
    A2,
}

/// Every call the standard API carries. Adapters declare which of these their protocol can
/// express; the pipeline looks up scope and level here, so a route cannot forget either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    ListProducts,
    GetProduct,
    CreateConsent,
    GetConsent,
    DeleteConsent,
    ListAccounts,
    GetAccount,
    GetBalances,
    ListTransactions,
    CreatePaymentConsent,
    GetPaymentConsent,
    /// The partner withdraws a payment consent it no longer needs.
    RevokePaymentConsent,
    CreatePayment,
    GetPayment,
    CreateRefund,
    ListRefunds,
    ListEvents,
    AckEvent,
    /// A batch of credit transfers (ISO 20022 `pain.001`) for one customer to authorise
    /// once: creates a payment consent of kind `bulk`.
    InitiateBulkPayment,
    /// Pays every transaction of an authorised bulk consent, each its own payment.
    ExecuteBulkPayment,
    /// A bulk consent and the status of each of its payments.
    GetBulkPayment,
}

impl Operation {
    /// The standard API's operations: what the native adapter carries.
    pub const STANDARD: &'static [Operation] = &[
        Operation::ListProducts,
        Operation::GetProduct,
        Operation::CreateConsent,
        Operation::GetConsent,
        Operation::DeleteConsent,
        Operation::ListAccounts,
        Operation::GetAccount,
        Operation::GetBalances,
        Operation::ListTransactions,
        Operation::CreatePaymentConsent,
        Operation::GetPaymentConsent,
        Operation::RevokePaymentConsent,
        Operation::CreatePayment,
        Operation::GetPayment,
        Operation::CreateRefund,
        Operation::ListRefunds,
        Operation::ListEvents,
        Operation::AckEvent,
    ];

    /// Bulk payments: carried by ISO 20022 (`pain.001`), not (yet) by the standard API.
    pub const BULK: &'static [Operation] =
        &[Operation::InitiateBulkPayment, Operation::ExecuteBulkPayment, Operation::GetBulkPayment];

    pub const ALL: &'static [Operation] =
        &concat::<{ Self::STANDARD.len() + Self::BULK.len() }>(Self::STANDARD, Self::BULK);

    /// The OAuth scope a token must carry for this operation.
    pub const fn required_scope(self) -> &'static str {
        match self {
            Self::ListProducts | Self::GetProduct => "products:read",
            Self::CreateConsent | Self::GetConsent | Self::DeleteConsent => "consents:write",
            Self::ListAccounts | Self::GetAccount | Self::GetBalances | Self::ListTransactions => "accounts:read",
            Self::CreatePaymentConsent
            | Self::GetPaymentConsent
            | Self::RevokePaymentConsent
            | Self::GetPayment
            | Self::CreateRefund
            | Self::ListRefunds
            | Self::InitiateBulkPayment
            | Self::GetBulkPayment => "payments:write",
            Self::CreatePayment | Self::ExecuteBulkPayment => "payments:initiate",
            Self::ListEvents | Self::AckEvent => "events:read",
        }
    }

    /// The lowest security level a partner must be registered at.
    pub const fn security_level(self) -> SecurityLevel {
        match self {
            Self::ListProducts | Self::GetProduct => SecurityLevel::A1,
            Self::CreateConsent
            | Self::GetConsent
            | Self::DeleteConsent
            | Self::ListAccounts
            | Self::GetAccount
            | Self::GetBalances
            | Self::ListTransactions
            | Self::CreatePaymentConsent
            | Self::GetPaymentConsent
            | Self::RevokePaymentConsent
            | Self::CreatePayment
            | Self::GetPayment
            | Self::CreateRefund
            | Self::ListRefunds
            | Self::ListEvents
            | Self::AckEvent
            | Self::InitiateBulkPayment
            | Self::ExecuteBulkPayment
            | Self::GetBulkPayment => SecurityLevel::A2,
        }
    }

    /// Whether the call acts on one customer's data, and so needs a token bound to a
    /// customer's consent rather than a client-credentials token.
    pub const fn needs_customer_consent(self) -> bool {
        match self {
            Self::ListAccounts
            | Self::GetAccount
            | Self::GetBalances
            | Self::ListTransactions
            | Self::CreatePayment
            | Self::ExecuteBulkPayment => true,
            Self::ListProducts
            | Self::GetProduct
            | Self::CreateConsent
            | Self::GetConsent
            | Self::DeleteConsent
            | Self::CreatePaymentConsent
            | Self::GetPaymentConsent
            | Self::RevokePaymentConsent
            | Self::GetPayment
            | Self::CreateRefund
            | Self::ListRefunds
            | Self::ListEvents
            | Self::AckEvent
            | Self::InitiateBulkPayment
            | Self::GetBulkPayment => false,
        }
    }

    /// Whether the call spends a payment consent (rather than reading under an account one).
    pub const fn spends_payment_consent(self) -> bool {
        matches!(self, Self::CreatePayment | Self::ExecuteBulkPayment)
    }

    /// Whether the call moves money: it needs an idempotency key (the `Idempotency-Key`
    /// header, or the protocol's own order or message number) and a signature over its body
    /// (a detached JWS, or the protocol's own), and its response is signed.
    pub const fn moves_money(self) -> bool {
        matches!(
            self,
            Self::CreatePaymentConsent
                | Self::CreatePayment
                | Self::CreateRefund
                | Self::InitiateBulkPayment
                | Self::ExecuteBulkPayment
        )
    }

    /// Stable name used in metrics, logs and audit records.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ListProducts => "list_products",
            Self::GetProduct => "get_product",
            Self::CreateConsent => "create_consent",
            Self::GetConsent => "get_consent",
            Self::DeleteConsent => "delete_consent",
            Self::ListAccounts => "list_accounts",
            Self::GetAccount => "get_account",
            Self::GetBalances => "get_balances",
            Self::ListTransactions => "list_transactions",
            Self::CreatePaymentConsent => "create_payment_consent",
            Self::GetPaymentConsent => "get_payment_consent",
            Self::RevokePaymentConsent => "revoke_payment_consent",
            Self::CreatePayment => "create_payment",
            Self::GetPayment => "get_payment",
            Self::CreateRefund => "create_refund",
            Self::ListRefunds => "list_refunds",
            Self::ListEvents => "list_events",
            Self::AckEvent => "ack_event",
            Self::InitiateBulkPayment => "initiate_bulk_payment",
            Self::ExecuteBulkPayment => "execute_bulk_payment",
            Self::GetBulkPayment => "get_bulk_payment",
        }
    }
}

/// Two lists as one, at compile time.
const fn concat<const N: usize>(a: &[Operation], b: &[Operation]) -> [Operation; N] {
    let mut out = [Operation::ListProducts; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - a.len()];
        i += 1;
    }
    out
}
