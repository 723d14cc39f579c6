//! Customer consent: nothing of a customer's is read or moved unless the customer said
//! yes to that partner, for that purpose, until that date, and has not taken it back.
//!
//! `model.rs` holds the consent and its state machine, `store.rs` where it is kept, and
//! this file the operations partners, customers and the clock perform on it.

pub mod model;
pub mod payment_terms;
pub mod store;

use std::{collections::BTreeSet, sync::Arc};

use scenegate_adapter_contract::{
    ConsentId,
    canonical::{ConsentRequest, ConsentStatus, PaymentConsentType, Permission},
};

pub use model::{Actor, Consent};
pub use payment_terms::{Allowance, BulkItem, BulkTerms, Payee, PaymentTerms};
pub use store::ConsentStore;

use crate::{
    auth::Clock,
    kept::{ChangeMarks, Forget, Kept, Observation},
    store::StoreError,
};

/// Default and longest consent lifetimes.
pub const DEFAULT_LIFETIME_SECS: i64 = 90 * 86_400;
pub const MAX_LIFETIME_SECS: i64 = 365 * 86_400;
pub const MAX_PURPOSE_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("`{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// Missing, or not the caller's: the two answer alike, so ids cannot be probed.
    #[error("no such consent")]
    NotFound,
    #[error("the consent is {}", .0.code())]
    State(ConsentStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Consents {
    store: Arc<dyn ConsentStore>,
    clock: Arc<dyn Clock>,
    /// Consents kept between changes (see [`crate::kept`] and [`keepable`]).
    kept: Option<Arc<Kept<ConsentId, Arc<Consent>>>>,
    /// How a consent's partner is told of its changes of status.
    notify: crate::events::NotifyOf,
}

/// Consents kept at most (far more than a single node's active consents).
const MAX_KEPT: usize = 100_000;

/// A new consent awaiting its customer, with a fresh time-ordered id; account consents fill
/// in their permissions and window.
fn awaiting(
    partner_id: &str,
    purpose: String,
    expiration: i64,
    now: i64,
    payment: Option<PaymentTerms>,
) -> Result<Consent, ConsentError> {
    let id = ConsentId::from_key(&uuid::Uuid::now_v7().simple().to_string()).map_err(StoreError::corrupt)?;
    Ok(Consent {
        id,
        partner_id: partner_id.to_owned(),
        customer_id: None,
        permissions: BTreeSet::new(),
        expiration,
        transaction_from: None,
        transaction_to: None,
        purpose,
        status: ConsentStatus::AwaitingAuthorisation,
        accounts: Vec::new(),
        created_at: now,
        status_updated_at: now,
        history: Vec::new(),
        payment,
    })
}

/// Whether a consent changes only through [`Consents`] (which announces each change). Single
/// and bulk payment consents do not: the payment store consumes them in the payment's own
/// transaction. A recurring one is only read by its payments (what they spend is counted
/// elsewhere), and the payment store checks it again under its lock anyway.
fn keepable(consent: &Consent) -> bool {
    consent.payment.as_ref().is_none_or(|terms| terms.kind == PaymentConsentType::Recurring)
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConsentError {
    ConsentError::InvalidField { field, reason: reason.into() }
}

fn parse_time(field: &'static str, value: &str) -> Result<i64, ConsentError> {
    value
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| invalid(field, "must be an RFC 3339 time such as 2027-05-01T00:00:00Z"))
}

impl Consents {
    pub fn new(store: Arc<dyn ConsentStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, kept: None, notify: Arc::new(|_: &str| crate::events::Notify::Webhook) }
    }

    /// Announces a consent's changes of status as `notify` says for its partner (queued for
    /// its webhook, or only listed by polling); without it, every change is queued, and
    /// skipped at delivery if the partner polls.
    #[must_use]
    pub fn notifying(mut self, notify: crate::events::NotifyOf) -> Self {
        self.notify = notify;
        self
    }

    /// Keeps account-access and recurring payment consents in memory between changes, which
    /// `marks` announce to every process that writes the store (see [`crate::kept`]).
    /// Expiry needs no announcement: a kept consent due to expire is never handed out.
    #[must_use]
    pub fn cached(mut self, marks: Arc<dyn ChangeMarks>) -> Self {
        self.kept = Some(Arc::new(Kept::new(MAX_KEPT, marks)));
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A partner asks for consent; it waits for the customer.
    pub async fn create(&self, partner_id: &str, req: ConsentRequest) -> Result<Consent, ConsentError> {
        let now = self.clock.now();
        if req.permissions.is_empty() {
            return Err(invalid("permissions", "name at least one permission"));
        }
        let permissions: BTreeSet<Permission> = req.permissions.iter().copied().collect();
        if permissions.len() != req.permissions.len() {
            return Err(invalid("permissions", "each permission may appear once"));
        }
        let expiration = match req.expiration.as_deref() {
            None => now + DEFAULT_LIFETIME_SECS,
            Some(s) => parse_time("expiration", s)?,
        };
        if expiration <= now {
            return Err(invalid("expiration", "must be in the future"));
        }
        if expiration > now + MAX_LIFETIME_SECS {
            return Err(invalid("expiration", "may be at most one year ahead"));
        }
        let from = req.transaction_from.as_deref().map(|s| parse_time("transaction_from", s)).transpose()?;
        let to = req.transaction_to.as_deref().map(|s| parse_time("transaction_to", s)).transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(invalid("transaction_to", "must not be before transaction_from"));
        }
        let purpose = req.purpose.trim().to_owned();
        if purpose.is_empty() || purpose.chars().count() > MAX_PURPOSE_CHARS || purpose.chars().any(char::is_control) {
            return Err(invalid("purpose", format!("must be 1 to {MAX_PURPOSE_CHARS} characters of plain text")));
        }
        let consent = Consent {
            permissions,
            transaction_from: from,
            transaction_to: to,
            ..awaiting(partner_id, purpose, expiration, now, None)?
        };
        self.store.insert(&consent).await?;
        Ok(consent)
    }

    /// A partner asks a customer to authorise a payment (`terms` checked by the caller);
    /// it waits for the customer like any consent.
    pub async fn create_payment(
        &self,
        partner_id: &str,
        terms: PaymentTerms,
        expiration: i64,
    ) -> Result<Consent, ConsentError> {
        let purpose = terms.reference.clone();
        let consent = awaiting(partner_id, purpose, expiration, self.clock.now(), Some(terms))?;
        self.store.insert(&consent).await?;
        Ok(consent)
    }

    /// The consent as of now (expiry applied and saved). Any caller.
    pub async fn load(&self, id: &ConsentId) -> Result<Consent, ConsentError> {
        self.load_as_of(id, None).await
    }

    /// The consent's stamp now, for [`Consents::for_partner_as_of`] and for the tokens bound
    /// to it (`Grants::is_revoked`), which share these marks and this subject.
    pub async fn observe(&self, id: &ConsentId) -> Observation {
        match &self.kept {
            Some(kept) => Observation::of(kept.marks(), id.as_str()).await,
            None => Observation::default(),
        }
    }

    /// [`Consents::load`], under a stamp already observed (or observing it now).
    async fn load_as_of(&self, id: &ConsentId, observed: Option<&Observation>) -> Result<Consent, ConsentError> {
        let mut seen = match &self.kept {
            Some(kept) => {
                let seen = match observed {
                    Some(observed) => kept.seen(observed),
                    None => kept.look(id.as_str()).await,
                };
                let now = self.clock.now();
                if let Some(hit) = kept.get(id, &seen).filter(|c| c.due_expiry().is_none_or(|due| now < due)) {
                    return Ok(Consent::clone(&hit));
                }
                Some(seen)
            }
            None => None,
        };
        loop {
            let (mut consent, version) = self.store.get(id).await?.ok_or(ConsentError::NotFound)?;
            if !consent.expire_if_due(self.clock.now()) {
                if let (Some(kept), Some(seen)) = (&self.kept, seen.take())
                    && keepable(&consent)
                {
                    kept.keep(seen, id.clone(), Arc::new(consent.clone()));
                }
                return Ok(consent);
            }
            // Found expired: saved as such. Every instance tells expiry by the clock, so
            // only this one's kept copy needs forgetting.
            if self.store.update(&consent, version, (self.notify)(&consent.partner_id)).await? {
                if let Some(kept) = &self.kept {
                    kept.forget(id);
                }
                return Ok(consent);
            }
        }
    }

    /// The consent, if it is this partner's.
    pub async fn for_partner(&self, partner_id: &str, id: &ConsentId) -> Result<Consent, ConsentError> {
        Self::if_partners(partner_id, self.load(id).await?)
    }

    /// [`Consents::for_partner`] under the stamp [`Consents::observe`] gave.
    pub async fn for_partner_as_of(
        &self,
        partner_id: &str,
        id: &ConsentId,
        observed: &Observation,
    ) -> Result<Consent, ConsentError> {
        Self::if_partners(partner_id, self.load_as_of(id, Some(observed)).await?)
    }

    fn if_partners(partner_id: &str, consent: Consent) -> Result<Consent, ConsentError> {
        if consent.partner_id != partner_id {
            return Err(ConsentError::NotFound);
        }
        Ok(consent)
    }

    /// Applies `change` to the current consent and saves it, retrying if another writer got
    /// there first. `check` decides, on the fresh consent, whether the caller may act at all.
    async fn change(
        &self,
        id: &ConsentId,
        check: impl Fn(&Consent) -> Result<(), ConsentError>,
        change: impl Fn(&mut Consent, i64) -> Result<(), ConsentError>,
    ) -> Result<Consent, ConsentError> {
        let Some(kept) = &self.kept else { return self.write_change(id, check, change).await };
        // Announced before it is written: a change the other instances could not learn of
        // is not made (they might go on using what they kept).
        let announced = kept.begin_change(id.as_str()).await;
        if let Err(e) = announced.announced() {
            kept.end_change(announced, Forget::One(id)).await;
            return Err(e.into());
        }
        let written = self.write_change(id, check, change).await;
        kept.end_change(announced, Forget::One(id)).await;
        written
    }

    async fn write_change(
        &self,
        id: &ConsentId,
        check: impl Fn(&Consent) -> Result<(), ConsentError>,
        change: impl Fn(&mut Consent, i64) -> Result<(), ConsentError>,
    ) -> Result<Consent, ConsentError> {
        loop {
            let (mut consent, version) = self.store.get(id).await?.ok_or(ConsentError::NotFound)?;
            check(&consent)?;
            let now = self.clock.now();
            consent.expire_if_due(now);
            change(&mut consent, now)?;
            if self.store.update(&consent, version, (self.notify)(&consent.partner_id)).await? {
                return Ok(consent);
            }
        }
    }

    fn to(consent: &mut Consent, status: ConsentStatus, actor: Actor, now: i64) -> Result<(), ConsentError> {
        consent.transition(status, actor, now).map_err(|e| ConsentError::State(e.from))
    }

    /// The partner withdraws an authorised consent.
    pub async fn revoke_by_partner(&self, partner_id: &str, id: &ConsentId) -> Result<Consent, ConsentError> {
        let owned = |c: &Consent| if c.partner_id == partner_id { Ok(()) } else { Err(ConsentError::NotFound) };
        self.change(id, owned, |c, now| {
            // An account consent awaiting its customer is not withdrawn: it lapses.
            if c.status != ConsentStatus::Authorised {
                return Err(ConsentError::State(c.status));
            }
            Self::to(c, ConsentStatus::Revoked, Actor::Partner(partner_id.to_owned()), now)
        })
        .await
    }

    /// The partner withdraws one of its payment consents it no longer needs: one awaiting
    /// its customer, or authorised and unused (a single one is `consumed` by its payment; a
    /// recurring one stays `authorised` until it expires, and withdrawing it ends the
    /// agreement, leaving payments already made as they are). Any other status is
    /// [`ConsentError::State`]; another partner's consent, or an account consent, is
    /// [`ConsentError::NotFound`] like a missing one. The change, and its
    /// `consent.status_changed` event, are one write conditional on the version read, so a
    /// payment consuming the consent at the same moment and this withdrawal cannot both win.
    pub async fn revoke_payment_by_partner(&self, partner_id: &str, id: &ConsentId) -> Result<Consent, ConsentError> {
        let owned = |c: &Consent| {
            if c.partner_id == partner_id && c.payment.is_some() { Ok(()) } else { Err(ConsentError::NotFound) }
        };
        self.change(id, owned, |c, now| Self::to(c, ConsentStatus::Revoked, Actor::Partner(partner_id.to_owned()), now))
            .await
    }

    /// The customer takes back a consent they gave.
    pub async fn revoke_by_customer(&self, customer_id: &str, id: &ConsentId) -> Result<Consent, ConsentError> {
        let owned = |c: &Consent| {
            if c.customer_id.as_deref() == Some(customer_id) { Ok(()) } else { Err(ConsentError::NotFound) }
        };
        self.change(id, owned, |c, now| {
            Self::to(c, ConsentStatus::Revoked, Actor::Customer(customer_id.to_owned()), now)
        })
        .await
    }

    /// The customer approves, choosing which of their accounts the partner may see.
    pub async fn authorise(
        &self,
        id: &ConsentId,
        customer_id: &str,
        accounts: Vec<String>,
    ) -> Result<Consent, ConsentError> {
        if accounts.is_empty() {
            return Err(invalid("accounts", "choose at least one account"));
        }
        self.change(
            id,
            |_| Ok(()),
            |c, now| {
                Self::to(c, ConsentStatus::Authorised, Actor::Customer(customer_id.to_owned()), now)?;
                c.customer_id = Some(customer_id.to_owned());
                c.accounts = accounts.clone();
                Ok(())
            },
        )
        .await
    }

    /// The customer says no.
    pub async fn reject(&self, id: &ConsentId, customer_id: &str) -> Result<Consent, ConsentError> {
        self.change(
            id,
            |_| Ok(()),
            |c, now| {
                Self::to(c, ConsentStatus::Rejected, Actor::Customer(customer_id.to_owned()), now)?;
                c.customer_id = Some(customer_id.to_owned());
                Ok(())
            },
        )
        .await
    }

    /// How many of a partner's consents are in each status, expiry applied (staff reports).
    pub async fn status_counts(&self, partner_id: &str) -> Result<Vec<(ConsentStatus, usize)>, ConsentError> {
        let now = self.clock.now();
        let mut counts: Vec<(ConsentStatus, usize)> = Vec::new();
        for mut consent in self.store.list_for_partner(partner_id).await? {
            consent.expire_if_due(now);
            match counts.iter_mut().find(|(s, _)| *s == consent.status) {
                Some((_, n)) => *n += 1,
                None => counts.push((consent.status, 1)),
            }
        }
        Ok(counts)
    }

    /// Everything a customer has answered, expiry applied.
    pub async fn for_customer(&self, customer_id: &str) -> Result<Vec<Consent>, ConsentError> {
        let mut out = Vec::new();
        for (consent, _) in self.store.list_for_customer(customer_id).await? {
            out.push(self.load(&consent.id).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
