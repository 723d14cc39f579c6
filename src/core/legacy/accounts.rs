//! Customers, their accounts, balances and statements in the legacy core's shapes, decoded
//! into the gateway's core model. Every code is mapped explicitly (an unknown one is a
//! decode error, never a guess).

use jiff::{Timestamp, tz};
use serde::{Deserialize, Serialize};

use super::{LegacyCore, transform::beijing_time};
use crate::core::{
    CoreError,
    http::encode,
    model::{
        AccountKind, AccountState, CoreAccount, CoreBalance, CoreCustomer, CoreTxn, CoreTxnPage, Direction, TxnQuery,
    },
};

#[derive(Debug, Deserialize)]
pub(super) struct Customer {
    cust_no: String,
    cust_name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Account {
    acct_no: String,
    cust_no: String,
    acct_name: String,
    ccy: String,
    /// `SAV` or `CUR`.
    acct_type: String,
    /// `N` normal, `F` frozen, `C` closed.
    acct_status: String,
    /// `yyyyMMdd`.
    open_date: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Balance {
    acct_no: String,
    cust_no: String,
    ccy: String,
    ledger_bal_fen: i64,
    avail_bal_fen: i64,
    /// Beijing time, `yyyyMMddHHmmss`.
    as_of: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Txn {
    txn_seq: i64,
    txn_id: String,
    /// Beijing time, `yyyyMMddHHmmss`.
    txn_time: String,
    /// `D` or `C`.
    dr_cr: String,
    amt_fen: i64,
    ccy: String,
    memo: String,
    cpty_name: Option<String>,
    cpty_acct: Option<String>,
    bal_after_fen: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct TxnPage {
    acct_no: String,
    cust_no: String,
    items: Vec<Txn>,
    has_more: bool,
}

#[derive(Debug, Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

#[derive(Serialize)]
struct VerifyBody<'a> {
    login_id: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct IdentifyBody<'a> {
    login_id: &'a str,
}

#[derive(Deserialize)]
struct Identified {
    cust_no: String,
}

fn decode(what: impl std::fmt::Display) -> CoreError {
    CoreError::Decode(what.to_string())
}

fn account(a: Account) -> Result<CoreAccount, CoreError> {
    let kind = match a.acct_type.as_str() {
        "SAV" => AccountKind::Savings,
        "CUR" => AccountKind::Current,
        other => return Err(decode(format_args!("unknown acct_type {other:?}"))),
    };
    let state = match a.acct_status.as_str() {
        "N" => AccountState::Normal,
        "F" => AccountState::Frozen,
        "C" => AccountState::Closed,
        other => return Err(decode(format_args!("unknown acct_status {other:?}"))),
    };
    let opened_on = jiff::civil::Date::strptime("%Y%m%d", &a.open_date)
        .ok()
        .filter(|_| a.open_date.len() == 8)
        .ok_or_else(|| decode(format_args!("bad core date {:?}", a.open_date)))?;
    Ok(CoreAccount {
        acct_no: a.acct_no,
        cust_no: a.cust_no,
        acct_name: a.acct_name,
        currency: a.ccy.parse().map_err(decode)?,
        kind,
        state,
        opened_on,
    })
}

fn balance(b: Balance) -> Result<CoreBalance, CoreError> {
    Ok(CoreBalance {
        acct_no: b.acct_no,
        cust_no: b.cust_no,
        currency: b.ccy.parse().map_err(decode)?,
        booked_minor: b.ledger_bal_fen,
        available_minor: b.avail_bal_fen,
        as_of: beijing_time(&b.as_of)?,
    })
}

fn txn(t: Txn) -> Result<CoreTxn, CoreError> {
    let direction = match t.dr_cr.as_str() {
        "D" => Direction::Debit,
        "C" => Direction::Credit,
        other => return Err(decode(format_args!("unknown dr_cr {other:?}"))),
    };
    if t.amt_fen < 0 {
        return Err(decode("negative amt_fen"));
    }
    Ok(CoreTxn {
        seq: t.txn_seq,
        txn_id: t.txn_id,
        booked_at: beijing_time(&t.txn_time)?,
        direction,
        amount_minor: t.amt_fen,
        currency: t.ccy.parse().map_err(decode)?,
        memo: t.memo,
        counterparty_name: t.cpty_name,
        counterparty_account: t.cpty_acct,
        balance_after_minor: t.bal_after_fen,
    })
}

/// The Beijing calendar day (`yyyyMMdd`) of an instant: this core filters statements by
/// day only. A bound that cannot be written as a date stays open: the caller applies the
/// exact bounds anyway.
fn beijing_date(secs: i64) -> Option<String> {
    let date = Timestamp::from_second(secs).ok()?.to_zoned(tz::TimeZone::fixed(tz::offset(8))).date();
    (1..=9999).contains(&date.year()).then(|| date.strftime("%Y%m%d").to_string())
}

impl LegacyCore {
    pub(super) async fn identify(&self, login_id: &str) -> Result<Option<String>, CoreError> {
        match self
            .write::<_, Identified>("identify_customer", "/core/customers/identify", &IdentifyBody { login_id })
            .await
        {
            Ok(found) => Ok(Some(found.cust_no)),
            Err(CoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn verify(&self, login_id: &str, password: &str) -> Result<CoreCustomer, CoreError> {
        let c: Customer =
            self.write("verify_customer", "/core/customers/verify", &VerifyBody { login_id, password }).await?;
        Ok(CoreCustomer { cust_no: c.cust_no, cust_name: c.cust_name })
    }

    pub(super) async fn accounts_of(&self, cust_no: &str) -> Result<Vec<CoreAccount>, CoreError> {
        let path = format!("/core/customers/{}/accounts", encode(cust_no));
        let items: Items<Account> = self.read("customer_accounts", &path, &[]).await?;
        items.items.into_iter().map(account).collect()
    }

    pub(super) async fn one_account(&self, acct_no: &str) -> Result<CoreAccount, CoreError> {
        account(self.read("account", &format!("/core/accounts/{}", encode(acct_no)), &[]).await?)
    }

    pub(super) async fn one_balance(&self, acct_no: &str) -> Result<CoreBalance, CoreError> {
        balance(self.read("balance", &format!("/core/accounts/{}/balance", encode(acct_no)), &[]).await?)
    }

    pub(super) async fn statement(&self, acct_no: &str, q: &TxnQuery) -> Result<CoreTxnPage, CoreError> {
        let mut params = vec![("limit", q.limit.to_string())];
        if let Some(d) = q.from.and_then(beijing_date) {
            params.push(("start_date", d));
        }
        if let Some(d) = q.to.and_then(beijing_date) {
            params.push(("end_date", d));
        }
        if q.newest_first {
            params.push(("order", "desc".to_owned()));
        }
        if let Some(s) = q.past_seq {
            params.push((if q.newest_first { "before_seq" } else { "after_seq" }, s.to_string()));
        }
        let page: TxnPage =
            self.read("transactions", &format!("/core/accounts/{}/txns", encode(acct_no)), &params).await?;
        Ok(CoreTxnPage {
            acct_no: page.acct_no,
            cust_no: page.cust_no,
            items: page.items.into_iter().map(txn).collect::<Result<_, _>>()?,
            has_more: page.has_more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_account(acct_type: &str, acct_status: &str, open_date: &str) -> Account {
        Account {
            acct_no: "6222020000000000018".into(),
            cust_no: "C0001".into(),
            acct_name: "张三".into(),
            ccy: "CNY".into(),
            acct_type: acct_type.into(),
            acct_status: acct_status.into(),
            open_date: open_date.into(),
        }
    }

    #[test]
    fn account_codes_map_one_by_one_and_unknown_ones_are_errors() {
        let a = account(wire_account("CUR", "F", "20240115")).unwrap();
        assert_eq!((a.kind, a.state), (AccountKind::Current, AccountState::Frozen));
        assert_eq!(a.opened_on, jiff::civil::date(2024, 1, 15));
        assert_eq!(account(wire_account("SAV", "C", "20240115")).unwrap().state, AccountState::Closed);
        for (t, s, d) in [("LOAN", "N", "20240115"), ("SAV", "X", "20240115"), ("SAV", "N", "2024-01-15")] {
            assert!(matches!(account(wire_account(t, s, d)), Err(CoreError::Decode(_))), "{t} {s} {d}");
        }
    }

    #[test]
    fn a_statement_line_is_decoded_with_its_direction_and_utc_time() {
        let line = |dr_cr: &str, amt_fen: i64| Txn {
            txn_seq: 7,
            txn_id: "T1".into(),
            txn_time: "20261010090000".into(),
            dr_cr: dr_cr.into(),
            amt_fen,
            ccy: "CNY".into(),
            memo: "美团外卖".into(),
            cpty_name: None,
            cpty_acct: None,
            bal_after_fen: 1_519_195,
        };
        let t = txn(line("D", 3850)).unwrap();
        assert_eq!((t.direction, t.amount_minor, t.seq), (Direction::Debit, 3850, 7));
        assert_eq!(t.booked_at.to_string(), "2026-10-10T01:00:00Z");
        assert!(txn(line("X", 1)).is_err());
        assert!(txn(line("C", -1)).is_err());
    }

    #[test]
    fn statement_bounds_widen_to_whole_beijing_days() {
        // 2026-09-30T16:00:00Z is midnight of 1 October in Beijing.
        assert_eq!(beijing_date(1_790_784_000).as_deref(), Some("20261001"));
        assert_eq!(beijing_date(1_790_783_999).as_deref(), Some("20260930"));
        assert_eq!(beijing_date(i64::MAX), None);
    }

    proptest::proptest! {
        #[test]
        fn the_day_of_an_instant_is_its_utc_date_eight_hours_later(at in 1_700_000_000_i64..1_900_000_000) {
            let day = Timestamp::from_second(at + 8 * 3600).unwrap().strftime("%Y%m%d").to_string();
            proptest::prop_assert_eq!(beijing_date(at).unwrap(), day);
        }
    }
}
