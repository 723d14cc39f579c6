//! The product catalogue as the native API sends it.

use scenegate_adapter_contract::{Currency, Money, ProductId, Rate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PageLinks, PageMeta};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductType {
    Deposit,
    ConsumerCredit,
    SmeCredit,
}

/// A product in the catalogue. Exactly one of `deposit` and `credit` is present,
/// matching `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "product_id": "prd_DEP-3M-CNY", "type": "deposit", "name": "3-month time deposit",
    "description": "Fixed-term CNY deposit, interest paid at maturity.", "currency": "CNY",
    "deposit": {"annual_rate": "1.25", "term_months": 3, "min_amount": {"amount": "50.00", "currency": "CNY"}},
    "updated_at": "2026-11-01T00:00:00Z"
}))]
pub struct Product {
    pub product_id: ProductId,
    #[serde(rename = "type")]
    pub product_type: ProductType,
    pub name: String,
    pub description: String,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit: Option<DepositTerms>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<CreditTerms>,
    /// When the bank last changed this product (RFC 3339, UTC).
    #[schema(example = "2026-11-01T00:00:00Z", format = DateTime)]
    pub updated_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DepositTerms {
    pub annual_rate: Rate,
    /// Fixed term; absent for demand deposits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_months: Option<u32>,
    pub min_amount: Money,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Fee {
    /// Stable fee code, e.g. `arrangement`, `early_repayment`, `late_payment`.
    pub kind: String,
    pub description: String,
    /// A fixed fee; absent when the fee is a rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// A fee charged as a percentage of the principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Eligibility {
    /// Age limits of an individual applicant; absent for products for businesses only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
    /// `individual` and/or `business`.
    pub customer_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_annual_income: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_years_trading: Option<u32>,
}

/// A page of products: the data standard's list envelope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "data": [{
        "product_id": "prd_DEP-3M-CNY", "type": "deposit", "name": "3-month time deposit",
        "description": "Fixed-term CNY deposit, interest paid at maturity.", "currency": "CNY",
        "deposit": {"annual_rate": "1.25", "term_months": 3, "min_amount": {"amount": "50.00", "currency": "CNY"}},
        "updated_at": "2026-11-01T00:00:00Z"
    }],
    "links": {"self": "/v1/products?type=deposit&limit=1", "next": "/v1/products?type=deposit&limit=1&cursor=cDE6REVQLTNNLUNOWQ"},
    "meta": {"limit": 1}
}))]
pub struct ProductList {
    pub data: Vec<Product>,
    pub links: PageLinks,
    pub meta: PageMeta,
}
