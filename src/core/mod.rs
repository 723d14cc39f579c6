//! The bank's core systems, behind one client.
//!
//! A bank rarely has one core: here a legacy core holds the product catalogue, the customer
//! master and most accounts, and a new core holds a range of account numbers. Each is
//! reached through a connector in its own wire format (`legacy/`, `modern/`, behind
//! [`connector::CoreConnector`]); [`CoreClient`] routes every call by the routing table
//! (`routing.rs`): products and customers by operation, accounts and postings by account
//! number. A payment between accounts held by different cores is two postings, one on each,
//! with a recorded reversal when the second cannot be booked (`crosscore.rs`). Nothing
//! outside this module knows which core answered, or how it spells anything.

mod breaker;
pub mod connector;
mod crosscore;
mod http;
mod legacy;
pub mod model;
mod modern;
pub mod posting;
pub mod routing;

pub use breaker::BreakerSettings;
pub use connector::{Dialect, Service};
pub use http::ConnectorSettings;
pub use model::{
    AccountKind, AccountState, CoreAccount, CoreBalance, CoreCustomer, CoreTxn, CoreTxnPage, Direction, TxnQuery,
};
pub use posting::{
    CoreCreditor, ExternalDebtor, OtpCheck, OtpSent, PostingKind, PostingOrder, PostingOutcome, Refusal, Settlement,
};
pub use routing::{AccountRange, CoreSystem, CoreTopology};

use std::{sync::Arc, time::Duration};

use scenegate_adapter_contract::{
    ProductId,
    canonical::{Page, Product, ProductQuery},
};

use connector::CoreConnector;

pub use crate::outgoing_tls::OutgoingTls;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The request never reached the core (refused, DNS, pool): always safe to retry.
    #[error("core unreachable: {0}")]
    Connect(String),
    #[error("core did not answer within {0:?}")]
    Timeout(Duration),
    #[error("core answered HTTP {0}")]
    Status(u16),
    #[error("core answered `{code}`: {message}")]
    Rejected { code: String, message: String },
    #[error("core answer could not be read: {0}")]
    Decode(String),
    #[error("not found in core")]
    NotFound,
    /// The core refused a customer's credentials (wrong password or unknown login alike).
    #[error("credentials refused by core")]
    Unauthenticated,
    /// The partner sent something that cannot be expressed to the core (e.g. a bad cursor).
    #[error("`{field}`: {reason}")]
    BadInput { field: &'static str, reason: String },
    /// Not sent: the circuit is open or too many calls are in flight. Retry after the wait.
    #[error("core call not sent: {why}")]
    NotSent { why: &'static str, retry_after: Duration },
    /// The routing table sent a call to a core that does not offer it. A configuration
    /// defect: the table is checked at load, so this should never be seen.
    #[error("`{0}` is not offered by the core it was routed to")]
    NotOffered(&'static str),
}

impl CoreError {
    /// Whether a read may be sent again. Writes will need an idempotency key on top of this.
    pub fn retry_safe_for_read(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Status(502..=504))
    }

    /// Whether this says the core is unwell (counts toward opening the circuit); a business
    /// answer, however negative, says it is well.
    fn is_core_failure(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Timeout(_) | Self::Status(500..))
    }
}

/// Why a core client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    #[error("core base URL {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// Defaults of `[core]` breaker_failures, breaker_open_ms and max_in_flight.
pub const DEFAULT_BREAKER: BreakerSettings = BreakerSettings { failures: 5, open_for: Duration::from_secs(5) };
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// An instant as partners and cores of RFC 3339 get it: UTC, whole seconds, `Z`. (jiff's
/// RFC 3339 printer: a page of transactions prints two per line, and `strftime` interprets
/// its format string each time, several times the cost.)
pub fn rfc3339(t: jiff::Timestamp) -> String {
    static WHOLE_SECONDS: jiff::fmt::temporal::DateTimePrinter =
        jiff::fmt::temporal::DateTimePrinter::new().precision(Some(0));
    WHOLE_SECONDS.timestamp_to_string(&t)
}

struct System {
    name: String,
    connector: Box<dyn CoreConnector>,
}

