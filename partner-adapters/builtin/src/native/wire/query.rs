//! The native protocol's query strings: parsed here, checked in `transform`.

use serde::Deserialize;

/// Query of `GET /v1/products`. Unknown parameters are refused so a typo (`limt=5`) is
/// reported instead of silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListProductsQuery {
    #[serde(rename = "type")]
    pub product_type: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// Query of `GET /v1/accounts/{account_id}/transactions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListTransactionsQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub order: Option<String>,
}

/// Query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListEventsQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// Operations that take no query parameters at all.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}
