//! Which transactions a listing may show: the consent's window intersected with the
//! partner's `from`/`to`, and the opaque cursor that pages through it.
//!
//! Bounds are inclusive, in whole Unix seconds (booking times have second precision). A core
//! may filter more coarsely (the legacy core by Beijing calendar day), so the window is
//! applied again to the second here.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jiff::Timestamp;

use scenegate_adapter_contract::canonical::SortOrder;

use super::AccountsError;
use crate::consent::Consent;

/// Inclusive bounds in Unix seconds; `None` is open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Window {
    pub fn of_consent(consent: &Consent) -> Self {
        Self { from: consent.transaction_from, to: consent.transaction_to }
    }

    /// The partner's `from` and `to` (RFC 3339). A fractional `from` rounds up and a
    /// fractional `to` down, so the bounds stay inclusive without widening.
    pub fn from_query(from: Option<&str>, to: Option<&str>) -> Result<Self, AccountsError> {
        let parse = |field: &'static str, raw: &str| {
            raw.parse::<Timestamp>().map_err(|_| AccountsError::InvalidField {
                field,
                reason: "must be an RFC 3339 time such as 2026-10-01T00:00:00Z".into(),
            })
        };
        let from = from.map(|s| parse("from", s)).transpose()?;
        let to = to.map(|s| parse("to", s)).transpose()?;
        Ok(Self {
            from: from.map(|t| t.as_second() + i64::from(t.subsec_nanosecond() > 0)),
            to: to.map(|t| t.as_second() - i64::from(t.subsec_nanosecond() < 0)),
        })
    }

    /// Both windows at once; `None` when nothing can be in both.
    pub fn intersect(self, other: Self) -> Option<Self> {
        let tighter = |a: Option<i64>, b: Option<i64>, pick: fn(i64, i64) -> i64| match (a, b) {
            (Some(a), Some(b)) => Some(pick(a, b)),
            (a, b) => a.or(b),
        };
        let w = Self { from: tighter(self.from, other.from, i64::max), to: tighter(self.to, other.to, i64::min) };
        match (w.from, w.to) {
            (Some(f), Some(t)) if f > t => None,
            _ => Some(w),
        }
    }

    pub fn contains(self, at: i64) -> bool {
        self.from.is_none_or(|f| at >= f) && self.to.is_none_or(|t| at <= t)
    }
}

const CURSOR_TAG: &str = "t2:";

/// A cursor names the listing's order and the last core sequence number already read;
/// partners see only base64url.
pub fn encode_cursor(order: SortOrder, seq: i64) -> String {
    B64.encode(format!("{CURSOR_TAG}{}:{seq}", order.as_str()))
}

