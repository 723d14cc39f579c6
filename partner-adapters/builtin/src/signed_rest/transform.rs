//! Signed-rest wire ⇄ canonical, and the signed answer.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scenegate_adapter_contract::{
    AdapterError, Authenticated, CanonicalRequest, CanonicalResponse, Currency, ErrorView, IdError, IdempotencyRef,
    Money, Operation, RawRequest, RawResponse, ReplayMark,
    canonical::{
        Creditor, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, PaymentConsentRequest, PaymentConsentType, PaymentRequest,
        Product, ProductQuery, ProductType, RefundRequest, Scenario, ScenarioCode,
    },
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::settings::Settings;
use super::wire::{self, Credentials};

/// The customer's access token, for operations on the customer's data or money.
pub const CUSTOMER_TOKEN_HEADER: &str = "scenegate-customer-token";
/// Largest amount in minor units a request may name (10¹³ yuan).
const MAX_MINOR: i64 = 1_000_000_000_000_000;

/// `METHOD\npath?query\ntimestamp\nnonce\nbody\n`: what the partner signs.
fn signing_message(req: &RawRequest, creds: &Credentials) -> Vec<u8> {
    let mut url = req.path.clone();
    if let Some(q) = req.query.as_deref().filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    let mut message = format!("{}\n{url}\n{}\n{}\n", req.method, creds.timestamp, creds.nonce_str).into_bytes();
    message.extend_from_slice(&req.body);
    message.push(b'\n');
    message
}

pub fn authenticate(settings: &Settings, req: &RawRequest, now: i64) -> Result<Authenticated, AdapterError> {
    let creds = Credentials::parse(req.header("authorization"), settings.scheme())?;
    if creds.mchid != settings.mchid {
        return Err(AdapterError::WrongPartner(format!("mchid {}", creds.mchid.chars().take(32).collect::<String>())));
    }
    let key = settings
        .partner_keys
        .iter()
        .find(|(serial, _)| *serial == creds.serial_no)
        .map(|(_, k)| k)
        .ok_or_else(|| AdapterError::Signature("`serial_no` names no key registered for this merchant".into()))?;
    let signature =
        STANDARD.decode(&creds.signature).map_err(|_| AdapterError::Signature("`signature` is not base64".into()))?;
    if !key.verify(&signing_message(req, &creds), &signature) {
        return Err(AdapterError::Signature("`signature` does not match the request as sent".into()));
    }
    let timestamp: i64 =
        creds.timestamp.parse().map_err(|_| AdapterError::Stale("`timestamp` must be Unix seconds".into()))?;
    if (now - timestamp).abs() > settings.window_seconds {
        return Err(AdapterError::Stale(format!(
            "`timestamp` is more than {} seconds from the gateway's clock",
            settings.window_seconds
        )));
    }
    let rest = req.path_param("rest").unwrap_or_default();
    let (operation, _) = wire::route(&req.method, rest)
        .ok_or_else(|| AdapterError::field("path", format!("no {} operation at `/{rest}`", req.method)))?;
    let order = match operation {
        Operation::CreatePaymentConsent => {
            Some(("out_agreement_no", json_body::<wire::AgreementCreate>(req)?.out_agreement_no))
        }
        Operation::CreatePayment => Some(("out_trade_no", json_body::<wire::Pay>(req)?.out_trade_no)),
        Operation::CreateRefund => Some(("out_refund_no", json_body::<wire::Refund>(req)?.out_refund_no)),
        _ => None,
    };
    let idempotency = match order {
        Some((field, key)) => {
            crate::form::order_number(field, &key)?;
            Some(IdempotencyRef { key, request: req.body.to_vec() })
        }
        None => None,
    };
    Ok(Authenticated {
        operation,
        replay: ReplayMark {
            key: format!("{}:{}", settings.mchid, creds.nonce_str),
            until: timestamp + settings.window_seconds,
        },
        customer_token: req.header(CUSTOMER_TOKEN_HEADER).map(str::to_owned),
        idempotency,
    })
}

/// The body as JSON, sent as `application/json`.
fn json_body<T: serde::de::DeserializeOwned>(req: &RawRequest) -> Result<T, AdapterError> {
    let content_type = req.header("content-type").unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        let got = if content_type.is_empty() { "no Content-Type".to_owned() } else { format!("`{content_type}`") };
        return Err(AdapterError::UnsupportedMediaType { expected: "application/json", got });
    }
    serde_json::from_slice(&req.body).map_err(|e| AdapterError::MalformedBody(e.to_string()))
}

fn id<T: std::str::FromStr<Err = IdError>>(field: &'static str, value: &str) -> Result<T, AdapterError> {
    value.parse().map_err(|e: IdError| AdapterError::field(field, e.to_string()))
}

/// Minor units in a currency → exact money; more than zero.
fn money(field: &'static str, minor: i64, currency: &str) -> Result<Money, AdapterError> {
    let currency: Currency =
        currency.parse().map_err(|_| AdapterError::field(field, "is not an ISO 4217 currency this bank serves"))?;
    if !(1..=MAX_MINOR).contains(&minor) {
        return Err(AdapterError::field(field, "must be a whole number of minor units, more than zero"));
    }
    Ok(Money::from_minor(minor, currency))
}