struct Cores {
    systems: Vec<System>,
    routes: routing::Routes,
}

/// One core system's answer to a health check, for `/readyz`.
#[derive(Debug)]
pub struct SystemHealth<'a> {
    pub name: &'a str,
    /// The gateway cannot serve without it (it holds the products or the customers).
    pub essential: bool,
    pub outcome: Result<(), CoreError>,
    /// Its circuit breaker: `closed`, `half_open` or `open`.
    pub circuit: &'static str,
}

/// Every core system and the routing table. Cheap to clone.
#[derive(Clone)]
pub struct CoreClient {
    cores: Arc<Cores>,
}

impl CoreClient {
    /// One legacy core holding everything (tests, and a bank with one core).
    pub fn new(base_url: &str, timeout: Duration, connect_timeout: Duration) -> Result<Self, ClientSetupError> {
        Self::with_limits(base_url, timeout, connect_timeout, DEFAULT_BREAKER, DEFAULT_MAX_IN_FLIGHT)
    }

    pub fn with_limits(
        base_url: &str,
        timeout: Duration,
        connect_timeout: Duration,
        breaker: BreakerSettings,
        max_in_flight: usize,
    ) -> Result<Self, ClientSetupError> {
        Self::with_tls(base_url, timeout, connect_timeout, breaker, max_in_flight, &OutgoingTls::default())
    }

    /// As [`CoreClient::with_limits`], over TLS (rustls) trusting the platform's roots plus
    /// `tls.extra_roots`, and presenting `tls.identity` as client certificate when given.
    pub fn with_tls(
        base_url: &str,
        timeout: Duration,
        connect_timeout: Duration,
        breaker: BreakerSettings,
        max_in_flight: usize,
        tls: &OutgoingTls,
    ) -> Result<Self, ClientSetupError> {
        let settings = ConnectorSettings {
            base_url: base_url.to_owned(),
            timeout,
            connect_timeout,
            breaker,
            max_in_flight,
            tls: tls.clone(),
        };
        Self::from_topology(&CoreTopology::single(settings))
    }

    /// Every system of the topology, routed by its table (checked when it was built).
    pub fn from_topology(topology: &CoreTopology) -> Result<Self, ClientSetupError> {
        let systems = topology
            .systems
            .iter()
            .map(|s| {
                let connector: Box<dyn CoreConnector> = match s.dialect {
                    Dialect::Legacy => Box::new(legacy::LegacyCore::new(&s.name, &s.settings)?),
                    Dialect::Modern => Box::new(modern::ModernCore::new(&s.name, &s.settings)?),
                };
                Ok(System { name: s.name.clone(), connector })
            })
            .collect::<Result<Vec<_>, ClientSetupError>>()?;
        Ok(Self { cores: Arc::new(Cores { systems, routes: topology.routes() }) })
    }

    fn system(&self, index: usize) -> &dyn CoreConnector {
        self.cores.systems[index].connector.as_ref()
    }

    /// The core holding `acct_no`.
    fn holder(&self, acct_no: &str) -> &dyn CoreConnector {
        self.system(self.cores.routes.account(acct_no))
    }

