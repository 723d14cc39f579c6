//! Pagination: a page of any list, and the page sizes every list operation allows.
//!
//! How a page looks on the wire (the native API's `{data, links, meta}`) is each adapter's
//! business.

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
