//! Open-platform wire ⇄ canonical, and the signed envelope.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scenegate_adapter_contract::{
    AdapterError, Authenticated, CanonicalRequest, CanonicalResponse, Currency, ErrorView, IdempotencyRef, Money,
    Operation, RawRequest, RawResponse, ReplayMark,
    canonical::{
        Creditor, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, PaymentConsentRequest, PaymentConsentType, PaymentRequest,
        Product, ProductQuery, ProductType, RefundRequest, Scenario, ScenarioCode,
    },
};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::settings::Settings;
use super::wire::{self, Params};
use crate::suites::sorted_params;

/// Answers are JSON in UTF-8, as the protocol's clients expect.
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Checks a request: form, partner, suite, signature, then its time; then names the
/// operation and what the gateway must still check (single use, idempotency, customer).
pub fn authenticate(settings: &Settings, req: &RawRequest, now: i64) -> Result<Authenticated, AdapterError> {
    let params = Params::parse(req)?;
    let app_id = params.required("app_id")?;
    if app_id != settings.app_id {
        return Err(AdapterError::WrongPartner(format!("app_id {}", app_id.chars().take(64).collect::<String>())));
    }
    let sign_type = params.required("sign_type")?;
    if sign_type != settings.sign_type.name() {
        return Err(AdapterError::Signature(format!("this app signs with sign_type {}", settings.sign_type.name())));
    }
    let sign = params.required("sign")?;
    let signature = STANDARD.decode(sign).map_err(|_| AdapterError::Signature("`sign` is not base64".into()))?;
    let signed = sorted_params(params.pairs(), &["sign"], true);
    if !settings.partner_keys.iter().any(|key| key.verify(signed.as_bytes(), &signature)) {
        return Err(AdapterError::Signature(
            "`sign` does not match the parameters as sent with any key registered for this app".into(),
        ));
    }
    // Signed, so the rest is the partner's own word.
    let timestamp = params.required("timestamp")?;
    let at = parse_timestamp(timestamp, settings.utc_offset_seconds)
        .ok_or_else(|| AdapterError::Stale("`timestamp` must be `yyyy-MM-dd HH:mm:ss`".into()))?;
    if (now - at).abs() > settings.window_seconds {
        return Err(AdapterError::Stale(format!(
            "`timestamp` is more than {} seconds from the gateway's clock",
            settings.window_seconds
        )));
    }
    if !params.required("charset")?.eq_ignore_ascii_case("utf-8") {
        return Err(AdapterError::field("charset", "must be utf-8"));
    }
    if params.required("version")? != "1.0" {
        return Err(AdapterError::field("version", "must be 1.0"));
    }
    if params.get("format").is_some_and(|f| !f.eq_ignore_ascii_case("json")) {
        return Err(AdapterError::field("format", "must be JSON"));
    }
    let method = params.required("method")?;
    let operation = wire::operation(method).ok_or_else(|| {
        let known: Vec<&str> = wire::METHODS.iter().map(|(m, _)| *m).collect();
        AdapterError::field("method", format!("unknown method; known: {}", known.join(", ")))
    })?;
    let biz = params.required("biz_content")?;
    let order = match operation {
        Operation::CreatePaymentConsent => {
            Some(("biz_content.out_agreement_no", params.biz::<wire::AgreementCreateBiz>()?.out_agreement_no))
        }
        Operation::CreatePayment => Some(("biz_content.out_trade_no", params.biz::<wire::TradePayBiz>()?.out_trade_no)),
        Operation::CreateRefund => {
            Some(("biz_content.out_request_no", params.biz::<wire::TradeRefundBiz>()?.out_request_no))
        }
        _ => None,
    };
    let idempotency = match order {
        Some((field, key)) => {
            crate::form::order_number(field, &key)?;
            Some(IdempotencyRef { key, request: biz.as_bytes().to_vec() })
        }
        None => None,
    };
    Ok(Authenticated {
        operation,
        replay: ReplayMark { key: hex(&Sha256::digest(&signature)), until: at + settings.window_seconds },
        customer_token: params.get("auth_token").map(str::to_owned),
        idempotency,
    })
}

