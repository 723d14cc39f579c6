//! The contract between Scenegate and its partner adapters.
//!
//! The gateway depends on the adapters, and the adapters need the canonical types, so both
//! sides meet here: the data standard (money, ids, pagination), the canonical operations
//! a partner may call, and the two traits an adapter implements. Nothing in this crate does
//! I/O; an adapter is a pure translation between a partner's bytes and these types.

pub mod adapter;
pub mod canonical;
pub mod capabilities;
pub mod conformance;
pub mod ids;
pub mod money;
pub mod operation;

pub use adapter::{
    AdapterConfigError, AdapterError, AdapterKind, Authenticated, BuildContext, ErrorView, EventNotice, IdempotencyRef,
    Notification, Notify, PartnerAdapter, ProtocolKey, RawRequest, RawResponse, ReplayMark,
};
pub use canonical::{CanonicalRequest, CanonicalResponse};
pub use capabilities::{Authentication, Capabilities, Entry, Notifications, SignatureSuite};
pub use ids::{AccountId, ConsentId, IdError, PaymentId, ProductId, RefundId, TransactionId, is_bank_code};
pub use money::{Currency, Money, MoneyError, Rate};
pub use operation::{Operation, SecurityLevel};
