//! The hash chain itself: how a record is linked to the one before it, how a checkpoint is
//! signed, and how a chain read back from the database is checked, record by record.
//!
//! Pure: no storage, no clock. Both engines link records with [`NewRecord::link`], so the
//! hash is computed the same way wherever the record was written, and `scenegate audit
//! verify` recomputes it with the same function.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::auth::signing::{Es256Key, SignError};

/// The `prev_hash` of a chain's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Action of the records that sign the chain so far.
pub const CHECKPOINT: &str = "audit.checkpoint";

/// The two chains, kept apart because the law keeps them for different times: access
/// summaries (API logs, at least 180 days) and the records of what changed (partners,
/// consents, payments, staff commands: at least 365 days). Each is pruned as a prefix, so
/// each needs its own chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Chain {
    Access,
    Records,
}

impl Chain {
    pub const ALL: [Chain; 2] = [Chain::Access, Chain::Records];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Records => "records",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last record of a chain: what the next one links to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

impl Head {
    pub fn genesis() -> Self {
        Self { seq: 0, hash: GENESIS.to_owned() }
    }
}

/// A record before it has a place in a chain.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRecord {
    pub chain: Chain,
    /// Unix seconds.
    pub at: i64,
    /// Who: `staff:<os user>`, `partner:<id>`, `config`, `gateway`.
    pub actor: String,
    /// What, as `<domain>.<verb>`: `partner.changed`, `consent.status_changed`, …
    pub action: String,
    /// What it was done to: a partner id, a consent or payment id.
    pub subject: String,
    /// The particulars, a JSON object. Never a secret, a token or a customer's name.
    pub detail: serde_json::Value,
}

/// A record as stored: its place in the chain, and the hashes that hold it there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub chain: Chain,
    /// 1, 2, 3, … without gaps within a chain.
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// The detail's JSON text exactly as hashed (stored as text so no re-serialisation can
    /// change a byte of what the hash covers).
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl NewRecord {
    /// The record as the next one after `prev`.
    pub fn link(&self, prev: &Head) -> Record {
        let detail = self.detail.to_string();
        let seq = prev.seq + 1;
        let hash = record_hash(self.chain, seq, self.at, &self.actor, &self.action, &self.subject, &detail, &prev.hash);
        Record {
            chain: self.chain,
            seq,
            at: self.at,
            actor: self.actor.clone(),
            action: self.action.clone(),
            subject: self.subject.clone(),
            detail,
            prev_hash: prev.hash.clone(),
            hash,
        }
    }
}

/// A record as both engines store it: chain, seq, at, actor, action, subject, detail,
/// prev_hash, hash.
pub type RecordRow = (String, i64, i64, String, String, String, String, String, String);

impl Record {
    /// A stored row back as a record; an unknown chain name is a corrupt row.
    pub fn from_row(row: RecordRow) -> Result<Self, String> {
        let (chain, seq, at, actor, action, subject, detail, prev_hash, hash) = row;
        let chain = Chain::parse(&chain).ok_or_else(|| format!("unknown audit chain `{chain}`"))?;
        Ok(Self { chain, seq, at, actor, action, subject, detail, prev_hash, hash })
    }

    pub fn head(&self) -> Head {
        Head { seq: self.seq, hash: self.hash.clone() }
    }

    /// The hash this record's content and link call for.
    pub fn expected_hash(&self) -> String {
        record_hash(
            self.chain,
            self.seq,
            self.at,
            &self.actor,
            &self.action,
            &self.subject,
            &self.detail,
            &self.prev_hash,
        )
    }
}