    /// Every core's health check, asked at once, in routing-table order.
    pub async fn health(&self) -> Vec<SystemHealth<'_>> {
        let routes = &self.cores.routes;
        let checks = self.cores.systems.iter().enumerate().map(|(index, s)| async move {
            SystemHealth {
                name: s.name.as_str(),
                // Products and customers (logins, one-time codes) have one core each: without
                // it no partner is served. A core holding only some accounts leaves the rest
                // of the gateway working.
                essential: index == routes.products || index == routes.customers,
                outcome: s.connector.health().await,
                circuit: s.connector.breaker_state(),
            }
        });
        futures_util::future::join_all(checks).await
    }

    pub async fn list_products(&self, q: &ProductQuery) -> Result<Page<Product>, CoreError> {
        self.system(self.cores.routes.products).list_products(q).await
    }

    pub async fn get_product(&self, id: &ProductId) -> Result<Product, CoreError> {
        self.system(self.cores.routes.products).get_product(id).await
    }

    /// The customer number behind a login id (mobile or customer number); `None` when no
    /// customer has it. No password is checked.
    pub async fn identify_customer(&self, login_id: &str) -> Result<Option<String>, CoreError> {
        self.system(self.cores.routes.customers).identify_customer(login_id).await
    }

    /// Checks a customer's bank login. Wrong password and unknown login both answer
    /// [`CoreError::Unauthenticated`]. The password goes to the core only, never to a log.
    pub async fn verify_customer(&self, login_id: &str, password: &str) -> Result<CoreCustomer, CoreError> {
        self.system(self.cores.routes.customers).verify_customer(login_id, password).await
    }

    /// Sends a one-time code to the customer's registered phone.
    pub async fn send_otp(&self, cust_no: &str, purpose: &str, reference: &str) -> Result<OtpSent, CoreError> {
        self.system(self.cores.routes.customers).send_otp(cust_no, purpose, reference).await
    }

    pub async fn verify_otp(&self, otp_id: &str, code: &str) -> Result<OtpCheck, CoreError> {
        self.system(self.cores.routes.customers).verify_otp(otp_id, code).await
    }

    /// The customer's accounts in every core, asked at once, in routing-table order. A core
    /// that does not know the customer holds none of theirs; `NotFound` only when none does.
    pub async fn customer_accounts(&self, cust_no: &str) -> Result<Vec<CoreAccount>, CoreError> {
        let asks = self.cores.systems.iter().map(|s| s.connector.customer_accounts(cust_no));
        let mut all = Vec::new();
        let mut known = false;
        for (index, answer) in futures_util::future::join_all(asks).await.into_iter().enumerate() {
            match answer {
                Ok(accounts) => {
                    known = true;
                    // A core answers for the accounts it holds: one outside its ranges is
                    // another core's to speak for, and left out.
                    all.extend(accounts.into_iter().filter(|a| self.cores.routes.account(&a.acct_no) == index));
                }
                Err(CoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        if known { Ok(all) } else { Err(CoreError::NotFound) }
    }

    pub async fn account(&self, acct_no: &str) -> Result<CoreAccount, CoreError> {
        self.holder(acct_no).account(acct_no).await
    }

    pub async fn balance(&self, acct_no: &str) -> Result<CoreBalance, CoreError> {
        self.holder(acct_no).balance(acct_no).await
    }

    pub async fn transactions(&self, acct_no: &str, q: &TxnQuery) -> Result<CoreTxnPage, CoreError> {
        self.holder(acct_no).transactions(acct_no, q).await
    }

    /// Books a payment or refund: on the debtor's core, or as two postings when the creditor
    /// is held by another core. `Err(Timeout | Connect | Status)` means the outcome is
    /// unknown: never report it as a failure; [`CoreClient::settle`] finds out.
    pub async fn post_payment(&self, order: &PostingOrder) -> Result<PostingOutcome, CoreError> {
        match self.cores.routes.legs(order) {
            routing::Legs::One(core) => self.system(core).post(order).await,
            routing::Legs::Two { debtor, creditor } => {
                crosscore::Transfer::new(self.system(debtor), self.system(creditor), order).post().await
            }
        }
    }

    /// Settles a posting whose answer was lost: the booking if it happened, else a void that
    /// stops it from ever happening (between two cores: the second posting retried, or given
    /// up when `give_up` and the first one reversed). `Ok(Unknown)` while a core cannot
    /// say. Safe to repeat.
    pub async fn settle(&self, order: &PostingOrder, give_up: bool) -> Result<Settlement, CoreError> {
        match self.cores.routes.legs(order) {
            routing::Legs::One(core) => {
                let core = self.system(core);
                match core.posting_status(&order.req_seq).await? {
                    Settlement::Unknown => core.void(&order.req_seq).await,
                    known => Ok(known),
                }
            }
            routing::Legs::Two { debtor, creditor } => {
                crosscore::Transfer::new(self.system(debtor), self.system(creditor), order).settle(give_up).await
            }
        }
    }
}

#[cfg(test)]
mod tests;
