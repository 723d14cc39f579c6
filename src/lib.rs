//! Scenegate: the bank's open-banking scenario-integration gateway.
//!
//! A partner call moves through [`pipeline`] (authenticate → admit → authorise → limit →
//! adapt in → route → respond), wrapped by the layers in [`app`]. Partners are files
//! ([`config`]); their protocols are adapters (`partner-adapters/`); the bank's core is
//! reached through [`core`]. Errors map to RFC 9457 problems in [`error`] and [`problem`].

pub mod accounts;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod consent;
pub mod core;
pub mod error;
pub mod events;
pub mod extract;
pub mod grants;
pub mod idempotency;
pub mod kept;
pub mod limit;
pub mod openapi;
pub mod outgoing_tls;
pub mod payments;
pub mod pipeline;
pub mod problem;
pub mod secrets;
pub mod staff;
pub mod store;
pub mod telemetry;
pub mod web;
