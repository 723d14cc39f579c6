//! The core's own JSON shapes: short snake_case field names, `_fen` integer amounts, basis
//! points, Beijing-time strings. Deliberately unlike the gateway's canonical model so the
//! gateway's adapter has real normalising to do.

use std::collections::BTreeMap;

use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::CoreError;
use crate::ledger::MAX_AMT_FEN;

/// Every answer, success or refusal, travels in this envelope.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<T> {
    pub ret_code: &'static str,
    pub ret_msg: String,
    pub data: Option<T>,
}

pub(crate) type Reply<T> = Result<Json<Envelope<T>>, CoreError>;

pub(crate) fn ok<T>(data: T) -> Reply<T> {
    Ok(Json(Envelope { ret_code: "0000", ret_msg: "success".into(), data: Some(data) }))
}

#[derive(Debug, Serialize)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Lists fetch `limit + 1` rows: the extra row only says that another page exists.
    pub(crate) fn from_overfetch(mut rows: Vec<T>, limit: i64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Self { items: rows, has_more }
    }
}

/// A statement page, with the account's holder (as on a balance inquiry).
#[derive(Debug, Serialize)]
pub(crate) struct Statement<T> {
    pub acct_no: String,
    pub cust_no: String,
    #[serde(flatten)]
    pub page: Page<T>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Items<T> {
    pub items: Vec<T>,
}

/// Stored as this JSON in `products.body`, so the catalogue round-trips unchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Product {
    pub prod_code: String,
    pub prod_type: String,
    pub prod_name: String,
    pub prod_desc: String,
    pub ccy: String,
    pub rate_bp: Option<i64>,
    pub term_mon: Option<i64>,
    pub min_amt_fen: i64,
    pub max_amt_fen: Option<i64>,
    pub rate_min_bp: Option<i64>,
    pub rate_max_bp: Option<i64>,
    pub term_min_mon: Option<i64>,
    pub term_max_mon: Option<i64>,
    pub fees: Vec<Fee>,
    pub elig: Option<Elig>,
    pub upd_time: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Fee {
    pub fee_code: String,
    pub fee_desc: String,
    pub fee_amt_fen: Option<i64>,
    pub fee_rate_bp: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Elig {
    pub age_min: Option<i64>,
    pub age_max: Option<i64>,
    pub cust_types: String,
    pub min_income_fen: Option<i64>,
    pub min_trade_years: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Customer {
    pub cust_no: String,
    pub cust_name: String,
    pub cust_type: String,
    pub id_type: String,
    pub id_no: String,
    pub mobile: String,
}

/// Row order of `SELECT cust_no, cust_name, cust_type, id_type, id_no, mobile`.
pub(crate) type CustomerRow = (String, String, String, String, String, String);

impl From<CustomerRow> for Customer {
    fn from(r: CustomerRow) -> Self {
        Self { cust_no: r.0, cust_name: r.1, cust_type: r.2, id_type: r.3, id_no: r.4, mobile: r.5 }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Identified {
    pub cust_no: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Login {
    pub cust_no: String,
    pub cust_name: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Account {
    pub acct_no: String,
    pub cust_no: String,
    pub acct_name: String,
    pub ccy: String,
    pub acct_type: String,
    pub acct_status: String,
    pub open_date: String,
}

impl Account {
    /// A row of `SELECT acct_no, cust_no, acct_name, ccy, acct_type, acct_status, open_date`.
    pub(crate) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            acct_no: r.get(0)?,
            cust_no: r.get(1)?,
            acct_name: r.get(2)?,
            ccy: r.get(3)?,
            acct_type: r.get(4)?,
            acct_status: r.get(5)?,
            open_date: r.get(6)?,
        })
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Balance {
    pub acct_no: String,
    /// The holder, as a balance inquiry of a real core names it: a caller checks ownership
    /// from the same answer.
    pub cust_no: String,
    pub ccy: String,
    pub ledger_bal_fen: i64,
    pub avail_bal_fen: i64,
    pub as_of: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct TxnItem {
    pub txn_seq: i64,
    pub txn_id: String,
    pub txn_time: String,
    pub dr_cr: &'static str,
    pub amt_fen: i64,
    pub ccy: String,
    pub memo: String,
    pub cpty_name: Option<String>,
    pub cpty_acct: Option<String>,
    pub bal_after_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TransferReceipt {
    pub txn_id: String,
    pub req_seq: String,
    pub status: &'static str,
    pub txn_time: String,
    /// `txn_time` as Unix seconds, for the modern dialect's RFC 3339.
    #[serde(skip)]
    pub at_unix: i64,
}

/// `POST /core/payments/{req_seq}/void`: the receipt when the payment happened, or
/// `{req_seq, status: "V"}` when it now never will.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum VoidAnswer {
    Posted(TransferReceipt),
    Voided { req_seq: String, status: &'static str },
}

#[derive(Debug, Serialize)]
pub(crate) struct OtpSent {
    pub otp_id: String,
    pub expires_at: String,
    pub masked_mobile: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct OtpVerified {
    pub otp_id: String,
    pub verified: bool,
    pub cust_no: String,
    #[serde(rename = "ref")]
    pub reference: String,
}

/// One message of the mock's SMS outbox; `mobile` unmasked (the HTML page masks it).
#[derive(Debug, Serialize)]
pub(crate) struct SmsItem {
    pub mobile: String,
    pub text: String,
    pub sent_at: String,
    pub otp_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct FaultSettings {
    pub payment_delay_ms: u64,
}

/// The ledger's self-audit: every transaction's postings net to zero per currency, and so
/// does the whole book; every running balance and statement line is what the postings make.
/// `balanced` is false as soon as any of these fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerCheck {
    pub balanced: bool,
    pub txn_count: i64,
    pub posting_count: i64,
    pub unbalanced_txns: Vec<String>,
    pub totals_by_ccy: BTreeMap<String, i64>,
    /// Daily payment totals (`cust_no/ccy/day`) that differ from the payments posted that
    /// day: the daily limit would be checked against a wrong figure.
    pub spend_mismatches: Vec<String>,
    /// Postings whose statement line (`statement_lines`) is missing or differs from what
    /// the postings, txns and accounts make, and lines with no such posting: statements
    /// would show them wrong.
    pub statement_mismatches: Vec<i64>,
}

/// A JSON request body read field by field, so a refusal names the exact field at fault
/// (serde's own messages omit the field name on a type mismatch).
pub(crate) struct Body(serde_json::Map<String, Value>);

impl Body {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, CoreError> {
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            _ => Err(CoreError::bad("body", "expected a JSON object")),
        }
    }

    pub(crate) fn text(&self, name: &'static str, max_chars: usize) -> Result<String, CoreError> {
        match self.0.get(name) {
            Some(Value::String(s)) if s.chars().count() > max_chars => Err(CoreError::bad(name, "too long")),
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(CoreError::bad(name, "required string")),
        }
    }

    /// Absent or `null` is `None`; anything else must be a string of at most `max_chars`.
    pub(crate) fn opt_text(&self, name: &'static str, max_chars: usize) -> Result<Option<String>, CoreError> {
        if self.has(name) { self.text(name, max_chars).map(Some) } else { Ok(None) }
    }

    /// A required string of 1 to `max_chars` characters.
    pub(crate) fn nonempty(&self, name: &'static str, max_chars: usize) -> Result<String, CoreError> {
        let s = self.text(name, max_chars)?;
        if s.is_empty() {
            return Err(CoreError::bad(name, "must not be empty"));
        }
        Ok(s)
    }

    /// A caller's request sequence: 1 to 64 characters.
    pub(crate) fn req_seq(&self, name: &'static str) -> Result<String, CoreError> {
        match self.text(name, 64) {
            Ok(s) if !s.is_empty() => Ok(s),
            _ => Err(CoreError::bad(name, "must be 1 to 64 characters")),
        }
    }

    /// `amt_fen`: a positive integer number of minor units, at most [`MAX_AMT_FEN`].
    pub(crate) fn amt_fen(&self) -> Result<i64, CoreError> {
        let amt_fen = self.int("amt_fen")?;
        if !(1..=MAX_AMT_FEN).contains(&amt_fen) {
            return Err(CoreError::bad("amt_fen", "must be a positive integer up to 10^14"));
        }
        Ok(amt_fen)
    }

    /// `ccy`: three upper-case letters (ISO 4217).
    pub(crate) fn ccy(&self) -> Result<String, CoreError> {
        let ccy = self.text("ccy", 3)?;
        if ccy.len() != 3 || !ccy.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CoreError::bad("ccy", "must be an ISO 4217 code"));
        }
        Ok(ccy)
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| !v.is_null())
    }

    pub(crate) fn int(&self, name: &'static str) -> Result<i64, CoreError> {
        self.0.get(name).and_then(Value::as_i64).ok_or(CoreError::bad(name, "required integer"))
    }
}
