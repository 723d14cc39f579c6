//! Native wire ⇄ canonical, both ways, for every body of the native API.
//!
//! Canonical → wire is what the adapter sends; wire → canonical is what it reads (requests)
//! and what a native client (or a round-trip test) reads back. Every struct is taken apart
//! field by field and every enum matched without `_ =>`, so a field or variant added on
//! either side does not compile until it is mapped here: the public API can change only
//! on purpose.

/// `From` both ways between a wire enum and the canonical enum of the same name and
/// variants. The generated matches are exhaustive.
macro_rules! same_variants {
    ($name:ident { $($variant:ident),+ $(,)? }) => {
        impl From<canonical::$name> for wire::$name {
            fn from(v: canonical::$name) -> Self {
                match v {
                    $(canonical::$name::$variant => Self::$variant,)+
                }
            }
        }

        impl From<wire::$name> for canonical::$name {
            fn from(v: wire::$name) -> Self {
                match v {
                    $(wire::$name::$variant => Self::$variant,)+
                }
            }
        }
    };
}

// After the macro: `macro_rules!` is visible only to modules declared below it.
mod accounts;
mod consents;
mod events;
mod payments;
mod products;

/// Each item of a list converted.
pub(super) fn each<A, B: From<A>>(items: Vec<A>) -> Vec<B> {
    items.into_iter().map(B::from).collect()
}
