//! The list envelope every native list uses: `{data, links, meta}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

impl PageLinks {
    /// The `cursor` parameter of `next`: what a client passes back for the next page.
    pub fn next_cursor(&self) -> Option<String> {
        let (_, query) = self.next.as_deref()?.split_once('?')?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
        pairs.into_iter().find_map(|(name, value)| (name == "cursor").then_some(value))
    }
}