/// SHA-256 over every field, each prefixed with its length, so no two different records can
/// be written as the same bytes (`"ab" + "c"` vs `"a" + "bc"`).
#[allow(clippy::too_many_arguments)]
fn record_hash(
    chain: Chain,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
    prev: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(b"scenegate-audit-v1");
    let (seq, at) = (seq.to_string(), at.to_string());
    for field in [chain.as_str(), &seq, &at, actor, action, subject, detail, prev] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a checkpoint signs: the chain up to and including record `seq`, whose hash is `hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointClaims {
    pub chain: String,
    pub seq: i64,
    pub hash: String,
    pub iat: i64,
}

/// A checkpoint record signing `head` of `chain` with the gateway's key `kid`, carrying that
/// key's public JWK: once a later checkpoint signed by a key the verifier trusts vouches for
/// this record, this key is trusted too, so checkpoints signed by long-retired keys still
/// verify without an archive of old key sets.
pub fn checkpoint(
    chain: Chain,
    head: &Head,
    at: i64,
    kid: &str,
    key: &Es256Key,
    jwk: &serde_json::Value,
) -> Result<NewRecord, SignError> {
    let claims = CheckpointClaims { chain: chain.as_str().to_owned(), seq: head.seq, hash: head.hash.clone(), iat: at };
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    let jws = key.encode(&header, &claims)?;
    Ok(NewRecord {
        chain,
        at,
        actor: "gateway".into(),
        action: CHECKPOINT.into(),
        subject: chain.as_str().into(),
        detail: serde_json::json!({
            "covers_seq": head.seq, "covers_hash": head.hash, "kid": kid, "jwk": jwk, "jws": jws,
        }),
    })
}

/// The first thing wrong with a chain, by the seq where it shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error("record {seq}: its content does not match its hash (the record was altered)")]
    Altered { seq: i64 },
    #[error("record {seq}: it does not link to record {prev} (a record was removed, inserted or replaced)")]
    Unlinked { seq: i64, prev: i64 },
    #[error("record {found} follows record {prev}: records in between are missing")]
    Gap { prev: i64, found: i64 },
    #[error("the chain starts at record {seq} without a signed checkpoint there (its start was cut)")]
    StartCut { seq: i64 },
    #[error("record {seq}: a checkpoint whose signature or claims do not match the chain ({reason})")]
    BadCheckpoint { seq: i64, reason: String },
    #[error("the chain ends at record {last} but the database's head says {head} (records were removed from the end)")]
    Truncated { last: i64, head: i64 },
}

/// Where to find the public keys of the gateway's signing keys, by kid.
pub trait KeyLookup {
    fn key(&self, kid: &str) -> Option<&DecodingKey>;
}

impl KeyLookup for std::collections::HashMap<String, DecodingKey> {
    fn key(&self, kid: &str) -> Option<&DecodingKey> {
        self.get(kid)
    }
}

/// What a verified chain came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub records: u64,
    /// Checkpoints whose signature verified with a trusted key, or with the key they carry
    /// when a later checkpoint signed by a trusted key vouches for them.
    pub checkpoints_verified: u64,
    /// The last record a trusted signature covers: everything after it is linked but not yet
    /// signed (the next checkpoint will sign it).
    pub signed_through: Option<i64>,
    /// Checkpoints whose signature verified only with the key they carry, with no later
    /// checkpoint signed by a trusted key to vouch for that key: (seq, kid).
    pub checkpoints_unvouched: Vec<(i64, String)>,
}

/// Checks a chain fed to it in seq order, stopping at the first break.
pub struct Verifier<'k, K: KeyLookup> {
    chain: Chain,
    keys: &'k K,
    prev: Option<Head>,
    summary: Summary,
}

impl<'k, K: KeyLookup> Verifier<'k, K> {
    pub fn new(chain: Chain, keys: &'k K) -> Self {
        Self { chain, keys, prev: None, summary: Summary::default() }
    }

    /// Checks the next record.
    pub fn feed(&mut self, r: &Record) -> Result<(), Break> {
        if r.expected_hash() != r.hash {
            return Err(Break::Altered { seq: r.seq });
        }
        match &self.prev {
            None if r.seq == 1 && r.prev_hash == GENESIS => {}
            // A pruned chain starts at a checkpoint: its signature vouches for its link.
            None if r.seq > 1 && r.action == CHECKPOINT => {}
            None if r.seq == 1 => return Err(Break::Unlinked { seq: 1, prev: 0 }),
            None => return Err(Break::StartCut { seq: r.seq }),
            Some(prev) if r.seq != prev.seq + 1 => return Err(Break::Gap { prev: prev.seq, found: r.seq }),
            Some(prev) if r.prev_hash != prev.hash => return Err(Break::Unlinked { seq: r.seq, prev: prev.seq }),
            Some(_) => {}
        }
        if r.action == CHECKPOINT {
            self.check_checkpoint(r)?;
        }
        self.summary.first.get_or_insert(r.seq);
        self.summary.last = Some(r.seq);
        self.summary.records += 1;
        self.prev = Some(r.head());
        Ok(())
    }

    /// Compares the last record with the head the database keeps.
    pub fn finish(self, head: &Head) -> Result<Summary, Break> {
        let last = self.prev.as_ref().map_or(0, |p| p.seq);
        if head.seq > last || self.prev.as_ref().is_some_and(|p| head.seq == p.seq && head.hash != p.hash) {
            return Err(Break::Truncated { last, head: head.seq });
        }
        Ok(self.summary)
    }

    fn check_checkpoint(&mut self, r: &Record) -> Result<(), Break> {
        let bad = |reason: &str| Break::BadCheckpoint { seq: r.seq, reason: reason.to_owned() };
        #[derive(Deserialize)]
        struct Detail {
            covers_seq: i64,
            covers_hash: String,
            kid: String,
            #[serde(default)]
            jwk: serde_json::Value,
            jws: String,
        }
        let d: Detail = serde_json::from_str(&r.detail).map_err(|_| bad("unreadable detail"))?;
        if d.covers_seq != r.seq - 1 || d.covers_hash != r.prev_hash {
            return Err(bad("it does not cover the record before it"));
        }
        let carried;
        let (key, trusted) = match self.keys.key(&d.kid) {
            Some(key) => (key, true),
            None => {
                let jwk: jsonwebtoken::jwk::Jwk =
                    serde_json::from_value(d.jwk.clone()).map_err(|_| bad("it carries no usable public key"))?;
                if jwk.common.key_id.as_deref() != Some(d.kid.as_str()) {
                    return Err(bad("the key it carries is not the one it names"));
                }
                carried = DecodingKey::from_jwk(&jwk).map_err(|_| bad("it carries no usable public key"))?;
                (&carried, false)
            }
        };
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let token = jsonwebtoken::decode::<CheckpointClaims>(&d.jws, key, &validation)
            .map_err(|e| bad(&format!("signature refused: {e}")))?;
        let header_kid = token.header.kid.unwrap_or_default();
        let c = token.claims;
        if header_kid != d.kid || c.chain != self.chain.as_str() || c.seq != d.covers_seq || c.hash != d.covers_hash {
            return Err(bad("the signed claims name another record"));
        }
        if trusted {
            // A trusted signature over this record's link vouches for every record before it,
            // the keys carried by earlier checkpoints included.
            self.summary.checkpoints_verified += 1 + self.summary.checkpoints_unvouched.len() as u64;
            self.summary.checkpoints_unvouched.clear();
            self.summary.signed_through = Some(d.covers_seq);
        } else {
            self.summary.checkpoints_unvouched.push((r.seq, d.kid));
        }
        Ok(())
    }
}
