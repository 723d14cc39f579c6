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
}
