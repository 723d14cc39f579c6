//! `open-platform`: the single-URL protocol of Chinese open platforms (the family of
//! Alipay's OpenAPI 2.0 `gateway.do` and ICBC's API gateway), for partners built on it.
//!
//! A call is one `POST /gw/{partner_id}`, form-encoded (common parameters may also sit in
//! the query): `app_id`, `method`, `charset`, `sign_type`, `timestamp`, `version`,
//! `biz_content` (the operation's JSON) and `sign`, a signature over every other non-empty
//! parameter sorted by name as `k=v&…` with raw values: `RSA2` (SHA256withRSA) or `SM2`
//! (SM3withSM2, id `1234567812345678`), base64. Customer operations carry the customer's
//! access token in `auth_token`. Answers are `{"<method with . as _>_response": {...},
//! "sign": "..."}`, the gateway's signature over the exact text of the response object;
//! `code` `10000` is success, refusals carry `sub_code` (the gateway's stable problem type)
//! and `sub_msg`.
//!
//! Payments and refunds that settle are told to the partner's `webhook_url` as a form post
//! (`notify_id`, `notify_type`, `notify_time`, `app_id`, the trade's fields, `sign_type`,
//! `sign` by the bank's key over the sorted parameters), acknowledged by the plain body
//! `success`; anything else is retried with the same `notify_id`.
//!
//! Methods: `scenegate.product.list`, `scenegate.product.query`,
//! `scenegate.account.balance.query`, `scenegate.agreement.create` (a payment consent the
//! customer then authorises on the bank's pages), `scenegate.agreement.query`,
//! `scenegate.agreement.close` (the partner withdraws an agreement it no longer needs, still
//! awaiting the customer or authorised and unpaid: it becomes `revoked`; a paid, expired or
//! already closed one is refused with `sub_code` `scenegate.consent_state`),
//! `scenegate.trade.pay`, `scenegate.trade.query`, `scenegate.trade.refund`.

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
pub use wire::METHODS;

pub struct Kind;

const OPERATIONS: &[Operation] = &[
    Operation::ListProducts,
    Operation::GetProduct,
    Operation::GetBalances,
    Operation::CreatePaymentConsent,
    Operation::GetPaymentConsent,
    Operation::RevokePaymentConsent,
    Operation::CreatePayment,
    Operation::GetPayment,
    Operation::CreateRefund,
];

const CAPABILITIES: Capabilities = Capabilities {
    operations: OPERATIONS,
    authentication: Authentication::SignedRequest { suites: &[SignatureSuite::Rsa2, SignatureSuite::Sm2] },
    entry: Entry::SingleUrl,
    notifications: Notifications::SignedFormSuccess,
    highest_level: SecurityLevel::A2,
};

impl AdapterKind for Kind {
    fn name(&self) -> &'static str {
        "open-platform"
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn PartnerAdapter>, AdapterConfigError> {
        Ok(Box::new(OpenPlatform { settings: Settings::from_context(ctx)? }))
    }
}

#[derive(Debug)]
pub struct OpenPlatform {
    settings: Settings,
}

impl OpenPlatform {
    pub fn new(settings: Settings) -> Self {
        Self { settings }
    }
}

impl PartnerAdapter for OpenPlatform {
    fn authenticate(&self, req: &RawRequest, now: i64) -> Result<Authenticated, AdapterError> {
        transform::authenticate(&self.settings, req, now)
    }

    fn decode(&self, op: Operation, req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
        transform::decode(op, req)
    }

    fn encode(&self, op: Operation, _req: &RawRequest, res: CanonicalResponse) -> Result<RawResponse, AdapterError> {
        let fields = transform::response_fields(res)?;
        transform::envelope(&self.settings, Some(op), &fields)
    }

    fn encode_error(&self, op: Option<Operation>, _req: &RawRequest, error: &ErrorView<'_>) -> Option<RawResponse> {
        // An envelope that cannot be signed goes out as the gateway's problem instead.
        transform::envelope(&self.settings, op, &transform::error_fields(error)).ok()
    }

    fn notification(&self, event: &EventNotice<'_>, _now: i64) -> Result<Notify, AdapterError> {
        notify::render(&self.settings, event)
    }

    /// The protocol's rule: the plain body `success` (surrounding whitespace aside) with a
    /// 200; anything else, including `fail` or an error page, is retried.
    fn acknowledged(&self, status: u16, body: &[u8]) -> bool {
        status == 200 && body.trim_ascii() == b"success"
    }
}

#[cfg(test)]
mod tests;
