//! `/core/products`: the catalogue, keyset-paginated by `prod_code`.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use rusqlite::OptionalExtension;
use serde::Deserialize;

use crate::CoreBank;
use crate::error::CoreError;
use crate::params;
use crate::wire::{Page, Product, Reply, ok};

pub(crate) fn router() -> Router<CoreBank> {
    Router::new().route("/core/products", get(list)).route("/core/products/{prod_code}", get(one))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    prod_type: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

async fn list(State(core): State<CoreBank>, q: Result<Query<ListQuery>, QueryRejection>) -> Reply<Page<Product>> {
    let q = params::query(q)?;
    let limit = params::limit(q.limit.as_deref())?;
    let prod_type = match q.prod_type.as_deref() {
        None => None,
        Some(t @ ("DEP" | "CLN" | "SLN")) => Some(t),
        Some(_) => return Err(CoreError::bad("prod_type", "must be DEP, CLN or SLN")),
    };
    // `+ 0` keeps the statement's plan when the page size is bound again (see `page_sql`).
    let after = q.after.as_deref().unwrap_or("");
    let rows: Vec<String> = core.reads.with(|c| {
        c.prepare_cached(
            "SELECT body FROM products WHERE (?1 IS NULL OR prod_type = ?1) AND prod_code > ?2
             ORDER BY prod_code LIMIT ?3 + 0",
        )?
        .query_map(rusqlite::params![prod_type, after, limit + 1], |r| r.get(0))?
        .collect()
    })?;
    let items = rows.iter().map(|body| decode(body)).collect::<Result<Vec<_>, _>>()?;
    ok(Page::from_overfetch(items, limit))
}

async fn one(State(core): State<CoreBank>, Path(code): Path<String>) -> Reply<Product> {
    let row: Option<String> = core.reads.with(|c| {
        c.prepare_cached("SELECT body FROM products WHERE prod_code = ?1")?.query_row([&code], |r| r.get(0)).optional()
    })?;
    let body = row.ok_or(CoreError::NotFound("product"))?;
    ok(decode(&body)?)
}

fn decode(body: &str) -> Result<Product, CoreError> {
    serde_json::from_str(body).map_err(|e| CoreError::Internal(e.into()))
}
