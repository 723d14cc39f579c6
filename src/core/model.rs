//! What the gateway knows of a core system's records, whichever core answered: typed
//! currencies, minor units, UTC instants and calendar dates. Each connector decodes its own
//! wire format into these; nothing outside `crate::core` ever sees a core's codes, envelopes
//! or local times.
//!
//! These stay core-shaped on purpose (real account numbers, holder numbers): pseudonymous
//! ids, masking and what a consent lets a partner see are decided by `crate::accounts`.

use jiff::{Timestamp, civil::Date};
use scenegate_adapter_contract::Currency;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreCustomer {
    pub cust_no: String,
    pub cust_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    Savings,
    Current,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// Open and usable.
    Normal,
    Frozen,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreAccount {
    pub acct_no: String,
    /// The holder's customer number.
    pub cust_no: String,
    pub acct_name: String,
    pub currency: Currency,
    pub kind: AccountKind,
    pub state: AccountState,
    pub opened_on: Date,
}

impl CoreAccount {
    pub fn is_usable(&self) -> bool {
        self.state == AccountState::Normal
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreBalance {
    pub acct_no: String,
    /// The account's holder: ownership is checked from the balance answer itself.
    pub cust_no: String,
    pub currency: Currency,
    pub booked_minor: i64,
    pub available_minor: i64,
    pub as_of: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Debit,
    Credit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreTxn {
    /// The core's sequence number of the line in this account's statement: the keyset.
    pub seq: i64,
    pub txn_id: String,
    pub booked_at: Timestamp,
    pub direction: Direction,
    /// Never negative: `direction` says which way.
    pub amount_minor: i64,
    pub currency: Currency,
    pub memo: String,
    pub counterparty_name: Option<String>,
    pub counterparty_account: Option<String>,
    pub balance_after_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreTxnPage {
    /// The account and its holder, checked against the consent on every page.
    pub acct_no: String,
    pub cust_no: String,
    pub items: Vec<CoreTxn>,
    pub has_more: bool,
}

/// A statement query. Bounds are inclusive Unix seconds: a core that filters by calendar day
/// widens them to whole days, and the caller applies the exact bounds to what comes back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnQuery {
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Highest sequence number first.
    pub newest_first: bool,
    /// The last sequence number already read: the page continues past it in this order.
    pub past_seq: Option<i64>,
    pub limit: u32,
}