/// `yyyy-MM-dd HH:mm:ss` at `offset` seconds from UTC → Unix seconds.
fn parse_timestamp(text: &str, offset: i32) -> Option<i64> {
    if text.len() != 19 {
        return None;
    }
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text).ok()?;
    let offset = jiff::tz::Offset::from_seconds(offset).ok()?;
    Some(offset.to_timestamp(civil).ok()?.as_second())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn decode(op: Operation, req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    let params = Params::parse(req)?;
    Ok(match op {
        Operation::ListProducts => {
            let biz: wire::ProductListBiz = params.biz()?;
            let product_type = biz
                .product_type
                .as_deref()
                .map(|code| {
                    ProductType::parse(code).ok_or_else(|| {
                        AdapterError::field(
                            "biz_content.product_type",
                            "must be deposit, consumer_credit or sme_credit",
                        )
                    })
                })
                .transpose()?;
            let limit = biz.limit.unwrap_or(DEFAULT_PAGE_LIMIT);
            if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
                return Err(AdapterError::field("biz_content.limit", format!("must be 1 to {MAX_PAGE_LIMIT}")));
            }
            if biz.cursor.as_ref().is_some_and(|c| c.is_empty() || c.len() > 512) {
                return Err(AdapterError::field("biz_content.cursor", "is not a cursor this API issued"));
            }
            CanonicalRequest::ListProducts(ProductQuery { product_type, limit, cursor: biz.cursor })
        }
        Operation::GetProduct => {
            let biz: wire::ProductQueryBiz = params.biz()?;
            CanonicalRequest::GetProduct(parse_id("biz_content.product_id", &biz.product_id)?)
        }
        Operation::GetBalances => {
            let biz: wire::BalanceQueryBiz = params.biz()?;
            CanonicalRequest::GetBalances(parse_id("biz_content.account_id", &biz.account_id)?)
        }
        Operation::CreatePaymentConsent => {
            let biz: wire::AgreementCreateBiz = params.biz()?;
            crate::form::order_number("biz_content.out_agreement_no", &biz.out_agreement_no)?;
            let amount = money("biz_content.total_amount", &biz.total_amount, biz.currency.as_deref())?;
            let code = ScenarioCode::parse(&biz.scenario_code).ok_or_else(|| {
                AdapterError::field("biz_content.scenario_code", format!("must be one of {}", ScenarioCode::known()))
            })?;
            CanonicalRequest::CreatePaymentConsent(Box::new(PaymentConsentRequest {
                consent_type: PaymentConsentType::Single,
                instructed_amount: Some(amount),
                currency: None,
                limits: None,
                creditor: Creditor { merchant: Some(biz.merchant), account_number: None, name: None, bank_code: None },
                remittance_reference: biz.subject,
                scenario: Scenario { code, merchant_category_code: biz.merchant_category_code },
                debtor_account_id: None,
                expiration: biz.expire_time,
            }))
        }
        Operation::GetPaymentConsent => {
            let biz: wire::AgreementQueryBiz = params.biz()?;
            CanonicalRequest::GetPaymentConsent(parse_id("biz_content.agreement_no", &biz.agreement_no)?)
        }
        Operation::RevokePaymentConsent => {
            let biz: wire::AgreementCloseBiz = params.biz()?;
            CanonicalRequest::RevokePaymentConsent(parse_id("biz_content.agreement_no", &biz.agreement_no)?)
        }
        Operation::CreatePayment => {
            let biz: wire::TradePayBiz = params.biz()?;
            crate::form::order_number("biz_content.out_trade_no", &biz.out_trade_no)?;
            let amount = money("biz_content.total_amount", &biz.total_amount, biz.currency.as_deref())?;
            CanonicalRequest::CreatePayment(Box::new(PaymentRequest {
                consent_id: parse_id("biz_content.agreement_no", &biz.agreement_no)?,
                instructed_amount: amount,
                remittance_reference: biz.subject,
            }))
        }
        Operation::GetPayment => {
            let biz: wire::TradeQueryBiz = params.biz()?;
            CanonicalRequest::GetPayment(parse_id("biz_content.trade_no", &biz.trade_no)?)
        }
        Operation::CreateRefund => {
            let biz: wire::TradeRefundBiz = params.biz()?;
            crate::form::order_number("biz_content.out_request_no", &biz.out_request_no)?;
            let amount = money("biz_content.refund_amount", &biz.refund_amount, biz.currency.as_deref())?;
            let id = parse_id("biz_content.trade_no", &biz.trade_no)?;
            CanonicalRequest::CreateRefund(id, Box::new(RefundRequest { amount, reason: biz.refund_reason }))
        }
        other => return Err(AdapterError::Unsupported(other.name())),
    })
}

