//! Accounts, balances and transactions as one consent lets one partner see them.
//!
//! The rules, all enforced here and nowhere else:
//! - only the accounts the customer chose (`consent.accounts`), and only if the core still
//!   says they are that customer's; anything else answers 404 exactly like a missing account;
//! - partners know accounts by pseudonymous ids ([`Pseudonyms`]), never by number;
//! - each operation needs its permission, and fields beyond the permission are masked
//!   ([`mask`]) or left out ([`view`]);
//! - transactions only inside the consent's window ([`window`]), paged by an opaque cursor.
//!
//! The pipeline has already checked that the consent is authorised; the check is repeated
//! against this service's clock so no path can read through a lapsed consent.

pub mod mask;
pub mod pseudonym;
mod view;
pub mod window;

use std::sync::Arc;

use scenegate_adapter_contract::{
    AccountId,
    canonical::{
        Account, Balance, ConsentStatus, MAX_PAGE_LIMIT, Page, Permission, SortOrder, Transaction, TransactionQuery,
    },
};
use subtle::ConstantTimeEq;

pub use pseudonym::{PseudonymKeyError, Pseudonyms};
use window::Window;

use crate::{
    auth::Clock,
    consent::Consent,
    core::{CoreAccount, CoreClient, CoreError, TxnQuery},
    error::ApiError,
};

/// A page may take this many core calls to fill when edge-of-window items are dropped;
/// then it is returned short, with a cursor.
const MAX_CORE_ROUNDS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Not an account under this consent: missing, unselected, another customer's or
    /// partner's, or a forged id. All answer alike, so ids cannot be probed.
    #[error("no such account")]
    NotFound,
    #[error("the consent does not include {0}")]
    Permission(&'static str),
    #[error("`{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("the consent is {}", .0.code())]
    Inactive(ConsentStatus),
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::NotFound => ApiError::NotFound("account"),
            AccountsError::Permission(p) => ApiError::ConsentPermission(p),
            AccountsError::InvalidField { field, reason } => ApiError::InvalidField { field: field.into(), reason },
            AccountsError::Inactive(status) => ApiError::ConsentInactive(status),
            AccountsError::Core(e) => ApiError::Core(e),
        }
    }
}

#[derive(Clone)]
pub struct Accounts {
    core: CoreClient,
    pseudonyms: Pseudonyms,
    clock: Arc<dyn Clock>,
}

impl Accounts {
    pub fn new(core: CoreClient, pseudonyms: Pseudonyms, clock: Arc<dyn Clock>) -> Self {
        Self { core, pseudonyms, clock }
    }

    /// The pseudonymous id `partner_id` knows the core account `acct_no` by.
    pub fn pseudonym(&self, partner_id: &str, acct_no: &str) -> AccountId {
        self.pseudonyms.account_id(partner_id, acct_no)
    }

    /// The consented accounts, in the order the customer chose them.
    pub async fn list(&self, consent: &Consent) -> Result<Vec<Account>, ApiError> {
        let detail = self.allowed(consent, Permission::ReadAccountsDetail, Permission::ReadAccountsBasic)?;
        let Some(customer) = consent.customer_id.as_deref() else { return Ok(Vec::new()) };
        let owned = match self.core.customer_accounts(customer).await {
            Ok(owned) => owned,
            Err(CoreError::NotFound) => Vec::new(),
            Err(e) => return Err(AccountsError::Core(e).into()),
        };
        let mut out: Vec<Account> = Vec::new();
        for acct_no in &consent.accounts {
            let id = self.pseudonyms.account_id(&consent.partner_id, acct_no);
            if out.iter().any(|a| a.account_id == id) {
                continue;
            }
            match owned.iter().find(|a| &a.acct_no == acct_no && a.cust_no == customer) {
                Some(a) => out.push(view::account(a, id, detail)),
                None => {
                    tracing::warn!(consent = %consent.id, "a consented account is no longer the customer's; left out")
                }
            }
        }
        Ok(out)
    }

    pub async fn get(&self, consent: &Consent, id: &AccountId) -> Result<Account, ApiError> {
        let detail = self.allowed(consent, Permission::ReadAccountsDetail, Permission::ReadAccountsBasic)?;
        let account = self.resolve(consent, id).await?;
        Ok(view::account(&account, id.clone(), detail))
    }

    pub async fn balances(&self, consent: &Consent, id: &AccountId) -> Result<Vec<Balance>, ApiError> {
        self.allowed(consent, Permission::ReadBalances, Permission::ReadBalances)?;
        // One core call: the balance answer names the holder, checked like `resolve` does.
        let (acct_no, customer) = self.consented(consent, id)?;
        let balance = self.core.balance(acct_no).await.map_err(not_found)?;
        still_owned(consent, (&balance.acct_no, &balance.cust_no), (acct_no, customer))?;
        Ok(vec![view::balance(&balance, acct_no, id.clone()).map_err(AccountsError::from)?])
    }