pub fn decode(op: Operation, req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    let rest = req.path_param("rest").unwrap_or_default();
    let (_, path_id) = wire::route(&req.method, rest).ok_or_else(|| AdapterError::Unsupported(op.name()))?;
    let path_id = path_id.unwrap_or_default();
    Ok(match op {
        Operation::ListProducts => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query.as_deref().unwrap_or_default())
                .map_err(|e| AdapterError::field("query", e.to_string()))?;
            let mut query = ProductQuery { product_type: None, limit: DEFAULT_PAGE_LIMIT, cursor: None };
            for (name, value) in pairs {
                match name.as_str() {
                    "product_type" => {
                        query.product_type = Some(ProductType::parse(&value).ok_or_else(|| {
                            AdapterError::field("product_type", "must be deposit, consumer_credit or sme_credit")
                        })?);
                    }
                    "limit" => {
                        query.limit =
                            value.parse().ok().filter(|n| (1..=MAX_PAGE_LIMIT).contains(n)).ok_or_else(|| {
                                AdapterError::field(
                                    "limit",
                                    format!("must be a whole number from 1 to {MAX_PAGE_LIMIT}"),
                                )
                            })?;
                    }
                    "cursor" if !value.is_empty() && value.len() <= 512 => query.cursor = Some(value),
                    "cursor" => return Err(AdapterError::field("cursor", "is not a cursor this API issued")),
                    other => {
                        return Err(AdapterError::field(
                            other.chars().take(40).collect::<String>(),
                            "unknown parameter",
                        ));
                    }
                }
            }
            CanonicalRequest::ListProducts(query)
        }
        Operation::GetProduct => CanonicalRequest::GetProduct(id("product_id", path_id)?),
        Operation::GetBalances => CanonicalRequest::GetBalances(id("account_id", path_id)?),
        Operation::GetPaymentConsent => CanonicalRequest::GetPaymentConsent(id("agreement_no", path_id)?),
        Operation::GetPayment => CanonicalRequest::GetPayment(id("trade_no", path_id)?),
        Operation::CreatePaymentConsent => {
            let b: wire::AgreementCreate = json_body(req)?;
            let code = ScenarioCode::parse(&b.scenario_code).ok_or_else(|| {
                AdapterError::field("scenario_code", format!("must be one of {}", ScenarioCode::known()))
            })?;
            CanonicalRequest::CreatePaymentConsent(Box::new(PaymentConsentRequest {
                consent_type: PaymentConsentType::Single,
                instructed_amount: Some(money("amount.total", b.amount.total, &b.amount.currency)?),
                currency: None,
                limits: None,
                creditor: Creditor { merchant: Some(b.merchant), account_number: None, name: None, bank_code: None },
                remittance_reference: b.description,
                scenario: Scenario { code, merchant_category_code: b.merchant_category_code },
                debtor_account_id: None,
                expiration: b.time_expire,
            }))
        }
        Operation::CreatePayment => {
            let b: wire::Pay = json_body(req)?;
            CanonicalRequest::CreatePayment(Box::new(PaymentRequest {
                consent_id: id("agreement_no", &b.agreement_no)?,
                instructed_amount: money("amount.total", b.amount.total, &b.amount.currency)?,
                remittance_reference: b.description,
            }))
        }
        Operation::CreateRefund => {
            let b: wire::Refund = json_body(req)?;
            let amount = money("amount.refund", b.amount.refund, &b.amount.currency)?;
            CanonicalRequest::CreateRefund(
                id("trade_no", &b.trade_no)?,
                Box::new(RefundRequest { amount, reason: b.reason }),
            )
        }
        other => return Err(AdapterError::Unsupported(other.name())),
    })
}

fn minor(m: &Money) -> Result<i64, AdapterError> {
    m.to_minor().ok_or_else(|| AdapterError::Encode("an amount does not fit in minor units".into()))
}

fn product(p: &Product) -> Result<Value, AdapterError> {
    let mut out = json!({
        "product_id": p.product_id.as_str(),
        "product_type": p.product_type.code(),
        "name": p.name,
        "description": p.description,
        "currency": p.currency.to_string(),
        "update_time": p.updated_at,
    });
    if let Some(d) = &p.deposit {
        out["annual_rate"] = Value::String(d.annual_rate.percent().to_string());
        out["min_amount"] = json!(minor(&d.min_amount)?);
    }
    if let Some(c) = &p.credit {
        out["annual_rate_min"] = Value::String(c.annual_rate_min.percent().to_string());
        out["annual_rate_max"] = Value::String(c.annual_rate_max.percent().to_string());
        out["min_amount"] = json!(minor(&c.min_amount)?);
        out["max_amount"] = json!(minor(&c.max_amount)?);
    }
    Ok(out)
}

