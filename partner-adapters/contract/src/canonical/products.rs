//! The product catalogue (open data, level A1).

use crate::{Currency, Money, ProductId, Rate};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProductType {
    Deposit,
    ConsumerCredit,
    SmeCredit,
}

impl ProductType {
    pub const ALL: &'static [ProductType] = &[Self::Deposit, Self::ConsumerCredit, Self::SmeCredit];

    /// The data standard's code, the same in every protocol that names a product type.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Deposit => "deposit",
            Self::ConsumerCredit => "consumer_credit",
            Self::SmeCredit => "sme_credit",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.code() == code)
    }
}

/// A product in the catalogue. Exactly one of `deposit` and `credit` is present,
/// matching `product_type`.
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    pub product_id: ProductId,
    pub product_type: ProductType,
    pub name: String,
    pub description: String,
    pub currency: Currency,
    pub deposit: Option<DepositTerms>,
    pub credit: Option<CreditTerms>,
    /// When the bank last changed this product (RFC 3339, UTC).
    pub updated_at: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DepositTerms {
    pub annual_rate: Rate,
    /// Fixed term; absent for demand deposits.
    pub term_months: Option<u32>,
    pub min_amount: Money,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreditTerms {
    pub annual_rate_min: Rate,
    pub annual_rate_max: Rate,
    pub term_months_min: u32,
    pub term_months_max: u32,
    pub min_amount: Money,
    pub max_amount: Money,
    pub fees: Vec<Fee>,
    pub eligibility: Eligibility,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fee {
    /// Stable fee code, e.g. `arrangement`, `early_repayment`, `late_payment`.
    pub kind: String,
    pub description: String,
    /// A fixed fee; absent when the fee is a rate.
    pub amount: Option<Money>,
    /// A fee charged as a percentage of the principal.
    pub rate: Option<Rate>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Eligibility {
    /// Age limits of an individual applicant; absent for products for businesses only.
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
    /// `individual` and/or `business`.
    pub customer_types: Vec<String>,
    pub min_annual_income: Option<Money>,
    pub min_years_trading: Option<u32>,
}

/// Filter and page of a product listing. `cursor` is opaque to partners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductQuery {
    pub product_type: Option<ProductType>,
    pub limit: u32,
    pub cursor: Option<String>,
}
