//! Partner events as the native API sends them: polled from `GET /v1/events`, and the same
//! body a webhook delivers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PageLinks, PageMeta};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "evt_01938f2c7a1b7c3d9e0f112233445566",
    "type": "payment.status_changed",
    "created_at": "2026-12-03T11:02:00Z",
    "subject_id": "pay_01JDQ60A7K5S2W8E4R6T0Y1U3I",
    "data": {"payment_id": "pay_01JDQ60A7K5S2W8E4R6T0Y1U3I", "status": "completed", "status_code": "ACSC"}
}))]
pub struct EventView {
    /// `evt_…`: the same on every delivery and in every poll; deduplicate on it.
    pub id: String,
    /// `payment.status_changed`, `refund.status_changed` or `consent.status_changed`.
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The payment (for refunds too: the refunded payment) or consent it is about. Events of
    /// one subject come in order.
    pub subject_id: String,
    /// The resource as it stood after the change.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    pub data: Vec<EventView>,
    pub links: PageLinks,
    pub meta: PageMeta,
}
