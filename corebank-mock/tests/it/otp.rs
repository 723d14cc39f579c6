//! SMS one-time codes: the right code once, five wrong ones lock it, it expires, the outbox
//! is the phone, and the code never reaches a log.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use scenegate_corebank_mock::CoreBank;
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::support::{get, get_ok, post_ok, refused, seeded};

async fn send(core: &CoreBank, cust_no: &str, purpose: &str) -> Value {
    post_ok(core, "/core/otp/send", &json!({ "cust_no": cust_no, "purpose": purpose, "ref": "pay_123" })).await
}

/// The code of `otp_id`, read off the phone as a customer would.
async fn code_of(core: &CoreBank, otp_id: &str) -> String {
    let outbox = get_ok(core, "/core/sms-outbox.json").await;
    let sms = outbox["items"].as_array().unwrap().iter().find(|m| m["otp_id"] == otp_id).expect("message sent");
    let text = sms["text"].as_str().unwrap();
    let start = text.find("code is ").expect("code in text") + "code is ".len();
    text[start..start + 6].to_owned()
}

async fn verify(core: &CoreBank, otp_id: &str, code: &str) -> Value {
    crate::support::post(core, "/core/otp/verify", &json!({ "otp_id": otp_id, "code": code })).await.1
}

/// Another six digits than `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn the_right_code_verifies_once() {
    let core = seeded().await;
    let sent = send(&core, "C0001", "Pay CNY 12.50 to SkyTrip").await;
    let otp_id = sent["otp_id"].as_str().unwrap();
    assert_eq!(sent["masked_mobile"], "138****0001");
    assert_eq!(sent["expires_at"].as_str().unwrap().len(), 14);
    let code = code_of(&core, otp_id).await;
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    assert!(!sent.to_string().contains(&code), "the code is never answered");

    let ok = verify(&core, otp_id, &code).await;
    assert_eq!(ok["ret_code"], "0000", "{ok}");
    assert_eq!(ok["data"], json!({ "otp_id": otp_id, "verified": true, "cust_no": "C0001", "ref": "pay_123" }));
    assert_eq!(verify(&core, otp_id, &code).await["ret_code"], "E464", "a code works once");
    assert_eq!(verify(&core, "OTPnosuch", &code).await["ret_code"], "E404");
}

#[tokio::test]
async fn five_wrong_codes_lock_it_even_for_the_right_one() {
    let core = seeded().await;
    let otp_id = send(&core, "C0002", "Pay CNY 8.00 to ParkEase").await["otp_id"].as_str().unwrap().to_owned();
    let code = code_of(&core, &otp_id).await;
    for left in (1..=4).rev() {
        let env = verify(&core, &otp_id, &wrong(&code)).await;
        assert_eq!(env["ret_code"], "E461", "{env}");
        assert!(env["ret_msg"].as_str().unwrap().contains(&format!("{left} attempts left")), "{env}");
    }
    assert_eq!(verify(&core, &otp_id, &wrong(&code)).await["ret_code"], "E462", "the fifth wrong code locks");
    assert_eq!(verify(&core, &otp_id, &code).await["ret_code"], "E462", "locked means locked");
    assert_eq!(verify(&core, &otp_id, "not-a-code").await["ret_code"], "E462");
}

#[tokio::test]
async fn a_code_lives_300_seconds() {
    let core = seeded().await;
    let early = send(&core, "C0003", "Pay CNY 1.00").await["otp_id"].as_str().unwrap().to_owned();
    let early_code = code_of(&core, &early).await;
    core.advance_clock(Duration::from_secs(299));
    assert_eq!(verify(&core, &early, &early_code).await["ret_code"], "0000");

    let late = send(&core, "C0003", "Pay CNY 2.00").await["otp_id"].as_str().unwrap().to_owned();
    let late_code = code_of(&core, &late).await;
    core.advance_clock(Duration::from_secs(300));
    assert_eq!(verify(&core, &late, &late_code).await["ret_code"], "E463");
}

#[tokio::test]
async fn sending_checks_its_fields_and_the_customer() {
    let core = seeded().await;
    refused(&core, "/core/otp/send", &json!({ "cust_no": "C9999", "purpose": "x", "ref": "r" }), "E404").await;
    let long = json!({ "cust_no": "C0001", "purpose": "p".repeat(141), "ref": "r" });
    let env = refused(&core, "/core/otp/send", &long, "E400").await;
    assert!(env["ret_msg"].as_str().unwrap().contains("purpose"), "{env}");
    refused(&core, "/core/otp/send", &json!({ "cust_no": "C0001", "purpose": "p" }), "E400").await;
    refused(&core, "/core/otp/verify", &json!({ "otp_id": "x" }), "E400").await;
}

