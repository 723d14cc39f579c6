//! Accounts, balances and transactions: canonical ⇄ native wire.

use scenegate_adapter_contract::canonical::{self, Page};

use super::each;
use crate::native::wire;

same_variants!(AccountType { Savings, Current });
same_variants!(AccountStatus { Enabled, Blocked, Closed });
same_variants!(CreditDebit { Credit, Debit });
same_variants!(SortOrder { Asc, Desc });

impl From<canonical::Account> for wire::Account {
    fn from(a: canonical::Account) -> Self {
        let canonical::Account { account_id, currency, account_type, status, account_number, account_name, opened_on } =
            a;
        Self {
            account_id,
            currency,
            account_type: account_type.into(),
            status: status.into(),
            account_number,
            account_name,
            opened_on,
        }
    }
}

impl From<wire::Account> for canonical::Account {
    fn from(a: wire::Account) -> Self {
        let wire::Account { account_id, currency, account_type, status, account_number, account_name, opened_on } = a;
        Self {
            account_id,
            currency,
            account_type: account_type.into(),
            status: status.into(),
            account_number,
            account_name,
            opened_on,
        }
    }
}

impl From<canonical::Balance> for wire::Balance {
    fn from(b: canonical::Balance) -> Self {
        let canonical::Balance { account_id, booked, available, as_of } = b;
        Self { account_id, booked, available, as_of }
    }
}

impl From<wire::Balance> for canonical::Balance {
    fn from(b: wire::Balance) -> Self {
        let wire::Balance { account_id, booked, available, as_of } = b;
        Self { account_id, booked, available, as_of }
    }
}

impl From<canonical::Transaction> for wire::Transaction {
    fn from(t: canonical::Transaction) -> Self {
        let canonical::Transaction {
            transaction_id,
            booked_at,
            amount,
            credit_debit,
            description,
            counterparty_name,
            counterparty_account,
            balance_after,
        } = t;
        Self {
            transaction_id,
            booked_at,
            amount,
            credit_debit: credit_debit.into(),
            description,
            counterparty_name,
            counterparty_account,
            balance_after,
        }
    }
}

impl From<wire::Transaction> for canonical::Transaction {
    fn from(t: wire::Transaction) -> Self {
        let wire::Transaction {
            transaction_id,
            booked_at,
            amount,
            credit_debit,
            description,
            counterparty_name,
            counterparty_account,
            balance_after,
        } = t;
        Self {
            transaction_id,
            booked_at,
            amount,
            credit_debit: credit_debit.into(),
            description,
            counterparty_name,
            counterparty_account,
            balance_after,
        }
    }
}

impl From<Vec<canonical::Account>> for wire::AccountList {
    fn from(accounts: Vec<canonical::Account>) -> Self {
        Self { data: each(accounts) }
    }
}

impl From<wire::AccountList> for Vec<canonical::Account> {
    fn from(list: wire::AccountList) -> Self {
        each(list.data)
    }
}

impl From<Vec<canonical::Balance>> for wire::BalanceList {
    fn from(balances: Vec<canonical::Balance>) -> Self {
        Self { data: each(balances) }
    }
}

impl From<wire::BalanceList> for Vec<canonical::Balance> {
    fn from(list: wire::BalanceList) -> Self {
        each(list.data)
    }
}

/// The page back from a list body; the cursor is read from `links.next`.
impl From<wire::TransactionList> for Page<canonical::Transaction> {
    fn from(list: wire::TransactionList) -> Self {
        let wire::TransactionList { data, links, meta: _ } = list;
        Page { next_cursor: links.next_cursor(), items: each(data) }
    }
}
