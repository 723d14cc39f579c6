//! Core account records → what a partner may see of them. Every code is mapped explicitly
//! (an unknown one is a decode error, never a guess) and every field the consent does not
//! cover is left out here, before any adapter sees the value.

use scenegate_adapter_contract::{
    AccountId, Currency, Money, TransactionId,
    canonical::{Account, AccountStatus, AccountType, Balance, CreditDebit, Transaction},
};

use super::mask;
use crate::core::{CoreAccount, CoreBalance, CoreError, CoreTxn, transform::beijing_to_utc};

fn decode(what: impl std::fmt::Display) -> CoreError {
    CoreError::Decode(what.to_string())
}

fn currency(ccy: &str) -> Result<Currency, CoreError> {
    ccy.parse().map_err(decode)
}

/// `detail`: the consent has `ReadAccountsDetail` (full number and name, opening date).
pub fn account(a: &CoreAccount, account_id: AccountId, detail: bool) -> Result<Account, CoreError> {
    let account_type = match a.acct_type.as_str() {
        "SAV" => AccountType::Savings,
        "CUR" => AccountType::Current,
        other => return Err(decode(format_args!("unknown acct_type {other:?}"))),
    };
    let status = match a.acct_status.as_str() {
        "N" => AccountStatus::Enabled,
        "F" => AccountStatus::Blocked,
        "C" => AccountStatus::Closed,
        other => return Err(decode(format_args!("unknown acct_status {other:?}"))),
    };
    Ok(Account {
        account_id,
        currency: currency(&a.ccy)?,
        account_type,
        status,
        account_number: if detail { a.acct_no.clone() } else { mask::account_number(&a.acct_no) },
        account_name: if detail { a.acct_name.clone() } else { mask::name(&a.acct_name) },
        opened_on: if detail { Some(full_date(&a.open_date)?) } else { None },
    })
}

/// Core `yyyyMMdd` → RFC 3339 full-date.
fn full_date(raw: &str) -> Result<String, CoreError> {
    let date = jiff::civil::Date::strptime("%Y%m%d", raw)
        .ok()
        .filter(|_| raw.len() == 8)
        .ok_or_else(|| decode(format_args!("bad core date {raw:?}")))?;
    Ok(date.strftime("%Y-%m-%d").to_string())
}

pub fn balance(b: &CoreBalance, acct_no: &str, account_id: AccountId) -> Result<Balance, CoreError> {
    if b.acct_no != acct_no {
        return Err(decode("balance answered for another account"));
    }
    let ccy = currency(&b.ccy)?;
    Ok(Balance {
        account_id,
        booked: Money::from_minor(b.ledger_bal_fen, ccy),
        available: Money::from_minor(b.avail_bal_fen, ccy),
        as_of: beijing_to_utc(&b.as_of)?,
    })
}

/// When a core transaction was booked: RFC 3339 UTC and Unix seconds.
pub fn booked_at(t: &CoreTxn) -> Result<(String, i64), CoreError> {
    let utc = beijing_to_utc(&t.txn_time)?;
    let secs = utc.parse::<jiff::Timestamp>().map_err(decode)?.as_second();
    Ok((utc, secs))
}

