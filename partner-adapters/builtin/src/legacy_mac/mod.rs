//! `legacy-mac`: the old sorted-parameter MAC form (WeChat Pay API v2's "签名算法" family),
//! for partners whose systems cannot sign with a key pair yet.
//!
//! A call is one `POST /gw/{partner_id}`, form-encoded, with `mch_id`, `method`,
//! `nonce_str` (1 to 32 letters and digits, never reused), `timestamp` (Unix seconds),
//! `sign_type` (`MD5`, `HMAC-SHA256` or `HMAC-SM3`), the method's own parameters, and `sign`:
//! upper-case hex of the MAC over every other non-empty parameter sorted by name as
//! `k=v&…&key=<shared key>`. Answers are a flat JSON object of strings (`return_code`
//! `SUCCESS`/`FAIL`, lists as `product_0_product_id`, `product_1_product_id`, …), MAC'd the same way.
//!
//! A MAC proves nothing to a third party (the bank holds the key too), so JR/T 0185 does not
//! accept it for account and money data: this adapter carries public product data (A1) only,
//! and `check-config` refuses it for a partner granted A2 scopes.
//!
//! Methods: `products.list` (`product_type`, `limit`, `cursor`), `product.query`
//! (`product_id`).

mod wire;

use scenegate_adapter_contract::{
    AdapterConfigError, AdapterError, AdapterKind, Authenticated, Authentication, BuildContext, CanonicalRequest,
    CanonicalResponse, Capabilities, Entry, ErrorView, Notifications, Operation, PartnerAdapter, RawRequest,
    RawResponse, ReplayMark, SecurityLevel, SignatureSuite,
    canonical::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Product, ProductQuery, ProductType},
};
use std::collections::BTreeMap;

use crate::suites::{mac, sorted_params};

pub struct Kind;

const CAPABILITIES: Capabilities = Capabilities {
    operations: &[Operation::ListProducts, Operation::GetProduct],
    authentication: Authentication::SignedRequest {
        suites: &[SignatureSuite::Md5, SignatureSuite::HmacSha256, SignatureSuite::HmacSm3],
    },
    entry: Entry::SingleUrl,
    notifications: Notifications::QueryOnly,
    highest_level: SecurityLevel::A1,
};

/// Every method, by the name in `method`.
pub const METHODS: &[(&str, Operation)] =
    &[("products.list", Operation::ListProducts), ("product.query", Operation::GetProduct)];

const DEFAULT_WINDOW_SECONDS: i64 = 300;
/// A shared key shorter than this is guessable offline from one MAC'd request.
const MIN_KEY_BYTES: usize = 32;

impl AdapterKind for Kind {
    fn name(&self) -> &'static str {
        "legacy-mac"
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn PartnerAdapter>, AdapterConfigError> {
        let refuse = |field: &str, reason: String| AdapterConfigError { field: field.into(), reason };
        const KNOWN: &[&str] = &["mch_id", "sign_type", "key_file", "timestamp_window_seconds"];
        if let Some(unknown) = ctx.settings.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(refuse(unknown, format!("unknown setting; known: {}", KNOWN.join(", "))));
        }
        if let Some(key) = ctx.keys.first() {
            let reason = "legacy-mac partners share a MAC key (`adapter.settings.key_file`), not public keys".into();
            return Err(refuse(&key.field, reason));
        }
        let text = |field: &str| match ctx.settings.get(field) {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(_) => Err(refuse(field, "must be a non-empty string".into())),
            None => Err(refuse(field, "required".into())),
        };
        let mch_id = text("mch_id")?;
        if mch_id.len() > 32 || !mch_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(refuse("mch_id", "must be 1 to 32 letters and digits".into()));
        }
        let sign_type = SignatureSuite::parse(&text("sign_type")?)
            .filter(|s| CAPABILITIES.signature_suites().contains(s))
            .ok_or_else(|| refuse("sign_type", "must be MD5, HMAC-SHA256 or HMAC-SM3".into()))?;
        let key_file = text("key_file")?;
        let key = (ctx.read_file)(&key_file).map_err(|e| refuse("key_file", e))?;
        let key = key.trim_ascii().to_vec();
        if key.len() < MIN_KEY_BYTES || !key.iter().all(u8::is_ascii_graphic) {
            let reason = format!("the shared key must be at least {MIN_KEY_BYTES} visible ASCII characters");
            return Err(refuse("key_file", reason));
        }
        let window_seconds = match ctx.settings.get("timestamp_window_seconds") {
            None => DEFAULT_WINDOW_SECONDS,
            Some(toml::Value::Integer(n)) if (30..=900).contains(n) => *n,
            Some(_) => return Err(refuse("timestamp_window_seconds", "must be a whole number from 30 to 900".into())),
        };
        Ok(Box::new(LegacyMac { mch_id, sign_type, key, window_seconds }))
    }
}

