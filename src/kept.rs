//! What a hot path reads from a store on every call, kept in memory while nothing has
//! changed it: consents and "this token is not revoked".
//!
//! The rule that keeps it true: the write that changes a value announces it before it
//! writes ([`Kept::begin_change`]) and again after it commits, before it answers
//! ([`Kept::end_change`]), so the very next read anywhere goes to the store; and a read that
//! raced a change cannot put the old value back, because a value is kept only if no change
//! began since the read did.
//!
//! Within one process a generation counter, checked under the lock a change takes, is
//! enough. Across a cluster's instances the announcement goes through [`ChangeMarks`]: each
//! read first asks for the *stamp* of what it reads (one round trip to the shared store, in
//! place of the database reads it saves), and a kept value is used only under the stamp it
//! was read under. A change in progress has no stamp (nobody keeps or uses what it touches
//! until it is over); its end gives a new one. When the marks cannot be read nothing is used
//! or kept, and when a change cannot be announced the caller does not make it, so a failure
//! of the shared store costs speed, never freshness.
//!
//! Bounded: past `max` entries the map starts again empty, and nothing is used past
//! [`MAX_AGE`] (the shared store forgets its marks long after that; see `store::redis`).

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use crate::store::StoreError;

/// Nothing kept is used after this long, whatever its stamp: the bound the cluster's marks
/// are sized against (a mark outlives every value kept under the one before it).
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// What a change to one subject (a consent, every token) looked like when a read began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp(Arc<str>);

impl Stamp {
    pub fn new(text: impl Into<Arc<str>>) -> Self {
        Self(text.into())
    }
}

/// One subject's stamp, asked for once and used by several kept maps on the same marks: a
/// consent-scoped call looks up its consent and its token's revocation, both changed only
/// under the consent's subject, with one round trip to the shared store instead of two.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    stamp: Option<Stamp>,
}

impl Observation {
    /// `subject`'s stamp now, from `marks`: the marks of every kept map it is given to.
    pub async fn of(marks: &dyn ChangeMarks, subject: &str) -> Self {
        Self { stamp: marks.observe(subject).await }
    }
}

/// Where the instances that share a store announce their changes to each other.
#[async_trait::async_trait]
pub trait ChangeMarks: Send + Sync {
    /// The stamp of `subject` now, before it is read from the store. `None` when it cannot
    /// be told (a change in progress, the shared store unreachable): then nothing is used or
    /// kept.
    async fn observe(&self, subject: &str) -> Option<Stamp>;
    /// Before a change to `subject` is written: from now on nobody keeps it. An error means
    /// the others cannot be told, and the change must not be made.
    async fn begin(&self, subject: &str) -> Result<(), StoreError>;
    /// After the change committed (or failed): `subject` gets a new stamp. `begun` is whether
    /// [`ChangeMarks::begin`] succeeded for it.
    async fn end(&self, subject: &str, begun: bool);
}

/// The embedded default: this process is its store's one writer, so the generation counter
/// is the whole story and every read may keep what it found.
pub struct SingleWriter;

#[async_trait::async_trait]
impl ChangeMarks for SingleWriter {
    async fn observe(&self, _subject: &str) -> Option<Stamp> {
        static ONLY: std::sync::LazyLock<Stamp> = std::sync::LazyLock::new(|| Stamp::new(""));
        Some(ONLY.clone())
    }

    async fn begin(&self, _subject: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn end(&self, _subject: &str, _begun: bool) {}
}

struct Entry<V> {
    value: V,
    stamp: Stamp,
    kept_at: Instant,
}

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Bumped by every change this process makes; a read that began under another
    /// generation is not kept.
    generation: u64,
}

pub struct Kept<K, V> {
    inner: Mutex<Inner<K, V>>,
    max: usize,
    marks: Arc<dyn ChangeMarks>,
}

/// What a read saw before it went to the store: whether a kept value may be used, and
/// whether what the store answers may be kept.
pub struct Seen {
    generation: u64,
    stamp: Option<Stamp>,
}

