//! The two traits an adapter implements, and the raw request and response it sees.
//!
//! Adapters do no I/O: keys and settings come in through `build`, network calls stay in the
//! gateway's pipeline. That keeps every protocol testable with golden files.

use bytes::Bytes;

use crate::{CanonicalRequest, CanonicalResponse, Capabilities, Operation, SignatureSuite};

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
    /// When the gateway received it (Unix seconds): the time an adapter dates its answer
    /// with, since adapters keep no clock.
    pub received_at: i64,
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
    /// Protocol headers (a response signature, a serial number); never `Content-Type`.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl RawResponse {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self { status, content_type, headers: Vec::new(), body: body.into() }
    }
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
    /// The request's signature is missing, malformed, made with a key the partner has not
    /// registered, or does not match what was sent. The text says which, never the key.
    #[error("signature refused: {0}")]
    Signature(String),
    /// The request's timestamp is outside the protocol's window.
    #[error("request timestamp refused: {0}")]
    Stale(String),
    /// The request names a partner (an `app_id`, a merchant id) other than the one at
    /// this URL.
    #[error("`{0}` does not belong to this partner")]
    WrongPartner(String),
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
    /// What this protocol can carry. The gateway reads it once, at partner load.
    fn capabilities(&self) -> &'static Capabilities;
    /// Builds the adapter for one partner from its `[adapter.settings]` table and its
    /// registered protocol keys. The adapter parses and checks its keys here, so a bad key
    /// is a config error with the file and field, not a failed call.
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn PartnerAdapter>, AdapterConfigError>;
}

/// What an adapter is built from. Files are read by the gateway (bounded, relative to the
/// partner file) and handed over as bytes: adapters stay free of I/O.
pub struct BuildContext<'a> {
    pub partner_id: &'a str,
    pub settings: &'a toml::Table,
    /// The partner's `[[keys.protocol]]` keys, as written (PEM).
    pub keys: &'a [ProtocolKey],
    /// Reads a file named in the settings; the error is the reason to report.
    pub read_file: &'a dyn Fn(&str) -> Result<Vec<u8>, String>,
}

impl<'a> BuildContext<'a> {
    /// Settings alone: no keys, no files (tests, and adapters that need neither).
    pub fn settings_only(partner_id: &'a str, settings: &'a toml::Table) -> Self {
        Self { partner_id, settings, keys: &[], read_file: &no_files }
    }

    /// For an adapter that takes no settings: any key given is a typo worth reporting.
    pub fn refuse_settings(&self, adapter: &str) -> Result<(), AdapterConfigError> {
        match self.settings.keys().next() {
            Some(key) => Err(AdapterConfigError {
                field: key.clone(),
                reason: format!("the {adapter} adapter takes no settings"),
            }),
            None => Ok(()),
        }
    }
}

fn no_files(name: &str) -> Result<Vec<u8>, String> {
    Err(format!("cannot read `{name}` here"))
}

/// A public key the partner registered for its protocol's signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolKey {
    /// The protocol's key reference (a serial number, a key id); unique per partner.
    pub id: String,
    pub suite: SignatureSuite,
    /// SubjectPublicKeyInfo, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub pem: String,
    /// Where it was written, for errors: `keys.protocol[0]`.
    pub field: String,
}

/// A request the adapter verified: what it asks for and what the gateway must still check
/// with its stores (the adapter has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub operation: Operation,
    /// Single-use mark of this exact request (a nonce, a message id, the signature itself):
    /// the gateway refuses a second use until `until` (Unix seconds), after idempotency has
    /// had the chance to replay an answered money-moving call.
    pub replay: ReplayMark,
    /// The customer's access token the protocol carries (open platforms' `auth_token`),
    /// for operations on a customer's data or money.
    pub customer_token: Option<String>,
    /// For money-moving operations: the protocol's own order or message number, which the
    /// gateway uses as the idempotency key, and the bytes that identify the request (a
    /// retry with the same key and other bytes is refused as a reuse).
    pub idempotency: Option<IdempotencyRef>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayMark {
    pub key: String,
    pub until: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRef {
    pub key: String,
    pub request: Vec<u8>,
}

/// A refusal as the adapter must render it: the gateway's stable problem type and text,
/// which a protocol maps to its own codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorView<'a> {
    /// HTTP status the standard API would answer.
    pub status: u16,
    /// The stable problem type slug (`insufficient_scope`, `consent_inactive`, ...).
    pub code: &'a str,
    pub title: &'a str,
    pub detail: &'a str,
    pub request_id: &'a str,
    /// Seconds to wait before retrying, when the refusal is temporary.
    pub retry_after: Option<u64>,
}

