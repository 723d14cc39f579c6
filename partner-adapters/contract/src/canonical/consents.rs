//! Customer consent: what a partner asks for, and the consent as the partner sees it.

use serde::{Deserialize, Serialize};

use crate::ConsentId;

/// What a consent allows. Names follow UK Open Banking's permission codes so partners who
/// know them recognise them.
///
/// Serde here is the gateway's storage form (a stored consent's `permissions`, the audit
/// trail), not the wire: partners see `native::wire::Permission`. Changing it changes what
/// is already stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    /// Accounts with masked numbers and names.
    ReadAccountsBasic,
    /// Accounts with full numbers, names and opening dates.
    ReadAccountsDetail,
    /// Booked and available balances.
    ReadBalances,
    /// Transactions: time, amount, direction.
    ReadTransactionsBasic,
    /// Transactions with description, counterparty and running balance.
    ReadTransactionsDetail,
}

impl Permission {
    pub const ALL: &'static [Permission] = &[
        Permission::ReadAccountsBasic,
        Permission::ReadAccountsDetail,
        Permission::ReadBalances,
        Permission::ReadTransactionsBasic,
        Permission::ReadTransactionsDetail,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Self::ReadAccountsBasic => "ReadAccountsBasic",
            Self::ReadAccountsDetail => "ReadAccountsDetail",
            Self::ReadBalances => "ReadBalances",
            Self::ReadTransactionsBasic => "ReadTransactionsBasic",
            Self::ReadTransactionsDetail => "ReadTransactionsDetail",
        }
    }
}

/// The consent's lifecycle. Only these transitions exist:
/// `awaiting_authorisation` → `authorised` | `rejected` | `expired` (24 h unanswered);
/// `authorised` → `revoked` (customer or partner) | `expired` (past `expiration`) |
/// `consumed` (a single payment consent, by its one payment).
///
/// Serde here is the gateway's storage form (a stored consent and its history), not the
/// wire: partners see `native::wire::ConsentStatus`. Changing it changes what is already
/// stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    AwaitingAuthorisation,
    Authorised,
    Rejected,
    Revoked,
    Expired,
    Consumed,
}

impl ConsentStatus {
    pub const fn code(self) -> &'static str {
        match self {
            Self::AwaitingAuthorisation => "awaiting_authorisation",
            Self::Authorised => "authorised",
            Self::Rejected => "rejected",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Consumed => "consumed",
        }
    }
}

/// What a partner asks a customer to consent to.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsentRequest {
    /// At least one; no repeats.
    pub permissions: Vec<Permission>,
    /// RFC 3339. At most one year ahead; 90 days when absent.
    pub expiration: Option<String>,
    /// Earliest transaction the partner may read (RFC 3339).
    pub transaction_from: Option<String>,
    /// Latest transaction the partner may read (RFC 3339).
    pub transaction_to: Option<String>,
    /// Shown to the customer on the consent screen: say why, in plain words. 1 to 200 characters.
    pub purpose: String,
}

/// A consent as its partner sees it. Which accounts the customer chose and who the
/// customer is are not disclosed here: the accounts API shows the accounts.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsentView {
    pub consent_id: ConsentId,
    pub status: ConsentStatus,
    pub permissions: Vec<Permission>,
    pub expiration: String,
    pub transaction_from: Option<String>,
    pub transaction_to: Option<String>,
    pub purpose: String,
    pub created_at: String,
    pub status_updated_at: String,
}