pub struct LegacyMac {
    mch_id: String,
    sign_type: SignatureSuite,
    key: Vec<u8>,
    window_seconds: i64,
}

impl std::fmt::Debug for LegacyMac {
    // The shared key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyMac")
            .field("mch_id", &self.mch_id)
            .field("sign_type", &self.sign_type)
            .finish_non_exhaustive()
    }
}

impl LegacyMac {
    /// A flat answer with its `sign`.
    fn answer(&self, mut fields: BTreeMap<String, String>) -> Result<RawResponse, AdapterError> {
        let signing = sorted_params(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign"], true);
        let sign =
            mac::mac_hex(self.sign_type, &self.key, &signing).map_err(|e| AdapterError::Encode(e.to_string()))?;
        fields.insert("sign".into(), sign);
        let body = serde_json::to_vec(&fields).map_err(|e| AdapterError::Encode(e.to_string()))?;
        Ok(RawResponse::new(200, "application/json; charset=utf-8", body))
    }
}

impl PartnerAdapter for LegacyMac {
    fn authenticate(&self, req: &RawRequest, now: i64) -> Result<Authenticated, AdapterError> {
        let form = wire::parse(req)?;
        let mch_id = form.required("mch_id")?;
        if mch_id != self.mch_id {
            return Err(AdapterError::WrongPartner(format!("mch_id {}", mch_id.chars().take(32).collect::<String>())));
        }
        if form.required("sign_type")? != self.sign_type.name() {
            return Err(AdapterError::Signature(format!(
                "this merchant signs with sign_type {}",
                self.sign_type.name()
            )));
        }
        let sign = form.required("sign")?;
        let signing = sorted_params(form.pairs(), &["sign"], true);
        if !mac::verify_hex(self.sign_type, &self.key, &signing, sign) {
            return Err(AdapterError::Signature("`sign` does not match the parameters as sent".into()));
        }
        let timestamp: i64 = form
            .required("timestamp")?
            .parse()
            .map_err(|_| AdapterError::Stale("`timestamp` must be Unix seconds".into()))?;
        if (now - timestamp).abs() > self.window_seconds {
            return Err(AdapterError::Stale(format!(
                "`timestamp` is more than {} seconds from the gateway's clock",
                self.window_seconds
            )));
        }
        let nonce = form.required("nonce_str")?;
        if nonce.len() > 32 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(AdapterError::field("nonce_str", "must be 1 to 32 letters and digits"));
        }
        let method = form.required("method")?;
        let operation = METHODS
            .iter()
            .find(|(m, _)| *m == method)
            .map(|(_, op)| *op)
            .ok_or_else(|| AdapterError::field("method", "unknown method; known: products.list, product.query"))?;
        Ok(Authenticated {
            operation,
            // The nonce is the request's single-use mark for as long as its time is accepted.
            replay: ReplayMark { key: format!("{}:{nonce}", self.mch_id), until: timestamp + self.window_seconds },
            customer_token: None,
            idempotency: None,
        })
    }

