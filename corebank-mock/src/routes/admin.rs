//! `/core/admin`: MOCK-ONLY test hooks for the gateway's failure tests. A real core exposes
//! nothing like them; they exist so a test can freeze an account, shrink a limit or make a
//! payment's answer arrive too late, over the same HTTP the gateway uses.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use rusqlite::OptionalExtension;
use serde_json::{Value, json};

use super::customers::known_customer;
use crate::CoreBank;
use crate::error::CoreError;
use crate::faults::MAX_DELAY_MS;
use crate::wire::{Account, Body, FaultSettings, Reply, ok};

pub(crate) fn router() -> Router<CoreBank> {
    Router::new()
        .route("/core/admin/accounts/{acct_no}/status", post(account_status))
        .route("/core/admin/customers/{cust_no}/limits", post(limits))
        .route("/core/admin/faults", get(faults).post(set_faults))
}

/// Mock-only. Sets a customer account's status: body `{acct_status: "N" | "F" | "C"}`
/// (normal, frozen, closed). Answers the account as `GET /core/accounts/{acct_no}` shows
/// it; E404 for an unknown or GL account.
async fn account_status(State(core): State<CoreBank>, Path(acct_no): Path<String>, body: Bytes) -> Reply<Account> {
    let status = Body::parse(&body)?.text("acct_status", 1)?;
    if !matches!(status.as_str(), "N" | "F" | "C") {
        return Err(CoreError::bad("acct_status", "must be N, F or C"));
    }
    // On the writer thread, in the same batches as postings: a freeze lands between two of them.
    let acct = core
        .batch
        .write(move |conn| {
            conn.prepare_cached(
                "UPDATE accounts SET acct_status = ?2 WHERE acct_no = ?1 AND cust_no IS NOT NULL
                 RETURNING acct_no, cust_no, acct_name, ccy, acct_type, acct_status, open_date",
            )?
            .query_row([&acct_no, &status], Account::from_row)
            .optional()
        })
        .await
        .map_err(|e| CoreError::Internal(e.into()))??;
    ok(acct.ok_or(CoreError::NotFound("account"))?)
}

/// Mock-only. Sets a customer's payment limits in one currency: body `{ccy, per_txn_fen,
/// daily_fen}` (non-negative integers). Answers what was set; E404 for an unknown customer.
async fn limits(State(core): State<CoreBank>, Path(cust_no): Path<String>, body: Bytes) -> Reply<Value> {
    let body = Body::parse(&body)?;
    let ccy = body.ccy()?;
    let per_txn_fen = non_negative(&body, "per_txn_fen")?;
    let daily_fen = non_negative(&body, "daily_fen")?;
    if !known_customer(&core.reads, &cust_no)? {
        return Err(CoreError::NotFound("customer"));
    }
    sqlx::query(
        "INSERT INTO cust_limits (cust_no, ccy, per_txn_fen, daily_fen) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (cust_no, ccy) DO UPDATE SET per_txn_fen = excluded.per_txn_fen, daily_fen = excluded.daily_fen",
    )
    .bind(&cust_no)
    .bind(&ccy)
    .bind(per_txn_fen)
    .bind(daily_fen)
    .execute(&mut *core.writer.acquire().await?)
    .await?;
    ok(json!({ "cust_no": cust_no, "ccy": ccy, "per_txn_fen": per_txn_fen, "daily_fen": daily_fen }))
}

fn non_negative(body: &Body, name: &'static str) -> Result<i64, CoreError> {
    body.int(name).and_then(|n| if n >= 0 { Ok(n) } else { Err(CoreError::bad(name, "must not be negative")) })
}

/// Mock-only. The faults in force: `{payment_delay_ms}`.
async fn faults(State(core): State<CoreBank>) -> Reply<FaultSettings> {
    ok(FaultSettings { payment_delay_ms: core.faults.payment_delay_ms() })
}

/// Mock-only. Body `{payment_delay_ms}` (0 to 600000; 0 clears): from now on every
/// `POST /core/payments` ends its transaction, then waits this long before answering, so a
/// gateway can time out on an outcome that did happen. Answers the faults now in force.
async fn set_faults(State(core): State<CoreBank>, body: Bytes) -> Reply<FaultSettings> {
    let body = Body::parse(&body)?;
    let ms = body
        .int("payment_delay_ms")
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| *n <= MAX_DELAY_MS)
        .ok_or(CoreError::bad("payment_delay_ms", "must be an integer from 0 to 600000"))?;
    core.faults.set_payment_delay_ms(ms);
    ok(FaultSettings { payment_delay_ms: core.faults.payment_delay_ms() })
}