/// A typed id from a `biz_content` field; the error names the field.
fn parse_id<T: std::str::FromStr<Err = scenegate_adapter_contract::IdError>>(
    field: &'static str,
    value: &str,
) -> Result<T, AdapterError> {
    value.parse().map_err(|e: scenegate_adapter_contract::IdError| AdapterError::field(field, e.to_string()))
}

/// A decimal amount in a currency (CNY when the protocol leaves it out), exact.
fn money(field: &'static str, amount: &str, currency: Option<&str>) -> Result<Money, AdapterError> {
    let currency: Currency = currency
        .unwrap_or("CNY")
        .parse()
        .map_err(|_| AdapterError::field("biz_content.currency", "is not an ISO 4217 currency this bank serves"))?;
    let money = Money::parse(amount, currency).map_err(|e| AdapterError::field(field, e.to_string()))?;
    if money.amount().is_sign_negative() || money.amount().is_zero() {
        return Err(AdapterError::field(field, "must be more than zero"));
    }
    Ok(money)
}

fn amount(m: &Money) -> Value {
    Value::String(m.amount().to_string())
}

fn product(p: &Product) -> Value {
    let mut out = json!({
        "product_id": p.product_id.as_str(),
        "product_type": p.product_type.code(),
        "name": p.name,
        "description": p.description,
        "currency": p.currency.to_string(),
        "updated_at": p.updated_at,
    });
    if let Some(d) = &p.deposit {
        out["annual_rate"] = Value::String(d.annual_rate.percent().to_string());
        out["min_amount"] = amount(&d.min_amount);
        if let Some(term) = d.term_months {
            out["term_months"] = json!(term);
        }
    }
    if let Some(c) = &p.credit {
        out["annual_rate_min"] = Value::String(c.annual_rate_min.percent().to_string());
        out["annual_rate_max"] = Value::String(c.annual_rate_max.percent().to_string());
        out["term_months_min"] = json!(c.term_months_min);
        out["term_months_max"] = json!(c.term_months_max);
        out["min_amount"] = amount(&c.min_amount);
        out["max_amount"] = amount(&c.max_amount);
    }
    out
}

fn success() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("code".into(), "10000".into());
    m.insert("msg".into(), "Success".into());
    m
}

