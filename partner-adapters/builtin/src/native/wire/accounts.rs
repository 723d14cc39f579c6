//! Accounts, balances and transactions as the native API sends them.
//!
//! Optional fields are present only when the consent's permissions cover them, and are
//! then omitted, never null: a partner cannot tell a withheld field from an absent one.

use scenegate_adapter_contract::{AccountId, Currency, Money, TransactionId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PageLinks, PageMeta};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    Savings,
    Current,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Enabled,
    /// Frozen by the bank: readable, not usable.
    Blocked,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "account_id": "acc_8KQ2M4ZP7XW3", "currency": "CNY", "account_type": "savings", "status": "enabled",
    "account_number": "622202*********0018", "account_name": "张*"
}))]
pub struct Account {
    /// Stable for this partner; another partner sees another id for the same account.
    pub account_id: AccountId,
    pub currency: Currency,
    pub account_type: AccountType,
    pub status: AccountStatus,
    /// First 6 and last 4 digits unless the consent has `ReadAccountsDetail`.
    pub account_number: String,
    /// Masked (`张*`) unless the consent has `ReadAccountsDetail`.
    pub account_name: String,
    /// Date the account was opened (`ReadAccountsDetail` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Date, example = "2024-01-15")]
    pub opened_on: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "account_id": "acc_8KQ2M4ZP7XW3",
    "booked": {"amount": "15230.45", "currency": "CNY"},
    "available": {"amount": "15230.45", "currency": "CNY"},
    "as_of": "2026-11-28T08:00:00Z"
}))]
pub struct Balance {
    pub account_id: AccountId,
    /// Sum of every booked posting.
    pub booked: Money,
    /// What can be spent now (zero on a blocked account).
    pub available: Money,
    #[schema(format = DateTime)]
    pub as_of: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreditDebit {
    Credit,
    Debit,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "transaction_id": "txn_412", "booked_at": "2026-10-10T01:00:00Z",
    "amount": {"amount": "38.50", "currency": "CNY"}, "credit_debit": "debit",
    "description": "美团外卖", "balance_after": {"amount": "15191.95", "currency": "CNY"}
}))]
pub struct Transaction {
    pub transaction_id: TransactionId,
    #[schema(format = DateTime)]
    pub booked_at: String,
    /// Always positive; `credit_debit` gives the direction.
    pub amount: Money,
    pub credit_debit: CreditDebit,
    /// `ReadTransactionsDetail` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `ReadTransactionsDetail` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty_name: Option<String>,
    /// `ReadTransactionsDetail` only; masked like account numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty_account: Option<String>,
    /// `ReadTransactionsDetail` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_after: Option<Money>,
}

/// Listing order by booking time. Newest first is the default: "recent transactions" is what
/// a partner asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountList {
    pub data: Vec<Account>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BalanceList {
    pub data: Vec<Balance>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TransactionList {
    pub data: Vec<Transaction>,
    pub links: PageLinks,
    pub meta: PageMeta,
}
