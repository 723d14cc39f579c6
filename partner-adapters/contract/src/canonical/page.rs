//! Pagination: the one list envelope every list uses.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Default and maximum page sizes of every list operation.
pub const DEFAULT_PAGE_LIMIT: u32 = 25;
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// One page of a list, before an adapter shapes it for the partner.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items follow; pass back as `cursor`.
    pub next_cursor: Option<String>,
}

/// Links of a list page. Links are path-absolute so they work behind any host name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PageLinks {
    /// This page.
    #[serde(rename = "self")]
    #[schema(example = "/v1/products?limit=2")]
    pub self_: String,
    /// The next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "/v1/products?limit=2&cursor=cDE6REVQLTFZLUNOWQ")]
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PageMeta {
    /// The page size in force.
    pub limit: u32,
}
