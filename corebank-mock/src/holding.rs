//! Which demo accounts a core holds, and which wire dialect it speaks: what lets one mock
//! process play either of the bank's two cores over the same ledger engine.

use std::fmt;
use std::str::FromStr;

/// The wire a core speaks. Both serialise the same engine (ledger, payment checks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// Today's core: `/core/...`, the `ret_code` envelope, `_fen` integers, Beijing time.
    #[default]
    Legacy,
    /// The new core: `/api/v2/...`, no envelope, decimal-string amounts, RFC 3339 UTC.
    Modern,
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "legacy" => Ok(Self::Legacy),
            "modern" => Ok(Self::Modern),
            _ => Err(format!("unknown dialect {s:?}: expected legacy or modern")),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Legacy => "legacy",
            Self::Modern => "modern",
        })
    }
}

/// The demo accounts a core holds, by account number (customer accounts and merchant
/// settlement accounts; the clearing GL accounts are in every core). Bounds are inclusive and
/// compare as numbers: a shorter digit string is the smaller one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Holding {
    /// Every demo account: the unsharded core.
    #[default]
    All,
    /// Only the accounts from `.0` to `.1`.
    Only(String, String),
    /// Every account but those from `.0` to `.1`: the complement of the same `Only`.
    Except(String, String),
}

impl Holding {
    /// Whether a core with this holding keeps `acct_no`.
    pub fn holds(&self, acct_no: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(from, to) => in_range(acct_no, from, to),
            Self::Except(from, to) => !in_range(acct_no, from, to),
        }
    }
}

fn in_range(acct_no: &str, from: &str, to: &str) -> bool {
    let key = |s: &str| (s.len(), s.to_owned());
    key(from) <= key(acct_no) && key(acct_no) <= key(to)
}

/// Parses `FROM..=TO`: two account numbers of digits only (no leading zero), `FROM` not
/// above `TO`. The error says what is wrong, for a command line.
pub fn parse_range(s: &str) -> Result<(String, String), String> {
    let (from, to) = s.split_once("..=").ok_or_else(|| {
        format!("{s:?} is not a range: expected FROM..=TO, e.g. 6222020000000000050..=6222020000000000089")
    })?;
    for (what, n) in [("FROM", from), ("TO", to)] {
        if n.is_empty() || n.len() > 34 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{what} {n:?} in {s:?} must be an account number of 1 to 34 digits"));
        }
        if n.len() > 1 && n.starts_with('0') {
            return Err(format!("{what} {n:?} in {s:?} must not start with 0"));
        }
    }
    if !in_range(from, from, to) {
        return Err(format!("{s:?} is empty: FROM is above TO"));
    }
    Ok((from.to_owned(), to.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_and_except_split_every_number_in_two() {
        let (from, to) = parse_range("6222020000000000050..=6222020000000000089").unwrap();
        let only = Holding::Only(from.clone(), to.clone());
        let except = Holding::Except(from, to);
        for n in [
            "6222020000000000042",
            "6222020000000000050",
            "6222020000000000067",
            "6222020000000000089",
            "6222020000000000091",
            "62220200000000000500",
            "9",
        ] {
            assert_ne!(only.holds(n), except.holds(n), "{n}");
            assert!(Holding::All.holds(n));
        }
        assert!(only.holds("6222020000000000089") && only.holds("6222020000000000050"), "inclusive");
        assert!(!only.holds("62220200000000000500"), "longer is larger");
        assert!(!only.holds("9"), "shorter is smaller");
    }

    #[test]
    fn malformed_ranges_are_refused_with_a_reason() {
        for bad in ["", "1..2", "1..=", "..=2", "a..=2", "2..=1", "01..=2", "1 ..=2", "1..=2..=3"] {
            let err = parse_range(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
        assert_eq!(parse_range("9..=10").unwrap(), ("9".into(), "10".into()));
        assert_eq!("modern".parse::<Dialect>(), Ok(Dialect::Modern));
        assert!("Modern".parse::<Dialect>().is_err());
    }
}
