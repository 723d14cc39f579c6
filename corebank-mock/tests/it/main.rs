//! The core-bank mock's tests, one binary: the ledger's invariants, idempotent transfers,
//! durability across reopen, and the wire format the gateway depends on.

mod durability;
mod idempotency;
mod ledger;
mod support;
mod wire;
