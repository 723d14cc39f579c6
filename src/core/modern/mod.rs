//! The new core: plain REST under `/api/v2`, decimal strings with the currency's minor
//! digits, RFC 3339 UTC instants, HTTP status codes with `{"error": {"code", "message"}}`.
//! It holds accounts and postings only; products and the customer master stay with the
//! legacy core (the routing table checks that no such call is routed here).

mod wire;

use async_trait::async_trait;
use jiff::Timestamp;
use scenegate_adapter_contract::{Currency, Money};
use serde::de::DeserializeOwned;

use super::{
    ClientSetupError, CoreError,
    connector::{CoreConnector, Dialect},
    http::{Answer, ConnectorSettings, HttpCore, encode},
    model::{AccountKind, AccountState, CoreAccount, CoreBalance, CoreTxn, CoreTxnPage, Direction, TxnQuery},
    posting::{CoreCreditor, PostingKind, PostingOrder, PostingOutcome, Refusal, Settlement},
};

pub struct ModernCore {
    http: HttpCore,
}

impl ModernCore {
    pub fn new(system: &str, settings: &ConnectorSettings) -> Result<Self, ClientSetupError> {
        Ok(Self { http: HttpCore::new(system, settings)? })
    }
}

fn decode_err(what: impl std::fmt::Display) -> CoreError {
    CoreError::Decode(what.to_string())
}

/// 2xx: the resource. Otherwise the error body's code: `NOT_FOUND` is [`CoreError::NotFound`],
/// any other a [`CoreError::Rejected`] carrying it.
fn resource<T: DeserializeOwned>(answer: Answer) -> Result<T, CoreError> {
    if (200..300).contains(&answer.status) {
        return serde_json::from_slice(&answer.body).map_err(decode_err);
    }
    match serde_json::from_slice::<wire::ErrorBody>(&answer.body) {
        Ok(e) if e.error.code == "NOT_FOUND" => Err(CoreError::NotFound),
        Ok(e) => Err(CoreError::Rejected { code: e.error.code, message: e.error.message }),
        Err(_) if answer.status == 404 => Err(CoreError::NotFound),
        Err(_) => Err(CoreError::Status(answer.status)),
    }
}

fn currency(code: &str) -> Result<Currency, CoreError> {
    code.parse().map_err(decode_err)
}

/// A decimal string with exactly the currency's places → minor units.
fn minor(amount: &str, ccy: Currency) -> Result<i64, CoreError> {
    let money = Money::parse(amount, ccy).map_err(|e| decode_err(format_args!("amount {amount:?}: {e}")))?;
    money.to_minor().ok_or_else(|| decode_err(format_args!("amount {amount:?} out of range")))
}

fn instant(raw: &str) -> Result<Timestamp, CoreError> {
    raw.parse().map_err(|_| decode_err(format_args!("bad instant {raw:?}")))
}

fn account(a: wire::Account) -> Result<CoreAccount, CoreError> {
    let kind = match a.kind.as_str() {
        "savings" => AccountKind::Savings,
        "current" => AccountKind::Current,
        other => return Err(decode_err(format_args!("unknown account type {other:?}"))),
    };
    let state = match a.status.as_str() {
        "active" => AccountState::Normal,
        "frozen" => AccountState::Frozen,
        "closed" => AccountState::Closed,
        other => return Err(decode_err(format_args!("unknown account status {other:?}"))),
    };
    Ok(CoreAccount {
        acct_no: a.account_number,
        cust_no: a.customer_number,
        acct_name: a.name,
        currency: currency(&a.currency)?,
        kind,
        state,
        opened_on: a.opened_on.parse().map_err(|_| decode_err(format_args!("bad date {:?}", a.opened_on)))?,
    })
}

fn txn(t: wire::Transaction) -> Result<CoreTxn, CoreError> {
    let ccy = currency(&t.currency)?;
    let direction = match t.direction.as_str() {
        "debit" => Direction::Debit,
        "credit" => Direction::Credit,
        other => return Err(decode_err(format_args!("unknown direction {other:?}"))),
    };
    let amount_minor = minor(&t.amount, ccy)?;
    if amount_minor < 0 {
        return Err(decode_err("negative amount"));
    }
    let (counterparty_name, counterparty_account) = t.counterparty.map_or((None, None), |c| (c.name, c.account_number));
    Ok(CoreTxn {
        seq: t.sequence,
        txn_id: t.transaction_id,
        booked_at: instant(&t.booked_at)?,
        direction,
        amount_minor,
        currency: ccy,
        memo: t.description,
        counterparty_name,
        counterparty_account,
        balance_after_minor: minor(&t.balance_after, ccy)?,
    })
}

