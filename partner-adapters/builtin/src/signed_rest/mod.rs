//! `signed-rest`: a REST protocol signed in the `Authorization` header (the family of WeChat
//! Pay API v3), for partners whose systems speak it.
//!
//! Calls go to the protocol's own paths under `/gw/{partner_id}` (`/v3/products`,
//! `/v3/pay/transactions`, …) with `Authorization: SCENEGATE-SHA256-RSA2048 mchid="…",
//! nonce_str="…",timestamp="…",serial_no="…",signature="…"` (`SCENEGATE-SM2-WITH-SM3` in the
//! SM suite): the signature over `METHOD\npath?query\ntimestamp\nnonce\nbody\n` with the
//! partner's key named by `serial_no`. Answers carry `Scenegate-Timestamp`, `Scenegate-Nonce`,
//! `Scenegate-Serial` and `Scenegate-Signature` (over `timestamp\nnonce\nbody\n`); refusals
//! keep the HTTP status with `{"code", "message", "request_id"}`. Amounts are integer minor
//! units (fen) with a currency, converted exactly. Customer operations carry the customer's
//! access token in `Scenegate-Customer-Token`.
//!
//! Notifications of settled payments and refunds are JSON whose `resource` is encrypted with
//! AES-256-GCM under the partner's 32-byte API key (SM4-GCM under the first 16 bytes of its
//! SM3 in the SM suite), signed like answers, and acknowledged by HTTP 200 or 204.

mod notify;
mod settings;
mod transform;
mod wire;

use scenegate_adapter_contract::{
    AdapterConfigError, AdapterError, AdapterKind, Authenticated, Authentication, BuildContext, CanonicalRequest,
    CanonicalResponse, Capabilities, Entry, ErrorView, EventNotice, Notifications, Notify, Operation, PartnerAdapter,
    RawRequest, RawResponse, SecurityLevel, SignatureSuite,
};

pub use settings::Settings;

pub struct Kind;

const CAPABILITIES: Capabilities = Capabilities {
    operations: &[
        Operation::ListProducts,
        Operation::GetProduct,
        Operation::GetBalances,
        Operation::CreatePaymentConsent,
        Operation::GetPaymentConsent,
        Operation::CreatePayment,
        Operation::GetPayment,
        Operation::CreateRefund,
    ],
    authentication: Authentication::SignedRequest { suites: &[SignatureSuite::Rsa2, SignatureSuite::Sm2] },
    entry: Entry::PathStyle,
    notifications: Notifications::EncryptedJson,
    highest_level: SecurityLevel::A2,
};

impl AdapterKind for Kind {
    fn name(&self) -> &'static str {
        "signed-rest"
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn PartnerAdapter>, AdapterConfigError> {
        Ok(Box::new(SignedRest { settings: Settings::from_context(ctx)? }))
    }
}

#[derive(Debug)]
pub struct SignedRest {
    settings: Settings,
}

impl PartnerAdapter for SignedRest {
    fn authenticate(&self, req: &RawRequest, now: i64) -> Result<Authenticated, AdapterError> {
        transform::authenticate(&self.settings, req, now)
    }

    fn decode(&self, op: Operation, req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
        transform::decode(op, req)
    }

    fn encode(&self, _op: Operation, req: &RawRequest, res: CanonicalResponse) -> Result<RawResponse, AdapterError> {
        let body = transform::response_body(res)?;
        transform::signed(&self.settings, req, 200, body)
    }

    fn encode_error(&self, _op: Option<Operation>, req: &RawRequest, error: &ErrorView<'_>) -> Option<RawResponse> {
        transform::signed(&self.settings, req, error.status, transform::error_body(error)).ok()
    }

    fn notification(&self, event: &EventNotice<'_>, now: i64) -> Result<Notify, AdapterError> {
        notify::render(&self.settings, event, now)
    }
}

#[cfg(test)]
mod tests;
