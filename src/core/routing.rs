//! The routing table: which core system answers which call.
//!
//! Products and customers (logins, one-time codes) go to the system named for them;
//! accounts, balances, statements and postings go to the system holding the account number.
//! The first system holds every account no other system's ranges claim, so a bank with one
//! core writes no table at all.

use super::{
    connector::{Dialect, Service},
    http::ConnectorSettings,
    posting::{CoreCreditor, PostingKind, PostingOrder},
};

/// An inclusive range of account numbers of one length (`6222020000000000050` to
/// `6222020000000000089`): digits compare as numbers when their lengths are equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRange {
    from: String,
    to: String,
}

impl AccountRange {
    /// Both ends 1 to 34 digits, of one length, `from` not after `to`.
    pub fn new(from: &str, to: &str) -> Result<Self, String> {
        let digits = |s: &str| (1..=34).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(from) || !digits(to) {
            return Err("both ends must be account numbers of 1 to 34 digits".into());
        }
        if from.len() != to.len() {
            return Err(format!("both ends must have one length (here {} and {} digits)", from.len(), to.len()));
        }
        if from > to {
            return Err(format!("`from` ({from}) is after `to` ({to})"));
        }
        Ok(Self { from: from.to_owned(), to: to.to_owned() })
    }

    pub fn from(&self) -> &str {
        &self.from
    }

    pub fn to(&self) -> &str {
        &self.to
    }

    pub fn contains(&self, acct_no: &str) -> bool {
        acct_no.len() == self.from.len() && self.from.as_str() <= acct_no && acct_no <= self.to.as_str()
    }

    fn overlaps(&self, other: &Self) -> bool {
        self.from.len() == other.from.len() && self.from <= other.to && other.from <= self.to
    }
}

impl std::fmt::Display for AccountRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..={}", self.from, self.to)
    }
}

/// One core system as `[core]` describes it.
#[derive(Clone, Debug)]
pub struct CoreSystem {
    pub name: String,
    pub dialect: Dialect,
    pub settings: ConnectorSettings,
    /// The account numbers it holds. Empty for the first system, which holds the rest.
    pub accounts: Vec<AccountRange>,
}

/// Every core system, and which one serves the calls not tied to an account.
#[derive(Clone, Debug)]
pub struct CoreTopology {
    pub systems: Vec<CoreSystem>,
    pub products: String,
    pub customers: String,
}

/// A refusal of the table, for the config loader to place in its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyError {
    pub place: Place,
    pub reason: String,
}

/// Where in `[core]` a refusal belongs. Systems are numbered as in
/// [`CoreTopology::systems`]: 0 is `[core]` itself, `i` is `[[core.systems]]` entry `i - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    SystemName(usize),
    SystemAccounts(usize),
    SystemRange(usize, usize),
    Products,
    Customers,
}

impl std::fmt::Display for Place {
    /// The dotted path under `[core]`, e.g. `systems[0].accounts[1]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let system =
            |f: &mut std::fmt::Formatter<'_>, i: usize| if i == 0 { Ok(()) } else { write!(f, "systems[{}].", i - 1) };
        match *self {
            Self::SystemName(i) => system(f, i).and_then(|()| f.write_str("name")),
            Self::SystemAccounts(i) => system(f, i).and_then(|()| f.write_str("accounts")),
            Self::SystemRange(i, j) => system(f, i).and_then(|()| write!(f, "accounts[{j}]")),
            Self::Products => f.write_str("routes.products"),
            Self::Customers => f.write_str("routes.customers"),
        }
    }
}

impl CoreTopology {
    /// One legacy core holding everything.
    pub fn single(settings: ConnectorSettings) -> Self {
        Self {
            systems: vec![CoreSystem { name: "core".into(), dialect: Dialect::Legacy, settings, accounts: Vec::new() }],
            products: "core".into(),
            customers: "core".into(),
        }
    }

    /// Names unique; every system but the first holds at least one range, and no account
    /// number is held twice; products and customers go to a system that offers them.
    pub fn check(&self) -> Vec<TopologyError> {
        let mut errors = Vec::new();
        let mut err = |place: Place, reason: String| errors.push(TopologyError { place, reason });
        let mut ranges: Vec<(&AccountRange, &str)> = Vec::new();
        for (i, s) in self.systems.iter().enumerate() {
            if self.systems[..i].iter().any(|o| o.name == s.name) {
                err(Place::SystemName(i), format!("`{}` names two core systems", s.name));
            }
            if i > 0 && s.accounts.is_empty() {
                err(Place::SystemAccounts(i), "name the account ranges this core holds".into());
            }
            for (j, r) in s.accounts.iter().enumerate() {
                if let Some((_, holder)) = ranges.iter().find(|(o, _)| o.overlaps(r)) {
                    err(Place::SystemRange(i, j), format!("{r} overlaps a range of `{holder}`"));
                }
                ranges.push((r, &s.name));
            }
        }
        for (place, name, service) in [
            (Place::Products, &self.products, Service::Products),
            (Place::Customers, &self.customers, Service::Customers),
        ] {
            match self.systems.iter().find(|s| &s.name == name) {
                None => err(place, format!("no core system is named `{name}`")),
                Some(s) if !s.dialect.offers(service) => err(
                    place,
                    format!("`{name}` speaks the {} dialect, which has no {}", s.dialect.name(), service.describe()),
                ),
                Some(_) => {}
            }
        }
        errors
    }