/// The new core's refusal codes.
fn refusal(code: &str, message: &str) -> Refusal {
    match code {
        "INSUFFICIENT_FUNDS" => Refusal::InsufficientFunds,
        "ACCOUNT_FROZEN" => Refusal::AccountFrozen,
        "ACCOUNT_CLOSED" => Refusal::AccountClosed,
        "CURRENCY_MISMATCH" => Refusal::CurrencyMismatch,
        "LIMIT_PER_PAYMENT" => Refusal::OverTransactionLimit,
        "LIMIT_DAILY" => Refusal::OverDailyLimit,
        "REFUND_EXCEEDS_ORIGINAL" => Refusal::RefundExceedsPayment,
        "VOIDED" => Refusal::Voided,
        other => Refusal::Other { code: other.to_owned(), message: message.to_owned() },
    }
}

fn settlement(r: wire::Receipt) -> Result<Settlement, CoreError> {
    match (r.status.as_str(), r.transaction_id) {
        ("booked", Some(txn_id)) => Ok(Settlement::Booked { txn_id }),
        ("voided", _) => Ok(Settlement::Voided),
        (status, _) => Err(decode_err(format_args!("unexpected posting status `{status}`"))),
    }
}

fn body(order: &PostingOrder) -> Result<wire::PostingBody<'_>, CoreError> {
    let ccy = currency(&order.currency)?;
    let mut b = wire::PostingBody {
        posting_id: &order.req_seq,
        amount: Money::from_minor(order.amount_minor, ccy).amount().to_string(),
        currency: &order.currency,
        narrative: &order.memo,
        scenario: &order.scene,
        merchant_category_code: order.mcc.as_deref(),
        channel: &order.channel,
        ..wire::PostingBody::default()
    };
    match &order.kind {
        PostingKind::Payment | PostingKind::Refund { .. } => {
            b.kind = if matches!(order.kind, PostingKind::Payment) { "payment" } else { "refund" };
            b.debit_account = Some(&order.debtor);
            match &order.creditor {
                CoreCreditor::Internal { acct_no } => b.credit_account = Some(acct_no),
                CoreCreditor::External { acct_no, name, bank_code } => {
                    b.external_creditor =
                        Some(wire::ExternalParty { account_number: acct_no, name, bank_code: Some(bank_code) });
                }
            }
            if let PostingKind::Refund { original } = &order.kind {
                b.original_posting_id = Some(original);
            }
        }
        PostingKind::Reversal { original } => {
            b.kind = "refund";
            b.original_posting_id = Some(original);
        }
        PostingKind::Inbound { debtor } => {
            b.kind = "inbound";
            b.credit_account = Some(&order.debtor);
            b.external_debtor = Some(wire::ExternalParty {
                account_number: &debtor.acct_no,
                name: &debtor.name,
                bank_code: debtor.bank_code.as_deref(),
            });
        }
    }
    Ok(b)
}

#[async_trait]
impl CoreConnector for ModernCore {
    fn dialect(&self) -> Dialect {
        Dialect::Modern
    }

