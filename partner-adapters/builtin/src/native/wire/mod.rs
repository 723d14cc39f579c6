//! The native API's JSON bodies: one type per body a partner sends or receives, carrying the
//! serde shape of the bytes and the `ToSchema` that `openapi/` documents.
//!
//! These are the public data standard, kept apart from the canonical types of the contract
//! so the two can evolve separately: a canonical change that partners must not see stops at
//! the conversions in `convert`, and a change here is a change to the published API (the
//! committed OpenAPI document shows it). Names match the schema names in that document.
//!
//! Ids, money, currencies and rates are the contract's own: they are the data standard for
//! every protocol, not this one's.

mod accounts;
mod consents;
mod events;
mod page;
mod payments;
mod products;
pub(crate) mod query;

pub use accounts::*;
pub use consents::*;
pub use events::*;
pub use page::*;
pub use payments::*;
pub use products::*;
