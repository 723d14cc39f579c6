//! Typed, prefixed identifiers: `prd_…`, `acc_…`, `cns_…`, `pay_…`.
//!
//! The prefix is checked on parse, so an account id can never be passed where a product id
//! is expected, and a partner sees at a glance what an id names.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must start with `{0}`")]
    Prefix(&'static str),
    #[error("must be 1 to 64 characters of A-Z, a-z, 0-9, `-` or `_` after the prefix")]
    Body,
}

/// Checks the part after the prefix: short, and only characters that are safe in paths,
/// logs and signatures.
/// A creditor's bank as the data standard names it: a BIC (ISO 9362: four letters for the
/// bank, two for the country, two letters or digits for the place, and an optional branch of
/// three; upper case) or a CNAPS bank code (China's payment system participant number: twelve
/// digits). One rule for every protocol, so an adapter and the standard API refuse alike.
pub fn is_bank_code(code: &str) -> bool {
    let b = code.as_bytes();
    let upper_alnum = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let bic =
        (b.len() == 8 || b.len() == 11) && b[..6].iter().all(u8::is_ascii_uppercase) && b[6..].iter().all(upper_alnum);
    let cnaps = b.len() == 12 && b.iter().all(u8::is_ascii_digit);
    bic || cnaps
}

pub fn check_id_body(body: &str) -> Result<(), IdError> {
    let ok = !body.is_empty()
        && body.len() <= 64
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(IdError::Body) }
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $example:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
        #[schema(value_type = String, example = $example)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            /// The whole id as a regular expression, for the OpenAPI document: the prefix,
            /// then what [`check_id_body`] accepts.
            pub const PATTERN: &'static str = concat!("^", $prefix, "[A-Za-z0-9_-]{1,64}$");

            /// Wraps a core-side key (without the prefix).
            pub fn from_key(key: &str) -> Result<Self, IdError> {
                check_id_body(key)?;
                Ok(Self(format!("{}{}", $prefix, key)))
            }

            /// The id without its prefix: the key the core bank knows.
            pub fn key(&self) -> &str {
                &self.0[$prefix.len()..]
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let body = s.strip_prefix($prefix).ok_or(IdError::Prefix($prefix))?;
                Self::from_key(body)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// A product in the bank's catalogue.
    ProductId, "prd_", "prd_DEP-3M-CNY"
);
prefixed_id!(
    /// A customer account as a partner sees it.
    AccountId, "acc_", "acc_01JDEMO"
);
prefixed_id!(
    /// A customer's consent for one partner.
    ConsentId, "cns_", "cns_01JDEMO"
);
prefixed_id!(
    /// A booked transaction on an account.
    TransactionId, "txn_", "txn_412"
);
prefixed_id!(
    /// A payment initiated through the gateway.
    PaymentId, "pay_", "pay_01JDEMO"
);
prefixed_id!(
    /// A refund of part or all of a payment.
    RefundId, "rfd_", "rfd_01JDEMO"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bank_codes_are_bics_or_cnaps_codes() {
        for ok in ["ICBKCNBJ", "ICBKCNBJXXX", "BKCHCNBJ110", "102100099996", "102290000017"] {
            assert!(is_bank_code(ok), "{ok}");
        }
        // Too short or long, lower case, digits in the bank or country part, an 11-digit
        // number, a CNAPS code with a letter, non-ASCII.
        for bad in [
            "",
            "ICBK",
            "ICBKCN",
            "icbkcnbj",
            "1CBKCNBJ",
            "ICBKC1BJ",
            "ICBKCNBJX",
            "10210009999",
            "1021000999961",
            "10210009999A",
            "ＩCBKCNBJ",
        ] {
            assert!(!is_bank_code(bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_twelve_digits_are_a_cnaps_code_and_nothing_else_of_that_length_is(s in "[0-9A-Za-z]{12}") {
            prop_assert_eq!(is_bank_code(&s), s.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn prefix_is_checked() {
        assert_eq!("prd_DEP-3M".parse::<ProductId>().unwrap().key(), "DEP-3M");
        assert_eq!("acc_DEP-3M".parse::<ProductId>(), Err(IdError::Prefix("prd_")));
        assert_eq!("prd_".parse::<ProductId>(), Err(IdError::Body));
        assert_eq!("prd_a/b".parse::<ProductId>(), Err(IdError::Body));
    }

    proptest! {
        #[test]
        fn parse_round_trips_or_refuses(s in "\\PC{0,80}") {
            if let Ok(id) = s.parse::<ProductId>() {
                prop_assert_eq!(id.to_string(), s);
            }
        }
    }
}
