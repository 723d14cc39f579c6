//! The open-platform protocol's wire: common parameters, methods and `biz_content` shapes.

use scenegate_adapter_contract::{AdapterError, Operation, RawRequest};
use serde::Deserialize;

use crate::form::FormParams;

/// Every method, by the name in `method`, with the operation it carries.
pub const METHODS: &[(&str, Operation)] = &[
    ("scenegate.product.list", Operation::ListProducts),
    ("scenegate.product.query", Operation::GetProduct),
    ("scenegate.account.balance.query", Operation::GetBalances),
    ("scenegate.agreement.create", Operation::CreatePaymentConsent),
    ("scenegate.agreement.query", Operation::GetPaymentConsent),
    ("scenegate.agreement.close", Operation::RevokePaymentConsent),
    ("scenegate.trade.pay", Operation::CreatePayment),
    ("scenegate.trade.query", Operation::GetPayment),
    ("scenegate.trade.refund", Operation::CreateRefund),
];

pub fn operation(method: &str) -> Option<Operation> {
    METHODS.iter().find(|(name, _)| *name == method).map(|(_, op)| *op)
}

pub fn method_name(op: Operation) -> Option<&'static str> {
    METHODS.iter().find(|(_, o)| *o == op).map(|(name, _)| *name)
}

/// The common parameters a request may carry; anything else is refused (a typo must not be
/// signed and then silently ignored).
const PARAMETERS: &[&str] = &[
    "app_id",
    "method",
    "format",
    "charset",
    "sign_type",
    "sign",
    "timestamp",
    "version",
    "notify_url",
    "biz_content",
    "auth_token",
];

/// The request's parameters, from the query and the form body together, each at most once.
pub struct Params(FormParams);

impl Params {
    pub fn parse(req: &RawRequest) -> Result<Self, AdapterError> {
        let mut pairs: Vec<(String, String)> = match req.query.as_deref() {
            Some(q) if !q.is_empty() => {
                serde_urlencoded::from_str(q).map_err(|e| AdapterError::field("query", e.to_string()))?
            }
            _ => Vec::new(),
        };
        if !req.body.is_empty() {
            pairs.extend(FormParams::body_pairs(req.header("content-type").unwrap_or_default(), &req.body)?);
        }
        FormParams::checked(pairs, PARAMETERS).map(Self)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    pub fn required(&self, name: &'static str) -> Result<&str, AdapterError> {
        self.0.required(name)
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.pairs()
    }

    /// `biz_content` as the operation's JSON shape.
    pub fn biz<T: serde::de::DeserializeOwned>(&self) -> Result<T, AdapterError> {
        let text = self.required("biz_content")?;
        serde_json::from_str(text).map_err(|e| AdapterError::field("biz_content", e.to_string()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductListBiz {
    pub product_type: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductQueryBiz {
    pub product_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceQueryBiz {
    pub account_id: String,
}

/// `scenegate.agreement.create`: a single-payment consent for the customer to authorise
/// (through the bank's authorisation pages, as for any partner).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementCreateBiz {
    /// The partner's number for this agreement: its idempotency key.
    pub out_agreement_no: String,
    pub total_amount: String,
    pub currency: Option<String>,
    /// A merchant of the partner's file (`[payments.merchants]`).
    pub merchant: String,
    /// The reference the customer sees.
    pub subject: String,
    /// `ecommerce_goods`, `bill_payment`, `transport`, `parking`, `top_up`, `travel`,
    /// `government` or `other`.
    pub scenario_code: String,
    pub merchant_category_code: Option<String>,
    /// RFC 3339; the bank's default when absent.
    pub expire_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementQueryBiz {
    pub agreement_no: String,
}

/// `scenegate.agreement.close`: the partner withdraws an agreement it no longer needs, one
/// still awaiting the customer or authorised and unpaid; it answers `agreement_status`
/// `revoked`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementCloseBiz {
    pub agreement_no: String,
}

/// `scenegate.trade.pay`: a payment under the customer's authorised payment consent (the
/// agreement), whose token is the request's `auth_token`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradePayBiz {
    /// The partner's order number: the payment's idempotency key.
    pub out_trade_no: String,
    /// The payment consent (`cns_…`) the customer authorised.
    pub agreement_no: String,
    /// Decimal string, e.g. `"88.00"`.
    pub total_amount: String,
    /// ISO 4217; `CNY` when absent.
    pub currency: Option<String>,
    /// This payment's reference, for recurring consents.
    pub subject: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradeQueryBiz {
    /// The payment id (`pay_…`) the pay answer gave.
    pub trade_no: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradeRefundBiz {
    pub trade_no: String,
    /// The partner's refund number: the refund's idempotency key.
    pub out_request_no: String,
    pub refund_amount: String,
    pub currency: Option<String>,
    pub refund_reason: String,
}
