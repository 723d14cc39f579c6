//! A partner's payment-consent request, checked into the [`PaymentTerms`] a customer will
//! be shown. Every refusal names the field.

use scenegate_adapter_contract::{
    Currency, Money,
    canonical::{
        BulkPaymentRequest, Creditor, MAX_BULK_TRANSACTIONS, PaymentConsentRequest, PaymentConsentType, Scenario,
        ScenarioCode,
    },
};

use super::{MAX_REFERENCE_CHARS, PaymentError, RECURRING_MAX_SECS, SINGLE_DEFAULT_SECS, SINGLE_MAX_SECS, invalid};
use crate::{
    config::Partner,
    consent::{Allowance, BulkItem, BulkTerms, Payee, PaymentTerms},
};

/// Largest amount in minor units: the core's own cap, so no sum can overflow.
pub const MAX_MINOR: i64 = 100_000_000_000_000;
const RECURRING_DEFAULT_SECS: i64 = 90 * 86_400;

pub fn check(partner: &Partner, req: PaymentConsentRequest, now: i64) -> Result<(PaymentTerms, i64), PaymentError> {
    let reference = reference("remittance_reference", &req.remittance_reference)?;
    if let Some(mcc) = &req.scenario.merchant_category_code
        && !(mcc.len() == 4 && mcc.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("scenario.merchant_category_code", "must be 4 digits (ISO 18245)"));
    }
    let payee = payee(partner, &req.creditor)?;
    let (currency, amount_minor, limits, max_secs, default_secs) = match req.consent_type {
        PaymentConsentType::Single => {
            if req.currency.is_some() || req.limits.is_some() {
                return Err(invalid("limits", "only a recurring consent has `currency` and `limits`"));
            }
            let amount = req
                .instructed_amount
                .as_ref()
                .ok_or_else(|| invalid("instructed_amount", "is required for a single payment"))?;
            (
                amount.currency(),
                Some(minor_units("instructed_amount", amount)?),
                None,
                SINGLE_MAX_SECS,
                SINGLE_DEFAULT_SECS,
            )
        }
        PaymentConsentType::Recurring => {
            if req.instructed_amount.is_some() {
                return Err(invalid("instructed_amount", "a recurring consent has `limits` instead"));
            }
            let code =
                req.currency.as_deref().ok_or_else(|| invalid("currency", "is required for a recurring consent"))?;
            let currency: Currency = code.parse().map_err(|e| invalid("currency", format!("{e}")))?;
            let limits = req.limits.as_ref().ok_or_else(|| invalid("limits", "is required for a recurring consent"))?;
            let amount = |field: &'static str, text: &str| -> Result<i64, PaymentError> {
                let money = Money::parse(text, currency).map_err(|e| invalid(field, e.to_string()))?;
                minor_units(field, &money)
            };
            let per_payment = amount("limits.per_payment", &limits.per_payment)?;
            let per_day = limits.per_day.as_deref().map(|d| amount("limits.per_day", d)).transpose()?;
            let per_month = limits.per_month.as_deref().map(|m| amount("limits.per_month", m)).transpose()?;
            if per_day.is_some_and(|d| d < per_payment) {
                return Err(invalid("limits.per_day", "must be at least `per_payment`"));
            }
            if per_month.is_some_and(|m| m < per_day.unwrap_or(per_payment)) {
                return Err(invalid("limits.per_month", "must be at least `per_day` (or `per_payment`)"));
            }
            let allowance = Allowance { per_payment, per_day, per_month };
            (currency, None, Some(allowance), RECURRING_MAX_SECS, RECURRING_DEFAULT_SECS)
        }
        PaymentConsentType::Bulk => {
            return Err(invalid("consent_type", "a bulk payment is made from an ISO 20022 pain.001"));
        }
    };
    let partner_limits = partner.payments.limits.get(&currency).ok_or_else(|| {
        invalid("currency", format!("this partner may not take payments in {currency}; ask the bank to set its limits"))
    })?;
    let largest = amount_minor.or(limits.map(|l| l.per_payment)).unwrap_or(0);
    if largest > partner_limits.per_payment {
        let field = if amount_minor.is_some() { "instructed_amount" } else { "limits.per_payment" };
        let max = Money::from_minor(partner_limits.per_payment, currency);
        return Err(invalid(field, format!("exceeds this partner's per-payment limit of {max}")));
    }
    let expiration = match req.expiration.as_deref() {
        None => now + default_secs,
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_second())
            .map_err(|_| invalid("expiration", "must be an RFC 3339 time such as 2027-05-01T00:00:00Z"))?,
    };
    if expiration <= now {
        return Err(invalid("expiration", "must be in the future"));
    }
    if expiration > now + max_secs {
        let most = if max_secs == SINGLE_MAX_SECS { "24 hours" } else { "one year" };
        return Err(invalid("expiration", format!("may be at most {most} ahead")));
    }
    let terms = PaymentTerms {
        kind: req.consent_type,
        currency,
        amount_minor,
        limits,
        payee: Some(payee),
        reference,
        scenario: req.scenario,
        proposed_debtor: req.debtor_account_id,
        bulk: None,
    };
    Ok((terms, expiration))
}

