//! The modern dialect, `/api/v2/...`: the new core's wire over the same engine as the legacy
//! `/core/...` routes (ledger, payment checks, statements). JSON without an envelope, decimal
//! string amounts, RFC 3339 UTC instants; refusals are `{"error": {code, message}}` with a
//! real status ([`error`]). Documented in the crate docs.

mod amount;
mod error;
mod posting;

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use self::error::ApiError;
use super::accounts::{TxnRow, customer_accounts, find, statement_rows};
use super::customers::known_customer;
use crate::payment::{self, Voided};
use crate::wire::{Account as LegacyAccount, TransferReceipt};
use crate::{CoreBank, clock, ledger};

type Answer<T> = Result<Json<T>, ApiError>;

pub(crate) fn router(core: CoreBank) -> Router {
    Router::new()
        .route("/api/v2/health", get(health))
        .route("/api/v2/customers/{customer_number}/accounts", get(customer_accounts_of))
        .route("/api/v2/accounts/{account_number}", get(account))
        .route("/api/v2/accounts/{account_number}/balance", get(balance))
        .route("/api/v2/accounts/{account_number}/transactions", get(transactions))
        .route("/api/v2/postings", post(create_posting))
        .route("/api/v2/postings/{posting_id}", get(posting_status))
        .route("/api/v2/postings/{posting_id}/void", post(void_posting))
        .route("/api/v2/ledger/check", get(ledger_check))
        // The same mock-only test hooks as the legacy dialect's (in its envelope): a real
        // core has none; the gateway's tests freeze accounts and delay answers with them.
        .merge(super::admin::router())
        .fallback(async || ApiError::not_found("path"))
        .method_not_allowed_fallback(async || ApiError::from(crate::error::CoreError::MethodNotAllowed))
        .with_state(core)
}

/// `up` only when the database answers.
async fn health(State(core): State<CoreBank>) -> Answer<Value> {
    core.reads.with(|c| c.query_row("SELECT 1", [], |_| Ok(())))?;
    Ok(Json(json!({ "status": "up" })))
}

#[derive(Debug, Serialize)]
struct Account {
    account_number: String,
    customer_number: String,
    name: String,
    currency: String,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    opened_on: String,
}

impl From<LegacyAccount> for Account {
    fn from(a: LegacyAccount) -> Self {
        let opened_on = clock::parse_date(&a.open_date).map_or(a.open_date.clone(), |d| d.to_string());
        Self {
            account_number: a.acct_no,
            customer_number: a.cust_no,
            name: a.acct_name,
            currency: a.ccy,
            kind: if a.acct_type == "CUR" { "current" } else { "savings" },
            status: match a.acct_status.as_str() {
                "N" => "active",
                "F" => "frozen",
                _ => "closed",
            },
            opened_on,
        }
    }
}

/// The customer's accounts held by this core: `[]` when it holds none of them here; 404 when
/// the customer is unknown.
async fn customer_accounts_of(State(core): State<CoreBank>, Path(customer): Path<String>) -> Answer<Value> {
    if !known_customer(&core.reads, &customer)? {
        return Err(ApiError::not_found("customer"));
    }
    let accounts: Vec<Account> = customer_accounts(&core.reads, &customer)?.into_iter().map(Account::from).collect();
    Ok(Json(json!({ "accounts": accounts })))
}

async fn account(State(core): State<CoreBank>, Path(n): Path<String>) -> Answer<Account> {
    Ok(Json(find(&core.reads, &n)?.into()))
}

/// Decimal string in the account's currency (two digits for any the mock holds).
fn money(fen: i64, ccy: &str) -> String {
    amount::format(fen, amount::minor_digits(ccy).unwrap_or(2))
}

async fn balance(State(core): State<CoreBank>, Path(n): Path<String>) -> Answer<Value> {
    let acct = find(&core.reads, &n)?;
    let booked = ledger::balance_of(&core.reads, &acct.acct_no)?;
    // A frozen or closed account keeps its booked balance but none of it can be spent.
    let available = if acct.acct_status == "N" { booked } else { 0 };
    Ok(Json(json!({
        "account_number": acct.acct_no,
        "customer_number": acct.cust_no,
        "currency": acct.ccy,
        "booked": money(booked, &acct.ccy),
        "available": money(available, &acct.ccy),
        "as_of": clock::fmt_rfc3339(core.clock.now_unix()),
    })))
}

#[derive(Debug, Deserialize)]
struct TxnQuery {
    booked_from: Option<String>,
    booked_to: Option<String>,
    order: Option<String>,
    after_sequence: Option<String>,
    before_sequence: Option<String>,
    limit: Option<String>,
}

const MAX_LIMIT: i64 = 100;

fn sequence(name: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| ApiError::invalid(name, "must be a non-negative integer"))
}

/// An RFC 3339 instant, as Unix seconds rounded inwards: `from` up, `to` down, so the
/// inclusive bounds take exactly the whole-second bookings between them.
fn instant(name: &str, raw: &str, round_up: bool) -> Result<i64, ApiError> {
    let ts: jiff::Timestamp =
        raw.parse().map_err(|_| ApiError::invalid(name, "must be an RFC 3339 instant such as 2026-12-04T03:00:00Z"))?;
    let secs = ts.as_second();
    Ok(if round_up && ts.subsec_nanosecond() > 0 { secs + 1 } else { secs })
}

