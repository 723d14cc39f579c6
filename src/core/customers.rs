//! Customers, their accounts, balances and statements, in the core's own shapes.
//!
//! These stay core-shaped on purpose: pseudonymous ids, masking and what a consent lets a
//! partner see are decided by `crate::accounts`, not here.

use serde::{Deserialize, Serialize};

use super::encode;
use super::{CoreClient, CoreError};

#[derive(Debug, Clone, Deserialize)]
pub struct CoreCustomer {
    pub cust_no: String,
    pub cust_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CoreAccount {
    pub acct_no: String,
    pub cust_no: String,
    pub acct_name: String,
    pub ccy: String,
    /// `SAV` or `CUR`.
    pub acct_type: String,
    /// `N` normal, `F` frozen, `C` closed.
    pub acct_status: String,
    /// `yyyyMMdd`.
    pub open_date: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CoreBalance {
    pub acct_no: String,
    /// The account's holder: ownership is checked from the balance answer itself.
    pub cust_no: String,
    pub ccy: String,
    pub ledger_bal_fen: i64,
    pub avail_bal_fen: i64,
    /// Beijing time, `yyyyMMddHHmmss`.
    pub as_of: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CoreTxn {
    pub txn_seq: i64,
    pub txn_id: String,
    /// Beijing time, `yyyyMMddHHmmss`.
    pub txn_time: String,
    /// `D` or `C`.
    pub dr_cr: String,
    pub amt_fen: i64,
    pub ccy: String,
    pub memo: String,
    pub cpty_name: Option<String>,
    pub cpty_acct: Option<String>,
    pub bal_after_fen: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CoreTxnPage {
    /// The account and its holder, checked against the consent on every page.
    pub acct_no: String,
    pub cust_no: String,
    pub items: Vec<CoreTxn>,
    pub has_more: bool,
}

#[derive(Debug, Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

#[derive(Serialize)]
struct VerifyBody<'a> {
    login_id: &'a str,
    password: &'a str,
}

/// A statement query: Beijing-time dates, inclusive, the order, and a keyset cursor.
#[derive(Debug, Clone, Default)]
pub struct TxnQuery {
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// Highest sequence number first.
    pub newest_first: bool,
    /// The last sequence number already read: the page continues past it in this order.
    pub past_seq: Option<i64>,
    pub limit: u32,
}

#[derive(Serialize)]
struct IdentifyBody<'a> {
    login_id: &'a str,
}

#[derive(Deserialize)]
struct Identified {
    cust_no: String,
}

impl CoreClient {
    /// The customer number behind a login id (mobile or customer number); `None` when no
    /// customer has it. No password is checked.
    pub async fn identify_customer(&self, login_id: &str) -> Result<Option<String>, CoreError> {
        match self
            .post::<_, Identified>("identify_customer", "/core/customers/identify", &IdentifyBody { login_id })
            .await
        {
            Ok(found) => Ok(Some(found.cust_no)),
            Err(CoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Checks a customer's bank login. Wrong password and unknown login both answer
    /// [`CoreError::Unauthenticated`]. The password goes to the core only, never to a log.
    pub async fn verify_customer(&self, login_id: &str, password: &str) -> Result<CoreCustomer, CoreError> {
        self.post("verify_customer", "/core/customers/verify", &VerifyBody { login_id, password }).await
    }

    pub async fn customer_accounts(&self, cust_no: &str) -> Result<Vec<CoreAccount>, CoreError> {
        let path = format!("/core/customers/{}/accounts", encode(cust_no));
        Ok(self.get::<Items<CoreAccount>>("customer_accounts", &path, &[]).await?.items)
    }

    pub async fn account(&self, acct_no: &str) -> Result<CoreAccount, CoreError> {
        self.get("account", &format!("/core/accounts/{}", encode(acct_no)), &[]).await
    }

    pub async fn balance(&self, acct_no: &str) -> Result<CoreBalance, CoreError> {
        self.get("balance", &format!("/core/accounts/{}/balance", encode(acct_no)), &[]).await
    }

    pub async fn transactions(&self, acct_no: &str, q: &TxnQuery) -> Result<CoreTxnPage, CoreError> {
        let mut params = vec![("limit", q.limit.to_string())];
        if let Some(d) = &q.start_date {
            params.push(("start_date", d.clone()));
        }
        if let Some(d) = &q.end_date {
            params.push(("end_date", d.clone()));
        }
        if q.newest_first {
            params.push(("order", "desc".to_owned()));
        }
        if let Some(s) = q.past_seq {
            params.push((if q.newest_first { "before_seq" } else { "after_seq" }, s.to_string()));
        }
        self.get("transactions", &format!("/core/accounts/{}/txns", encode(acct_no)), &params).await
    }
}
