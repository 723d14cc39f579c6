//! The legacy core's product wire → canonical, and its time stamps. Every mapping is
//! explicit; an unknown code is an error, never a guess.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use scenegate_adapter_contract::{
    Currency, Money, ProductId, Rate,
    canonical::{CreditTerms, DepositTerms, Eligibility, Fee, Page, Product, ProductType},
};

use super::wire;
use crate::core::CoreError;

const CURSOR_TAG: &str = "p1:";

pub fn core_product_type(t: ProductType) -> &'static str {
    match t {
        ProductType::Deposit => "DEP",
        ProductType::ConsumerCredit => "CLN",
        ProductType::SmeCredit => "SLN",
    }
}

/// Cursors are opaque to partners: a version tag and the last key seen, base64url.
pub fn encode_cursor(last_code: &str) -> String {
    B64.encode(format!("{CURSOR_TAG}{last_code}"))
}

pub fn decode_cursor(cursor: &str) -> Result<String, CoreError> {
    let bad = || CoreError::BadInput { field: "cursor", reason: "is not a cursor this API issued".into() };
    let raw = B64.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let key = text.strip_prefix(CURSOR_TAG).ok_or_else(bad)?;
    scenegate_adapter_contract::ids::check_id_body(key).map_err(|_| bad())?;
    Ok(key.to_owned())
}

pub fn product_page(page: wire::ProductPage) -> Result<Page<Product>, CoreError> {
    let next_cursor = match (page.has_more, page.items.last()) {
        (true, Some(last)) => Some(encode_cursor(&last.prod_code)),
        _ => None,
    };
    let items = page.items.into_iter().map(product).collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor })
}

fn decode_err(what: impl std::fmt::Display) -> CoreError {
    CoreError::Decode(what.to_string())
}

pub fn product(p: wire::Product) -> Result<Product, CoreError> {
    let currency: Currency = p.ccy.parse().map_err(decode_err)?;
    let money = |fen: i64| Money::from_minor(fen, currency);
    let product_type = match p.prod_type.as_str() {
        "DEP" => ProductType::Deposit,
        "CLN" => ProductType::ConsumerCredit,
        "SLN" => ProductType::SmeCredit,
        other => return Err(decode_err(format_args!("unknown prod_type {other}"))),
    };
    let deposit = match product_type {
        ProductType::Deposit => Some(DepositTerms {
            annual_rate: Rate::from_basis_points(p.rate_bp.ok_or_else(|| decode_err("deposit without rate_bp"))?),
            term_months: p.term_mon,
            min_amount: money(p.min_amt_fen),
        }),
        ProductType::ConsumerCredit | ProductType::SmeCredit => None,
    };
    let credit = match product_type {
        ProductType::Deposit => None,
        ProductType::ConsumerCredit | ProductType::SmeCredit => {
            let missing = |f: &str| decode_err(format_args!("credit product without {f}"));
            let elig = p.elig.ok_or_else(|| missing("elig"))?;
            Some(CreditTerms {
                annual_rate_min: Rate::from_basis_points(p.rate_min_bp.ok_or_else(|| missing("rate_min_bp"))?),
                annual_rate_max: Rate::from_basis_points(p.rate_max_bp.ok_or_else(|| missing("rate_max_bp"))?),
                term_months_min: p.term_min_mon.ok_or_else(|| missing("term_min_mon"))?,
                term_months_max: p.term_max_mon.ok_or_else(|| missing("term_max_mon"))?,
                min_amount: money(p.min_amt_fen),
                max_amount: money(p.max_amt_fen.ok_or_else(|| missing("max_amt_fen"))?),
                fees: p.fees.into_iter().map(|f| fee(f, currency)).collect::<Result<_, _>>()?,
                eligibility: eligibility(elig, currency)?,
            })
        }
    };
    Ok(Product {
        product_id: ProductId::from_key(&p.prod_code).map_err(decode_err)?,
        product_type,
        name: p.prod_name,
        description: p.prod_desc,
        currency,
        deposit,
        credit,
        updated_at: beijing_to_utc(&p.upd_time)?,
    })
}

