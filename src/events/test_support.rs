//! Shared by the events tests: a gateway database in a temp dir with the outbox schema.

use std::{future::Future, time::Duration};

use super::NewEvent;

pub fn new_event(partner: &str, subject: &str, status: &str) -> NewEvent {
    NewEvent {
        partner_id: partner.into(),
        event_type: super::types::PAYMENT_STATUS_CHANGED.into(),
        subject_id: subject.into(),
        data: serde_json::json!({"id": subject, "status": status}),
        notify: super::Notify::Webhook,
    }
}

/// Polls `check` until it returns `Some`, failing the test after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
