//! What bank staff do to a running gateway, outside the partner files.
//!
//! An emergency stop (`scenegate partner suspend ID`) suspends a partner at once, whatever
//! its file says and whatever state the partner files are in: it is a row in the gateway's
//! database that every gateway instance polls (see [`spawn_stop_follower`]), so no file
//! error, reload or restart can undo it. `scenegate partner resume ID` lifts it, and the
//! partner file's own `status` applies again.

pub mod keygen;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::PartnerRegistry;
use crate::store::StoreError;

/// How often a gateway re-reads the stops in force: the bound on "at once".
pub const STOP_POLL: Duration = Duration::from_millis(250);

/// One emergency stop as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    pub partner_id: String,
    /// Why, in the staff member's words; shown by `partners show` and in the audit trail.
    pub reason: String,
    /// Who: the operating-system user that ran the command.
    pub actor: String,
    /// Unix seconds.
    pub at: i64,
}

/// Where emergency stops live: shared by every gateway instance and the staff CLI.
#[async_trait]
pub trait StopStore: Send + Sync {
    /// Records a stop; a second stop of the same partner keeps the first one's time and
    /// reason. Returns false when the partner was already stopped.
    async fn stop(&self, stop: &Stop) -> Result<bool, StoreError>;
    /// Lifts a stop. Returns false when there was none.
    async fn resume(&self, partner_id: &str) -> Result<bool, StoreError>;
    /// Every stop in force, by partner id.
    async fn list(&self) -> Result<Vec<Stop>, StoreError>;
}

/// Applies the stops in force now, then keeps following them every [`STOP_POLL`]. A store
/// error keeps the stops last read (never lifts one because the store is unreachable).
pub async fn follow_stops(store: &dyn StopStore, registry: &PartnerRegistry) -> Result<(), StoreError> {
    let ids: BTreeSet<String> = store.list().await?.into_iter().map(|s| s.partner_id).collect();
    registry.apply_stops(ids);
    Ok(())
}

/// Runs [`follow_stops`] on a timer for the life of the process.
pub fn spawn_stop_follower(store: Arc<dyn StopStore>, registry: Arc<PartnerRegistry>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(STOP_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = follow_stops(store.as_ref(), &registry).await {
                tracing::warn!(error = %e, "emergency stops not re-read; keeping the last ones read");
            }
        }
    });
}

#[cfg(test)]
mod tests;
