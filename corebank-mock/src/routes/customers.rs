//! `/core/customers`: login check, customer file, the customer's accounts.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use rusqlite::OptionalExtension;
use scenegate_sqlite_batch::InlineReads;

use super::accounts::customer_accounts;
use crate::CoreBank;
use crate::error::CoreError;
use crate::password;
use crate::wire::{Account, Body, Customer, CustomerRow, Identified, Items, Login, Reply, ok};

pub(crate) fn router() -> Router<CoreBank> {
    Router::new()
        .route("/core/customers/verify", post(verify))
        .route("/core/customers/identify", post(identify))
        .route("/core/customers/{cust_no}", get(one))
        .route("/core/customers/{cust_no}/accounts", get(accounts))
}

/// `login_id` is the mobile number or the customer number.
async fn verify(State(core): State<CoreBank>, body: Bytes) -> Reply<Login> {
    let body = Body::parse(&body)?;
    let login_id = body.text("login_id", 64)?;
    let password = body.text("password", 128)?;
    let row: Option<(String, String, String)> = core.reads.with(|c| {
        c.prepare_cached("SELECT cust_no, cust_name, password_hash FROM customers WHERE mobile = ?1 OR cust_no = ?1")?
            .query_row([&login_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
    })?;
    let stored = row.as_ref().map(|(_, _, hash)| hash.clone());
    // Argon2 is deliberately slow; keep it off the async workers.
    let valid = tokio::task::spawn_blocking(move || password::verify(stored.as_deref(), &password))
        .await
        .map_err(|e| CoreError::Internal(e.into()))?;
    match row {
        Some((cust_no, cust_name, _)) if valid => ok(Login { cust_no, cust_name }),
        _ => Err(CoreError::BadCredentials),
    }
}

/// The customer behind a login id (mobile number or customer number), without checking a
/// password: the gateway counts failed logins per customer, whichever id was typed.
async fn identify(State(core): State<CoreBank>, body: Bytes) -> Reply<Identified> {
    let body = Body::parse(&body)?;
    let login_id = body.text("login_id", 64)?;
    let cust_no: Option<String> = core.reads.with(|c| {
        c.prepare_cached("SELECT cust_no FROM customers WHERE mobile = ?1 OR cust_no = ?1")?
            .query_row([&login_id], |r| r.get(0))
            .optional()
    })?;
    ok(Identified { cust_no: cust_no.ok_or(CoreError::NotFound("customer"))? })
}

async fn one(State(core): State<CoreBank>, Path(cust_no): Path<String>) -> Reply<Customer> {
    let customer: Option<CustomerRow> = core.reads.with(|c| {
        c.prepare_cached(
            "SELECT cust_no, cust_name, cust_type, id_type, id_no, mobile FROM customers WHERE cust_no = ?1",
        )?
        .query_row([&cust_no], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .optional()
    })?;
    ok(customer.map(Customer::from).ok_or(CoreError::NotFound("customer"))?)
}

async fn accounts(State(core): State<CoreBank>, Path(cust_no): Path<String>) -> Reply<Items<Account>> {
    if !known_customer(&core.reads, &cust_no)? {
        return Err(CoreError::NotFound("customer"));
    }
    ok(Items { items: customer_accounts(&core.reads, &cust_no)? })
}

/// Whether `cust_no` is a customer of the bank (of either core: every core holds every
/// customer, whichever accounts it holds).
pub(crate) fn known_customer(reads: &InlineReads, cust_no: &str) -> rusqlite::Result<bool> {
    reads.with(|c| c.prepare_cached("SELECT 1 FROM customers WHERE cust_no = ?1")?.exists([cust_no]))
}
