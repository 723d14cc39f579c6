//! One core system, reached in its own wire format. A connector is one folder
//! (`legacy/`, `modern/`): its wire types, its decoding into [`super::model`] and
//! [`super::posting`], and this trait. The router (`CoreClient`) picks the connector for
//! each call; nothing else knows which core answered.

use async_trait::async_trait;
use scenegate_adapter_contract::{
    ProductId,
    canonical::{Page, Product, ProductQuery},
};

use super::{
    CoreError,
    model::{CoreAccount, CoreBalance, CoreCustomer, CoreTxnPage, TxnQuery},
    posting::{OtpCheck, OtpSent, PostingOrder, PostingOutcome, Settlement},
};

/// A core's wire format, as `[core] dialect` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// The bank's legacy core: a `ret_code` envelope, integer fen, Beijing-time stamps.
    Legacy,
    /// The new core: plain REST, decimal strings, RFC 3339 UTC, HTTP status codes.
    Modern,
}

/// What a core system can be asked besides accounts and postings, which every core offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// The product catalogue.
    Products,
    /// Customer logins and one-time codes (the customer master).
    Customers,
}

impl Service {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Products => "product catalogue",
            Self::Customers => "customer master (logins, one-time codes)",
        }
    }
}

impl Dialect {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "legacy" => Some(Self::Legacy),
            "modern" => Some(Self::Modern),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Modern => "modern",
        }
    }

    /// Whether a core of this dialect offers `service` (checked when the routing table is
    /// loaded, so no call is ever routed to a core that cannot answer it).
    pub fn offers(self, service: Service) -> bool {
        match (self, service) {
            (Self::Legacy, _) => true,
            (Self::Modern, Service::Products | Service::Customers) => false,
        }
    }
}

fn not_offered<T>(op: &'static str) -> Result<T, CoreError> {
    Err(CoreError::NotOffered(op))
}

#[async_trait]
pub trait CoreConnector: Send + Sync {
    fn dialect(&self) -> Dialect;
    /// `closed`, `half_open` or `open`.
    fn breaker_state(&self) -> &'static str;
    async fn health(&self) -> Result<(), CoreError>;

    async fn list_products(&self, q: &ProductQuery) -> Result<Page<Product>, CoreError> {
        let _ = q;
        not_offered("list_products")
    }
    async fn get_product(&self, id: &ProductId) -> Result<Product, CoreError> {
        let _ = id;
        not_offered("get_product")
    }

    /// The customer number behind a login id (mobile or customer number); `None` when no
    /// customer has it. No password is checked.
    async fn identify_customer(&self, login_id: &str) -> Result<Option<String>, CoreError> {
        let _ = login_id;
        not_offered("identify_customer")
    }
    /// Checks a customer's bank login. Wrong password and unknown login both answer
    /// [`CoreError::Unauthenticated`]. The password goes to the core only, never to a log.
    async fn verify_customer(&self, login_id: &str, password: &str) -> Result<CoreCustomer, CoreError> {
        let _ = (login_id, password);
        not_offered("verify_customer")
    }
    /// Sends a one-time code to the customer's registered phone.
    async fn send_otp(&self, cust_no: &str, purpose: &str, reference: &str) -> Result<OtpSent, CoreError> {
        let _ = (cust_no, purpose, reference);
        not_offered("send_otp")
    }
    async fn verify_otp(&self, otp_id: &str, code: &str) -> Result<OtpCheck, CoreError> {
        let _ = (otp_id, code);
        not_offered("verify_otp")
    }

    /// The customer's accounts held in this core (none is an empty list, not an error).
    async fn customer_accounts(&self, cust_no: &str) -> Result<Vec<CoreAccount>, CoreError>;
    async fn account(&self, acct_no: &str) -> Result<CoreAccount, CoreError>;
    async fn balance(&self, acct_no: &str) -> Result<CoreBalance, CoreError>;
    async fn transactions(&self, acct_no: &str, q: &TxnQuery) -> Result<CoreTxnPage, CoreError>;

    /// Books a posting. `Err(Timeout | Connect | Status)` means the outcome is unknown
    /// (except `Connect`, where the core never saw it): never report it as a failure.
    async fn post(&self, order: &PostingOrder) -> Result<PostingOutcome, CoreError>;
    /// What the core knows of `req_seq`. Safe to repeat.
    async fn posting_status(&self, req_seq: &str) -> Result<Settlement, CoreError>;
    /// Settles an unknown outcome: the booking if it happened, else a void that stops it
    /// from ever happening. Safe to repeat.
    async fn void(&self, req_seq: &str) -> Result<Settlement, CoreError>;
}
