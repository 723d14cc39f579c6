//! Amounts as decimal strings with exactly the currency's minor digits (`"58000.00"`), to and
//! from the engine's integer minor units. No floating point anywhere.

use crate::ledger::MAX_AMT_FEN;

/// Minor digits of the ISO 4217 currencies this dialect reads; `None` for any other.
pub(crate) fn minor_digits(ccy: &str) -> Option<u32> {
    match ccy {
        "CNY" | "USD" | "EUR" | "GBP" | "HKD" => Some(2),
        "JPY" => Some(0),
        _ => None,
    }
}

/// `fen` (may be negative: a ledger total) with `digits` decimals.
pub(crate) fn format(fen: i64, digits: u32) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10_u64.pow(digits);
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = digits as usize)
}

/// A positive amount of at most [`MAX_AMT_FEN`] minor units, written with exactly `digits`
/// decimals and no sign, exponent, spaces or leading zeros (`"0.05"`, `"12.30"`).
pub(crate) fn parse(s: &str, digits: u32) -> Option<i64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) if digits > 0 => (i, f),
        None if digits == 0 => (s, ""),
        _ => return None,
    };
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 15 || (int.len() > 1 && int.starts_with('0')) || !all_digits(int) {
        return None;
    }
    if frac.len() != digits as usize || !all_digits(frac) {
        return None;
    }
    let units = int.parse::<i64>().ok()?.checked_mul(10_i64.pow(digits))?;
    let fen = units.checked_add(if frac.is_empty() { 0 } else { frac.parse::<i64>().ok()? })?;
    (1..=MAX_AMT_FEN).contains(&fen).then_some(fen)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn exact_decimal_strings_only() {
        assert_eq!(parse("58000.00", 2), Some(5_800_000));
        assert_eq!(parse("0.01", 2), Some(1));
        assert_eq!(parse("12.30", 2), Some(1_230));
        assert_eq!(parse("1000000000000.00", 2), Some(MAX_AMT_FEN));
        for bad in [
            "12.3",
            "12.300",
            "12",
            ".50",
            "012.30",
            "+1.00",
            "-1.00",
            "1e2",
            "1,00",
            " 1.00",
            "0.00",
            "1000000000000.01",
            "",
        ] {
            assert_eq!(parse(bad, 2), None, "{bad}");
        }
        assert_eq!(parse("500", 0), Some(500));
        assert_eq!(parse("500.0", 0), None);
        assert_eq!(format(5_800_000, 2), "58000.00");
        assert_eq!(format(5, 2), "0.05");
        assert_eq!(format(-120, 2), "-1.20");
        assert_eq!(format(0, 2), "0.00");
        assert_eq!(format(7, 0), "7");
    }

    proptest! {
        #[test]
        fn amounts_round_trip_minor_units(fen in 1..=MAX_AMT_FEN, digits in 0_u32..=3) {
            let s = format(fen, digits);
            prop_assert_eq!(parse(&s, digits), Some(fen), "{}", s);
        }
    }
}
