//! What happened to a partner's payments, refunds and consents, told to the partner: a
//! transactional outbox, webhook delivery and a polling API over the same events.
//!
//! An event is written with [`sqlite::append`] inside the transaction that changes the
//! payment (or refund, or consent), so the change and its event commit or roll back together:
//! no event for a change that never happened, no change whose event was lost in a crash.
//! The [`delivery`] worker then sends each event at least once, signed as
//! [Standard Webhooks](https://www.standardwebhooks.com/) asks ([`signing`]), to a URL that
//! [`ssrf`] has checked cannot reach the bank's own network, retrying on the schedule in
//! [`retry`] and dead-lettering what still fails. Partners without a webhook URL poll instead
//! (`list_for_partner` and `ack` on [`EventStore`]).
//!
//! Events of one subject (one payment, one refund, one consent) are delivered in the order
//! they were written: a later status is never sent while an earlier one is still pending.
//! Receivers must still deduplicate on `webhook-id`, since delivery is at least once.
//!
//! Wiring: run [`sqlite::SCHEMA`] with the gateway's schema; call [`sqlite::append`] on the
//! payment's transaction; start [`delivery::spawn`] once at startup with a [`Targets`] that
//! reads the partner's webhook settings; purge with [`EventStore::purge`] on a timer.

pub mod delivery;
pub mod retry;
pub mod signing;
pub mod ssrf;
mod store;

use std::{fmt, str::FromStr};

use serde::Serialize;

pub use delivery::{DeliveryConfig, Targets, WebhookTarget};
pub use retry::RetryPolicy;
pub use signing::{WebhookSigner, WebhookVerifier};
pub use store::{Claimed, DeadLetter, Delivery, DeliveryState, EventStore, EventStoreError, Lease};

/// Event types the gateway emits today. Types are plain strings on the wire so a partner's
/// receiver can ignore ones it does not know; these constants keep the producers consistent.
pub mod types {
    pub const PAYMENT_STATUS_CHANGED: &str = "payment.status_changed";
    pub const REFUND_STATUS_CHANGED: &str = "refund.status_changed";
    pub const CONSENT_STATUS_CHANGED: &str = "consent.status_changed";
}

/// `evt_` + a UUIDv7 in simple (32 hex digit) form. Time-ordered, so ids sort roughly by
/// creation, and prefixed so an event id is never mistaken for a payment id. This is also the
/// `webhook-id` of every delivery attempt of the event, on which receivers deduplicate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

const EVENT_ID_PREFIX: &str = "evt_";

impl EventId {
    /// What [`EventId::from_str`] accepts, for the OpenAPI document.
    pub const PATTERN: &'static str = "^evt_[0-9a-f]{32}$";

    pub fn generate() -> Self {
        Self(format!("{EVENT_ID_PREFIX}{}", uuid::Uuid::now_v7().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event id is `evt_` followed by 32 lowercase hex digits")]
pub struct InvalidEventId;

impl FromStr for EventId {
    type Err = InvalidEventId;

    fn from_str(s: &str) -> Result<Self, InvalidEventId> {
        let hex = s.strip_prefix(EVENT_ID_PREFIX).ok_or(InvalidEventId)?;
        if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidEventId)
        }
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// What the payments (refunds, consents) code hands to [`sqlite::append`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The partner told about it: the one that owns the subject.
    pub partner_id: String,
    /// One of [`types`], e.g. `payment.status_changed`.
    pub event_type: String,
    /// The payment, refund or consent id. Events of one subject are delivered in order.
    pub subject_id: String,
    /// The body's `data`: a JSON object, typically the subject's new state.
    pub data: serde_json::Value,
    /// How the partner hears of it, as its producer knew when writing it.
    pub notify: Notify,
}

/// How a partner is told of an event.
///
/// A partner with no webhook target polls: its events are written with their delivery
/// already finished (`skipped`), so they never enter the webhook queue that every
/// instance's worker claims from (on the cluster's payments benchmark, claiming and skipping
/// the events of a partner that polls was about a third of PostgreSQL's work per payment).
/// A producer that cannot tell writes [`Notify::Webhook`]: the worker then finds at claim
/// time that the partner polls, and skips it there, as it does for a partner whose webhook
/// was removed after the event was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Notify {
    /// Queued for webhook delivery.
    #[default]
    Webhook,
    /// Only listed by polling: no delivery is queued.
    Polling,
}

/// How each partner is told of events, as its file says now (see [`Notify::for_target`]).
pub type NotifyOf = std::sync::Arc<dyn Fn(&str) -> Notify + Send + Sync>;

impl Notify {
    /// For a partner that has, or has not, a webhook target.
    pub fn for_target(has_webhook: bool) -> Self {
        if has_webhook { Self::Webhook } else { Self::Polling }
    }
}

/// An event as stored. `seq` is the store's order of writing; it orders events of one
/// subject and is the polling cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub seq: i64,
    pub partner_id: String,
    pub event_type: String,
    pub subject_id: String,
    /// Unix seconds.
    pub created_at: i64,
    pub data: serde_json::Value,
}

/// The JSON a partner receives, by webhook and by polling alike (Standard Webhooks' payload
/// shape: `type`, a timestamp, `data`; plus the event id and subject so a receiver that
/// stores bodies can deduplicate and order without the headers).
#[derive(Debug, Serialize)]
pub struct EventBody<'a> {
    pub id: &'a EventId,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub subject_id: &'a str,
    pub data: &'a serde_json::Value,
}

impl Event {
    pub fn body(&self) -> EventBody<'_> {
        EventBody {
            id: &self.id,
            event_type: &self.event_type,
            created_at: rfc3339(self.created_at),
            subject_id: &self.subject_id,
            data: &self.data,
        }
    }

    /// The exact bytes sent (and signed). Rebuilt from the stored fields on each attempt;
    /// serialisation is deterministic, so every attempt sends the same body.
    pub fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body()).unwrap_or_default()
    }
}

fn rfc3339(unix_secs: i64) -> String {
    jiff::Timestamp::from_second(unix_secs).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_prefixed_uuid_v7_and_round_trip() {
        let id = EventId::generate();
        assert!(id.as_str().starts_with("evt_") && id.as_str().len() == 36, "{id}");
        assert_eq!(id.as_str().parse::<EventId>().unwrap(), id);
        for bad in
            ["", "evt_", "pay_0190a8e4c1d27c3e9b5a0f1e2d3c4b5a", "evt_0190A8E4C1D27C3E9B5A0F1E2D3C4B5A", "evt_xyz"]
        {
            assert_eq!(bad.parse::<EventId>(), Err(InvalidEventId), "{bad}");
        }
    }

    #[test]
    fn body_has_the_standard_webhooks_shape() {
        let event = Event {
            id: "evt_0190a8e4c1d27c3e9b5a0f1e2d3c4b5a".parse().unwrap(),
            seq: 7,
            partner_id: "ptn_skytrip".into(),
            event_type: types::PAYMENT_STATUS_CHANGED.into(),
            subject_id: "pay_1".into(),
            created_at: 1_800_000_000,
            data: serde_json::json!({"status": "settled"}),
        };
        let body: serde_json::Value = serde_json::from_slice(&event.body_bytes()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "id": "evt_0190a8e4c1d27c3e9b5a0f1e2d3c4b5a",
                "type": "payment.status_changed",
                "created_at": "2027-01-15T08:00:00Z",
                "subject_id": "pay_1",
                "data": {"status": "settled"}
            })
        );
    }
}
