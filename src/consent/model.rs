//! The consent and its state machine. The only transitions that exist are listed in
//! [`allowed`]; each is recorded with its time and actor.

use std::collections::BTreeSet;

use scenegate_adapter_contract::{
    ConsentId,
    canonical::{ConsentStatus, ConsentView, Permission},
};
use serde::{Deserialize, Serialize};

use super::payment_terms::PaymentTerms;

/// An unanswered consent request lapses after this long.
pub const AWAITING_TTL_SECS: i64 = 24 * 3600;

/// Who moved a consent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    Partner(String),
    /// The core bank's customer number; never shown to partners.
    Customer(String),
    /// The clock: expiry.
    System,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: ConsentStatus,
    pub to: ConsentStatus,
    pub at: i64,
    pub actor: Actor,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub id: ConsentId,
    pub partner_id: String,
    /// Set when a customer answers; the consent is then that customer's.
    pub customer_id: Option<String>,
    pub permissions: BTreeSet<Permission>,
    /// Unix seconds.
    pub expiration: i64,
    pub transaction_from: Option<i64>,
    pub transaction_to: Option<i64>,
    pub purpose: String,
    pub status: ConsentStatus,
    /// Core account numbers the customer chose. Never leave the gateway as such.
    pub accounts: Vec<String>,
    pub created_at: i64,
    pub status_updated_at: i64,
    pub history: Vec<Transition>,
    /// Present on payment consents (then `permissions` is empty and `accounts` holds the one
    /// debtor account the customer chose); absent on account-access consents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentTerms>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a consent that is {} cannot become {}", from.code(), to.code())]
pub struct InvalidTransition {
    pub from: ConsentStatus,
    pub to: ConsentStatus,
}

/// The whole state machine, as data. `awaiting_authorisation` → `revoked` is a partner
/// withdrawing a payment consent before its customer answered; an account consent awaiting
/// its customer cannot be withdrawn (it lapses), which [`super::Consents`] enforces.
pub fn allowed(from: ConsentStatus, to: ConsentStatus) -> bool {
    use ConsentStatus::*;
    matches!(
        (from, to),
        (AwaitingAuthorisation, Authorised | Rejected | Revoked | Expired) | (Authorised, Revoked | Expired | Consumed)
    )
}

impl Consent {
    pub fn transition(&mut self, to: ConsentStatus, actor: Actor, at: i64) -> Result<(), InvalidTransition> {
        if !allowed(self.status, to) {
            return Err(InvalidTransition { from: self.status, to });
        }
        self.history.push(Transition { from: self.status, to, at, actor });
        self.status = to;
        self.status_updated_at = at;
        Ok(())
    }

    /// When the clock alone moves this consent, and to what.
    pub fn due_expiry(&self) -> Option<i64> {
        match self.status {
            ConsentStatus::AwaitingAuthorisation => Some(self.created_at + AWAITING_TTL_SECS),
            ConsentStatus::Authorised => Some(self.expiration),
            ConsentStatus::Rejected | ConsentStatus::Revoked | ConsentStatus::Expired | ConsentStatus::Consumed => None,
        }
    }

    /// Applies expiry as of `now`; true when the consent changed (and must be saved). The
    /// transition is stamped with the moment it became due, not the moment it was noticed.
    pub fn expire_if_due(&mut self, now: i64) -> bool {
        match self.due_expiry() {
            Some(due) if now >= due => self.transition(ConsentStatus::Expired, Actor::System, due).is_ok(),
            _ => false,
        }
    }

    pub fn allows(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    pub fn view(&self) -> ConsentView {
        ConsentView {
            consent_id: self.id.clone(),
            status: self.status,
            permissions: self.permissions.iter().copied().collect(),
            expiration: rfc3339(self.expiration),
            transaction_from: self.transaction_from.map(rfc3339),
            transaction_to: self.transaction_to.map(rfc3339),
            purpose: self.purpose.clone(),
            created_at: rfc3339(self.created_at),
            status_updated_at: rfc3339(self.status_updated_at),
        }
    }
}

/// Unix seconds as RFC 3339 UTC, second precision.
pub fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map(crate::core::rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsentStatus::*;

    fn consent() -> Consent {
        Consent {
            id: ConsentId::from_key("T1").unwrap(),
            partner_id: "ptn_a".into(),
            customer_id: None,
            permissions: BTreeSet::from([Permission::ReadBalances]),
            expiration: 10_000,
            transaction_from: None,
            transaction_to: None,
            purpose: "p".into(),
            status: AwaitingAuthorisation,
            accounts: vec![],
            created_at: 0,
            status_updated_at: 0,
            history: vec![],
            payment: None,
        }
    }

    #[test]
    fn only_the_listed_transitions_exist() {
        let all = [AwaitingAuthorisation, Authorised, Rejected, Revoked, Expired, Consumed];
        let mut allowed_pairs = vec![];
        for from in all {
            for to in all {
                if allowed(from, to) {
                    allowed_pairs.push((from, to));
                }
            }
        }
        assert_eq!(
            allowed_pairs,
            vec![
                (AwaitingAuthorisation, Authorised),
                (AwaitingAuthorisation, Rejected),
                (AwaitingAuthorisation, Revoked),
                (AwaitingAuthorisation, Expired),
                (Authorised, Revoked),
                (Authorised, Expired),
                (Authorised, Consumed)
            ]
        );
    }

    #[test]
    fn transitions_are_recorded_and_terminal_states_stay_terminal() {
        let mut c = consent();
        c.transition(Authorised, Actor::Customer("C1".into()), 5).unwrap();
        c.transition(Revoked, Actor::Partner("ptn_a".into()), 6).unwrap();
        assert_eq!(c.history.len(), 2);
        assert_eq!(
            c.history[1],
            Transition { from: Authorised, to: Revoked, at: 6, actor: Actor::Partner("ptn_a".into()) }
        );
        assert_eq!(
            c.transition(Authorised, Actor::System, 7),
            Err(InvalidTransition { from: Revoked, to: Authorised })
        );
    }

    #[test]
    fn expiry_follows_the_clock() {
        let mut c = consent();
        assert!(!c.expire_if_due(AWAITING_TTL_SECS - 1));
        assert!(c.expire_if_due(AWAITING_TTL_SECS + 100));
        assert_eq!((c.status, c.status_updated_at), (Expired, AWAITING_TTL_SECS));

        let mut c = consent();
        c.transition(Authorised, Actor::Customer("C1".into()), 5).unwrap();
        assert!(!c.expire_if_due(9_999));
        assert!(c.expire_if_due(10_000));
        assert_eq!(c.history.last().unwrap().actor, Actor::System);
    }
}
