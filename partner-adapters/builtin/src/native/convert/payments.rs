//! Payment consents, payments and refunds: canonical ⇄ native wire.

use scenegate_adapter_contract::canonical;

use super::each;
use crate::native::wire;

same_variants!(PaymentConsentType { Single, Recurring, Bulk });
same_variants!(ScenarioCode { EcommerceGoods, BillPayment, Transport, Parking, TopUp, Travel, Government, Other });
same_variants!(PaymentStatus { Pending, Completed, Rejected });
same_variants!(Iso20022Status { Rcvd, Actc, Acsp, Acsc, Rjct });

impl From<canonical::Scenario> for wire::Scenario {
    fn from(s: canonical::Scenario) -> Self {
        let canonical::Scenario { code, merchant_category_code } = s;
        Self { code: code.into(), merchant_category_code }
    }
}

impl From<wire::Scenario> for canonical::Scenario {
    fn from(s: wire::Scenario) -> Self {
        let wire::Scenario { code, merchant_category_code } = s;
        Self { code: code.into(), merchant_category_code }
    }
}

impl From<canonical::Creditor> for wire::Creditor {
    fn from(c: canonical::Creditor) -> Self {
        let canonical::Creditor { merchant, account_number, name, bank_code } = c;
        Self { merchant, account_number, name, bank_code }
    }
}

impl From<wire::Creditor> for canonical::Creditor {
    fn from(c: wire::Creditor) -> Self {
        let wire::Creditor { merchant, account_number, name, bank_code } = c;
        Self { merchant, account_number, name, bank_code }
    }
}

impl From<canonical::RecurringLimits> for wire::RecurringLimits {
    fn from(l: canonical::RecurringLimits) -> Self {
        let canonical::RecurringLimits { per_payment, per_day, per_month } = l;
        Self { per_payment, per_day, per_month }
    }
}

impl From<wire::RecurringLimits> for canonical::RecurringLimits {
    fn from(l: wire::RecurringLimits) -> Self {
        let wire::RecurringLimits { per_payment, per_day, per_month } = l;
        Self { per_payment, per_day, per_month }
    }
}

impl From<canonical::StatusReason> for wire::StatusReason {
    fn from(r: canonical::StatusReason) -> Self {
        let canonical::StatusReason { code, description } = r;
        Self { code, description }
    }
}

impl From<wire::StatusReason> for canonical::StatusReason {
    fn from(r: wire::StatusReason) -> Self {
        let wire::StatusReason { code, description } = r;
        Self { code, description }
    }
}

impl From<wire::PaymentConsentRequest> for canonical::PaymentConsentRequest {
    fn from(r: wire::PaymentConsentRequest) -> Self {
        let wire::PaymentConsentRequest {
            consent_type,
            instructed_amount,
            currency,
            limits,
            creditor,
            remittance_reference,
            scenario,
            debtor_account_id,
            expiration,
        } = r;
        Self {
            consent_type: consent_type.into(),
            instructed_amount,
            currency,
            limits: limits.map(Into::into),
            creditor: creditor.into(),
            remittance_reference,
            scenario: scenario.into(),
            debtor_account_id,
            expiration,
        }
    }
}

impl From<canonical::PaymentConsentRequest> for wire::PaymentConsentRequest {
    fn from(r: canonical::PaymentConsentRequest) -> Self {
        let canonical::PaymentConsentRequest {
            consent_type,
            instructed_amount,
            currency,
            limits,
            creditor,
            remittance_reference,
            scenario,
            debtor_account_id,
            expiration,
        } = r;
        Self {
            consent_type: consent_type.into(),
            instructed_amount,
            currency,
            limits: limits.map(Into::into),
            creditor: creditor.into(),
            remittance_reference,
            scenario: scenario.into(),
            debtor_account_id,
            expiration,
        }
    }
}

impl From<canonical::PaymentConsentView> for wire::PaymentConsentView {
    fn from(v: canonical::PaymentConsentView) -> Self {
        let canonical::PaymentConsentView {
            consent_id,
            consent_type,
            status,
            instructed_amount,
            currency,
            limits,
            creditor,
            remittance_reference,
            scenario,
            debtor_account_id,
            expiration,
            created_at,
            status_updated_at,
        } = v;
        Self {
            consent_id,
            consent_type: consent_type.into(),
            status: status.into(),
            instructed_amount,
            currency,
            limits: limits.map(Into::into),
            creditor: creditor.into(),
            remittance_reference,
            scenario: scenario.into(),
            debtor_account_id,
            expiration,
            created_at,
            status_updated_at,
        }
    }
}

