//! Writing ISO 20022 XML: escaped text, exact amounts, ISO lengths.

use std::fmt::Write as _;

use scenegate_adapter_contract::{AdapterError, Currency, Money};

/// An XML document being written: elements are appended in schema order by the caller.
#[derive(Default)]
pub struct Doc {
    out: String,
}

impl Doc {
    pub fn new(namespace: &str) -> Self {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(out, "<Document xmlns=\"{}\">", quick_xml::escape::escape(namespace));
        Self { out }
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.out, "<{name}>");
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.out, "</{name}>");
        self
    }

    pub fn empty(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.out, "<{name}/>");
        self
    }

    /// `<name>text</name>`, the text escaped.
    pub fn text(&mut self, name: &str, text: &str) -> &mut Self {
        let _ = write!(self.out, "<{name}>{}</{name}>", quick_xml::escape::escape(text));
        self
    }

    /// `<name Ccy="CNY">12.30</name>`: an `ActiveOrHistoricCurrencyAndAmount`.
    pub fn amount(&mut self, name: &str, minor: u128, currency: Currency) -> &mut Self {
        let _ = write!(self.out, "<{name} Ccy=\"{}\">{}</{name}>", currency.code(), decimal(minor, currency));
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.push_str("</Document>\n");
        self.out.into_bytes()
    }
}

/// Minor units as the exact decimal with the currency's places (`1230` CNY → `12.30`).
pub fn decimal(minor: u128, currency: Currency) -> String {
    let places = currency.minor_units() as usize;
    if places == 0 {
        return minor.to_string();
    }
    let digits = format!("{minor:0>width$}", width = places + 1);
    let (int, frac) = digits.split_at(digits.len() - places);
    format!("{int}.{frac}")
}

/// Signed minor units of an amount, for sums; a defect when it does not fit.
pub fn minor(m: &Money) -> Result<i128, AdapterError> {
    m.to_minor().map(i128::from).ok_or_else(|| AdapterError::Encode("an amount does not fit in minor units".into()))
}

/// The first `max` characters (ISO `MaxNNNText` lengths count characters).
pub fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The text in pieces of at most `max` characters (a repeatable `Max140Text`), none empty.
pub fn pieces(text: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(max).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_are_exact_with_the_currency_places() {
        assert_eq!(decimal(1230, Currency::Cny), "12.30");
        assert_eq!(decimal(5, Currency::Cny), "0.05");
        assert_eq!(decimal(0, Currency::Usd), "0.00");
        assert_eq!(decimal(1500, Currency::Jpy), "1500");
    }

    #[test]
    fn text_is_escaped() {
        let mut doc = Doc::new("urn:x");
        doc.text("Nm", "A&B <C> \"d\"");
        let out = String::from_utf8(doc.finish()).unwrap();
        assert!(out.contains("<Nm>A&amp;B &lt;C&gt; &quot;d&quot;</Nm>"), "{out}");
    }

    proptest! {
        #[test]
        fn decimal_round_trips_through_money(minor in 0i64..i64::MAX) {
            let text = decimal(minor as u128, Currency::Cny);
            prop_assert_eq!(Money::parse(&text, Currency::Cny).unwrap().to_minor(), Some(minor));
        }

        #[test]
        fn pieces_keep_every_character(text in "\\PC{0,400}", max in 1usize..200) {
            let parts = pieces(&text, max);
            prop_assert!(parts.iter().all(|p| !p.is_empty() && p.chars().count() <= max));
            prop_assert_eq!(parts.concat(), text);
        }
    }
}
