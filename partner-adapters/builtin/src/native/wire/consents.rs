//! Account-access consents as the native API takes and sends them.

use scenegate_adapter_contract::ConsentId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a consent allows. Names follow UK Open Banking's permission codes so partners who
/// know them recognise them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
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

/// The consent's lifecycle. Only these transitions exist:
/// `awaiting_authorisation` → `authorised` | `rejected` | `expired` (24 h unanswered);
/// `authorised` → `revoked` (customer or partner) | `expired` (past `expiration`) |
/// `consumed` (a single payment consent, by its one payment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    AwaitingAuthorisation,
    Authorised,
    Rejected,
    Revoked,
    Expired,
    Consumed,
}

/// Body of `POST /v1/consents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "permissions": ["ReadAccountsBasic", "ReadBalances", "ReadTransactionsBasic"],
    "expiration": "2027-05-01T00:00:00Z",
    "transaction_from": "2026-08-01T00:00:00Z",
    "purpose": "Show your balance and spending on SkyTrip's trip budget page"
}))]
pub struct ConsentRequest {
    /// At least one; no repeats.
    #[schema(min_items = 1)]
    pub permissions: Vec<Permission>,
    /// RFC 3339. At most one year ahead; 90 days when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expiration: Option<String>,
    /// Earliest transaction the partner may read (RFC 3339).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub transaction_from: Option<String>,
    /// Latest transaction the partner may read (RFC 3339).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub transaction_to: Option<String>,
    /// Shown to the customer on the consent screen: say why, in plain words. 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub purpose: String,
}

/// A consent as its partner sees it. Which accounts the customer chose and who the
/// customer is are not disclosed here: the accounts API shows the accounts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "consent_id": "cns_01JDQ5ZC3N6Y8M2X4T7V9B1K3P",
    "status": "awaiting_authorisation",
    "permissions": ["ReadAccountsBasic", "ReadBalances"],
    "expiration": "2027-05-01T00:00:00Z",
    "purpose": "Show your balance on SkyTrip's trip budget page",
    "created_at": "2026-11-28T08:00:00Z",
    "status_updated_at": "2026-11-28T08:00:00Z"
}))]
pub struct ConsentView {
    pub consent_id: ConsentId,
    pub status: ConsentStatus,
    pub permissions: Vec<Permission>,
    #[schema(format = DateTime)]
    pub expiration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub transaction_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub transaction_to: Option<String>,
    pub purpose: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub status_updated_at: String,
}