/// A statement page: `order=asc` (default) pages forward with `after_sequence`, `desc` pages
/// backward with `before_sequence`; `booked_from`/`booked_to` are inclusive instants.
async fn transactions(
    State(core): State<CoreBank>,
    Path(n): Path<String>,
    q: Result<Query<TxnQuery>, QueryRejection>,
) -> Answer<Value> {
    let Query(q) = q.map_err(|_| ApiError::invalid("query", "malformed query string"))?;
    let limit = match q.limit.as_deref() {
        None => MAX_LIMIT,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| ApiError::invalid("limit", "must be an integer from 1 to 100"))?,
    };
    let newest_first = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::invalid("order", "must be asc or desc")),
    };
    let bound = match (newest_first, q.after_sequence.as_deref(), q.before_sequence.as_deref()) {
        (false, after, None) => after.map_or(Ok(0), |a| sequence("after_sequence", a))?,
        (true, None, before) => before.map_or(Ok(i64::MAX), |b| sequence("before_sequence", b))?,
        (false, _, Some(_)) => return Err(ApiError::invalid("before_sequence", "only with order=desc")),
        (true, Some(_), _) => return Err(ApiError::invalid("after_sequence", "only with order=asc")),
    };
    let from = q.booked_from.as_deref().map(|s| instant("booked_from", s, true)).transpose()?;
    let to = q.booked_to.as_deref().map(|s| instant("booked_to", s, false)).transpose()?;
    if let (Some(f), Some(t)) = (&q.booked_from, &q.booked_to)
        && instant("booked_from", f, false)? > instant("booked_to", t, false)?
    {
        return Err(ApiError::invalid("booked_to", "before booked_from"));
    }
    let acct = find(&core.reads, &n)?;
    let until = to.map_or(i64::MAX, |t| t.saturating_add(1));
    let mut rows =
        statement_rows(&core.reads, &acct.acct_no, newest_first, bound, from.unwrap_or(i64::MIN), until, limit)?;
    let has_more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let items: Vec<Value> = rows.into_iter().map(transaction).collect();
    Ok(Json(json!({
        "account_number": acct.acct_no,
        "customer_number": acct.cust_no,
        "transactions": items,
        "has_more": has_more,
    })))
}

fn transaction(row: TxnRow) -> Value {
    let (sequence, txn_id, at, signed, ccy, memo, cpty_name, cpty_acct, bal_after) = row;
    let counterparty = cpty_name.map(|name| json!({ "name": name, "account_number": cpty_acct }));
    json!({
        "sequence": sequence,
        "transaction_id": txn_id,
        "booked_at": clock::fmt_rfc3339(at),
        "direction": if signed < 0 { "debit" } else { "credit" },
        "amount": money(signed.abs(), &ccy),
        "currency": ccy,
        "description": memo,
        "counterparty": counterparty,
        "balance_after": money(bal_after, &ccy),
    })
}

fn booked(r: &TransferReceipt) -> Value {
    json!({
        "posting_id": r.req_seq,
        "status": "booked",
        "transaction_id": r.txn_id,
        "booked_at": clock::fmt_rfc3339(r.at_unix),
    })
}

fn voided(posting_id: &str) -> Value {
    json!({ "posting_id": posting_id, "status": "voided" })
}

/// 201 and the receipt when posted now; 200 and the same receipt for the same body again
/// (nothing posted). Honours the mock-only answer delay as the legacy route does.
async fn create_posting(State(core): State<CoreBank>, body: Bytes) -> Result<Response, ApiError> {
    let req = posting::parse(&body)?;
    let outcome = payment::pay(&core.batch, &req, core.clock.now_unix()).await;
    core.faults.delay_payment_answer().await;
    let posted = outcome?;
    let status = if posted.fresh { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(booked(&posted.receipt))).into_response())
}

fn checked(posting_id: &str) -> Result<(), ApiError> {
    if posting_id.is_empty() || posting_id.chars().count() > 64 {
        return Err(ApiError::invalid("posting_id", "must be 1 to 64 characters"));
    }
    Ok(())
}

/// The receipt; `{posting_id, status: "voided"}` (200: a status read is not a refusal); 404.
async fn posting_status(State(core): State<CoreBank>, Path(posting_id): Path<String>) -> Answer<Value> {
    checked(&posting_id)?;
    match payment::status(&core.batch, &posting_id).await {
        Ok(receipt) => Ok(Json(booked(&receipt))),
        Err(crate::error::CoreError::ReqSeqVoided) => Ok(Json(voided(&posting_id))),
        Err(e) => Err(e.into()),
    }
}

/// The receipt if it was booked; otherwise voided for good (idempotent).
async fn void_posting(State(core): State<CoreBank>, Path(posting_id): Path<String>) -> Answer<Value> {
    checked(&posting_id)?;
    match payment::void(&core.batch, &posting_id, core.clock.now_unix()).await? {
        Voided::Posted(receipt) => Ok(Json(booked(&receipt))),
        Voided::Voided => Ok(Json(voided(&posting_id))),
    }
}

async fn ledger_check(State(core): State<CoreBank>) -> Answer<Value> {
    let check = ledger::check(&core.batch).await.map_err(crate::error::CoreError::Internal)?;
    let totals: BTreeMap<&str, String> = check.totals_by_ccy.iter().map(|(c, t)| (c.as_str(), money(*t, c))).collect();
    Ok(Json(json!({
        "balanced": check.balanced,
        "transaction_count": check.txn_count,
        "entry_count": check.posting_count,
        "unbalanced_transactions": check.unbalanced_txns,
        "totals_by_currency": totals,
        "daily_spend_mismatches": check.spend_mismatches,
        "statement_mismatches": check.statement_mismatches,
    })))
}
