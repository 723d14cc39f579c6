//! One integration-test binary: real `scenegate` processes on port 0, spoken to over HTTP.

mod support;

mod access;
mod accounts;
mod audit;
mod balancer;
mod browser;
mod cluster;
mod config_errors;
mod consent_flow;
mod consents;
mod core_faults;
mod edge;
mod iso20022;
mod ledger;
mod legacy_mac;
mod open_platform;
mod openapi;
mod payment_consent_flow;
mod payment_crashes;
mod payments;
mod problems;
mod products;
mod reload;
mod signed_rest;
mod staff;
mod tokens;
mod two_cores;
mod webhooks;
