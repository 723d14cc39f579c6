//! The new core's wire format, field for field: plain JSON resources, decimal strings,
//! RFC 3339 UTC instants, errors as `{"error": {"code", "message"}}` with an HTTP status.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Deserialize)]
pub struct Accounts {
    pub accounts: Vec<Account>,
}

#[derive(Debug, Deserialize)]
pub struct Account {
    pub account_number: String,
    pub customer_number: String,
    pub name: String,
    pub currency: String,
    /// `savings` or `current`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `active`, `frozen` or `closed`.
    pub status: String,
    /// `YYYY-MM-DD`.
    pub opened_on: String,
}

#[derive(Debug, Deserialize)]
pub struct Balance {
    pub account_number: String,
    pub customer_number: String,
    pub currency: String,
    pub booked: String,
    pub available: String,
    pub as_of: String,
}

#[derive(Debug, Deserialize)]
pub struct Statement {
    pub account_number: String,
    pub customer_number: String,
    pub transactions: Vec<Transaction>,
    pub has_more: bool,
}

#[derive(Debug, Deserialize)]
pub struct Transaction {
    pub sequence: i64,
    pub transaction_id: String,
    pub booked_at: String,
    /// `debit` or `credit`.
    pub direction: String,
    pub amount: String,
    pub currency: String,
    #[serde(default)]
    pub description: String,
    pub counterparty: Option<Counterparty>,
    pub balance_after: String,
}

/// The other party of a statement line; a card merchant has a name and no account.
#[derive(Debug, Deserialize)]
pub struct Counterparty {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub account_number: Option<String>,
}

#[derive(Debug, Serialize, Default)]
pub struct PostingBody<'a> {
    pub posting_id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debit_account: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit_account: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_creditor: Option<ExternalParty<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_debtor: Option<ExternalParty<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_posting_id: Option<&'a str>,
    pub amount: String,
    pub currency: &'a str,
    pub narrative: &'a str,
    pub scenario: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_category_code: Option<&'a str>,
    pub channel: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ExternalParty<'a> {
    pub account_number: &'a str,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_code: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct Receipt {
    /// `booked` or `voided`.
    pub status: String,
    #[serde(default)]
    pub transaction_id: Option<String>,
}
