//! A payment and a refund as the gateway records them, and how each looks to its partner.
//!
//! Status moves only forward: `ACTC` (accepted, not yet booked) → `ACSC` (booked) or `RJCT`
//! (refused, no money moved), with `ACSP` in between when the core's answer was lost and the
//! reconciler is settling it. A payment never leaves `ACSC` or `RJCT`.

use scenegate_adapter_contract::{
    ConsentId, Currency, Money, PaymentId, RefundId,
    canonical::{Iso20022Status, PaymentView, RefundView, Scenario, StatusReason},
};

use crate::consent::{Payee, model::rfc3339};

/// Why a payment or refund was rejected: ISO 20022 reason code and plain words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub code: String,
    pub text: String,
}

impl Reason {
    pub fn new(code: &str, text: &str) -> Self {
        Self { code: code.to_owned(), text: text.to_owned() }
    }

    fn view(&self) -> StatusReason {
        StatusReason { code: self.code.clone(), description: self.text.clone() }
    }
}

/// Whether a status is final: nothing moves it any more.
pub fn is_final(status: Iso20022Status) -> bool {
    matches!(status, Iso20022Status::Acsc | Iso20022Status::Rjct)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub partner_id: String,
    pub consent_id: ConsentId,
    /// The core's customer number; never shown to partners.
    pub customer_id: String,
    /// The core account debited; never shown to partners.
    pub debtor: String,
    pub payee: Payee,
    pub amount_minor: i64,
    pub currency: Currency,
    pub reference: String,
    pub scenario: Scenario,
    pub status: Iso20022Status,
    pub reason: Option<Reason>,
    pub core_txn_id: Option<String>,
    /// Refunds not rejected, in minor units: what is no longer refundable.
    pub refunded_minor: i64,
    /// The Beijing day (`2026-12-03`) and month (`2026-12`) whose allowances it counts in.
    pub day: String,
    pub month: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Payment {
    pub fn view(&self) -> PaymentView {
        PaymentView {
            payment_id: self.id.clone(),
            consent_id: self.consent_id.clone(),
            status: self.status.plain(),
            status_code: self.status,
            status_reason: self.reason.as_ref().map(Reason::view),
            instructed_amount: Money::from_minor(self.amount_minor, self.currency),
            refunded_amount: Money::from_minor(self.refunded_minor, self.currency),
            creditor: self.payee.view(),
            remittance_reference: self.reference.clone(),
            created_at: rfc3339(self.created_at),
            status_updated_at: rfc3339(self.updated_at),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub partner_id: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub reason_text: String,
    pub status: Iso20022Status,
    pub reason: Option<Reason>,
    pub core_txn_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Refund {
    pub fn view(&self) -> RefundView {
        RefundView {
            refund_id: self.id.clone(),
            payment_id: self.payment_id.clone(),
            status: self.status.plain(),
            status_code: self.status,
            status_reason: self.reason.as_ref().map(Reason::view),
            amount: Money::from_minor(self.amount_minor, self.currency),
            reason: self.reason_text.clone(),
            created_at: rfc3339(self.created_at),
            status_updated_at: rfc3339(self.updated_at),
        }
    }
}

/// The Beijing calendar day and month of `secs`: limits are per Beijing day, as the bank's
/// business day is.
pub fn beijing_periods(secs: i64) -> (String, String) {
    let Ok(ts) = jiff::Timestamp::from_second(secs) else { return (String::new(), String::new()) };
    let local = ts.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)));
    (local.strftime("%Y-%m-%d").to_string(), local.strftime("%Y-%m").to_string())
}

/// What the core (or the reconciler) concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    Booked {
        txn_id: String,
    },
    Rejected(Reason),
    /// The answer was lost: settlement in process, the reconciler will find out.
    Unknown,
}

