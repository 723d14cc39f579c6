//! What a hot path reads from a store on every call, kept in memory while nothing has
//! changed it: consents and "this token is not revoked" in the embedded default.
//!
//! Only in front of a store this process alone writes. The rule that keeps it true: the
//! write that changes a value calls [`Kept::forget`] (or [`Kept::forget_all`]) *after* it
//! commits and before it answers, so the very next read goes to the store; and a read that
//! raced a change cannot put the old value back, because it is kept only if no change
//! happened since it began ([`Kept::start_read`] before the store read, checked under the
//! same lock the change takes). In cluster mode another instance may write, so nothing is
//! kept there.
//!
//! Bounded: past `max` entries the map starts again empty (a bound, not a policy).

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::{Mutex, MutexGuard, PoisonError},
};

struct Inner<K, V> {
    entries: HashMap<K, V>,
    /// Bumped by every change; a read that began under another generation is not kept.
    generation: u64,
}

pub struct Kept<K, V> {
    inner: Mutex<Inner<K, V>>,
    max: usize,
}

/// Where a store read began, to decide afterwards whether its result may be kept.
#[derive(Clone, Copy)]
pub struct ReadStart(u64);

impl<K: Hash + Eq, V: Clone> Kept<K, V> {
    pub fn new(max: usize) -> Self {
        Self { inner: Mutex::new(Inner { entries: HashMap::new(), generation: 0 }), max: max.max(1) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.lock().entries.get(key).cloned()
    }

    /// To call before reading the store.
    pub fn start_read(&self) -> ReadStart {
        ReadStart(self.lock().generation)
    }

    /// Keeps what a store read found, if nothing changed since it began.
    pub fn keep(&self, started: ReadStart, key: K, value: V) {
        let mut inner = self.lock();
        if inner.generation != started.0 {
            return;
        }
        if inner.entries.len() >= self.max {
            inner.entries.clear();
        }
        inner.entries.insert(key, value);
    }

    /// A change to `key` committed: forget it, and refuse to keep reads already under way.
    pub fn forget<Q: Hash + Eq + ?Sized>(&self, key: &Q)
    where
        K: Borrow<Q>,
    {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.remove(key);
    }

    /// A change that may touch any entry committed: forget them all.
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let kept: Kept<String, u32> = Kept::new(10);
        let started = kept.start_read();
        kept.forget("a"); // a change commits while the read is under way
        kept.keep(started, "a".into(), 1);
        assert_eq!(kept.get("a"), None);
        let started = kept.start_read();
        kept.keep(started, "a".into(), 1);
        assert_eq!(kept.get("a"), Some(1));
        kept.forget("a");
        assert_eq!(kept.get("a"), None, "a change forgets it");
        let started = kept.start_read();
        kept.keep(started, "b".into(), 2);
        let raced = kept.start_read();
        kept.forget_all();
        kept.keep(raced, "c".into(), 3);
        assert_eq!((kept.get("b"), kept.get("c")), (None, None));
    }

    #[test]
    fn it_never_holds_more_than_its_bound() {
        let kept: Kept<u32, u32> = Kept::new(3);
        for i in 0..10 {
            kept.keep(kept.start_read(), i, i);
            assert!(kept.lock().entries.len() <= 3);
        }
        assert_eq!(kept.get(&9), Some(9));
    }
}
