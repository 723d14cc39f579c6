//! Partner configuration changes as audit records: each partner's state as its file defines
//! it, compared with the state last recorded.
//!
//! The comparison runs against the database, not this process's memory, so a restart with
//! unchanged files records nothing, and a change seen by every instance of a cluster is
//! recorded once (the first instance to record it wins; see
//! [`super::AuditStore::record_partner`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::chain::{Chain, NewRecord};
use crate::config::Partner;

/// What the audit trail keeps of a partner: what staff changed, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerState {
    pub id: String,
    pub file: String,
    /// SHA-256 of the partner file and its JWK Set.
    pub digest: String,
    pub status: String,
    pub environment: String,
    pub security_level: String,
    pub scopes: BTreeSet<String>,
    pub keys: BTreeSet<String>,
    pub rate_limit: String,
    pub redirect_uris: Vec<String>,
    pub webhook_url: Option<String>,
}

impl PartnerState {
    /// The state the partner's file defines (a staff stop is recorded as its own command).
    pub fn of(p: &Partner) -> Self {
        let lower = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
        Self {
            id: p.id.clone(),
            file: p.source.display().to_string(),
            digest: p.digest.clone(),
            status: lower(&p.status),
            environment: lower(&p.environment),
            security_level: format!("{:?}", p.security_level),
            scopes: p.scopes.clone(),
            keys: p.keys.iter().map(|k| k.kid.clone()).collect(),
            rate_limit: format!("{}/s burst {}", p.rate_limit.requests_per_second, p.rate_limit.burst),
            redirect_uris: p.redirect_uris.clone(),
            webhook_url: p.webhook_url.clone(),
        }
    }
}

/// The record of a partner going from `before` to `after` (`None`: no partner), or `None`
/// when its files did not change.
pub fn change(before: Option<&PartnerState>, after: Option<&PartnerState>, at: i64) -> Option<NewRecord> {
    let (action, id, detail) = match (before, after) {
        (None, None) => return None,
        (Some(b), Some(a)) if b.digest == a.digest => return None,
        (None, Some(a)) => {
            ("partner.added", &a.id, serde_json::json!({ "file": a.file, "digest": a.digest, "state": a }))
        }
        (Some(b), None) => {
            ("partner.removed", &b.id, serde_json::json!({ "file": b.file, "previous_digest": b.digest }))
        }
        (Some(b), Some(a)) => (
            "partner.changed",
            &a.id,
            serde_json::json!({
                "file": a.file,
                "digest": a.digest,
                "previous_digest": b.digest,
                "changes": differences(b, a),
            }),
        ),
    };
    Some(NewRecord {
        chain: Chain::Records,
        at,
        actor: "config".into(),
        action: action.into(),
        subject: id.clone(),
        detail,
    })
}

/// Each difference as one line a reviewer reads: `status: active → suspended`,
/// `scope added: payments:write`, `key removed: skytrip-2026-01`. Empty when only comments or
/// layout changed (the digest still differs, and is recorded).
fn differences(b: &PartnerState, a: &PartnerState) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, before: &str, after: &str| {
        if before != after {
            out.push(format!("{name}: {before} → {after}"));
        }
    };
    field("file", &b.file, &a.file);
    field("status", &b.status, &a.status);
    field("environment", &b.environment, &a.environment);
    field("security_level", &b.security_level, &a.security_level);
    field("rate_limit", &b.rate_limit, &a.rate_limit);
    field("redirect_uris", &b.redirect_uris.join(" "), &a.redirect_uris.join(" "));
    field("webhook_url", b.webhook_url.as_deref().unwrap_or("none"), a.webhook_url.as_deref().unwrap_or("none"));
    for (what, before, after) in [("scope", &b.scopes, &a.scopes), ("key", &b.keys, &a.keys)] {
        out.extend(after.difference(before).map(|x| format!("{what} added: {x}")));
        out.extend(before.difference(after).map(|x| format!("{what} removed: {x}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(digest: &str) -> PartnerState {
        PartnerState {
            id: "ptn_a".into(),
            file: "partners/a.toml".into(),
            digest: digest.into(),
            status: "active".into(),
            environment: "sandbox".into(),
            security_level: "A1".into(),
            scopes: ["products:read".to_owned()].into(),
            keys: ["k1".to_owned()].into(),
            rate_limit: "10/s burst 20".into(),
            redirect_uris: vec![],
            webhook_url: None,
        }
    }

    #[test]
    fn an_unchanged_digest_is_no_change() {
        assert_eq!(change(Some(&state("d1")), Some(&state("d1")), 1), None);
        assert_eq!(change(None, None, 1), None);
    }

    #[test]
    fn each_difference_is_named() {
        let before = state("d1");
        let mut after = state("d2");
        after.status = "suspended".into();
        after.scopes.insert("payments:write".into());
        after.keys = ["k2".to_owned()].into();
        let record = change(Some(&before), Some(&after), 7).unwrap();
        assert_eq!((record.action.as_str(), record.subject.as_str(), record.at), ("partner.changed", "ptn_a", 7));
        let changes: Vec<String> = serde_json::from_value(record.detail["changes"].clone()).unwrap();
        assert_eq!(
            changes,
            ["status: active → suspended", "scope added: payments:write", "key added: k2", "key removed: k1"]
        );
        assert_eq!(record.detail["previous_digest"], "d1");
        assert_eq!(record.detail["digest"], "d2");
    }

    #[test]
    fn added_and_removed_partners_are_recorded_with_their_file() {
        let added = change(None, Some(&state("d1")), 1).unwrap();
        assert_eq!(added.action, "partner.added");
        assert_eq!(added.detail["state"]["keys"], serde_json::json!(["k1"]));
        let removed = change(Some(&state("d1")), None, 2).unwrap();
        assert_eq!(removed.action, "partner.removed");
        assert_eq!(removed.detail["file"], "partners/a.toml");
    }
}
