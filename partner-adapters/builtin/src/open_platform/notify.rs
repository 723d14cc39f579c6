//! Notifications: a settled payment or refund as a signed form post.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scenegate_adapter_contract::{AdapterError, EventNotice, Notification, Notify};
use serde_json::Value;

use super::settings::Settings;
use crate::suites::sorted_params;

/// The form of `event`, or [`Notify::Skip`] for events the protocol does not notify
/// (consent changes: the partner reads an agreement with `scenegate.agreement.query`).
pub fn render(settings: &Settings, event: &EventNotice<'_>) -> Result<Notify, AdapterError> {
    let data = event.data;
    let text = |pointer: &str| data.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (notify_type, mut fields) = match event.event_type {
        "payment.status_changed" => (
            "trade_status_sync",
            vec![
                ("trade_no", text("/payment_id")),
                ("agreement_no", text("/consent_id")),
                ("trade_status", trade_status(&text("/status"))),
                ("status_code", text("/status_code")),
                ("total_amount", text("/instructed_amount/amount")),
                ("refunded_amount", text("/refunded_amount/amount")),
                ("currency", text("/instructed_amount/currency")),
                ("reason_code", text("/status_reason/code")),
            ],
        ),
        "refund.status_changed" => (
            "refund_status_sync",
            vec![
                ("trade_no", text("/payment_id")),
                ("refund_id", text("/refund_id")),
                ("refund_status", trade_status(&text("/status"))),
                ("status_code", text("/status_code")),
                ("refund_amount", text("/amount/amount")),
                ("currency", text("/amount/currency")),
                ("reason_code", text("/status_reason/code")),
            ],
        ),
        _ => return Ok(Notify::Skip),
    };
    let notify_time = local_time(event.created_at, settings.utc_offset_seconds)
        .ok_or_else(|| AdapterError::Encode("the event's time cannot be written".into()))?;
    fields.extend([
        ("notify_id", event.id.to_owned()),
        ("notify_type", notify_type.to_owned()),
        ("notify_time", notify_time),
        ("app_id", settings.app_id.clone()),
        ("charset", "utf-8".to_owned()),
        ("version", "1.0".to_owned()),
        ("sign_type", settings.sign_type.name().to_owned()),
    ]);
    // Empty values are left out, as they are left out of the signing string.
    fields.retain(|(_, v)| !v.is_empty());
    let signing = sorted_params(fields.iter().map(|(k, v)| (*k, v.as_str())), &["sign"], true);
    let sign = settings.response_key.sign(signing.as_bytes()).map_err(|e| AdapterError::Encode(e.to_string()))?;
    let sign = STANDARD.encode(sign);
    fields.push(("sign", sign));
    let body = serde_urlencoded::to_string(&fields).map_err(|e| AdapterError::Encode(e.to_string()))?;
    Ok(Notify::Protocol(Notification {
        content_type: "application/x-www-form-urlencoded; charset=utf-8",
        headers: Vec::new(),
        body: body.into_bytes().into(),
    }))
}

fn trade_status(status: &str) -> String {
    match status {
        "completed" => "SUCCESS",
        "rejected" => "REJECTED",
        _ => "PENDING",
    }
    .to_owned()
}

/// Unix seconds as `yyyy-MM-dd HH:mm:ss` at `offset` seconds from UTC.
pub fn local_time(unix: i64, offset: i32) -> Option<String> {
    let at = jiff::Timestamp::from_second(unix).ok()?;
    let offset = jiff::tz::Offset::from_seconds(offset).ok()?;
    Some(at.to_zoned(jiff::tz::TimeZone::fixed(offset)).strftime("%Y-%m-%d %H:%M:%S").to_string())
}