fn fee(f: wire::Fee, currency: Currency) -> Result<Fee, CoreError> {
    let kind = match f.fee_code.as_str() {
        "ARR" => "arrangement",
        "ERP" => "early_repayment",
        "LATE" => "late_payment",
        other => return Err(decode_err(format_args!("unknown fee_code {other}"))),
    };
    Ok(Fee {
        kind: kind.into(),
        description: f.fee_desc,
        amount: f.fee_amt_fen.map(|fen| Money::from_minor(fen, currency)),
        rate: f.fee_rate_bp.map(Rate::from_basis_points),
    })
}

fn eligibility(e: wire::Eligibility, currency: Currency) -> Result<Eligibility, CoreError> {
    let customer_types = e
        .cust_types
        .split(',')
        .map(|t| match t.trim() {
            "P" => Ok("individual".to_owned()),
            "B" => Ok("business".to_owned()),
            other => Err(decode_err(format_args!("unknown cust_type {other}"))),
        })
        .collect::<Result<_, _>>()?;
    Ok(Eligibility {
        min_age: e.age_min,
        max_age: e.age_max,
        customer_types,
        min_annual_income: e.min_income_fen.map(|fen| Money::from_minor(fen, currency)),
        min_years_trading: e.min_trade_years,
    })
}

/// The core stamps times in Beijing local time (UTC+8, no DST), `yyyyMMddHHmmss`: exactly
/// fourteen digits, read by position (a page of transactions has one per line).
pub fn beijing_time(stamp: &str) -> Result<jiff::Timestamp, CoreError> {
    let bad = || decode_err(format_args!("bad core time {stamp:?}"));
    let digits = stamp.as_bytes();
    if digits.len() != 14 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let field = |at: std::ops::Range<usize>| digits[at].iter().fold(0_i16, |n, d| n * 10 + i16::from(d - b'0'));
    // Each field fits its type: two digits are at most 99.
    let two = |at| i8::try_from(field(at)).unwrap_or(i8::MAX);
    let civil = jiff::civil::DateTime::new(field(0..4), two(4..6), two(6..8), two(8..10), two(10..12), two(12..14), 0)
        .map_err(|_| bad())?;
    jiff::tz::offset(8).to_timestamp(civil).map_err(decode_err)
}

/// A core stamp as partners get times: RFC 3339 UTC.
pub fn beijing_to_utc(stamp: &str) -> Result<String, CoreError> {
    Ok(crate::core::rfc3339(beijing_time(stamp)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn beijing_time_becomes_utc() {
        assert_eq!(beijing_to_utc("20261101080000").unwrap(), "2026-11-01T00:00:00Z");
        assert_eq!(beijing_to_utc("20260101003000").unwrap(), "2025-12-31T16:30:00Z");
        assert!(beijing_to_utc("2026-11-01").is_err());
        for bad in [
            "2026110108000",
            "202611010800000",
            "20261301080000",
            "20261131080000",
            "20261101240000",
            "2026110108000x",
            "+2026110108000",
            "２０26110108000",
        ] {
            assert!(beijing_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_codes_are_errors_not_guesses() {
        let p: wire::Product = serde_json::from_value(serde_json::json!({
            "prod_code": "X1", "prod_type": "MORTGAGE", "prod_name": "x", "prod_desc": "x", "ccy": "CNY",
            "rate_bp": 1, "term_mon": null, "min_amt_fen": 0, "max_amt_fen": null, "rate_min_bp": null,
            "rate_max_bp": null, "term_min_mon": null, "term_max_mon": null, "fees": [], "elig": null,
            "upd_time": "20261101080000"
        }))
        .unwrap();
        assert!(matches!(product(p), Err(CoreError::Decode(_))));
    }

    proptest! {
        #[test]
        fn every_beijing_stamp_reads_as_the_instant_it_names(secs in -62_000_000_000_i64..253_000_000_000) {
            let at = jiff::Timestamp::from_second(secs).unwrap();
            let beijing = at.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)));
            if (1..=9999).contains(&beijing.year()) {
                prop_assert_eq!(beijing_time(&beijing.strftime("%Y%m%d%H%M%S").to_string()).unwrap(), at);
            }
        }

        #[test]
        fn cursors_round_trip(code in "[A-Za-z0-9_-]{1,64}") {
            prop_assert_eq!(decode_cursor(&encode_cursor(&code)).unwrap(), code);
        }

        #[test]
        fn foreign_cursors_are_refused_without_panicking(s in "\\PC{0,100}") {
            if let Ok(key) = decode_cursor(&s) {
                prop_assert_eq!(encode_cursor(&key), s);
            }
        }
    }
}