/// `detail`: the consent has `ReadTransactionsDetail` (memo, counterparty, running balance).
/// A core statement line as the partner sees it, under the id `transaction_id` (a pseudonym:
/// the core's sequence numbers would let two partners match one customer's transactions).
pub fn transaction(
    t: CoreTxn,
    transaction_id: TransactionId,
    booked_at: String,
    detail: bool,
) -> Result<Transaction, CoreError> {
    let ccy = currency(&t.ccy)?;
    let credit_debit = match t.dr_cr.as_str() {
        "D" => CreditDebit::Debit,
        "C" => CreditDebit::Credit,
        other => return Err(decode(format_args!("unknown dr_cr {other:?}"))),
    };
    if t.amt_fen < 0 {
        return Err(decode("negative amt_fen"));
    }
    let present = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    Ok(Transaction {
        transaction_id,
        booked_at,
        amount: Money::from_minor(t.amt_fen, ccy),
        credit_debit,
        description: detail.then_some(t.memo),
        counterparty_name: present(t.cpty_name).filter(|_| detail).map(|n| mask::name(&n)),
        counterparty_account: present(t.cpty_acct).filter(|_| detail).map(|n| mask::account_number(&n)),
        balance_after: detail.then(|| Money::from_minor(t.bal_after_fen, ccy)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core_account(acct_type: &str, acct_status: &str) -> CoreAccount {
        CoreAccount {
            acct_no: "6222020000000000018".into(),
            cust_no: "C0001".into(),
            acct_name: "张三".into(),
            ccy: "CNY".into(),
            acct_type: acct_type.into(),
            acct_status: acct_status.into(),
            open_date: "20240115".into(),
        }
    }

    fn id() -> AccountId {
        AccountId::from_key("x").unwrap()
    }

    fn txn(dr_cr: &str) -> CoreTxn {
        CoreTxn {
            txn_seq: 412,
            txn_id: "T412".into(),
            txn_time: "20261010090000".into(),
            dr_cr: dr_cr.into(),
            amt_fen: 3850,
            ccy: "CNY".into(),
            memo: "美团外卖".into(),
            cpty_name: Some("李四".into()),
            cpty_acct: Some("6222020000000000034".into()),
            bal_after_fen: 1_519_195,
        }
    }

    fn txn_id() -> TransactionId {
        TransactionId::from_key("PSEUDONYM0000000000A").unwrap()
    }

    #[test]
    fn codes_map_explicitly_and_unknown_ones_are_errors() {
        let cases = [
            ("SAV", "N", AccountType::Savings, AccountStatus::Enabled),
            ("CUR", "F", AccountType::Current, AccountStatus::Blocked),
            ("SAV", "C", AccountType::Savings, AccountStatus::Closed),
        ];
        for (t, s, want_type, want_status) in cases {
            let a = account(&core_account(t, s), id(), false).unwrap();
            assert_eq!((a.account_type, a.status), (want_type, want_status));
        }
        assert!(matches!(account(&core_account("GL", "N"), id(), false), Err(CoreError::Decode(_))));
        assert!(matches!(account(&core_account("SAV", "X"), id(), false), Err(CoreError::Decode(_))));
        assert!(matches!(transaction(txn("X"), txn_id(), String::new(), false), Err(CoreError::Decode(_))));
    }

    #[test]
    fn basic_accounts_are_masked_and_detail_is_full() {
        let basic = account(&core_account("SAV", "N"), id(), false).unwrap();
        assert_eq!((basic.account_number.as_str(), basic.account_name.as_str()), ("622202*********0018", "张*"));
        assert_eq!(basic.opened_on, None);
        let detail = account(&core_account("SAV", "N"), id(), true).unwrap();
        assert_eq!((detail.account_number.as_str(), detail.account_name.as_str()), ("6222020000000000018", "张三"));
        assert_eq!(detail.opened_on.as_deref(), Some("2024-01-15"));
        let mut bad_date = core_account("SAV", "N");
        bad_date.open_date = "2024-01-15".into();
        assert!(account(&bad_date, id(), true).is_err());
    }

    #[test]
    fn transactions_carry_detail_only_when_allowed() {
        let (at, _) = booked_at(&txn("D")).unwrap();
        assert_eq!(at, "2026-10-10T01:00:00Z");
        let basic = transaction(txn("D"), txn_id(), at.clone(), false).unwrap();
        assert_eq!(basic.transaction_id, txn_id(), "the id it is given, never the core's sequence number");
        assert_eq!(basic.credit_debit, CreditDebit::Debit);
        assert_eq!(basic.amount, Money::from_minor(3850, Currency::Cny));
        assert_eq!((&basic.description, &basic.counterparty_name, &basic.counterparty_account), (&None, &None, &None));
        assert_eq!(basic.balance_after, None);
        let detail = transaction(txn("C"), txn_id(), at, true).unwrap();
        assert_eq!(detail.credit_debit, CreditDebit::Credit);
        assert_eq!(detail.description.as_deref(), Some("美团外卖"));
        assert_eq!(detail.counterparty_name.as_deref(), Some("李*"));
        assert_eq!(detail.counterparty_account.as_deref(), Some("622202*********0034"));
        assert_eq!(detail.balance_after, Some(Money::from_minor(1_519_195, Currency::Cny)));
        let mut gl = txn("C");
        gl.cpty_acct = None;
        assert_eq!(transaction(gl, txn_id(), String::new(), true).unwrap().counterparty_account, None);
    }
}