/// The fields of a successful answer (`code` 10000).
pub fn response_fields(res: CanonicalResponse) -> Result<Map<String, Value>, AdapterError> {
    let mut out = success();
    match res {
        CanonicalResponse::ProductPage(page) => {
            out.insert("products".into(), page.items.iter().map(product).collect());
            if let Some(next) = page.next_cursor {
                out.insert("next_cursor".into(), next.into());
            }
        }
        CanonicalResponse::Product(p) => {
            if let Value::Object(fields) = product(&p) {
                out.extend(fields);
            }
        }
        CanonicalResponse::Balances(balances) => {
            let items: Vec<Value> = balances
                .iter()
                .map(|b| {
                    json!({
                        "account_id": b.account_id.as_str(),
                        "currency": b.booked.currency().to_string(),
                        "booked_amount": amount(&b.booked),
                        "available_amount": amount(&b.available),
                        "as_of": b.as_of,
                    })
                })
                .collect();
            out.insert("balances".into(), items.into());
        }
        // A closed agreement answers as it now is: `agreement_status` `revoked`.
        CanonicalResponse::PaymentConsent { consent, .. } | CanonicalResponse::PaymentConsentRevoked(consent) => {
            out.insert("agreement_no".into(), consent.consent_id.as_str().into());
            out.insert("agreement_status".into(), consent.status.code().into());
            if let Some(amount_) = &consent.instructed_amount {
                out.insert("total_amount".into(), amount(amount_));
                out.insert("currency".into(), amount_.currency().to_string().into());
            }
            out.insert("subject".into(), consent.remittance_reference.clone().into());
            out.insert("gmt_create".into(), consent.created_at.clone().into());
            out.insert("expire_time".into(), consent.expiration.clone().into());
        }
        CanonicalResponse::Payment { payment, .. } => {
            out.insert("trade_no".into(), payment.payment_id.as_str().into());
            out.insert("agreement_no".into(), payment.consent_id.as_str().into());
            out.insert("trade_status".into(), status_name(payment.status).into());
            out.insert("status_code".into(), payment.status_code.code().into());
            out.insert("total_amount".into(), amount(&payment.instructed_amount));
            out.insert("refunded_amount".into(), amount(&payment.refunded_amount));
            out.insert("currency".into(), payment.instructed_amount.currency().to_string().into());
            out.insert("subject".into(), payment.remittance_reference.clone().into());
            out.insert("gmt_create".into(), payment.created_at.clone().into());
            if let Some(reason) = &payment.status_reason {
                out.insert("reason_code".into(), reason.code.clone().into());
                out.insert("reason_msg".into(), reason.description.clone().into());
            }
        }
        CanonicalResponse::Refund(refund) => {
            out.insert("refund_id".into(), refund.refund_id.as_str().into());
            out.insert("trade_no".into(), refund.payment_id.as_str().into());
            out.insert("refund_status".into(), status_name(refund.status).into());
            out.insert("status_code".into(), refund.status_code.code().into());
            out.insert("refund_amount".into(), amount(&refund.amount));
            out.insert("currency".into(), refund.amount.currency().to_string().into());
            if let Some(reason) = &refund.status_reason {
                out.insert("reason_code".into(), reason.code.clone().into());
                out.insert("reason_msg".into(), reason.description.clone().into());
            }
        }
        _ => return Err(AdapterError::Encode("this answer has no open-platform form".into())),
    }
    Ok(out)
}

fn status_name(status: scenegate_adapter_contract::canonical::PaymentStatus) -> &'static str {
    use scenegate_adapter_contract::canonical::PaymentStatus as S;
    match status {
        S::Pending => "PENDING",
        S::Completed => "SUCCESS",
        S::Rejected => "REJECTED",
    }
}

/// A refusal's fields: the platform-wide `code` family, and the gateway's stable problem
/// type as `sub_code` so a partner can act on it exactly.
pub fn error_fields(error: &ErrorView<'_>) -> Map<String, Value> {
    let (code, msg) = match (error.status, error.code) {
        (_, "invalid_token" | "token_sender_mismatch") => ("20001", "Insufficient Token Permissions"),
        (429 | 500.., _) => ("20000", "Service Currently Unavailable"),
        (403, _) => ("40006", "Insufficient Permissions"),
        (404 | 409 | 422, _) => ("40004", "Business Failed"),
        _ => ("40002", "Invalid Arguments"),
    };
    let mut m = Map::new();
    m.insert("code".into(), code.into());
    m.insert("msg".into(), msg.into());
    m.insert("sub_code".into(), format!("scenegate.{}", error.code).into());
    m.insert("sub_msg".into(), error.detail.into());
    m.insert("request_id".into(), error.request_id.into());
    if let Some(after) = error.retry_after {
        m.insert("retry_after".into(), after.into());
    }
    m
}

/// `{"<method>_response": <fields>, "sign": "<gateway's signature over that exact text>"}`;
/// `error_response` when the method was never known.
pub fn envelope(
    settings: &Settings,
    op: Option<Operation>,
    fields: &Map<String, Value>,
) -> Result<RawResponse, AdapterError> {
    let key = match op.and_then(wire::method_name) {
        Some(method) => format!("{}_response", method.replace('.', "_")),
        None => "error_response".to_owned(),
    };
    let text = serde_json::to_string(fields).map_err(|e| AdapterError::Encode(e.to_string()))?;
    let signature = settings.response_key.sign(text.as_bytes()).map_err(|e| AdapterError::Encode(e.to_string()))?;
    let body = format!(r#"{{"{key}":{text},"sign":"{}"}}"#, STANDARD.encode(signature));
    Ok(RawResponse::new(200, CONTENT_TYPE, body))
}
