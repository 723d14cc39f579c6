//! Notifications: the settled payment or refund, encrypted under the partner's API key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scenegate_adapter_contract::{AdapterError, Currency, EventNotice, Money, Notification, Notify};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::settings::Settings;
use super::transform::signature_headers;
use super::wire::trade_state;
use crate::suites::aead::{self, AeadAlgorithm};

/// Minor units of a standard-API money object (`{"amount": "45.00", "currency": "CNY"}`).
fn minor(money: &Value) -> Option<i64> {
    let currency: Currency = money["currency"].as_str()?.parse().ok()?;
    Money::parse(money["amount"].as_str()?, currency).ok()?.to_minor()
}

pub fn render(settings: &Settings, event: &EventNotice<'_>, now: i64) -> Result<Notify, AdapterError> {
    let d = event.data;
    let text = |p: &str| d.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    let state = trade_state(&text("/status"));
    let (original_type, event_type, summary, resource) = match event.event_type {
        "payment.status_changed" => (
            "transaction",
            format!("TRANSACTION.{state}"),
            "payment status",
            json!({
                "trade_no": text("/payment_id"),
                "agreement_no": text("/consent_id"),
                "trade_state": state,
                "status_code": text("/status_code"),
                "amount": {
                    "total": minor(&d["instructed_amount"]),
                    "refunded": minor(&d["refunded_amount"]),
                    "currency": text("/instructed_amount/currency"),
                },
            }),
        ),
        "refund.status_changed" => (
            "refund",
            format!("REFUND.{state}"),
            "refund status",
            json!({
                "refund_id": text("/refund_id"),
                "trade_no": text("/payment_id"),
                "status": state,
                "status_code": text("/status_code"),
                "amount": {"refund": minor(&d["amount"]), "currency": text("/amount/currency")},
            }),
        ),
        _ => return Ok(Notify::Skip),
    };
    let plaintext = serde_json::to_vec(&resource).map_err(|e| AdapterError::Encode(e.to_string()))?;
    // Unique per event, so never reused under the partner's key (an event is always the
    // same plaintext, whatever the attempt).
    let digest = Sha256::digest(event.id.as_bytes());
    let nonce_text: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let nonce: [u8; 12] = nonce_text.as_bytes().try_into().map_err(|_| AdapterError::Encode("nonce".into()))?;
    let sealed =
        aead::seal(settings.notify_algorithm, &settings.notify_key, &nonce, original_type.as_bytes(), &plaintext)
            .map_err(|e| AdapterError::Encode(e.to_string()))?;
    let algorithm = match settings.notify_algorithm {
        AeadAlgorithm::Aes256Gcm => "AEAD_AES_256_GCM",
        AeadAlgorithm::Sm4Gcm => "AEAD_SM4_GCM",
    };
    let created = jiff::Timestamp::from_second(event.created_at).map_err(|e| AdapterError::Encode(e.to_string()))?;
    let body = serde_json::to_vec(&json!({
        "id": event.id,
        "create_time": created.to_string(),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            "algorithm": algorithm,
            "ciphertext": STANDARD.encode(sealed),
            "associated_data": original_type,
            "nonce": nonce_text,
        },
    }))
    .map_err(|e| AdapterError::Encode(e.to_string()))?;
    let timestamp = now.to_string();
    let mut h = Sha256::new();
    h.update(event.id.as_bytes());
    h.update(timestamp.as_bytes());
    let header_nonce: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    let headers = signature_headers(settings, &timestamp, &header_nonce, &body)?;
    Ok(Notify::Protocol(Notification { content_type: "application/json", headers, body: body.into() }))
}
