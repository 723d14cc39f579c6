//! The core-bank mock's tests, one binary: the ledger's invariants, idempotent transfers,
//! durability across reopen, the wire format the gateway depends on, payments and refunds
//! (alone, racing, against a model), one-time codes, and the mock-only test hooks.

mod durability;
mod idempotency;
mod inbound;
mod ledger;
mod modern;
mod otp;
mod payment_model;
mod payment_races;
mod payments;
mod refunds;
mod sharding;
mod support;
mod test_hooks;
mod wire;
