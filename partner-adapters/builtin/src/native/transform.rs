//! Native wire ⇄ canonical.

use scenegate_adapter_contract::{
    AdapterError, CanonicalRequest, ProductId, RawRequest,
    canonical::{
        DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Page, PageLinks, PageMeta, Product, ProductList, ProductQuery, ProductType,
    },
};

use super::wire::ListProductsQuery;

pub fn list_products_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    let q: ListProductsQuery = serde_urlencoded::from_str(req.query.as_deref().unwrap_or_default())
        .map_err(|e| AdapterError::field("query", e.to_string()))?;
    let product_type = q.product_type.as_deref().map(parse_product_type).transpose()?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_PAGE_LIMIT,
        Some(s) => s.parse::<u32>().ok().filter(|n| (1..=MAX_PAGE_LIMIT).contains(n)).ok_or_else(|| {
            AdapterError::field("limit", format!("must be a whole number from 1 to {MAX_PAGE_LIMIT}"))
        })?,
    };
    let cursor = match q.cursor {
        Some(c) if c.is_empty() || c.len() > 512 => {
            return Err(AdapterError::field("cursor", "is not a cursor this API issued"));
        }
        other => other,
    };
    Ok(CanonicalRequest::ListProducts(ProductQuery { product_type, limit, cursor }))
}

pub fn get_product_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    let raw = req.path_param("product_id").unwrap_or_default();
    let id: ProductId = raw.parse().map_err(|e| AdapterError::field("product_id", format!("{e}")))?;
    Ok(CanonicalRequest::GetProduct(id))
}

fn parse_product_type(s: &str) -> Result<ProductType, AdapterError> {
    match s {
        "deposit" => Ok(ProductType::Deposit),
        "consumer_credit" => Ok(ProductType::ConsumerCredit),
        "sme_credit" => Ok(ProductType::SmeCredit),
        _ => Err(AdapterError::field("type", "must be one of deposit, consumer_credit, sme_credit")),
    }
}

/// Shapes a page with `links.self` and `links.next`, keeping the partner's filters.
pub fn list_body(req: &RawRequest, page: Page<Product>) -> ProductList {
    let limit = match list_products_request(req) {
        Ok(CanonicalRequest::ListProducts(q)) => q.limit,
        _ => DEFAULT_PAGE_LIMIT,
    };
    let kept: Vec<(String, String)> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.query.as_deref().unwrap_or_default())
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k != "cursor")
            .collect();
    let link = |cursor: Option<&str>| {
        let mut pairs = kept.clone();
        if let Some(c) = cursor {
            pairs.push(("cursor".into(), c.into()));
        }
        let qs = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if qs.is_empty() { req.path.clone() } else { format!("{}?{qs}", req.path) }
    };
    let self_ = link(req.query.as_deref().and_then(|_| current_cursor(req)).as_deref());
    let next = page.next_cursor.as_deref().map(|c| link(Some(c)));
    ProductList { data: page.items, links: PageLinks { self_, next }, meta: PageMeta { limit } }
}

fn current_cursor(req: &RawRequest) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query.as_deref()?)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == "cursor").then_some(v))
}