/// An event of the gateway's outbox (a payment or refund settled, a consent changed), for
/// an adapter that tells its partner in the protocol's own notification.
#[derive(Clone, Debug)]
pub struct EventNotice<'a> {
    /// `evt_…`: the same on every retry, so the partner can drop duplicates.
    pub id: &'a str,
    /// `payment.status_changed`, `refund.status_changed`, `consent.status_changed`.
    pub event_type: &'a str,
    pub subject_id: &'a str,
    /// Unix seconds.
    pub created_at: i64,
    /// The subject as the standard API shows it (the JSON body of its `GET`).
    pub data: &'a serde_json::Value,
}

/// How an event reaches the partner.
#[derive(Clone, Debug)]
pub enum Notify {
    /// The gateway's Standard Webhooks JSON, HMAC-signed with the partner's webhook secret.
    Standard,
    /// The protocol's own notification, as rendered (and signed) by the adapter.
    Protocol(Notification),
    /// The protocol has no notification for this kind of event: nothing is sent.
    Skip,
}

/// A notification in the protocol's own form, POSTed to the partner's `webhook_url`.
#[derive(Clone, Debug)]
pub struct Notification {
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// One partner's configured adapter.
pub trait PartnerAdapter: Send + Sync + std::fmt::Debug {
    /// Checks a signed-request protocol's request: recognises the operation, verifies the
    /// signature with the partner's keys and the timestamp against `now` (Unix seconds).
    /// Adapters of [`crate::Authentication::BearerToken`] are never asked.
    fn authenticate(&self, req: &RawRequest, now: i64) -> Result<Authenticated, AdapterError> {
        let _ = (req, now);
        Err(AdapterError::Unsupported("signed request"))
    }
    /// Which operation a request names, for an adapter of
    /// [`crate::Authentication::BearerToken`] at [`crate::Entry::PathStyle`]: the gateway has
    /// checked the access token already, and the protocol's method and path name the call.
    /// Signed-request adapters answer this in [`PartnerAdapter::authenticate`] instead.
    fn operation(&self, req: &RawRequest) -> Result<Operation, AdapterError> {
        let _ = req;
        Err(AdapterError::Unsupported("path-style request"))
    }
    /// For a money-moving call of a token-authenticated protocol at its own paths: the
    /// protocol's own order or message number, used as the idempotency key instead of an
    /// `Idempotency-Key` header (ISO 20022's `MsgId`). `None`: the protocol has none, and the
    /// header is required as on the standard API.
    fn order_reference(&self, op: Operation, req: &RawRequest) -> Result<Option<IdempotencyRef>, AdapterError> {
        let _ = (op, req);
        Ok(None)
    }
    /// Partner wire → canonical request.
    fn decode(&self, op: Operation, req: &RawRequest) -> Result<CanonicalRequest, AdapterError>;
    /// Canonical response → partner wire. `req` is the request being answered (for links).
    fn encode(&self, op: Operation, req: &RawRequest, res: CanonicalResponse) -> Result<RawResponse, AdapterError>;
    /// A refusal in the protocol's own envelope. `None`: the gateway's problem+json, which
    /// is what the standard API answers. `op` is `None` when the request was refused before
    /// its operation was known.
    fn encode_error(&self, op: Option<Operation>, req: &RawRequest, error: &ErrorView<'_>) -> Option<RawResponse> {
        let _ = (op, req, error);
        None
    }
    /// How `event` is told to the partner; `now` (Unix seconds) dates the notification.
    fn notification(&self, event: &EventNotice<'_>, now: i64) -> Result<Notify, AdapterError> {
        let _ = (event, now);
        Ok(Notify::Standard)
    }
    /// Whether the partner's answer (its status and the first bytes of its body)
    /// acknowledges a notification; anything else is retried on the schedule. Standard
    /// Webhooks: any 2xx.
    fn acknowledged(&self, status: u16, body: &[u8]) -> bool {
        let _ = body;
        (200..300).contains(&status)
    }
}
