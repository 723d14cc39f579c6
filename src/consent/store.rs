//! Where consents live. Updates are conditional on the version read, so a customer's
//! revocation and a partner's read racing each other can never lose the revocation.

use async_trait::async_trait;
use scenegate_adapter_contract::ConsentId;

use super::model::Consent;
use crate::{events::Notify, store::StoreError};

#[async_trait]
pub trait ConsentStore: Send + Sync {
    async fn insert(&self, consent: &Consent) -> Result<(), StoreError>;
    /// The consent and its version.
    async fn get(&self, id: &ConsentId) -> Result<Option<(Consent, i64)>, StoreError>;
    /// Saves when the stored version is still `version`; false when another writer won. A
    /// change of status is announced to the partner as `notify` says.
    async fn update(&self, consent: &Consent, version: i64, notify: Notify) -> Result<bool, StoreError>;
    /// Every consent a customer answered, newest first.
    async fn list_for_customer(&self, customer_id: &str) -> Result<Vec<(Consent, i64)>, StoreError>;
    /// Every consent of a partner, newest first (staff reports).
    async fn list_for_partner(&self, partner_id: &str) -> Result<Vec<Consent>, StoreError>;
}

/// What the audit trail keeps of a new consent (written in the insert's transaction; its
/// later status changes reach the trail through the outbox). No account numbers: none are
/// chosen yet, and the trail never holds them.
pub(crate) fn created_record(c: &Consent) -> crate::audit::NewRecord {
    crate::audit::NewRecord {
        chain: crate::audit::Chain::Records,
        at: c.created_at,
        actor: format!("partner:{}", c.partner_id),
        action: "consent.created".into(),
        subject: c.id.as_str().to_owned(),
        detail: serde_json::json!({
            "partner_id": c.partner_id,
            "kind": if c.payment.is_some() { "payment" } else { "accounts" },
            "permissions": c.permissions,
            "purpose": c.purpose,
            "expiration": super::model::rfc3339(c.expiration),
        }),
    }
}

/// What the partner is told when one of its consents changes status, queued for its webhook
/// or only listed by polling as `notify` says (its writer knows which: the consent service,
/// or the payment that consumes the consent).
pub(crate) fn status_event(c: &Consent, notify: Notify) -> crate::events::NewEvent {
    crate::events::NewEvent {
        partner_id: c.partner_id.clone(),
        event_type: crate::events::types::CONSENT_STATUS_CHANGED.to_owned(),
        subject_id: c.id.as_str().to_owned(),
        data: serde_json::json!({
            "consent_id": c.id,
            "kind": if c.payment.is_some() { "payment" } else { "accounts" },
            "status": scenegate_adapters::native::wire::ConsentStatus::from(c.status),
            "status_updated_at": super::model::rfc3339(c.status_updated_at),
        }),
        notify,
    }
}