    fn decode(&self, op: Operation, req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
        let form = wire::parse(req)?;
        Ok(match op {
            Operation::ListProducts => {
                let product_type = match form.get("product_type") {
                    None => None,
                    Some("deposit") => Some(ProductType::Deposit),
                    Some("consumer_credit") => Some(ProductType::ConsumerCredit),
                    Some("sme_credit") => Some(ProductType::SmeCredit),
                    Some(_) => {
                        return Err(AdapterError::field(
                            "product_type",
                            "must be deposit, consumer_credit or sme_credit",
                        ));
                    }
                };
                let limit = match form.get("limit") {
                    None => DEFAULT_PAGE_LIMIT,
                    Some(s) => s.parse().ok().filter(|n| (1..=MAX_PAGE_LIMIT).contains(n)).ok_or_else(|| {
                        AdapterError::field("limit", format!("must be a whole number from 1 to {MAX_PAGE_LIMIT}"))
                    })?,
                };
                let cursor = form.get("cursor").map(str::to_owned);
                if cursor.as_ref().is_some_and(|c| c.len() > 512) {
                    return Err(AdapterError::field("cursor", "is not a cursor this API issued"));
                }
                CanonicalRequest::ListProducts(ProductQuery { product_type, limit, cursor })
            }
            Operation::GetProduct => {
                CanonicalRequest::GetProduct(form.required("product_id")?.parse().map_err(
                    |e: scenegate_adapter_contract::IdError| AdapterError::field("product_id", e.to_string()),
                )?)
            }
            other => return Err(AdapterError::Unsupported(other.name())),
        })
    }

    fn encode(&self, _op: Operation, req: &RawRequest, res: CanonicalResponse) -> Result<RawResponse, AdapterError> {
        let mut fields = success(req);
        match res {
            CanonicalResponse::ProductPage(page) => {
                fields.insert("product_count".into(), page.items.len().to_string());
                for (i, p) in page.items.iter().enumerate() {
                    product(&mut fields, &format!("product_{i}_"), p);
                }
                if let Some(next) = page.next_cursor {
                    fields.insert("next_cursor".into(), next);
                }
            }
            CanonicalResponse::Product(p) => product(&mut fields, "", &p),
            _ => return Err(AdapterError::Encode("this answer has no legacy-mac form".into())),
        }
        self.answer(fields)
    }

    fn encode_error(&self, _op: Option<Operation>, req: &RawRequest, error: &ErrorView<'_>) -> Option<RawResponse> {
        let mut fields = BTreeMap::new();
        fields.insert("return_code".into(), "FAIL".into());
        fields.insert("return_msg".into(), error.detail.into());
        fields.insert("err_code".into(), error.code.to_ascii_uppercase());
        fields.insert("request_id".into(), error.request_id.into());
        if let Some(nonce) = wire::parse(req).ok().and_then(|f| f.get("nonce_str").map(str::to_owned)) {
            fields.insert("nonce_str".into(), nonce.chars().take(32).collect());
        }
        self.answer(fields).ok()
    }
}

/// `return_code` `SUCCESS`, and the request's nonce echoed so the partner can match the
/// answer to its request.
fn success(req: &RawRequest) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    fields.insert("return_code".into(), "SUCCESS".into());
    fields.insert("return_msg".into(), "OK".into());
    if let Some(nonce) = wire::parse(req).ok().and_then(|f| f.get("nonce_str").map(str::to_owned)) {
        fields.insert("nonce_str".into(), nonce);
    }
    fields
}

fn product(fields: &mut BTreeMap<String, String>, prefix: &str, p: &Product) {
    fields.insert(format!("{prefix}product_id"), p.product_id.as_str().into());
    fields.insert(format!("{prefix}product_type"), p.product_type.code().into());
    fields.insert(format!("{prefix}name"), p.name.clone());
    fields.insert(format!("{prefix}currency"), p.currency.to_string());
    if let Some(d) = &p.deposit {
        fields.insert(format!("{prefix}annual_rate"), d.annual_rate.percent().to_string());
        fields.insert(format!("{prefix}min_amount"), d.min_amount.amount().to_string());
    }
    if let Some(c) = &p.credit {
        fields.insert(format!("{prefix}annual_rate_min"), c.annual_rate_min.percent().to_string());
        fields.insert(format!("{prefix}annual_rate_max"), c.annual_rate_max.percent().to_string());
    }
}

#[cfg(test)]
mod tests;
