//! `native`: Scenegate's own standard API. Its JSON bodies are the types in [`wire`] (the
//! published data standard, documented by `openapi/`); `convert` maps them to and from the
//! canonical types, and `transform` reads queries and paths and adds the list links.

mod convert;
mod transform;
pub mod wire;

use scenegate_adapter_contract::{
    AdapterConfigError, AdapterError, AdapterKind, Authentication, BuildContext, CanonicalRequest, CanonicalResponse,
    Capabilities, Entry, Notifications, Operation, PartnerAdapter, RawRequest, RawResponse, SecurityLevel,
};

pub struct Kind;

const CAPABILITIES: Capabilities = Capabilities {
    operations: Operation::STANDARD,
    authentication: Authentication::BearerToken,
    entry: Entry::StandardPaths,
    notifications: Notifications::StandardWebhooks,
    highest_level: SecurityLevel::A2,
};

impl AdapterKind for Kind {
    fn name(&self) -> &'static str {
        "native"
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn PartnerAdapter>, AdapterConfigError> {
        ctx.refuse_settings("native")?;
        Ok(Box::new(Native))
    }
}

#[derive(Debug)]
pub struct Native;

impl PartnerAdapter for Native {
    fn decode(&self, op: Operation, req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
        match op {
            Operation::ListProducts => transform::list_products_request(req),
            Operation::GetProduct => transform::get_product_request(req),
            Operation::CreateConsent => transform::create_consent_request(req),
            Operation::GetConsent => transform::consent_request(req, false),
            Operation::DeleteConsent => transform::consent_request(req, true),
            Operation::ListAccounts => transform::list_accounts_request(req),
            Operation::GetAccount => transform::account_request(req, false),
            Operation::GetBalances => transform::account_request(req, true),
            Operation::ListTransactions => transform::list_transactions_request(req),
            Operation::CreatePaymentConsent => transform::create_payment_consent_request(req),
            Operation::GetPaymentConsent => transform::payment_consent_request(req, false),
            Operation::RevokePaymentConsent => transform::payment_consent_request(req, true),
            Operation::CreatePayment => transform::create_payment_request(req),
            Operation::GetPayment => transform::payment_request(req),
            Operation::CreateRefund => transform::create_refund_request(req),
            Operation::ListRefunds => transform::list_refunds_request(req),
            Operation::ListEvents => transform::list_events_request(req),
            Operation::AckEvent => transform::ack_event_request(req),
            Operation::InitiateBulkPayment | Operation::ExecuteBulkPayment | Operation::GetBulkPayment => {
                Err(AdapterError::Unsupported(op.name()))
            }
        }
    }

    fn encode(&self, _op: Operation, req: &RawRequest, res: CanonicalResponse) -> Result<RawResponse, AdapterError> {
        let (status, body) = transform::response_body(req, res).map_err(|e| AdapterError::Encode(e.to_string()))?;
        Ok(RawResponse::new(status, "application/json", body.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests;