impl From<wire::PaymentConsentView> for canonical::PaymentConsentView {
    fn from(v: wire::PaymentConsentView) -> Self {
        let wire::PaymentConsentView {
            consent_id,
            consent_type,
            status,
            instructed_amount,
            currency,
            limits,
            creditor,
            remittance_reference,
            scenario,
            debtor_account_id,
            expiration,
            created_at,
            status_updated_at,
        } = v;
        Self {
            consent_id,
            consent_type: consent_type.into(),
            status: status.into(),
            instructed_amount,
            currency,
            limits: limits.map(Into::into),
            creditor: creditor.into(),
            remittance_reference,
            scenario: scenario.into(),
            debtor_account_id,
            expiration,
            created_at,
            status_updated_at,
        }
    }
}

impl From<wire::PaymentRequest> for canonical::PaymentRequest {
    fn from(r: wire::PaymentRequest) -> Self {
        let wire::PaymentRequest { consent_id, instructed_amount, remittance_reference } = r;
        Self { consent_id, instructed_amount, remittance_reference }
    }
}

impl From<canonical::PaymentRequest> for wire::PaymentRequest {
    fn from(r: canonical::PaymentRequest) -> Self {
        let canonical::PaymentRequest { consent_id, instructed_amount, remittance_reference } = r;
        Self { consent_id, instructed_amount, remittance_reference }
    }
}

impl From<canonical::PaymentView> for wire::PaymentView {
    fn from(v: canonical::PaymentView) -> Self {
        let canonical::PaymentView {
            payment_id,
            consent_id,
            status,
            status_code,
            status_reason,
            instructed_amount,
            refunded_amount,
            creditor,
            remittance_reference,
            created_at,
            status_updated_at,
        } = v;
        Self {
            payment_id,
            consent_id,
            status: status.into(),
            status_code: status_code.into(),
            status_reason: status_reason.map(Into::into),
            instructed_amount,
            refunded_amount,
            creditor: creditor.into(),
            remittance_reference,
            created_at,
            status_updated_at,
        }
    }
}

impl From<wire::PaymentView> for canonical::PaymentView {
    fn from(v: wire::PaymentView) -> Self {
        let wire::PaymentView {
            payment_id,
            consent_id,
            status,
            status_code,
            status_reason,
            instructed_amount,
            refunded_amount,
            creditor,
            remittance_reference,
            created_at,
            status_updated_at,
        } = v;
        Self {
            payment_id,
            consent_id,
            status: status.into(),
            status_code: status_code.into(),
            status_reason: status_reason.map(Into::into),
            instructed_amount,
            refunded_amount,
            creditor: creditor.into(),
            remittance_reference,
            created_at,
            status_updated_at,
        }
    }
}

impl From<wire::RefundRequest> for canonical::RefundRequest {
    fn from(r: wire::RefundRequest) -> Self {
        let wire::RefundRequest { amount, reason } = r;
        Self { amount, reason }
    }
}

impl From<canonical::RefundRequest> for wire::RefundRequest {
    fn from(r: canonical::RefundRequest) -> Self {
        let canonical::RefundRequest { amount, reason } = r;
        Self { amount, reason }
    }
}

impl From<canonical::RefundView> for wire::RefundView {
    fn from(v: canonical::RefundView) -> Self {
        let canonical::RefundView {
            refund_id,
            payment_id,
            status,
            status_code,
            status_reason,
            amount,
            reason,
            created_at,
            status_updated_at,
        } = v;
        Self {
            refund_id,
            payment_id,
            status: status.into(),
            status_code: status_code.into(),
            status_reason: status_reason.map(Into::into),
            amount,
            reason,
            created_at,
            status_updated_at,
        }
    }
}

impl From<wire::RefundView> for canonical::RefundView {
    fn from(v: wire::RefundView) -> Self {
        let wire::RefundView {
            refund_id,
            payment_id,
            status,
            status_code,
            status_reason,
            amount,
            reason,
            created_at,
            status_updated_at,
        } = v;
        Self {
            refund_id,
            payment_id,
            status: status.into(),
            status_code: status_code.into(),
            status_reason: status_reason.map(Into::into),
            amount,
            reason,
            created_at,
            status_updated_at,
        }
    }
}

impl From<Vec<canonical::RefundView>> for wire::RefundList {
    fn from(refunds: Vec<canonical::RefundView>) -> Self {
        Self { data: each(refunds) }
    }
}

impl From<wire::RefundList> for Vec<canonical::RefundView> {
    fn from(list: wire::RefundList) -> Self {
        each(list.data)
    }
}