/// A bulk: every transfer checked as a single payment's would be (payee resolved, amount
/// within the partner's per-payment limit, reference), all in the bulk's currency, end-to-end
/// ids unique. The consent's amount is the total; it may be executed until 24 hours after
/// the partner asked.
pub fn check_bulk(partner: &Partner, req: BulkPaymentRequest, now: i64) -> Result<(PaymentTerms, i64), PaymentError> {
    let currency = req.currency;
    let limits = partner.payments.limits.get(&currency).ok_or_else(|| {
        invalid("currency", format!("this partner may not take payments in {currency}; ask the bank to set its limits"))
    })?;
    if req.transactions.is_empty() || req.transactions.len() > MAX_BULK_TRANSACTIONS {
        return Err(invalid("transactions", format!("a bulk has 1 to {MAX_BULK_TRANSACTIONS} transactions")));
    }
    let mut items: Vec<BulkItem> = Vec::with_capacity(req.transactions.len());
    let mut total: i64 = 0;
    for t in req.transactions {
        let at = |e: PaymentError| match e {
            PaymentError::InvalidField { field, reason } => {
                invalid(field, format!("transaction `{}`: {reason}", t.end_to_end_id))
            }
            other => other,
        };
        if items.iter().any(|i| i.end_to_end_id == t.end_to_end_id) {
            return Err(at(invalid("end_to_end_id", "is given more than once")));
        }
        if t.amount.currency() != currency {
            return Err(at(invalid("instructed_amount.currency", format!("must be {currency}, the bulk's currency"))));
        }
        let amount_minor = minor_units("instructed_amount", &t.amount).map_err(at)?;
        if amount_minor > limits.per_payment {
            let max = Money::from_minor(limits.per_payment, currency);
            return Err(at(invalid("instructed_amount", format!("exceeds this partner's per-payment limit of {max}"))));
        }
        total = total
            .checked_add(amount_minor)
            .filter(|t| *t <= MAX_MINOR)
            .ok_or_else(|| invalid("transactions", "the total is too large"))?;
        let payee = payee(partner, &t.creditor).map_err(at)?;
        let reference = reference("remittance_reference", &t.remittance_reference).map_err(at)?;
        items.push(BulkItem { end_to_end_id: t.end_to_end_id, amount_minor, payee, reference });
    }
    let terms = PaymentTerms {
        kind: PaymentConsentType::Bulk,
        currency,
        amount_minor: Some(total),
        limits: None,
        payee: None,
        reference: reference("payment_info_id", &req.payment_info_id)?,
        scenario: Scenario { code: ScenarioCode::Other, merchant_category_code: None },
        proposed_debtor: req.debtor_account_id,
        bulk: Some(BulkTerms { message_id: req.message_id, payment_info_id: req.payment_info_id, transactions: items }),
    };
    Ok((terms, now + SINGLE_MAX_SECS))
}

/// A positive amount in minor units, within the core's cap.
pub fn minor_units(field: &'static str, money: &Money) -> Result<i64, PaymentError> {
    let minor = money.to_minor().ok_or_else(|| invalid(field, "is too large"))?;
    if minor <= 0 {
        return Err(invalid(field, "must be more than zero"));
    }
    if minor > MAX_MINOR {
        return Err(invalid(field, "is too large"));
    }
    Ok(minor)
}

/// Plain text of 1 to 140 characters, shown to customers and on statements.
pub fn reference(field: &'static str, text: &str) -> Result<String, PaymentError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_REFERENCE_CHARS || text.chars().any(char::is_control) {
        return Err(invalid(field, format!("must be 1 to {MAX_REFERENCE_CHARS} characters of plain text")));
    }
    Ok(text.to_owned())
}

fn payee(partner: &Partner, c: &Creditor) -> Result<Payee, PaymentError> {
    match (&c.merchant, &c.account_number) {
        (Some(id), None) => {
            if c.name.is_some() || c.bank_code.is_some() {
                return Err(invalid("creditor", "a merchant is named by `merchant` alone"));
            }
            let m = partner.payments.merchants.get(id).ok_or_else(|| {
                invalid("creditor.merchant", "is not a merchant of this partner; the bank registers merchants")
            })?;
            Ok(Payee::Merchant { id: id.clone(), account: m.account.clone(), name: m.name.clone() })
        }
        (None, Some(number)) => {
            if number.is_empty() || number.len() > 34 || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(invalid("creditor.account_number", "must be 1 to 34 letters or digits"));
            }
            let name = c.name.as_deref().map(str::trim).unwrap_or_default();
            if name.is_empty() || name.chars().count() > 140 || name.chars().any(char::is_control) {
                return Err(invalid("creditor.name", "is required: 1 to 140 characters"));
            }
            if let Some(bank) = &c.bank_code
                && !scenegate_adapter_contract::is_bank_code(bank)
            {
                return Err(invalid(
                    "creditor.bank_code",
                    "must be a CNAPS bank code (12 digits) or a BIC (8 or 11 upper-case letters and digits)",
                ));
            }
            Ok(Payee::Account { number: number.clone(), name: name.to_owned(), bank_code: c.bank_code.clone() })
        }
        _ => Err(invalid("creditor", "give either `merchant` or `account_number` (with `name`)")),
    }
}
