//! The two traits an adapter implements, and the raw request and response it sees.
//!
//! Adapters do no I/O: keys and settings come in through `build`, network calls stay in the
//! gateway's pipeline. That keeps every protocol testable with golden files.

use bytes::Bytes;

use crate::{CanonicalRequest, CanonicalResponse, Operation};

/// The partner's request as it arrived, after the gateway authenticated it.
#[derive(Clone, Debug, Default)]
pub struct RawRequest {
    pub method: String,
    /// Path as requested, without the query, e.g. `/v1/products`.
    pub path: String,
    /// Path parameters by name, as the router matched them.
    pub path_params: Vec<(String, String)>,
    /// Raw query string without `?`.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl RawRequest {
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.path_params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A header by name (ASCII case-insensitive); the first one when repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What goes back to the partner.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

/// Why an adapter could not translate a call. The gateway maps each to a problem type;
/// none of these carry partner secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// A parameter or field the partner sent is malformed; `field` names it.
    #[error("`{field}`: {reason}")]
    InvalidField { field: String, reason: String },
    /// The body could not be parsed at all.
    #[error("request body is malformed: {0}")]
    MalformedBody(String),
    /// The body is not in the media type the protocol takes for this operation.
    #[error("send the body as {expected} (got {got})")]
    UnsupportedMediaType { expected: &'static str, got: String },
    /// The protocol cannot carry this operation.
    #[error("operation `{0}` is not available through this adapter")]
    Unsupported(&'static str),
    /// The canonical response could not be expressed on the partner's wire. A defect.
    #[error("response could not be encoded: {0}")]
    Encode(String),
}

impl AdapterError {
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidField { field: field.into(), reason: reason.into() }
    }
}

/// An adapter's settings were refused while loading a partner file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {reason}")]
pub struct AdapterConfigError {
    /// Dotted path below the partner file's `[adapter]` table.
    pub field: String,
    pub reason: String,
}

/// A protocol family: named in partner files as `adapter.name`.
pub trait AdapterKind: Sync {
    fn name(&self) -> &'static str;
    /// Operations this protocol can carry; a partner asking for more scopes still cannot call
    /// what is not listed here.
    fn capabilities(&self) -> &'static [Operation];
    /// Builds the adapter from one partner's `[adapter.settings]` table.
    fn build(&self, settings: &toml::Table) -> Result<Box<dyn PartnerAdapter>, AdapterConfigError>;
}

/// One partner's configured adapter.
pub trait PartnerAdapter: Send + Sync + std::fmt::Debug {
    /// Partner wire → canonical request.
    fn decode(&self, op: Operation, req: &RawRequest) -> Result<CanonicalRequest, AdapterError>;
    /// Canonical response → partner wire. `req` is the request being answered (for links).
    fn encode(&self, op: Operation, req: &RawRequest, res: CanonicalResponse) -> Result<RawResponse, AdapterError>;
}
