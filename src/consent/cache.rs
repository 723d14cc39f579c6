//! The account-access consents the hot path reads on every customer call, kept in memory
//! while nothing has changed them.
//!
//! Only for a store this process alone writes (the embedded default): every change to an
//! account-access consent goes through [`super::Consents`], which drops the entry *after*
//! its write commits and before it answers, so the very next call reads the new state. A
//! read that raced a change cannot put the old state back: entries are only added when no
//! change happened since the read began (a generation counter, checked under the same lock
//! the change takes). Expiry needs no invalidation: whoever uses an entry checks the clock
//! ([`CachedConsents::get`] hands out nothing that is due to expire). Payment consents are
//! never kept (the payment store changes them in its own transaction).
//!
//! In cluster mode another instance may change a consent, so there is no cache there and
//! every call reads the shared database.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use scenegate_adapter_contract::ConsentId;

use super::Consent;

/// Entries kept at most; past it the cache starts again empty (a bound, not a policy: the
/// demo and a bank's single node hold far fewer active consents than calls).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
struct Inner {
    entries: HashMap<ConsentId, Arc<Consent>>,
    /// Bumped by every change; a read that began under another generation is not kept.
    generation: u64,
}

#[derive(Default)]
pub struct CachedConsents {
    inner: Mutex<Inner>,
}

/// Where a read began, to decide afterwards whether it may be kept.
#[derive(Clone, Copy)]
pub struct ReadStart(u64);

impl CachedConsents {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept consent, unless it is due to expire at `now` (then the store must apply the
    /// expiry).
    pub fn get(&self, id: &ConsentId, now: i64) -> Option<Arc<Consent>> {
        let hit = self.lock().entries.get(id).cloned()?;
        hit.due_expiry().is_none_or(|due| now < due).then_some(hit)
    }

    /// To call before reading the store.
    pub fn start_read(&self) -> ReadStart {
        ReadStart(self.lock().generation)
    }

    /// Keeps what a read found, if nothing changed any consent since it began.
    pub fn keep(&self, started: ReadStart, consent: &Consent) {
        if consent.payment.is_some() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != started.0 {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(consent.id.clone(), Arc::new(consent.clone()));
    }

    /// A change to `id` committed: forget it, and refuse to keep reads already under way.
    pub fn changed(&self, id: &ConsentId) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::model::Consent;

    fn consent(id: &str) -> Consent {
        let mut c: Consent = serde_json::from_value(serde_json::json!({
            "id": format!("cns_{id}"), "partner_id": "ptn_a", "customer_id": "C1", "permissions": [],
            "expiration": 2_000, "transaction_from": null, "transaction_to": null, "purpose": "p",
            "status": "authorised", "accounts": [], "created_at": 0, "status_updated_at": 0, "history": []
        }))
        .unwrap();
        c.expiration = 2_000;
        c
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = CachedConsents::default();
        let c = consent("a");
        let started = cache.start_read();
        cache.changed(&c.id); // a revocation commits while the read is under way
        cache.keep(started, &c);
        assert!(cache.get(&c.id, 0).is_none());
        let started = cache.start_read();
        cache.keep(started, &c);
        assert!(cache.get(&c.id, 0).is_some());
        cache.changed(&c.id);
        assert!(cache.get(&c.id, 0).is_none(), "a change forgets it");
    }

    #[test]
    fn nothing_due_to_expire_is_handed_out() {
        let cache = CachedConsents::default();
        let c = consent("b");
        cache.keep(cache.start_read(), &c);
        assert!(cache.get(&c.id, 1_999).is_some());
        assert!(cache.get(&c.id, 2_000).is_none());
    }
}