#[tokio::test]
async fn the_outbox_is_the_customers_phone() {
    let core = seeded().await;
    assert_eq!(get_ok(&core, "/core/sms-outbox.json").await, json!({ "items": [] }));
    let first = send(&core, "C0001", "Pay CNY 12.50 to <b>SkyTrip</b>").await;
    let second = send(&core, "C0005", "Approve payroll").await;
    let items = get_ok(&core, "/core/sms-outbox.json").await["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!((&items[0]["otp_id"], &items[0]["mobile"]), (&second["otp_id"], &json!("13800000005")), "newest first");
    assert_eq!(items[1]["otp_id"], first["otp_id"]);
    assert!(items[1]["text"].as_str().unwrap().contains("Pay CNY 12.50 to <b>SkyTrip</b>"));
    assert_eq!(items[1]["sent_at"].as_str().unwrap().len(), 14);

    let req = axum::http::Request::get("/core/sms-outbox").body(axum::body::Body::empty()).unwrap();
    let res = scenegate_corebank_mock::router(core.clone());
    let res = tower::ServiceExt::oneshot(res, req).await.unwrap();
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = String::from_utf8(axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(html.contains("138****0001") && html.contains("138****0005"), "masked numbers");
    assert!(!html.contains("13800000001"), "never the full number");
    assert!(html.contains("&lt;b&gt;SkyTrip&lt;/b&gt;") && !html.contains("<b>SkyTrip"), "escaped");
    let code = code_of(&core, first["otp_id"].as_str().unwrap()).await;
    assert!(html.contains(&code), "the phone shows the code");
    assert!(html.find("138****0005") < html.find("138****0001"), "newest first");
    assert_eq!(get(&core, "/core/sms-outbox.json").await.0, 200);
}

/// Everything every span and event in this process records while `on`, as text.
#[derive(Clone, Default)]
struct Captured {
    text: Arc<Mutex<String>>,
    on: Arc<AtomicBool>,
}

impl Visit for Captured {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.text.lock().unwrap(), "{}={value:?} ", field.name());
    }
}

impl Subscriber for Captured {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        if self.on.load(Ordering::Relaxed) {
            span.record(&mut self.clone());
        }
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        if self.on.load(Ordering::Relaxed) {
            values.record(&mut self.clone());
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if self.on.load(Ordering::Relaxed) {
            let _ = write!(self.text.lock().unwrap(), "{} ", event.metadata().target());
            event.record(&mut self.clone());
            self.text.lock().unwrap().push('\n');
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Installed once for the whole test binary: sqlx logs from its own worker threads, which a
/// thread-local subscriber would miss.
fn capture_all_logs() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let c = Captured::default();
            tracing::subscriber::set_global_default(c.clone()).expect("no other global subscriber in this binary");
            c
        })
        .clone()
}

/// `code` standing alone, not inside a longer run of digits (a timestamp, an id).
fn appears_alone(haystack: &str, code: &str) -> bool {
    haystack.match_indices(code).any(|(i, _)| {
        let before = haystack[..i].chars().next_back().is_some_and(|c| c.is_ascii_digit());
        let after = haystack[i + code.len()..].chars().next().is_some_and(|c| c.is_ascii_digit());
        !before && !after
    })
}

#[tokio::test]
async fn the_code_never_reaches_a_log() {
    let logs = capture_all_logs();
    let core = seeded().await;
    logs.on.store(true, Ordering::Relaxed);
    let otp_id = send(&core, "C0004", "Pay CNY 99.00 to CityPay").await["otp_id"].as_str().unwrap().to_owned();
    let code = code_of(&core, &otp_id).await;
    verify(&core, &otp_id, &wrong(&code)).await;
    assert_eq!(verify(&core, &otp_id, &code).await["ret_code"], "0000");
    get_ok(&core, "/core/sms-outbox.json").await;

    logs.on.store(false, Ordering::Relaxed);
    let text = logs.text.lock().unwrap().clone();
    assert!(text.contains("INSERT INTO otps"), "the capture sees the core's statements:\n{text:.2000}");
    assert!(!appears_alone(&text, &code), "code {code} was logged");
    assert!(!text.contains("verification code is"), "the SMS text was logged");
}
