//! The signed-rest wire: the `Authorization` header, the paths, the JSON bodies.

use scenegate_adapter_contract::{AdapterError, Operation};
use serde::{Deserialize, Serialize};

/// The parts of `Authorization: <scheme> k="v",…`.
#[derive(Debug, Default)]
pub struct Credentials {
    pub mchid: String,
    pub nonce_str: String,
    pub timestamp: String,
    pub serial_no: String,
    pub signature: String,
}

impl Credentials {
    /// Parses the header for `scheme`; every member once, order free.
    pub fn parse(header: Option<&str>, scheme: &str) -> Result<Self, AdapterError> {
        let header = header.ok_or_else(|| AdapterError::Signature(format!("no `Authorization: {scheme} …` header")))?;
        let (given, rest) = header.split_once(' ').unwrap_or((header, ""));
        if given != scheme {
            return Err(AdapterError::Signature(format!("this merchant signs with the `{scheme}` scheme")));
        }
        let mut out = Self::default();
        for part in rest.split(',') {
            let (name, value) =
                part.trim().split_once('=').ok_or_else(|| AdapterError::Signature("a malformed member".into()))?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| AdapterError::Signature(format!("`{}` must be quoted", name.trim())))?;
            let slot = match name.trim() {
                "mchid" => &mut out.mchid,
                "nonce_str" => &mut out.nonce_str,
                "timestamp" => &mut out.timestamp,
                "serial_no" => &mut out.serial_no,
                "signature" => &mut out.signature,
                other => {
                    let other = other.chars().take(32).collect::<String>();
                    return Err(AdapterError::Signature(format!("unknown member `{other}`")));
                }
            };
            if !slot.is_empty() {
                return Err(AdapterError::Signature(format!("`{}` given twice", name.trim())));
            }
            value.clone_into(slot);
        }
        for (name, value) in [
            ("mchid", &out.mchid),
            ("nonce_str", &out.nonce_str),
            ("timestamp", &out.timestamp),
            ("serial_no", &out.serial_no),
            ("signature", &out.signature),
        ] {
            if value.is_empty() {
                return Err(AdapterError::Signature(format!("`{name}` is missing")));
            }
        }
        if out.nonce_str.len() > 32 || !out.nonce_str.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(AdapterError::Signature("`nonce_str` must be 1 to 32 letters and digits".into()));
        }
        Ok(out)
    }
}

/// The operation a method and path (below `/gw/{partner_id}`) name, with the path's id.
pub fn route<'a>(method: &str, rest: &'a str) -> Option<(Operation, Option<&'a str>)> {
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    Some(match (method, segments.as_slice()) {
        ("GET", ["v3", "products"]) => (Operation::ListProducts, None),
        ("GET", ["v3", "products", id]) => (Operation::GetProduct, Some(*id)),
        ("GET", ["v3", "accounts", id, "balance"]) => (Operation::GetBalances, Some(*id)),
        ("POST", ["v3", "agreements"]) => (Operation::CreatePaymentConsent, None),
        ("GET", ["v3", "agreements", id]) => (Operation::GetPaymentConsent, Some(*id)),
        ("POST", ["v3", "pay", "transactions"]) => (Operation::CreatePayment, None),
        ("GET", ["v3", "pay", "transactions", id]) => (Operation::GetPayment, Some(*id)),
        ("POST", ["v3", "refunds"]) => (Operation::CreateRefund, None),
        _ => return None,
    })
}

/// An amount in minor units with its currency (`{"total": 4500, "currency": "CNY"}`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    pub total: i64,
    #[serde(default = "cny")]
    pub currency: String,
}

fn cny() -> String {
    "CNY".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementCreate {
    pub out_agreement_no: String,
    pub amount: Amount,
    pub merchant: String,
    pub description: String,
    pub scenario_code: String,
    pub merchant_category_code: Option<String>,
    pub time_expire: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pay {
    pub out_trade_no: String,
    pub agreement_no: String,
    pub amount: Amount,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundAmount {
    pub refund: i64,
    #[serde(default = "cny")]
    pub currency: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refund {
    pub trade_no: String,
    pub out_refund_no: String,
    pub amount: RefundAmount,
    pub reason: String,
}

/// The protocol's trade states.
pub fn trade_state(plain_status: &str) -> &'static str {
    match plain_status {
        "completed" => "SUCCESS",
        "rejected" => "PAYERROR",
        _ => "PROCESSING",
    }
}