/// Only what [`encode_cursor`] makes (exact tag, an order, a canonical non-negative decimal),
/// and only for the order it was issued for: a page of one order cannot continue another.
pub fn decode_cursor(cursor: &str, order: SortOrder) -> Result<i64, AccountsError> {
    let bad = |reason: &str| AccountsError::InvalidField { field: "cursor", reason: reason.into() };
    let foreign = || bad("is not a cursor this API issued");
    let raw = B64.decode(cursor).map_err(|_| foreign())?;
    let text = String::from_utf8(raw).map_err(|_| foreign())?;
    let (issued_for, digits) = text.strip_prefix(CURSOR_TAG).and_then(|t| t.split_once(':')).ok_or_else(foreign)?;
    let issued_for = SortOrder::parse(issued_for).ok_or_else(foreign)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(foreign());
    }
    let seq: i64 = digits.parse().map_err(|_| foreign())?;
    if seq.to_string() != digits {
        return Err(foreign());
    }
    if issued_for != order {
        return Err(bad(&format!(
            "was issued for order={}; follow `links.next`, which keeps the order",
            issued_for.as_str()
        )));
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(from: Option<i64>, to: Option<i64>) -> Window {
        Window { from, to }
    }

    #[test]
    fn intersection_is_the_tighter_of_each_bound() {
        assert_eq!(w(None, None).intersect(w(None, None)), Some(w(None, None)));
        assert_eq!(w(Some(10), None).intersect(w(None, Some(20))), Some(w(Some(10), Some(20))));
        assert_eq!(w(Some(10), Some(50)).intersect(w(Some(5), Some(30))), Some(w(Some(10), Some(30))));
        assert_eq!(w(Some(10), Some(50)).intersect(w(Some(20), Some(90))), Some(w(Some(20), Some(50))));
        assert_eq!(w(Some(10), Some(10)).intersect(w(None, None)), Some(w(Some(10), Some(10))));
        assert_eq!(w(Some(10), Some(20)).intersect(w(Some(21), None)), None);
        assert_eq!(w(None, Some(20)).intersect(w(Some(30), Some(10))), None);
    }

    #[test]
    fn query_bounds_parse_and_round_inwards() {
        let q = Window::from_query(Some("2026-10-01T00:00:00Z"), Some("2026-10-01T08:00:00+08:00")).unwrap();
        assert_eq!(q, w(Some(1_790_812_800), Some(1_790_812_800)));
        let q = Window::from_query(Some("2026-10-01T00:00:00.5Z"), Some("2026-10-02T00:00:00.5Z")).unwrap();
        assert_eq!(q, w(Some(1_790_812_801), Some(1_790_899_200)));
        assert_eq!(Window::from_query(None, None).unwrap(), w(None, None));
    }

    #[test]
    fn malformed_bounds_name_their_field() {
        for (from, to, field) in [(Some("yesterday"), None, "from"), (None, Some("2026-13-01T00:00:00Z"), "to")] {
            match Window::from_query(from, to) {
                Err(AccountsError::InvalidField { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn contains_is_inclusive() {
        let win = w(Some(10), Some(20));
        assert!(!win.contains(9) && win.contains(10) && win.contains(20) && !win.contains(21));
        assert!(w(None, None).contains(i64::MIN));
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for c in [
            "",
            "!!",
            &B64.encode("p1:12"),
            &B64.encode("t1:12"),
            &B64.encode("t2:desc:"),
            &B64.encode("t2:desc:-1"),
            &B64.encode("t2:desc:012"),
            &B64.encode("t2:desc:+5"),
            &B64.encode("t2:desc:99999999999999999999"),
            &B64.encode("t2:desc:5 "),
            &B64.encode("t2:sideways:5"),
            &B64.encode("t2:5"),
        ] {
            let refused = decode_cursor(c, SortOrder::Desc);
            assert!(matches!(refused, Err(AccountsError::InvalidField { field: "cursor", .. })), "{c}");
        }
    }

    #[test]
    fn a_cursor_continues_only_the_order_it_was_issued_for() {
        let asc = encode_cursor(SortOrder::Asc, 42);
        assert_eq!(decode_cursor(&asc, SortOrder::Asc).unwrap(), 42);
        match decode_cursor(&asc, SortOrder::Desc) {
            Err(AccountsError::InvalidField { field: "cursor", reason }) => assert!(reason.contains("order=asc")),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn cursors_round_trip(seq in 0_i64..=i64::MAX, asc: bool) {
            let order = if asc { SortOrder::Asc } else { SortOrder::Desc };
            prop_assert_eq!(decode_cursor(&encode_cursor(order, seq), order).unwrap(), seq);
        }

        #[test]
        fn any_accepted_cursor_is_one_we_issue(s in "\\PC{0,40}") {
            if let Ok(seq) = decode_cursor(&s, SortOrder::Desc) {
                prop_assert_eq!(encode_cursor(SortOrder::Desc, seq), s);
            }
        }

        #[test]
        fn intersection_contains_exactly_what_both_contain(
            a in proptest::option::of(-50_i64..50), b in proptest::option::of(-50_i64..50),
            c in proptest::option::of(-50_i64..50), d in proptest::option::of(-50_i64..50), t in -60_i64..60,
        ) {
            let (x, y) = (w(a, b), w(c, d));
            let both = x.contains(t) && y.contains(t);
            prop_assert_eq!(x.intersect(y).is_some_and(|i| i.contains(t)), both);
        }

    }
}
