//! Scenegate's built-in partner adapters.
//!
//! Each partner protocol is one module with its wire types and its transforms to and from
//! the canonical types of `scenegate-adapter-contract`. Adding a protocol is one folder here
//! and one line in [`builtin`]; the gateway finds adapters only through that list.

use scenegate_adapter_contract::AdapterKind;

mod form;
pub mod iso20022;
pub mod legacy_mac;
pub mod native;
pub mod open_platform;
pub mod signed_rest;
pub mod suites;

/// Every adapter the gateway can build, by the name partner files use.
pub fn builtin() -> &'static [&'static dyn AdapterKind] {
    &[&native::Kind, &open_platform::Kind, &signed_rest::Kind, &legacy_mac::Kind, &iso20022::Kind]
}

/// Looks an adapter kind up by its `adapter.name`.
pub fn find(name: &str) -> Option<&'static dyn AdapterKind> {
    builtin().iter().copied().find(|k| k.name() == name)
}
