//! Token issuance and refusals, counted in memory and written to the access chain as one
//! summary per partner per interval: an audit record per token would put a database write
//! (serialised on the chain's head) on the token endpoint's hot path, and the access log
//! already has every single request.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::chain::{Chain, NewRecord};

/// The client id under which requests naming no known partner are counted, so a flood of
/// made-up client ids cannot grow the tally.
pub const UNKNOWN_CLIENT: &str = "unknown";

/// Counts per (client id, outcome) since the last [`TokenTally::take`].
#[derive(Debug, Default)]
pub struct TokenTally {
    counts: Mutex<BTreeMap<(String, String), u64>>,
}

/// The outcome of a successful token request.
const ISSUED: &str = "issued";

impl TokenTally {
    /// Counts one token request: `refusal` is the reason given (an OAuth error code or a
    /// problem slug), `None` when a token was issued. `client_id` must be a known partner's.
    pub fn count(&self, client_id: Option<&str>, refusal: Option<&str>) {
        let key = (client_id.unwrap_or(UNKNOWN_CLIENT).to_owned(), refusal.unwrap_or(ISSUED).to_owned());
        *self.lock().entry(key).or_default() += 1;
    }

    /// One summary record per client counted since the last call, covering `from..to`; the
    /// counts start again from zero.
    pub fn take(&self, from: i64, to: i64, instance: &str) -> Vec<NewRecord> {
        let counts = std::mem::take(&mut *self.lock());
        let mut by_client: BTreeMap<String, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
        for ((client, outcome), n) in counts {
            let entry = by_client.entry(client).or_default();
            if outcome == ISSUED {
                entry.0 += n;
            } else {
                entry.1.insert(outcome, n);
            }
        }
        by_client
            .into_iter()
            .map(|(client, (issued, refused))| NewRecord {
                chain: Chain::Access,
                at: to,
                actor: format!("partner:{client}"),
                action: "token.summary".into(),
                subject: client,
                detail: serde_json::json!({
                    "from": from, "to": to, "instance": instance, "issued": issued, "refused": refused,
                }),
            })
            .collect()
    }

    /// Puts counts back after a failed write, so a database outage loses no summary.
    pub fn restore(&self, records: &[NewRecord]) {
        let mut counts = self.lock();
        for r in records {
            let client = r.subject.clone();
            if let Some(n) = r.detail["issued"].as_u64().filter(|n| *n > 0) {
                *counts.entry((client.clone(), ISSUED.into())).or_default() += n;
            }
            if let Some(refused) = r.detail["refused"].as_object() {
                for (reason, n) in refused {
                    *counts.entry((client.clone(), reason.clone())).or_default() += n.as_u64().unwrap_or(0);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), u64>> {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_group_by_client_and_reason_and_start_again() {
        let tally = TokenTally::default();
        tally.count(Some("ptn_a"), None);
        tally.count(Some("ptn_a"), None);
        tally.count(Some("ptn_a"), Some("invalid_scope"));
        tally.count(None, Some("invalid_client"));
        let records = tally.take(0, 60, "gw1");
        assert_eq!(records.len(), 2);
        let a = records.iter().find(|r| r.subject == "ptn_a").unwrap();
        assert_eq!(a.detail["issued"], 2);
        assert_eq!(a.detail["refused"]["invalid_scope"], 1);
        assert_eq!(a.chain, Chain::Access);
        let unknown = records.iter().find(|r| r.subject == UNKNOWN_CLIENT).unwrap();
        assert_eq!(unknown.detail["refused"]["invalid_client"], 1);
        assert!(tally.take(60, 120, "gw1").is_empty(), "counts start again");
    }

    #[test]
    fn restored_counts_are_summarised_again() {
        let tally = TokenTally::default();
        tally.count(Some("ptn_a"), None);
        tally.count(Some("ptn_a"), Some("invalid_grant"));
        let records = tally.take(0, 60, "gw1");
        tally.restore(&records);
        tally.count(Some("ptn_a"), None);
        let again = tally.take(60, 120, "gw1");
        assert_eq!(again[0].detail["issued"], 2);
        assert_eq!(again[0].detail["refused"]["invalid_grant"], 1);
    }
}