impl Settlement {
    /// The status this outcome moves a payment or refund in `current` to; `None` when it
    /// does not move it (it is final already, or a second "unknown" for one already being
    /// reconciled).
    pub fn next_status(&self, current: Iso20022Status) -> Option<Iso20022Status> {
        match self {
            _ if is_final(current) => None,
            Self::Unknown if current == Iso20022Status::Acsp => None,
            Self::Unknown => Some(Iso20022Status::Acsp),
            Self::Booked { .. } => Some(Iso20022Status::Acsc),
            Self::Rejected(_) => Some(Iso20022Status::Rjct),
        }
    }
}

/// What a settlement changes on a payment or a refund: the same four columns on both.
macro_rules! settled {
    ($ty:ty) => {
        impl $ty {
            /// As `outcome` leaves it at `now`; `None` when the outcome does not move it.
            pub fn settled(&self, outcome: &Settlement, now: i64) -> Option<Self> {
                let mut next = self.clone();
                next.status = outcome.next_status(self.status)?;
                next.updated_at = now;
                match outcome {
                    Settlement::Booked { txn_id } => next.core_txn_id = Some(txn_id.clone()),
                    Settlement::Rejected(reason) => next.reason = Some(reason.clone()),
                    Settlement::Unknown => {}
                }
                Some(next)
            }
        }
    };
}
settled!(Payment);
settled!(Refund);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_the_beijing_calendar() {
        // 2026-12-02T16:30:00Z is 00:30 on 3 December in Beijing.
        let secs = "2026-12-02T16:30:00Z".parse::<jiff::Timestamp>().unwrap().as_second();
        assert_eq!(beijing_periods(secs), ("2026-12-03".into(), "2026-12".into()));
        let secs = "2026-12-31T16:00:00Z".parse::<jiff::Timestamp>().unwrap().as_second();
        assert_eq!(beijing_periods(secs), ("2027-01-01".into(), "2027-01".into()));
    }

    #[test]
    fn a_settlement_moves_status_forward_only() {
        use Iso20022Status::*;
        let booked = Settlement::Booked { txn_id: "T1".into() };
        let rejected = Settlement::Rejected(Reason::new("AM04", "insufficient funds"));
        for (current, outcome, next) in [
            (Actc, &booked, Some(Acsc)),
            (Actc, &rejected, Some(Rjct)),
            (Actc, &Settlement::Unknown, Some(Acsp)),
            (Acsp, &Settlement::Unknown, None),
            (Acsp, &booked, Some(Acsc)),
            (Acsp, &rejected, Some(Rjct)),
            (Acsc, &rejected, None),
            (Acsc, &Settlement::Unknown, None),
            (Rjct, &booked, None),
        ] {
            assert_eq!(outcome.next_status(current), next, "{current:?} + {outcome:?}");
        }
    }

    #[test]
    fn a_settled_refund_carries_what_the_outcome_says() {
        let refund = Refund {
            id: RefundId::from_key("r1").unwrap(),
            payment_id: PaymentId::from_key("p1").unwrap(),
            partner_id: "ptn_a".into(),
            amount_minor: 100,
            currency: Currency::Cny,
            reason_text: "returned".into(),
            status: Iso20022Status::Actc,
            reason: None,
            core_txn_id: None,
            created_at: 1,
            updated_at: 1,
        };
        let booked = refund.settled(&Settlement::Booked { txn_id: "T9".into() }, 5).unwrap();
        assert_eq!(
            (booked.status, booked.core_txn_id.as_deref(), booked.updated_at),
            (Iso20022Status::Acsc, Some("T9"), 5)
        );
        let rejected = refund.settled(&Settlement::Rejected(Reason::new("AC06", "blocked")), 6).unwrap();
        assert_eq!((rejected.status, rejected.reason.map(|r| r.code)), (Iso20022Status::Rjct, Some("AC06".into())));
        assert_eq!(booked.settled(&Settlement::Unknown, 7), None, "a booked refund stays booked");
    }
}
