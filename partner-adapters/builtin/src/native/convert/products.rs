//! Products: canonical ⇄ native wire.

use scenegate_adapter_contract::canonical::{self, Page};

use super::each;
use crate::native::wire;

same_variants!(ProductType { Deposit, ConsumerCredit, SmeCredit });

impl From<canonical::Product> for wire::Product {
    fn from(p: canonical::Product) -> Self {
        let canonical::Product { product_id, product_type, name, description, currency, deposit, credit, updated_at } =
            p;
        Self {
            product_id,
            product_type: product_type.into(),
            name,
            description,
            currency,
            deposit: deposit.map(Into::into),
            credit: credit.map(Into::into),
            updated_at,
        }
    }
}

impl From<wire::Product> for canonical::Product {
    fn from(p: wire::Product) -> Self {
        let wire::Product { product_id, product_type, name, description, currency, deposit, credit, updated_at } = p;
        Self {
            product_id,
            product_type: product_type.into(),
            name,
            description,
            currency,
            deposit: deposit.map(Into::into),
            credit: credit.map(Into::into),
            updated_at,
        }
    }
}

impl From<canonical::DepositTerms> for wire::DepositTerms {
    fn from(t: canonical::DepositTerms) -> Self {
        let canonical::DepositTerms { annual_rate, term_months, min_amount } = t;
        Self { annual_rate, term_months, min_amount }
    }
}

impl From<wire::DepositTerms> for canonical::DepositTerms {
    fn from(t: wire::DepositTerms) -> Self {
        let wire::DepositTerms { annual_rate, term_months, min_amount } = t;
        Self { annual_rate, term_months, min_amount }
    }
}

impl From<canonical::CreditTerms> for wire::CreditTerms {
    fn from(t: canonical::CreditTerms) -> Self {
        let canonical::CreditTerms {
            annual_rate_min,
            annual_rate_max,
            term_months_min,
            term_months_max,
            min_amount,
            max_amount,
            fees,
            eligibility,
        } = t;
        Self {
            annual_rate_min,
            annual_rate_max,
            term_months_min,
            term_months_max,
            min_amount,
            max_amount,
            fees: each(fees),
            eligibility: eligibility.into(),
        }
    }
}

impl From<wire::CreditTerms> for canonical::CreditTerms {
    fn from(t: wire::CreditTerms) -> Self {
        let wire::CreditTerms {
            annual_rate_min,
            annual_rate_max,
            term_months_min,
            term_months_max,
            min_amount,
            max_amount,
            fees,
            eligibility,
        } = t;
        Self {
            annual_rate_min,
            annual_rate_max,
            term_months_min,
            term_months_max,
            min_amount,
            max_amount,
            fees: each(fees),
            eligibility: eligibility.into(),
        }
    }
}

impl From<canonical::Fee> for wire::Fee {
    fn from(f: canonical::Fee) -> Self {
        let canonical::Fee { kind, description, amount, rate } = f;
        Self { kind, description, amount, rate }
    }
}

impl From<wire::Fee> for canonical::Fee {
    fn from(f: wire::Fee) -> Self {
        let wire::Fee { kind, description, amount, rate } = f;
        Self { kind, description, amount, rate }
    }
}

impl From<canonical::Eligibility> for wire::Eligibility {
    fn from(e: canonical::Eligibility) -> Self {
        let canonical::Eligibility { min_age, max_age, customer_types, min_annual_income, min_years_trading } = e;
        Self { min_age, max_age, customer_types, min_annual_income, min_years_trading }
    }
}

impl From<wire::Eligibility> for canonical::Eligibility {
    fn from(e: wire::Eligibility) -> Self {
        let wire::Eligibility { min_age, max_age, customer_types, min_annual_income, min_years_trading } = e;
        Self { min_age, max_age, customer_types, min_annual_income, min_years_trading }
    }
}

/// The page back from a list body; the cursor is read from `links.next`.
impl From<wire::ProductList> for Page<canonical::Product> {
    fn from(list: wire::ProductList) -> Self {
        let wire::ProductList { data, links, meta: _ } = list;
        Page { next_cursor: links.next_cursor(), items: each(data) }
    }
}