pub fn response_body(res: CanonicalResponse) -> Result<Vec<u8>, AdapterError> {
    let value = match res {
        CanonicalResponse::ProductPage(page) => {
            let data = page.items.iter().map(product).collect::<Result<Vec<_>, _>>()?;
            let mut out = json!({ "data": data });
            if let Some(next) = page.next_cursor {
                out["next_cursor"] = next.into();
            }
            out
        }
        CanonicalResponse::Product(p) => product(&p)?,
        CanonicalResponse::Balances(balances) => {
            let data = balances
                .iter()
                .map(|b| {
                    Ok(json!({
                        "account_id": b.account_id.as_str(),
                        "currency": b.booked.currency().to_string(),
                        "booked": minor(&b.booked)?,
                        "available": minor(&b.available)?,
                        "as_of": b.as_of,
                    }))
                })
                .collect::<Result<Vec<_>, AdapterError>>()?;
            json!({ "data": data })
        }
        CanonicalResponse::PaymentConsent { consent, .. } => {
            let mut out = json!({
                "agreement_no": consent.consent_id.as_str(),
                "status": consent.status.code(),
                "description": consent.remittance_reference,
                "create_time": consent.created_at,
                "time_expire": consent.expiration,
            });
            if let Some(amount) = &consent.instructed_amount {
                out["amount"] = json!({"total": minor(amount)?, "currency": amount.currency().to_string()});
            }
            out
        }
        CanonicalResponse::Payment { payment, .. } => {
            let status = match payment.status {
                scenegate_adapter_contract::canonical::PaymentStatus::Pending => "pending",
                scenegate_adapter_contract::canonical::PaymentStatus::Completed => "completed",
                scenegate_adapter_contract::canonical::PaymentStatus::Rejected => "rejected",
            };
            let mut out = json!({
                "trade_no": payment.payment_id.as_str(),
                "agreement_no": payment.consent_id.as_str(),
                "trade_state": wire::trade_state(status),
                "status_code": payment.status_code.code(),
                "amount": {
                    "total": minor(&payment.instructed_amount)?,
                    "refunded": minor(&payment.refunded_amount)?,
                    "currency": payment.instructed_amount.currency().to_string(),
                },
                "description": payment.remittance_reference,
                "create_time": payment.created_at,
            });
            if let Some(reason) = &payment.status_reason {
                out["reason_code"] = reason.code.clone().into();
            }
            out
        }
        CanonicalResponse::Refund(refund) => {
            let status = match refund.status {
                scenegate_adapter_contract::canonical::PaymentStatus::Pending => "pending",
                scenegate_adapter_contract::canonical::PaymentStatus::Completed => "completed",
                scenegate_adapter_contract::canonical::PaymentStatus::Rejected => "rejected",
            };
            json!({
                "refund_id": refund.refund_id.as_str(),
                "trade_no": refund.payment_id.as_str(),
                "status": wire::trade_state(status),
                "status_code": refund.status_code.code(),
                "amount": {"refund": minor(&refund.amount)?, "currency": refund.amount.currency().to_string()},
                "create_time": refund.created_at,
            })
        }
        _ => return Err(AdapterError::Encode("this answer has no signed-rest form".into())),
    };
    serde_json::to_vec(&value).map_err(|e| AdapterError::Encode(e.to_string()))
}

/// `{"code", "message", "request_id"}` of a refusal; its HTTP status is the problem's.
pub fn error_body(error: &ErrorView<'_>) -> Vec<u8> {
    let mut out = json!({
        "code": error.code.to_ascii_uppercase(),
        "message": error.detail,
        "request_id": error.request_id,
    });
    if let Some(after) = error.retry_after {
        out["retry_after"] = after.into();
    }
    serde_json::to_vec(&out).unwrap_or_default()
}

/// The answer with its signature headers: `timestamp\nnonce\nbody\n` signed by the bank's
/// key, dated when the request arrived.
pub fn signed(settings: &Settings, req: &RawRequest, status: u16, body: Vec<u8>) -> Result<RawResponse, AdapterError> {
    let timestamp = req.received_at.to_string();
    let mut h = Sha256::new();
    h.update(&body);
    h.update(timestamp.as_bytes());
    h.update(req.header("authorization").unwrap_or_default().as_bytes());
    let nonce: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    let headers = signature_headers(settings, &timestamp, &nonce, &body)?;
    let mut out = RawResponse::new(status, "application/json", body);
    out.headers = headers;
    Ok(out)
}

/// `Scenegate-Timestamp`, `-Nonce`, `-Serial`, `-Signature` over `timestamp\nnonce\nbody\n`.
pub fn signature_headers(
    settings: &Settings,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> Result<Vec<(String, String)>, AdapterError> {
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    let signature = settings.response_key.sign(&message).map_err(|e| AdapterError::Encode(e.to_string()))?;
    Ok(vec![
        ("scenegate-timestamp".into(), timestamp.to_owned()),
        ("scenegate-nonce".into(), nonce.to_owned()),
        ("scenegate-serial".into(), settings.response_serial.clone()),
        ("scenegate-signature".into(), STANDARD.encode(signature)),
    ])
}
