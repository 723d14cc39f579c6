//! The legacy form: parameters from the form body only, each at most once.

use scenegate_adapter_contract::{AdapterError, RawRequest};

use crate::form::FormParams;

/// Parameters a request may carry; anything else is refused.
const PARAMETERS: &[&str] = &[
    "mch_id",
    "method",
    "nonce_str",
    "timestamp",
    "sign_type",
    "sign",
    "product_type",
    "limit",
    "cursor",
    "product_id",
];

/// Parses the form; a query string is refused (the MAC covers the form alone).
pub fn parse(req: &RawRequest) -> Result<FormParams, AdapterError> {
    if req.query.as_deref().is_some_and(|q| !q.is_empty()) {
        return Err(AdapterError::field("query", "send every parameter in the form body"));
    }
    let pairs = FormParams::body_pairs(req.header("content-type").unwrap_or_default(), &req.body)?;
    FormParams::checked(pairs, PARAMETERS)
}
