//! Core account records → what a partner may see of them. Every field the consent does not
//! cover is left out here, before any adapter sees the value.

use scenegate_adapter_contract::{
    AccountId, Money, TransactionId,
    canonical::{Account, AccountStatus, AccountType, Balance, CreditDebit, Transaction},
};

use super::mask;
use crate::core::{AccountKind, AccountState, CoreAccount, CoreBalance, CoreError, CoreTxn, Direction, rfc3339};

/// `detail`: the consent has `ReadAccountsDetail` (full number and name, opening date).
pub fn account(a: &CoreAccount, account_id: AccountId, detail: bool) -> Account {
    Account {
        account_id,
        currency: a.currency,
        account_type: match a.kind {
            AccountKind::Savings => AccountType::Savings,
            AccountKind::Current => AccountType::Current,
        },
        status: match a.state {
            AccountState::Normal => AccountStatus::Enabled,
            AccountState::Frozen => AccountStatus::Blocked,
            AccountState::Closed => AccountStatus::Closed,
        },
        account_number: if detail { a.acct_no.clone() } else { mask::account_number(&a.acct_no) },
        account_name: if detail { a.acct_name.clone() } else { mask::name(&a.acct_name) },
        opened_on: detail.then(|| a.opened_on.strftime("%Y-%m-%d").to_string()),
    }
}

pub fn balance(b: &CoreBalance, acct_no: &str, account_id: AccountId) -> Result<Balance, CoreError> {
    if b.acct_no != acct_no {
        return Err(CoreError::Decode("balance answered for another account".into()));
    }
    Ok(Balance {
        account_id,
        booked: Money::from_minor(b.booked_minor, b.currency),
        available: Money::from_minor(b.available_minor, b.currency),
        as_of: rfc3339(b.as_of),
    })
}

/// `detail`: the consent has `ReadTransactionsDetail` (memo, counterparty, running balance).
/// A core statement line as the partner sees it, under the id `transaction_id` (a pseudonym:
/// the core's sequence numbers would let two partners match one customer's transactions).
pub fn transaction(t: CoreTxn, transaction_id: TransactionId, detail: bool) -> Transaction {
    let present = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    Transaction {
        transaction_id,
        booked_at: rfc3339(t.booked_at),
        amount: Money::from_minor(t.amount_minor, t.currency),
        credit_debit: match t.direction {
            Direction::Debit => CreditDebit::Debit,
            Direction::Credit => CreditDebit::Credit,
        },
        description: detail.then_some(t.memo),
        counterparty_name: present(t.counterparty_name).filter(|_| detail).map(|n| mask::name(&n)),
        counterparty_account: present(t.counterparty_account).filter(|_| detail).map(|n| mask::account_number(&n)),
        balance_after: detail.then(|| Money::from_minor(t.balance_after_minor, t.currency)),
    }
}

#[cfg(test)]
mod tests {
    use scenegate_adapter_contract::Currency;

    use super::*;

    fn core_account(kind: AccountKind, state: AccountState) -> CoreAccount {
        CoreAccount {
            acct_no: "6222020000000000018".into(),
            cust_no: "C0001".into(),
            acct_name: "张三".into(),
            currency: Currency::Cny,
            kind,
            state,
            opened_on: jiff::civil::date(2024, 1, 15),
        }
    }

    fn id() -> AccountId {
        AccountId::from_key("x").unwrap()
    }

    fn txn(direction: Direction) -> CoreTxn {
        CoreTxn {
            seq: 412,
            txn_id: "T412".into(),
            booked_at: "2026-10-10T01:00:00Z".parse().unwrap(),
            direction,
            amount_minor: 3850,
            currency: Currency::Cny,
            memo: "美团外卖".into(),
            counterparty_name: Some("李四".into()),
            counterparty_account: Some("6222020000000000034".into()),
            balance_after_minor: 1_519_195,
        }
    }

    fn txn_id() -> TransactionId {
        TransactionId::from_key("PSEUDONYM0000000000A").unwrap()
    }

    #[test]
    fn kinds_and_states_map_one_by_one() {
        let cases = [
            (AccountKind::Savings, AccountState::Normal, AccountType::Savings, AccountStatus::Enabled),
            (AccountKind::Current, AccountState::Frozen, AccountType::Current, AccountStatus::Blocked),
            (AccountKind::Savings, AccountState::Closed, AccountType::Savings, AccountStatus::Closed),
        ];
        for (kind, state, want_type, want_status) in cases {
            let a = account(&core_account(kind, state), id(), false);
            assert_eq!((a.account_type, a.status), (want_type, want_status));
        }
    }

    #[test]
    fn basic_accounts_are_masked_and_detail_is_full() {
        let basic = account(&core_account(AccountKind::Savings, AccountState::Normal), id(), false);
        assert_eq!((basic.account_number.as_str(), basic.account_name.as_str()), ("622202*********0018", "张*"));
        assert_eq!(basic.opened_on, None);
        let detail = account(&core_account(AccountKind::Savings, AccountState::Normal), id(), true);
        assert_eq!((detail.account_number.as_str(), detail.account_name.as_str()), ("6222020000000000018", "张三"));
        assert_eq!(detail.opened_on.as_deref(), Some("2024-01-15"));
    }

    #[test]
    fn transactions_carry_detail_only_when_allowed() {
        let basic = transaction(txn(Direction::Debit), txn_id(), false);
        assert_eq!(basic.booked_at, "2026-10-10T01:00:00Z");
        assert_eq!(basic.transaction_id, txn_id(), "the id it is given, never the core's sequence number");
        assert_eq!(basic.credit_debit, CreditDebit::Debit);
        assert_eq!(basic.amount, Money::from_minor(3850, Currency::Cny));
        assert_eq!((&basic.description, &basic.counterparty_name, &basic.counterparty_account), (&None, &None, &None));
        assert_eq!(basic.balance_after, None);
        let detail = transaction(txn(Direction::Credit), txn_id(), true);
        assert_eq!(detail.credit_debit, CreditDebit::Credit);
        assert_eq!(detail.description.as_deref(), Some("美团外卖"));
        assert_eq!(detail.counterparty_name.as_deref(), Some("李*"));
        assert_eq!(detail.counterparty_account.as_deref(), Some("622202*********0034"));
        assert_eq!(detail.balance_after, Some(Money::from_minor(1_519_195, Currency::Cny)));
        let mut gl = txn(Direction::Credit);
        gl.counterparty_account = None;
        assert_eq!(transaction(gl, txn_id(), true).counterparty_account, None);
    }
}