    /// Newest first (or oldest first with `order=asc`), inside the consent's window and the
    /// partner's `from`/`to`. Keyset paging on the core's sequence number: the cursor is the
    /// order and the last sequence number *read* (returned or filtered out), so no transaction
    /// is skipped or repeated across pages, and every page moves strictly on. Transaction ids
    /// are pseudonyms for this partner, like account ids.
    pub async fn transactions(
        &self,
        consent: &Consent,
        id: &AccountId,
        q: TransactionQuery,
    ) -> Result<Page<Transaction>, ApiError> {
        let detail = self.allowed(consent, Permission::ReadTransactionsDetail, Permission::ReadTransactionsBasic)?;
        // Every statement page names the holder, checked like `resolve` does: no separate
        // account lookup.
        let (acct_no, customer) = self.consented(consent, id)?;
        let asked = Window::from_query(q.from.as_deref(), q.to.as_deref())?;
        let newest_first = q.order == SortOrder::Desc;
        let mut past = q.cursor.as_deref().map(|c| window::decode_cursor(c, q.order)).transpose()?;
        let Some(window) = Window::of_consent(consent).intersect(asked) else {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        };
        let limit = q.limit.clamp(1, MAX_PAGE_LIMIT) as usize;
        let mut items = Vec::with_capacity(limit);
        for _ in 0..MAX_CORE_ROUNDS {
            let want = limit - items.len();
            let query = TxnQuery {
                from: window.from,
                to: window.to,
                newest_first,
                past_seq: past,
                limit: u32::try_from(want).unwrap_or(MAX_PAGE_LIMIT),
            };
            let page = self.core.transactions(acct_no, &query).await.map_err(not_found)?;
            still_owned(consent, (&page.acct_no, &page.cust_no), (acct_no, customer))?;
            if page.items.len() > want || (page.has_more && page.items.is_empty()) {
                return Err(AccountsError::Core(CoreError::Decode("statement page out of bounds".into())).into());
            }
            for txn in page.items {
                // Strictly monotone, or a misbehaving core could make pages repeat forever.
                let moves_on = |p: i64| if newest_first { txn.seq < p } else { txn.seq > p };
                if past.is_some_and(|p| !moves_on(p)) {
                    return Err(AccountsError::Core(CoreError::Decode("statement out of order".into())).into());
                }
                past = Some(txn.seq);
                if window.contains(txn.booked_at.as_second()) {
                    let id = self.pseudonyms.transaction_id(&consent.partner_id, acct_no, txn.seq);
                    items.push(view::transaction(txn, id, detail));
                }
            }
            if !page.has_more {
                return Ok(Page { items, next_cursor: None });
            }
            if items.len() >= limit {
                break;
            }
        }
        Ok(Page { items, next_cursor: past.map(|p| window::encode_cursor(q.order, p)) })
    }

    /// Consent in force and one of two permissions held; true when the first (the detailed
    /// one) is. The refusal names the basic one, the least the partner must ask for.
    fn allowed(&self, consent: &Consent, detail: Permission, basic: Permission) -> Result<bool, AccountsError> {
        if consent.status != ConsentStatus::Authorised {
            return Err(AccountsError::Inactive(consent.status));
        }
        if self.clock.now() >= consent.expiration {
            return Err(AccountsError::Inactive(ConsentStatus::Expired));
        }
        if consent.allows(detail) {
            Ok(true)
        } else if consent.allows(basic) {
            Ok(false)
        } else {
            Err(AccountsError::Permission(basic.code()))
        }
    }

    /// The core account a partner's id names under this consent, or `NotFound`. Every
    /// consented account's id is computed and compared in constant time, without stopping
    /// at a match, so timing tells nothing about how close a guess was.
    async fn resolve(&self, consent: &Consent, id: &AccountId) -> Result<CoreAccount, AccountsError> {
        let (acct_no, customer) = self.consented(consent, id)?;
        let account = self.core.account(acct_no).await.map_err(not_found)?;
        still_owned(consent, (&account.acct_no, &account.cust_no), (acct_no, customer))?;
        Ok(account)
    }

    /// The consented core account a partner's id names, and the consenting customer, from the
    /// consent alone (no core call), or `NotFound`. Every consented account's id is computed
    /// and compared in constant time, without stopping at a match.
    fn consented<'c>(&self, consent: &'c Consent, id: &AccountId) -> Result<(&'c str, &'c str), AccountsError> {
        let wanted = id.as_str().as_bytes();
        let mut found = None;
        for acct_no in &consent.accounts {
            let candidate = self.pseudonyms.account_id(&consent.partner_id, acct_no);
            if bool::from(candidate.as_str().as_bytes().ct_eq(wanted)) && found.is_none() {
                found = Some(acct_no.as_str());
            }
        }
        match (found, consent.customer_id.as_deref()) {
            (Some(acct_no), Some(customer)) => Ok((acct_no, customer)),
            _ => Err(AccountsError::NotFound),
        }
    }
}

/// The core's answer is about the consented account and it is still the consenting
/// customer's; otherwise the same 404 as an unconsented id.
fn still_owned(
    consent: &Consent,
    (acct, holder): (&str, &str),
    (acct_no, customer): (&str, &str),
) -> Result<(), AccountsError> {
    if acct != acct_no || holder != customer {
        tracing::warn!(consent = %consent.id, "a consented account is no longer the customer's; refused");
        return Err(AccountsError::NotFound);
    }
    Ok(())
}

/// The core's "no such account" is this service's: the same 404 as an unconsented id.
fn not_found(e: CoreError) -> AccountsError {
    match e {
        CoreError::NotFound => AccountsError::NotFound,
        other => AccountsError::Core(other),
    }
}

#[cfg(test)]
mod tests;
