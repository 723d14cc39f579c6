//! The audit trail: who did what to the gateway and through it, kept so that no one can
//! quietly edit it (the "不可篡改" record a bank's auditors ask for).
//!
//! What is recorded:
//! - partner configuration changes, from the partner files as loaded: added, changed (status,
//!   scopes, keys, limits, with the file and a digest of it), removed ([`partners`]);
//! - consent, payment and refund lifecycle events, taken from the transactional outbox, so a
//!   change is audited exactly when it committed, even if the process died right after;
//! - token issuance and refusal, summarised per partner and reason every minute ([`tally`]);
//! - staff commands (emergency stops, key rotation), by the operating-system user who ran them.
//!
//! How it resists editing: every record carries the SHA-256 of its content and of the record
//! before it ([`chain`]); a checkpoint signs the head with the gateway's signing key every
//! few minutes. `scenegate audit verify` recomputes the chain and checks the signatures, and
//! reports the first broken link. Someone with write access to the database can still
//! rewrite the tail after the last checkpoint; the checkpoints bound what they can rewrite
//! unnoticed, and copies of the signed checkpoints kept elsewhere (a log shipper) bound it
//! completely.
//!
//! Two chains, [`Chain::Access`] and [`Chain::Records`], because the law keeps them for
//! different times; each is pruned as a prefix ending just before a checkpoint, so a pruned
//! chain still starts at a signed link. Every gateway instance appends to the same chains:
//! an append holds the chain's head row, so records are never forked.

pub mod chain;
mod follow;
pub mod partners;
pub mod tally;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;

pub use chain::{Break, Chain, Head, NewRecord, Record, Summary};
pub use follow::{Follower, spawn};
pub use partners::PartnerState;
pub use tally::TokenTally;

use crate::auth::signing::SigningKeys;
use crate::store::StoreError;

/// How long records are kept and how often the chains are signed (`[audit]` in gateway.toml).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditSettings {
    pub access_retention_secs: i64,
    pub records_retention_secs: i64,
    pub checkpoint_every: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            access_retention_secs: 180 * 86_400,
            records_retention_secs: 365 * 86_400,
            checkpoint_every: Duration::from_secs(300),
        }
    }
}

impl AuditSettings {
    pub fn retention_secs(&self, chain: Chain) -> i64 {
        match chain {
            Chain::Access => self.access_retention_secs,
            Chain::Records => self.records_retention_secs,
        }
    }
}

/// Signs a chain's head; called while the head is held, so it signs exactly the record
/// before the checkpoint.
pub type CheckpointSigner<'a> = dyn Fn(Chain, &Head, i64) -> Result<NewRecord, String> + Send + Sync + 'a;

/// Where the chains live: the gateway's database, shared by every instance.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `records` in order, each at the head of its chain, in one transaction.
    async fn append(&self, records: &[NewRecord]) -> Result<Vec<Record>, StoreError>;
    /// Chains up to `max` outbox events not audited yet and marks them, in one transaction.
    /// Returns how many.
    async fn absorb_events(&self, max: u32) -> Result<u64, StoreError>;
    /// Appends a checkpoint made by `sign` when the chain grew since its last checkpoint and
    /// that one is at least `every_secs` old. Returns whether it did.
    async fn checkpoint(
        &self,
        chain: Chain,
        now: i64,
        every_secs: i64,
        sign: &CheckpointSigner<'_>,
    ) -> Result<bool, StoreError>;
    /// The chain's last record as the head row says.
    async fn head(&self, chain: Chain) -> Result<Head, StoreError>;
    /// Records after `after_seq`, in order, at most `limit`.
    async fn read(&self, chain: Chain, after_seq: i64, limit: u32) -> Result<Vec<Record>, StoreError>;
    /// The last recorded state of every partner, by id.
    async fn partner_states(&self) -> Result<BTreeMap<String, PartnerState>, StoreError>;
    /// Appends `record` and saves `state` (or forgets the partner, for `None`) if the partner's
    /// recorded digest is still `expected`; false when another instance recorded it first.
    async fn record_partner(
        &self,
        id: &str,
        expected: Option<&str>,
        state: Option<&PartnerState>,
        record: &NewRecord,
    ) -> Result<bool, StoreError>;
    /// The seq where pruning `chain` to keep records from `since` (unix seconds) must stop:
    /// the last checkpoint at or before the first record to keep. `None`: nothing to prune.
    async fn prune_point(&self, chain: Chain, since: i64) -> Result<Option<i64>, StoreError>;
    /// Deletes the chain's records before `seq`. Returns how many.
    async fn prune_before(&self, chain: Chain, seq: i64) -> Result<u64, StoreError>;
}

