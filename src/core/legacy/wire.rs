//! The legacy core's wire format, field for field.

use serde::Deserialize;

use crate::core::CoreError;

/// Every core answer: `ret_code` `"0000"` is success; business errors come with HTTP 200.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub ret_code: String,
    #[serde(default)]
    pub ret_msg: String,
    pub data: Option<T>,
}

impl<T> Envelope<T> {
    pub fn into_result(self) -> Result<T, CoreError> {
        match self.ret_code.as_str() {
            "0000" => self.data.ok_or_else(|| CoreError::Decode("success without data".into())),
            "E404" => Err(CoreError::NotFound),
            "E401" => Err(CoreError::Unauthenticated),
            _ => Err(CoreError::Rejected { code: self.ret_code, message: self.ret_msg }),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub has_more: bool,
}

#[derive(Debug, Deserialize)]
pub struct Product {
    pub prod_code: String,
    pub prod_type: String,
    pub prod_name: String,
    pub prod_desc: String,
    pub ccy: String,
    pub rate_bp: Option<i64>,
    pub term_mon: Option<u32>,
    pub min_amt_fen: i64,
    pub max_amt_fen: Option<i64>,
    pub rate_min_bp: Option<i64>,
    pub rate_max_bp: Option<i64>,
    pub term_min_mon: Option<u32>,
    pub term_max_mon: Option<u32>,
    #[serde(default)]
    pub fees: Vec<Fee>,
    pub elig: Option<Eligibility>,
    /// Beijing time, `yyyyMMddHHmmss`.
    pub upd_time: String,
}

#[derive(Debug, Deserialize)]
pub struct Fee {
    pub fee_code: String,
    pub fee_desc: String,
    pub fee_amt_fen: Option<i64>,
    pub fee_rate_bp: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Eligibility {
    pub age_min: Option<u32>,
    pub age_max: Option<u32>,
    /// `P`, `B` or `P,B`.
    pub cust_types: String,
    pub min_income_fen: Option<i64>,
    pub min_trade_years: Option<u32>,
}
