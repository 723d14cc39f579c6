//! The gateway's side of the audit trail: a task that writes what happened into the chains.
//!
//! Every step reads its source of truth (the partner files as loaded, the outbox, the token
//! tally) and is safe to run on every instance at once and to repeat after a failure, so the
//! loop is the same for one node and a cluster.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::chain::Chain;
use super::partners::{self, PartnerState};
use super::{AuditSettings, AuditStore, TokenTally, key_signer};
use crate::auth::Clock;
use crate::auth::signing::SigningKeys;
use crate::config::PartnerRegistry;
use crate::store::StoreError;

/// How often partner changes and outbox events are taken in: the bound on how late a record is.
const TICK: Duration = Duration::from_secs(1);
/// How often token summaries are written.
const SUMMARY_EVERY: i64 = 60;
/// How often expired records are pruned.
const PRUNE_EVERY: i64 = 3_600;
/// Outbox events chained per transaction.
const EVENT_BATCH: u32 = 500;

/// What the audit task needs; each step is a method so tests can drive it without a timer.
pub struct Follower {
    pub store: Arc<dyn AuditStore>,
    pub registry: Arc<PartnerRegistry>,
    pub tally: Arc<TokenTally>,
    pub keys: Arc<ArcSwap<SigningKeys>>,
    pub clock: Arc<dyn Clock>,
    pub settings: AuditSettings,
    /// This process, in token summaries: `<host>:<pid>`.
    pub instance: String,
    /// Digests by partner id last known to be recorded, to skip the database when nothing
    /// changed (the common case, every tick).
    recorded: Mutex<Option<BTreeMap<String, String>>>,
}

impl Follower {
    pub fn new(
        store: Arc<dyn AuditStore>,
        registry: Arc<PartnerRegistry>,
        tally: Arc<TokenTally>,
        keys: Arc<ArcSwap<SigningKeys>>,
        clock: Arc<dyn Clock>,
        settings: AuditSettings,
    ) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let instance = format!("{}:{}", host.trim(), std::process::id());
        Self { store, registry, tally, keys, clock, settings, instance, recorded: Mutex::new(None) }
    }

    /// Records every partner whose files changed since the state last recorded. Returns how
    /// many records it wrote (another instance may have written some first).
    pub async fn partners(&self) -> Result<u64, StoreError> {
        let current: BTreeMap<String, PartnerState> =
            self.registry.as_loaded().iter().map(|p| (p.id.clone(), PartnerState::of(p))).collect();
        let digests: BTreeMap<String, String> = current.iter().map(|(id, s)| (id.clone(), s.digest.clone())).collect();
        if self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() == Some(&digests) {
            return Ok(0);
        }
        let stored = self.store.partner_states().await?;
        let now = self.clock.now();
        let mut written = 0;
        for id in stored.keys().chain(current.keys()).collect::<std::collections::BTreeSet<_>>() {
            let (before, after) = (stored.get(id), current.get(id));
            if let Some(record) = partners::change(before, after, now) {
                let expected = before.map(|b| b.digest.as_str());
                if self.store.record_partner(id, expected, after, &record).await? {
                    written += 1;
                }
            }
        }
        *self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(digests);
        Ok(written)
    }

    /// Chains every outbox event not audited yet.
    pub async fn events(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.store.absorb_events(EVENT_BATCH).await?;
            total += n;
            if n < u64::from(EVENT_BATCH) {
                return Ok(total);
            }
        }
    }

    /// Writes the token summaries counted since `from`; on failure the counts are kept for
    /// the next attempt.
    pub async fn summaries(&self, from: i64) -> Result<u64, StoreError> {
        let records = self.tally.take(from, self.clock.now(), &self.instance);
        if records.is_empty() {
            return Ok(0);
        }
        match self.store.append(&records).await {
            Ok(written) => Ok(written.len() as u64),
            Err(e) => {
                self.tally.restore(&records);
                Err(e)
            }
        }
    }

    /// Signs each chain's head when it grew and its last checkpoint is due.
    pub async fn checkpoints(&self) -> Result<u64, StoreError> {
        let every = i64::try_from(self.settings.checkpoint_every.as_secs()).unwrap_or(300);
        let sign = key_signer(self.keys.clone());
        let mut made = 0;
        for chain in Chain::ALL {
            made += u64::from(self.store.checkpoint(chain, self.clock.now(), every, &sign).await?);
        }
        Ok(made)
    }

    /// Deletes each chain's records older than its retention, up to a checkpoint.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for chain in Chain::ALL {
            let since = self.clock.now() - self.settings.retention_secs(chain);
            if let Some(seq) = self.store.prune_point(chain, since).await? {
                deleted += self.store.prune_before(chain, seq).await?;
            }
        }
        Ok(deleted)
    }
}

/// Runs the follower for the life of the process. Failures are logged and counted
/// (`scenegate_audit_write_failures_total`) and the step is tried again on the next tick:
/// every step resumes where the database says it stopped.
pub fn spawn(follower: Follower) {
    tokio::spawn(async move {
        let f = follower;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = f.clock.now();
        let (mut summarised_to, mut pruned_at) = (started, started - PRUNE_EVERY);
        loop {
            tick.tick().await;
            let now = f.clock.now();
            report("partner changes", f.partners().await);
            report("outbox events", f.events().await);
            if now - summarised_to >= SUMMARY_EVERY {
                report("token summaries", f.summaries(summarised_to).await);
                summarised_to = now;
            }
            report("checkpoints", f.checkpoints().await);
            if now - pruned_at >= PRUNE_EVERY {
                report("retention", f.prune().await);
                pruned_at = now;
            }
        }
    });
}

fn report(step: &'static str, result: Result<u64, StoreError>) {
    match result {
        Ok(0) => {}
        Ok(n) => tracing::debug!(step, records = n, "audit trail written"),
        Err(e) => {
            metrics::counter!("scenegate_audit_write_failures_total", "step" => step).increment(1);
            tracing::warn!(step, error = %e, "audit trail not written; trying again next tick");
        }
    }
}