    fn breaker_state(&self) -> &'static str {
        self.http.breaker_state()
    }

    async fn health(&self) -> Result<(), CoreError> {
        self.http.read("health", "/api/v2/health", &[], resource::<serde_json::Value>).await.map(|_| ())
    }

    async fn customer_accounts(&self, cust_no: &str) -> Result<Vec<CoreAccount>, CoreError> {
        let path = format!("/api/v2/customers/{}/accounts", encode(cust_no));
        let list: wire::Accounts = self.http.read("customer_accounts", &path, &[], resource).await?;
        list.accounts.into_iter().map(account).collect()
    }

    async fn account(&self, acct_no: &str) -> Result<CoreAccount, CoreError> {
        let path = format!("/api/v2/accounts/{}", encode(acct_no));
        account(self.http.read("account", &path, &[], resource).await?)
    }

    async fn balance(&self, acct_no: &str) -> Result<CoreBalance, CoreError> {
        let path = format!("/api/v2/accounts/{}/balance", encode(acct_no));
        let b: wire::Balance = self.http.read("balance", &path, &[], resource).await?;
        let ccy = currency(&b.currency)?;
        Ok(CoreBalance {
            acct_no: b.account_number,
            cust_no: b.customer_number,
            currency: ccy,
            booked_minor: minor(&b.booked, ccy)?,
            available_minor: minor(&b.available, ccy)?,
            as_of: instant(&b.as_of)?,
        })
    }

    async fn transactions(&self, acct_no: &str, q: &TxnQuery) -> Result<CoreTxnPage, CoreError> {
        let mut params = vec![("limit", q.limit.to_string())];
        let bound = |secs: i64| Timestamp::from_second(secs).ok().map(super::rfc3339);
        if let Some(t) = q.from.and_then(bound) {
            params.push(("booked_from", t));
        }
        if let Some(t) = q.to.and_then(bound) {
            params.push(("booked_to", t));
        }
        params.push(("order", if q.newest_first { "desc" } else { "asc" }.to_owned()));
        if let Some(s) = q.past_seq {
            params.push((if q.newest_first { "before_sequence" } else { "after_sequence" }, s.to_string()));
        }
        let path = format!("/api/v2/accounts/{}/transactions", encode(acct_no));
        let s: wire::Statement = self.http.read("transactions", &path, &params, resource).await?;
        Ok(CoreTxnPage {
            acct_no: s.account_number,
            cust_no: s.customer_number,
            items: s.transactions.into_iter().map(txn).collect::<Result<_, _>>()?,
            has_more: s.has_more,
        })
    }

    async fn post(&self, order: &PostingOrder) -> Result<PostingOutcome, CoreError> {
        match self.http.write("post_payment", "/api/v2/postings", &body(order)?, resource::<wire::Receipt>).await {
            Ok(r) => match settlement(r)? {
                Settlement::Booked { txn_id } => Ok(PostingOutcome::Booked { txn_id }),
                _ => Ok(PostingOutcome::Refused(Refusal::Voided)),
            },
            Err(CoreError::NotFound) => Ok(PostingOutcome::Refused(Refusal::AccountNotFound)),
            Err(CoreError::Rejected { code, message }) => Ok(PostingOutcome::Refused(refusal(&code, &message))),
            Err(e) => Err(e),
        }
    }

    async fn posting_status(&self, req_seq: &str) -> Result<Settlement, CoreError> {
        let path = format!("/api/v2/postings/{}", encode(req_seq));
        match self.http.read("payment_status", &path, &[], resource::<wire::Receipt>).await {
            Ok(r) => settlement(r),
            Err(CoreError::NotFound) => Ok(Settlement::Unknown),
            Err(CoreError::Rejected { code, .. }) if code == "VOIDED" => Ok(Settlement::Voided),
            Err(e) => Err(e),
        }
    }

    async fn void(&self, req_seq: &str) -> Result<Settlement, CoreError> {
        let path = format!("/api/v2/postings/{}/void", encode(req_seq));
        match self.http.write("void_payment", &path, &serde_json::json!({}), resource::<wire::Receipt>).await {
            Ok(r) => settlement(r),
            Err(CoreError::Rejected { code, .. }) if code == "VOIDED" => Ok(Settlement::Voided),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answer(status: u16, body: serde_json::Value) -> Answer {
        Answer { status, body: serde_json::to_vec(&body).unwrap().into() }
    }

    #[test]
    fn errors_are_read_from_their_status_and_code() {
        let e = resource::<wire::Receipt>(answer(
            422,
            serde_json::json!({"error": {"code": "INSUFFICIENT_FUNDS", "message": "short"}}),
        ));
        assert!(matches!(e, Err(CoreError::Rejected { ref code, .. }) if code == "INSUFFICIENT_FUNDS"));
        let e = resource::<wire::Receipt>(answer(404, serde_json::json!({"error": {"code": "NOT_FOUND"}})));
        assert!(matches!(e, Err(CoreError::NotFound)));
        let e = resource::<wire::Receipt>(answer(418, serde_json::json!("teapot")));
        assert!(matches!(e, Err(CoreError::Status(418))));
        assert_eq!(refusal("ACCOUNT_CLOSED", ""), Refusal::AccountClosed);
        assert!(matches!(refusal("SOMETHING_NEW", "x"), Refusal::Other { .. }));
    }

    #[test]
    fn accounts_and_lines_decode_with_exact_amounts_and_unknown_codes_refused() {
        let a: wire::Account = serde_json::from_value(serde_json::json!({
            "account_number": "6222020000000000075", "customer_number": "C0005", "name": "北京云杉科技有限公司",
            "currency": "CNY", "type": "current", "status": "frozen", "opened_on": "2020-08-10"
        }))
        .unwrap();
        let a = account(a).unwrap();
        assert_eq!(
            (a.kind, a.state, a.opened_on),
            (AccountKind::Current, AccountState::Frozen, jiff::civil::date(2020, 8, 10))
        );
        let line = |direction: &str, amount: &str| -> wire::Transaction {
            serde_json::from_value(serde_json::json!({
                "sequence": 3, "transaction_id": "T9", "booked_at": "2026-10-10T01:00:00Z", "direction": direction,
                "amount": amount, "currency": "CNY", "description": "工资", "balance_after": "100.05",
                "counterparty": {"name": "Amazon.com", "account_number": null}
            }))
            .unwrap()
        };
        let t = txn(line("credit", "38.50")).unwrap();
        assert_eq!((t.amount_minor, t.balance_after_minor, t.direction), (3850, 10005, Direction::Credit));
        assert_eq!((t.counterparty_name.as_deref(), t.counterparty_account), (Some("Amazon.com"), None));
        assert!(txn(line("sideways", "1.00")).is_err());
        assert!(txn(line("debit", "1.005")).is_err(), "more places than the currency has");
        assert!(txn(line("debit", "1e3")).is_err());
    }

    #[test]
    fn each_kind_of_posting_names_the_fields_the_new_core_reads() {
        let order = |kind: PostingKind, creditor: CoreCreditor| PostingOrder {
            req_seq: "pay_1~in".into(),
            debtor: "6222020000000000075".into(),
            creditor,
            amount_minor: 123_456,
            currency: "CNY".into(),
            memo: "货款".into(),
            scene: "ecommerce_goods".into(),
            mcc: None,
            channel: "ptn_x".into(),
            kind,
        };
        let ext = CoreCreditor::External {
            acct_no: "6222020000000000018".into(),
            name: "张三".into(),
            bank_code: "SCENEGATE".into(),
        };
        let pay = serde_json::to_value(body(&order(PostingKind::Payment, ext)).unwrap()).unwrap();
        assert_eq!(pay["amount"], "1234.56");
        assert_eq!(pay["external_creditor"]["name"], "张三");
        let debtor = crate::core::posting::ExternalDebtor {
            acct_no: "6222020000000000018".into(),
            name: "张三".into(),
            bank_code: None,
        };
        let inbound = serde_json::to_value(
            body(&order(PostingKind::Inbound { debtor }, CoreCreditor::Internal { acct_no: String::new() })).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (inbound["type"].as_str(), inbound["credit_account"].as_str()),
            (Some("inbound"), Some("6222020000000000075"))
        );
        assert!(inbound.get("debit_account").is_none());
        let reversal = serde_json::to_value(
            body(&order(
                PostingKind::Reversal { original: "pay_1".into() },
                CoreCreditor::Internal { acct_no: String::new() },
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (reversal["type"].as_str(), reversal["original_posting_id"].as_str()),
            (Some("refund"), Some("pay_1"))
        );
        assert!(reversal.get("debit_account").is_none() && reversal.get("credit_account").is_none());
    }

    proptest! {
        #[test]
        fn amounts_round_trip_through_the_wire_exactly(fen in 0i64..=100_000_000_000_000) {
            let text = Money::from_minor(fen, Currency::Cny).amount().to_string();
            prop_assert_eq!(minor(&text, Currency::Cny).unwrap(), fen);
        }
    }
}
