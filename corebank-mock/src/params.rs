//! Query-string parameters shared by the list endpoints, checked by hand so a refusal is
//! E400 naming the parameter instead of axum's bare-text 400.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use jiff::civil::Date;

use crate::clock;
use crate::error::CoreError;

pub(crate) const DEFAULT_LIMIT: i64 = 100;
/// `limit` accepts 1..=1000 (the documented `1..1001`, upper bound exclusive).
pub(crate) const MAX_LIMIT: i64 = 1000;

/// Unwraps an extracted query, turning a malformed query string into E400.
pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, CoreError> {
    q.map(|Query(t)| t).map_err(|_| CoreError::bad("query", "malformed query string"))
}

pub(crate) fn limit(raw: Option<&str>) -> Result<i64, CoreError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or(CoreError::bad("limit", "must be an integer from 1 to 1000")),
    }
}

pub(crate) fn seq(name: &'static str, raw: Option<&str>) -> Result<i64, CoreError> {
    match raw {
        None => Ok(0),
        Some(s) => {
            s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or(CoreError::bad(name, "must be a non-negative integer"))
        }
    }
}

pub(crate) fn date(name: &'static str, raw: Option<&str>) -> Result<Option<Date>, CoreError> {
    raw.map(|s| clock::parse_date(s).ok_or(CoreError::bad(name, "must be a date yyyyMMdd"))).transpose()
}