/// A change announced by [`Kept::begin_change`], to end with [`Kept::end_change`].
#[must_use = "a change must be ended once written"]
pub struct Change {
    subject: String,
    announced: Result<(), StoreError>,
}

impl Change {
    /// Whether the other instances were told; an error when they could not be.
    pub fn announced(&self) -> Result<(), StoreError> {
        self.announced.clone()
    }
}

/// Which kept values a change makes stale.
pub enum Forget<'a, Q: ?Sized> {
    One(&'a Q),
    All,
}

impl<K: Hash + Eq, V: Clone> Kept<K, V> {
    pub fn new(max: usize, marks: Arc<dyn ChangeMarks>) -> Self {
        Self { inner: Mutex::new(Inner { entries: HashMap::new(), generation: 0 }), max: max.max(1), marks }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// To call before reading `subject`'s key from the store (and before [`Kept::get`]).
    pub async fn look(&self, subject: &str) -> Seen {
        let generation = self.lock().generation;
        Seen { generation, stamp: self.marks.observe(subject).await }
    }

    /// [`Kept::look`] with a stamp already observed on this map's marks (see
    /// [`Observation`]). Call it before reading from the store, like `look`: a change this
    /// process begins after it still keeps the read from being kept.
    pub fn seen(&self, observed: &Observation) -> Seen {
        Seen { generation: self.lock().generation, stamp: observed.stamp.clone() }
    }

    /// The marks this map's stamps come from.
    pub fn marks(&self) -> &dyn ChangeMarks {
        self.marks.as_ref()
    }

    /// The value kept for `key`, if it was kept under the stamp the read saw.
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q, seen: &Seen) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let stamp = seen.stamp.as_ref()?;
        let inner = self.lock();
        let entry = inner.entries.get(key)?;
        (entry.stamp == *stamp && entry.kept_at.elapsed() < MAX_AGE).then(|| entry.value.clone())
    }

    /// Keeps what a store read found, if nothing changed since it began.
    pub fn keep(&self, seen: Seen, key: K, value: V) {
        let Some(stamp) = seen.stamp else { return };
        let mut inner = self.lock();
        if inner.generation != seen.generation {
            return;
        }
        if inner.entries.len() >= self.max {
            inner.entries.clear();
        }
        inner.entries.insert(key, Entry { value, stamp, kept_at: Instant::now() });
    }

    /// Before writing a change to `subject`: reads already under way here are not kept, and
    /// the other instances stop keeping it. Check [`Change::announced`] before writing.
    pub async fn begin_change(&self, subject: &str) -> Change {
        self.bump();
        Change { subject: subject.to_owned(), announced: self.marks.begin(subject).await }
    }

    /// After the change committed (or failed): forget what it made stale, here and elsewhere.
    pub async fn end_change<Q: Hash + Eq + ?Sized>(&self, change: Change, forget: Forget<'_, Q>)
    where
        K: Borrow<Q>,
    {
        {
            let mut inner = self.lock();
            inner.generation = inner.generation.wrapping_add(1);
            match forget {
                Forget::One(key) => {
                    inner.entries.remove(key);
                }
                Forget::All => inner.entries.clear(),
            }
        }
        self.marks.end(&change.subject, change.announced.is_ok()).await;
    }

    /// A change this process alone needs to know of (a consent found expired, which every
    /// instance sees by the clock anyway) committed: forget `key` here.
    pub fn forget<Q: Hash + Eq + ?Sized>(&self, key: &Q)
    where
        K: Borrow<Q>,
    {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.remove(key);
    }

    fn bump(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single<V: Clone>(max: usize) -> Kept<String, V> {
        Kept::new(max, Arc::new(SingleWriter))
    }

    #[tokio::test]
    async fn an_observation_shared_by_two_maps_keeps_the_same_rules() {
        let (consents, tokens) = (single::<u32>(10), single::<()>(10));
        let observed = Observation::of(&SingleWriter, "cns_1").await;
        let (for_consent, for_token) = (consents.seen(&observed), tokens.seen(&observed));
        let change = tokens.begin_change("cns_1").await; // a revocation races the token's read
        consents.keep(for_consent, "cns_1".into(), 1);
        tokens.keep(for_token, "jti".into(), ());
        tokens.end_change(change, Forget::<str>::All).await;
        let next = Observation::of(&SingleWriter, "cns_1").await;
        assert_eq!(consents.get("cns_1", &consents.seen(&next)), Some(1), "the consent did not change");
        assert_eq!(tokens.get("jti", &tokens.seen(&next)), None, "the raced token read is not kept");
        assert_eq!(tokens.get("jti", &tokens.seen(&Observation::default())), None, "no stamp, nothing used");
    }

    #[tokio::test]
    async fn a_read_that_raced_a_change_is_not_kept() {
        let kept = single::<u32>(10);
        let seen = kept.look("a").await;
        let change = kept.begin_change("a").await; // a change begins while the read is under way
        kept.keep(seen, "a".into(), 1);
        kept.end_change(change, Forget::One("a")).await;
        assert_eq!(kept.get("a", &kept.look("a").await), None);

        let seen = kept.look("a").await;
        kept.keep(seen, "a".into(), 1);
        assert_eq!(kept.get("a", &kept.look("a").await), Some(1));
        let change = kept.begin_change("a").await;
        kept.end_change(change, Forget::One("a")).await;
        assert_eq!(kept.get("a", &kept.look("a").await), None, "a change forgets it");

        let seen = kept.look("b").await;
        kept.keep(seen, "b".into(), 2);
        let raced = kept.look("c").await;
        let change = kept.begin_change("every").await;
        kept.end_change(change, Forget::<str>::All).await;
        kept.keep(raced, "c".into(), 3);
        let now = kept.look("x").await;
        assert_eq!((kept.get("b", &now), kept.get("c", &now)), (None, None));
    }

    #[tokio::test]
    async fn it_never_holds_more_than_its_bound() {
        let kept = single::<u32>(3);
        for i in 0..10 {
            kept.keep(kept.look("").await, i.to_string(), i);
            assert!(kept.lock().entries.len() <= 3);
        }
        assert_eq!(kept.get("9", &kept.look("").await), Some(9));
    }

    /// Marks whose stamp the test sets: `None` is "cannot be told".
    struct Scripted(Mutex<Option<Stamp>>);

    #[async_trait::async_trait]
    impl ChangeMarks for Scripted {
        async fn observe(&self, _subject: &str) -> Option<Stamp> {
            self.0.lock().unwrap().clone()
        }
        async fn begin(&self, _subject: &str) -> Result<(), StoreError> {
            Ok(())
        }
        async fn end(&self, _subject: &str, _begun: bool) {}
    }

    #[tokio::test]
    async fn a_value_is_used_only_under_the_stamp_it_was_kept_under() {
        let marks = Arc::new(Scripted(Mutex::new(Some(Stamp::new("s1")))));
        let kept: Kept<String, u32> = Kept::new(10, marks.clone());
        kept.keep(kept.look("a").await, "a".into(), 1);
        assert_eq!(kept.get("a", &kept.look("a").await), Some(1));

        // Another instance changed it: a new stamp, the kept value is not used.
        *marks.0.lock().unwrap() = Some(Stamp::new("s2"));
        assert_eq!(kept.get("a", &kept.look("a").await), None);

        // A change in progress, or the shared store unreachable: nothing used or kept.
        *marks.0.lock().unwrap() = None;
        let seen = kept.look("a").await;
        assert_eq!(kept.get("a", &seen), None);
        kept.keep(seen, "a".into(), 3);
        *marks.0.lock().unwrap() = Some(Stamp::new("s1"));
        assert_eq!(kept.get("a", &kept.look("a").await), Some(1), "the read without a stamp kept nothing");
    }

    #[tokio::test]
    async fn nothing_is_used_past_its_age() {
        let kept = single::<u32>(10);
        kept.keep(kept.look("a").await, "a".into(), 1);
        kept.lock().entries.get_mut("a").unwrap().kept_at = Instant::now().checked_sub(MAX_AGE).unwrap();
        assert_eq!(kept.get("a", &kept.look("a").await), None);
    }
}
