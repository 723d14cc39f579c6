//! Accounts, balances and transactions, as a consent lets a partner see them.
//!
//! Optional fields are `None` unless the consent's permissions cover them. An adapter must
//! not let a partner tell a withheld field from an absent one (the native API omits both,
//! never null).

use crate::{AccountId, Currency, Money, TransactionId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountType {
    Savings,
    Current,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    Enabled,
    /// Frozen by the bank: readable, not usable.
    Blocked,
    Closed,
}

#[derive(Clone, Debug, PartialEq)]
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
    pub opened_on: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Balance {
    pub account_id: AccountId,
    /// Sum of every booked posting.
    pub booked: Money,
    /// What can be spent now (zero on a blocked account).
    pub available: Money,
    pub as_of: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreditDebit {
    Credit,
    Debit,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Transaction {
    pub transaction_id: TransactionId,
    pub booked_at: String,
    /// Always positive; `credit_debit` gives the direction.
    pub amount: Money,
    pub credit_debit: CreditDebit,
    /// `ReadTransactionsDetail` only.
    pub description: Option<String>,
    /// `ReadTransactionsDetail` only.
    pub counterparty_name: Option<String>,
    /// `ReadTransactionsDetail` only; masked like account numbers.
    pub counterparty_account: Option<String>,
    /// `ReadTransactionsDetail` only.
    pub balance_after: Option<Money>,
}

/// One account's statement: a page of its transactions (in the order asked for) and its
/// balances at the time of the request, both cut down to what the consent covers.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub account_id: AccountId,
    pub balances: Vec<Balance>,
    pub transactions: super::Page<Transaction>,
    /// The window the entries were taken from: the partner's `from`/`to` cut to the
    /// consent's, RFC 3339 in UTC; `None` at an open end (and both `None` when the two do
    /// not overlap: then there are no entries).
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Filter and page of a transaction listing; times are RFC 3339 as the partner sent them,
/// checked against the consent's window by the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
    pub order: SortOrder,
}

/// Listing order by booking time. Newest first is the default: "recent transactions" is what
/// a partner asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

impl SortOrder {
    /// As written in a query string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Asc, Self::Desc].into_iter().find(|o| o.as_str() == s)
    }
}
