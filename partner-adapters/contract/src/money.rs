//! Money and rates: exact decimals, carried as strings on the wire, never floats.
//!
//! Amounts always carry exactly the currency's ISO 4217 minor units (`"12.30"`, `"5"` for
//! JPY), so two equal amounts always print the same way and signatures over them are stable.

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// An ISO 4217 currency this bank books. Unknown codes are refused rather than guessed,
/// because the minor unit of an unknown currency cannot be known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[schema(example = "CNY")]
pub enum Currency {
    #[serde(rename = "CNY")]
    Cny,
    #[serde(rename = "USD")]
    Usd,
    #[serde(rename = "EUR")]
    Eur,
    #[serde(rename = "HKD")]
    Hkd,
    #[serde(rename = "GBP")]
    Gbp,
    #[serde(rename = "JPY")]
    Jpy,
}

impl Currency {
    /// Digits after the decimal point (ISO 4217 "minor unit").
    pub const fn minor_units(self) -> u32 {
        match self {
            Self::Cny | Self::Usd | Self::Eur | Self::Hkd | Self::Gbp => 2,
            Self::Jpy => 0,
        }
    }

    pub const fn code(self) -> &'static str {
        match self {
            Self::Cny => "CNY",
            Self::Usd => "USD",
            Self::Eur => "EUR",
            Self::Hkd => "HKD",
            Self::Gbp => "GBP",
            Self::Jpy => "JPY",
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "CNY" => Ok(Self::Cny),
            "USD" => Ok(Self::Usd),
            "EUR" => Ok(Self::Eur),
            "HKD" => Ok(Self::Hkd),
            "GBP" => Ok(Self::Gbp),
            "JPY" => Ok(Self::Jpy),
            other => Err(MoneyError::UnknownCurrency(other.chars().take(8).collect())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not a supported ISO 4217 currency code")]
    UnknownCurrency(String),
    #[error("amount must be a plain decimal string such as \"12.30\"")]
    NotADecimal,
    #[error("{currency} amounts have at most {max} decimal places")]
    TooPrecise { currency: Currency, max: u32 },
    #[error("amount is out of range")]
    OutOfRange,
}

/// An exact amount and its currency. There is no conversion from `f64`, on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ToSchema)]
#[schema(example = json!({"amount": "12.30", "currency": "CNY"}))]
pub struct Money {
    /// Exact decimal string with the currency's minor units, e.g. `"12.30"`.
    #[schema(value_type = String, pattern = r"^-?[0-9]+(\.[0-9]{1,3})?$", example = "12.30")]
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// From an integer count of minor units (fen, cents): the core bank's own representation.
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { amount: Decimal::new(minor, currency.minor_units()), currency }
    }

    /// Parses a decimal string, refusing more places than the currency has, exponents,
    /// signs other than a leading `-`, and anything with surrounding text.
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        let body = amount.strip_prefix('-').unwrap_or(amount);
        let mut parts = body.splitn(2, '.');
        let int = parts.next().unwrap_or_default();
        let frac = parts.next();
        let digits_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits_ok(int) || frac.is_some_and(|f| !digits_ok(f)) {
            return Err(MoneyError::NotADecimal);
        }
        if frac.map_or(0, str::len) > currency.minor_units() as usize {
            return Err(MoneyError::TooPrecise { currency, max: currency.minor_units() });
        }
        if int.len() > 18 {
            return Err(MoneyError::OutOfRange);
        }
        let mut value = Decimal::from_str(amount).map_err(|_| MoneyError::NotADecimal)?;
        value.rescale(currency.minor_units());
        Ok(Self { amount: value, currency })
    }

    /// The amount in minor units, or `None` if it does not fit in an `i64`.
    pub fn to_minor(&self) -> Option<i64> {
        let mut scaled = self.amount;
        scaled.rescale(self.currency.minor_units());
        i64::try_from(scaled.mantissa()).ok()
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[derive(Serialize, Deserialize)]
struct MoneyWire<'a> {
    #[serde(borrow)]
    amount: std::borrow::Cow<'a, str>,
    currency: Currency,
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MoneyWire { amount: self.amount.to_string().into(), currency: self.currency }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = MoneyWire::deserialize(d)?;
        Money::parse(&wire.amount, wire.currency).map_err(serde::de::Error::custom)
    }
}

/// An annual interest rate in percent, as an exact decimal string: `"3.45"` is 3.45 % p.a.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ToSchema)]
#[schema(value_type = String, pattern = r"^[0-9]+(\.[0-9]+)?$", example = "3.45")]
pub struct Rate(Decimal);

impl Rate {
    /// From basis points (1/100 of a percent), the core bank's representation.
    pub fn from_basis_points(bp: i64) -> Self {
        Self(Decimal::new(bp, 2))
    }

    pub fn percent(&self) -> Decimal {
        self.0
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let v = Decimal::from_str(&s).map_err(|_| serde::de::Error::custom("rate must be a decimal string"))?;
        if v.is_sign_negative() {
            return Err(serde::de::Error::custom("rate must not be negative"));
        }
        Ok(Self(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_print_with_the_currencys_minor_units() {
        assert_eq!(
            serde_json::to_string(&Money::from_minor(1230, Currency::Cny)).unwrap(),
            r#"{"amount":"12.30","currency":"CNY"}"#
        );
        assert_eq!(Money::parse("12.3", Currency::Cny).unwrap().amount().to_string(), "12.30");
        assert_eq!(Money::parse("5", Currency::Jpy).unwrap().amount().to_string(), "5");
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for bad in ["", "1e3", "+1", "1.", ".5", "1.234", "NaN", " 1", "1,00", "--1"] {
            assert!(Money::parse(bad, Currency::Cny).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Money::parse("1.5", Currency::Jpy), Err(MoneyError::TooPrecise { currency: Currency::Jpy, max: 0 }));
    }

    #[test]
    fn json_numbers_are_not_money() {
        assert!(serde_json::from_str::<Money>(r#"{"amount":12.3,"currency":"CNY"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"12.3","currency":"XXX"}"#).is_err());
    }

    proptest! {
        #[test]
        fn minor_units_round_trip_through_text(minor in -10_i64.pow(15)..10_i64.pow(15)) {
            let m = Money::from_minor(minor, Currency::Cny);
            let text = serde_json::to_string(&m).unwrap();
            let back: Money = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, m);
            prop_assert_eq!(back.to_minor(), Some(minor));
        }

        #[test]
        fn parse_never_panics_and_accepts_only_digits(s in "\\PC{0,24}") {
            if let Ok(m) = Money::parse(&s, Currency::Usd) {
                prop_assert!(s.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit() || b == b'.'));
                prop_assert_eq!(m.amount().scale(), 2);
            }
        }
    }
}