/// The verdict of `scenegate audit verify` on one chain.
pub type Verdict = Result<Summary, Break>;

/// Reads `chain` from the start and checks every link and checkpoint against `keys` (kid →
/// public key of the gateway's signing keys, current and archived).
pub async fn verify(
    store: &dyn AuditStore,
    chain: Chain,
    keys: &HashMap<String, jsonwebtoken::DecodingKey>,
) -> Result<Verdict, StoreError> {
    let head = store.head(chain).await?;
    let mut verifier = chain::Verifier::new(chain, keys);
    let mut after = 0;
    loop {
        let batch = store.read(chain, after, 1_000).await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for r in &batch {
            if let Err(b) = verifier.feed(r) {
                return Ok(Err(b));
            }
        }
    }
    Ok(verifier.finish(&head))
}

/// The checkpoint signer over the gateway's signing keys in force.
pub fn key_signer(keys: Arc<ArcSwap<SigningKeys>>) -> impl Fn(Chain, &Head, i64) -> Result<NewRecord, String> {
    move |chain, head, now| {
        let keys = keys.load();
        let (kid, key) = keys.signer(now);
        let jwk = keys.verifying(kid).map(|k| k.jwk.clone()).ok_or("the signing key is not published")?;
        chain::checkpoint(chain, head, now, kid, key, &jwk).map_err(|e| e.to_string())
    }
}

/// A staff command as recorded: `actor` is the operating-system user who ran it.
pub fn staff_record(at: i64, action: &str, subject: &str, detail: serde_json::Value) -> NewRecord {
    NewRecord {
        chain: Chain::Records,
        at,
        actor: format!("staff:{}", os_user()),
        action: action.to_owned(),
        subject: subject.to_owned(),
        detail,
    }
}

/// Who is running this process, for the record.
pub fn os_user() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// An outbox event as the engines read it: seq, id, partner, type, subject, created, data.
pub type OutboxRow = (i64, String, String, String, String, i64, String);

/// An outbox event (a consent, payment or refund changed status) as an audit record, with
/// what the partner was told. The event's time, not the time it was chained.
pub fn event_record(row: OutboxRow) -> NewRecord {
    let (_, id, partner_id, event_type, subject_id, created_at, data) = row;
    let data = serde_json::from_str::<serde_json::Value>(&data).unwrap_or(serde_json::Value::String(data));
    NewRecord {
        chain: Chain::Records,
        at: created_at,
        actor: "gateway".into(),
        action: event_type,
        subject: subject_id,
        detail: serde_json::json!({ "event_id": id, "partner_id": partner_id, "data": data }),
    }
}

/// The public keys of a JWK Set (the gateway's `/.well-known/jwks.json`, current or
/// archived), by kid, for checking checkpoints.
pub fn verifying_keys(
    jwks: &serde_json::Value,
) -> Result<HashMap<String, jsonwebtoken::DecodingKey>, jsonwebtoken::errors::Error> {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone())?;
    set.keys
        .iter()
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, jwk)))
        .map(|(kid, jwk)| Ok((kid, jsonwebtoken::DecodingKey::from_jwk(jwk)?)))
        .collect()
}

/// One line about a chain that verified.
pub fn describe(s: &Summary) -> String {
    let span = match (s.first, s.last) {
        (Some(first), Some(last)) => format!("records {first}..={last}"),
        _ => "no records yet".to_owned(),
    };
    let mut line = format!("{span} ({} checked), {} signed checkpoints verified", s.records, s.checkpoints_verified);
    match (s.signed_through, s.last) {
        (Some(signed), Some(last)) if signed < last => {
            line.push_str(&format!("; records after {signed} are linked but not signed yet"));
        }
        (None, Some(_)) => line.push_str("; no checkpoint signed by a trusted key yet"),
        _ => {}
    }
    if !s.checkpoints_unvouched.is_empty() {
        let kids: std::collections::BTreeSet<&str> = s.checkpoints_unvouched.iter().map(|(_, k)| k.as_str()).collect();
        let kids: Vec<&str> = kids.into_iter().collect();
        line.push_str(&format!(
            "; {} checkpoints signed by keys no trusted checkpoint vouches for ({}): pass their JWK Set with --jwks",
            s.checkpoints_unvouched.len(),
            kids.join(", ")
        ));
    }
    line
}
