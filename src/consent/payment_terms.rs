//! What a customer agrees to when they authorise a payment consent: who is paid, how much
//! (one fixed amount, many payments within limits, or a bulk's listed transfers, each to its
//! own payee), for what and in which scenario.
//!
//! Amounts are integer minor units of `currency`, checked against its ISO 4217 exponent
//! when the consent is created; the creditor is resolved (a merchant id from the partner's
//! file becomes its settlement account) so later changes to the file cannot redirect money
//! a customer already agreed to send elsewhere.

use scenegate_adapter_contract::{
    AccountId, Currency, Money,
    canonical::{Creditor, PaymentConsentType, RecurringLimits, Scenario},
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentTerms {
    pub kind: PaymentConsentType,
    pub currency: Currency,
    /// Single consents: the exact amount.
    pub amount_minor: Option<i64>,
    /// Recurring consents: the limits.
    pub limits: Option<Allowance>,
    /// Who is paid; a bulk lists a payee per transaction instead.
    #[serde(default)]
    pub payee: Option<Payee>,
    pub reference: String,
    pub scenario: Scenario,
    /// The debtor account the partner proposed (its pseudonymous id); the customer confirms
    /// or chooses another on the consent page.
    pub proposed_debtor: Option<AccountId>,
    /// Bulk consents: the transactions, each paid once when the bulk is executed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk: Option<BulkTerms>,
}

/// What a customer agrees to pay in a bulk: the partner's message and each transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkTerms {
    /// The partner's message id (ISO 20022 `MsgId`): with an end-to-end id, it names a
    /// transfer for good (its payment id is derived from both).
    pub message_id: String,
    /// The batch's id (`PmtInfId`).
    pub payment_info_id: String,
    pub transactions: Vec<BulkItem>,
}

/// One transfer of a bulk, in the consent's currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkItem {
    pub end_to_end_id: String,
    pub amount_minor: i64,
    pub payee: Payee,
    pub reference: String,
}

/// The limits of a recurring consent, in minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    pub per_payment: i64,
    pub per_day: Option<i64>,
    pub per_month: Option<i64>,
}

/// The creditor as resolved when the consent was created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payee {
    /// A settlement account named in the partner's file.
    Merchant { id: String, account: String, name: String },
    /// An account by number and name; `bank_code` absent for an account of this bank.
    Account { number: String, name: String, bank_code: Option<String> },
}

impl Payee {
    /// As partners see it when there is none (a bulk's payees are per transaction).
    pub fn view_of(payee: Option<&Payee>) -> Creditor {
        payee.map_or(Creditor { merchant: None, account_number: None, name: None, bank_code: None }, Payee::view)
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Merchant { name, .. } | Self::Account { name, .. } => name,
        }
    }

    /// As partners see it: a merchant by id and name; an account number masked to its last
    /// four digits.
    pub fn view(&self) -> Creditor {
        match self {
            Self::Merchant { id, name, .. } => {
                Creditor { merchant: Some(id.clone()), account_number: None, name: Some(name.clone()), bank_code: None }
            }
            Self::Account { number, name, bank_code } => Creditor {
                merchant: None,
                account_number: Some(mask(number)),
                name: Some(name.clone()),
                bank_code: bank_code.clone(),
            },
        }
    }
}

/// `6222…0012` → `****0012`.
pub fn mask(number: &str) -> String {
    let tail: String = number.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("****{tail}")
}

impl PaymentTerms {
    pub fn money(&self, minor: i64) -> Money {
        Money::from_minor(minor, self.currency)
    }

    pub fn limits_view(&self) -> Option<RecurringLimits> {
        self.limits.map(|a| RecurringLimits {
            per_payment: self.money(a.per_payment).amount().to_string(),
            per_day: a.per_day.map(|m| self.money(m).amount().to_string()),
            per_month: a.per_month.map(|m| self.money(m).amount().to_string()),
        })
    }
}