    pub(super) fn routes(&self) -> Routes {
        let index = |name: &str| self.systems.iter().position(|s| s.name == name).unwrap_or(0);
        Routes {
            products: index(&self.products),
            customers: index(&self.customers),
            ranges: self
                .systems
                .iter()
                .enumerate()
                .flat_map(|(i, s)| s.accounts.iter().map(move |r| (r.clone(), i)))
                .collect(),
        }
    }
}

/// The table, by index into the client's systems.
pub(super) struct Routes {
    pub products: usize,
    pub customers: usize,
    ranges: Vec<(AccountRange, usize)>,
}

/// Where a posting is booked.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Legs {
    One(usize),
    /// Debited on one core, credited on another.
    Two {
        debtor: usize,
        creditor: usize,
    },
}

impl Routes {
    /// The system holding `acct_no`: the one whose range has it, else the first.
    pub fn account(&self, acct_no: &str) -> usize {
        self.ranges.iter().find(|(r, _)| r.contains(acct_no)).map_or(0, |(_, i)| *i)
    }

    pub fn legs(&self, order: &PostingOrder) -> Legs {
        let debtor = self.account(&order.debtor);
        match (&order.kind, &order.creditor) {
            (PostingKind::Payment | PostingKind::Refund { .. }, CoreCreditor::Internal { acct_no }) => {
                match self.account(acct_no) {
                    creditor if creditor != debtor => Legs::Two { debtor, creditor },
                    _ => Legs::One(debtor),
                }
            }
            _ => Legs::One(debtor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{DEFAULT_BREAKER, OutgoingTls};

    fn settings() -> ConnectorSettings {
        ConnectorSettings {
            base_url: "http://127.0.0.1:9".into(),
            timeout: std::time::Duration::from_secs(1),
            connect_timeout: std::time::Duration::from_secs(1),
            breaker: DEFAULT_BREAKER,
            max_in_flight: 1,
            tls: OutgoingTls::default(),
        }
    }

    fn system(name: &str, dialect: Dialect, ranges: &[(&str, &str)]) -> CoreSystem {
        CoreSystem {
            name: name.into(),
            dialect,
            settings: settings(),
            accounts: ranges.iter().map(|(f, t)| AccountRange::new(f, t).unwrap()).collect(),
        }
    }

    fn two_cores() -> CoreTopology {
        CoreTopology {
            systems: vec![
                system("legacy", Dialect::Legacy, &[]),
                system("new", Dialect::Modern, &[("6222020000000000050", "6222020000000000089")]),
            ],
            products: "legacy".into(),
            customers: "legacy".into(),
        }
    }

    fn order(debtor: &str, creditor: CoreCreditor, kind: PostingKind) -> PostingOrder {
        PostingOrder {
            req_seq: "pay_1".into(),
            debtor: debtor.into(),
            creditor,
            amount_minor: 1,
            currency: "CNY".into(),
            memo: String::new(),
            scene: "other".into(),
            mcc: None,
            channel: "ptn".into(),
            kind,
        }
    }

    #[test]
    fn accounts_go_to_the_core_whose_range_holds_them_and_the_rest_to_the_first() {
        let routes = two_cores().routes();
        assert_eq!(routes.account("6222020000000000075"), 1);
        assert_eq!(routes.account("6222020000000000050"), 1);
        assert_eq!(routes.account("6222020000000000089"), 1);
        assert_eq!(routes.account("6222020000000000018"), 0);
        assert_eq!(routes.account("6222020000000000090"), 0);
        // Another length is never in the range, however it compares as text.
        assert_eq!(routes.account("62220200000000000600"), 0);
        assert_eq!(routes.account("GL-CNY-CLEARING"), 0);
    }

    #[test]
    fn a_posting_between_cores_has_two_legs_and_one_to_another_bank_one() {
        let routes = two_cores().routes();
        let to = |acct: &str| CoreCreditor::Internal { acct_no: acct.into() };
        assert_eq!(
            routes.legs(&order("6222020000000000018", to("6222020000000000075"), PostingKind::Payment)),
            Legs::Two { debtor: 0, creditor: 1 }
        );
        assert_eq!(
            routes.legs(&order("6222020000000000075", to("6222020000000000083"), PostingKind::Payment)),
            Legs::One(1)
        );
        let refund = PostingKind::Refund { original: "pay_0".into() };
        assert_eq!(
            routes.legs(&order("6222020000000000091", to("6222020000000000075"), refund)),
            Legs::Two { debtor: 0, creditor: 1 }
        );
        let elsewhere = CoreCreditor::External {
            acct_no: "6212260200000000002".into(),
            name: "乙".into(),
            bank_code: "102100099996".into(),
        };
        assert_eq!(routes.legs(&order("6222020000000000075", elsewhere, PostingKind::Payment)), Legs::One(1));
    }

    #[test]
    fn the_table_is_checked_with_each_refusal_placed() {
        assert!(two_cores().check().is_empty());
        let mut t = two_cores();
        t.systems.push(system("new", Dialect::Modern, &[("6222020000000000080", "6222020000000000099")]));
        t.systems.push(system("empty", Dialect::Modern, &[]));
        t.products = "new".into();
        t.customers = "nowhere".into();
        let fields: Vec<String> = t.check().into_iter().map(|e| e.place.to_string()).collect();
        assert_eq!(
            fields,
            ["systems[1].name", "systems[1].accounts[0]", "systems[2].accounts", "routes.products", "routes.customers"]
        );
    }

    #[test]
    fn ranges_are_refused_unless_digits_of_one_length_in_order() {
        assert!(AccountRange::new("10", "19").is_ok());
        for (from, to) in [("19", "10"), ("1", "19"), ("1a", "19"), ("", "")] {
            assert!(AccountRange::new(from, to).is_err(), "{from}..={to}");
        }
    }
}
