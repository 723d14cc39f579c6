//! Partner events (payment, refund and consent status changes) for partners that poll
//! rather than host a webhook endpoint.

/// A poll for unacknowledged events, oldest first: the page size and where to continue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventQuery {
    pub limit: u32,
    pub cursor: Option<String>,
}

/// One event as the partner is told about it.
#[derive(Clone, Debug, PartialEq)]
pub struct EventView {
    /// `evt_…`: the same on every delivery and in every poll; deduplicate on it.
    pub id: String,
    /// `payment.status_changed`, `refund.status_changed` or `consent.status_changed`.
    pub event_type: String,
    pub created_at: String,
    /// The payment (for refunds too: the refunded payment) or consent it is about. Events of
    /// one subject come in order.
    pub subject_id: String,
    /// The resource as it stood after the change, already in the partner's JSON (it is
    /// stored and delivered as is).
    pub data: serde_json::Value,
}
