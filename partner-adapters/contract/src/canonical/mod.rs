//! Canonical requests and responses: what every adapter translates to and from.
//!
//! Plain domain types: they never go to the wire as they are. Each adapter has its own wire
//! types and converts (the standard API's JSON bodies, and the schemas `openapi/` documents,
//! are `scenegate_adapters::native::wire`), so the public API and this model can change
//! apart. A few small types (consent status and permissions, payment consent type and
//! scenario) keep serde because the gateway stores them; their docs say so, and that form is
//! storage, not the wire. Money, currencies, rates and ids are the shared data standard and
//! live beside this module, not in it.

mod accounts;
mod bulk;
mod consents;
mod events;
mod page;
mod payments;
mod products;

pub use accounts::*;
pub use bulk::*;
pub use consents::*;
pub use events::*;
pub use page::*;
pub use payments::*;
pub use products::*;

use crate::{AccountId, ConsentId, PaymentId, ProductId};

#[derive(Clone, Debug, PartialEq)]
pub enum CanonicalRequest {
    ListProducts(ProductQuery),
    GetProduct(ProductId),
    CreateConsent(ConsentRequest),
    GetConsent(ConsentId),
    DeleteConsent(ConsentId),
    ListAccounts,
    GetAccount(AccountId),
    GetBalances(AccountId),
    ListTransactions(AccountId, TransactionQuery),
    /// A statement of one account (operation `ListTransactions`): a page of its transactions
    /// in booking order and its balances now, for protocols whose statement carries both
    /// (ISO 20022 `camt.053`). Needs `ReadBalances` besides a transactions permission.
    Statement(AccountId, TransactionQuery),
    CreatePaymentConsent(Box<PaymentConsentRequest>),
    GetPaymentConsent(ConsentId),
    /// The partner withdraws one of its payment consents, before it is used (a recurring
    /// one: any time before it expires).
    RevokePaymentConsent(ConsentId),
    CreatePayment(Box<PaymentRequest>),
    GetPayment(PaymentId),
    CreateRefund(PaymentId, Box<RefundRequest>),
    ListRefunds(PaymentId),
    ListEvents(EventQuery),
    /// Acknowledge an event by its `evt_` id: it leaves the poll list.
    AckEvent(String),
    /// A batch of credit transfers for the customer to authorise once.
    InitiateBulkPayment(Box<BulkPaymentRequest>),
    /// Pay the bulk consent the customer's token is bound to.
    ExecuteBulkPayment(ConsentId),
    GetBulkPayment(ConsentId),
}

#[derive(Clone, Debug, PartialEq)]
pub enum CanonicalResponse {
    ProductPage(Page<Product>),
    Product(Box<Product>),
    /// A consent was created (201) or read (200).
    Consent {
        consent: Box<ConsentView>,
        created: bool,
    },
    /// The consent was withdrawn (204).
    ConsentDeleted,
    AccountList(Vec<Account>),
    Account(Box<Account>),
    Balances(Vec<Balance>),
    TransactionPage(Page<Transaction>),
    /// The answer to [`CanonicalRequest::Statement`].
    Statement(Box<Statement>),
    /// A payment consent was created (201) or read (200).
    PaymentConsent {
        consent: Box<PaymentConsentView>,
        created: bool,
    },
    /// The payment consent was withdrawn: now `revoked`. The standard API answers 204;
    /// protocols that confirm with a body show the consent as it now is.
    PaymentConsentRevoked(Box<PaymentConsentView>),
    /// A payment was initiated (201) or read (200).
    Payment {
        payment: Box<PaymentView>,
        created: bool,
    },
    /// A refund was requested (201).
    Refund(Box<RefundView>),
    RefundList(Vec<RefundView>),
    EventPage(Page<EventView>),
    /// The event was acknowledged (204).
    EventAcked,
    /// A bulk consent created, executed or read.
    BulkPayment {
        bulk: Box<BulkPaymentView>,
        stage: BulkStage,
    },
}
