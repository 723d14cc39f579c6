//! `camt.053.001.08` `BkToCstmrStmt`: one statement of one account, from a canonical
//! [`Statement`].

use scenegate_adapter_contract::{
    AdapterError, Currency, RawRequest,
    canonical::{CreditDebit, Statement, Transaction},
};
use sha2::{Digest as _, Sha256};

use super::xml::{Doc, cut, minor, pieces};

pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08";

/// A message identification unique to this answer and stable for its request: the request
/// (path, query, request id) and the time it arrived, hashed; at most 35 characters.
pub fn message_id(prefix: &str, req: &RawRequest) -> String {
    let mut h = Sha256::new();
    for part in
        [req.path.as_str(), req.query.as_deref().unwrap_or_default(), req.header("x-request-id").unwrap_or_default()]
    {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(req.received_at.to_be_bytes());
    let hex: String = h.finalize().iter().take(12).map(|b| format!("{b:02X}")).collect();
    format!("{prefix}{hex}")
}

/// When the request arrived, as an ISO date-time in UTC.
pub fn created_at(req: &RawRequest) -> Result<String, AdapterError> {
    jiff::Timestamp::from_second(req.received_at)
        .map(|t| t.to_string())
        .map_err(|e| AdapterError::Encode(format!("the request time: {e}")))
}

fn indicator(negative: bool) -> &'static str {
    if negative { "DBIT" } else { "CRDT" }
}

/// A signed amount in minor units as ISO's non-negative amount and credit/debit indicator.
fn balance(doc: &mut Doc, code: &str, signed: i128, currency: Currency, at: &str) {
    doc.open("Bal").open("Tp").open("CdOrPrtry").text("Cd", code).close("CdOrPrtry").close("Tp");
    doc.amount("Amt", signed.unsigned_abs(), currency);
    doc.text("CdtDbtInd", indicator(signed < 0));
    doc.open("Dt").text("DtTm", at).close("Dt").close("Bal");
}

fn signed(t: &Transaction) -> Result<i128, AdapterError> {
    let amount = minor(&t.amount)?;
    Ok(if t.credit_debit == CreditDebit::Debit { -amount } else { amount })
}

/// The one currency of the account, read from its balances and entries; `None` when there
/// are neither.
fn currency(s: &Statement) -> Result<Option<Currency>, AdapterError> {
    let mut all = s
        .balances
        .iter()
        .flat_map(|b| [b.booked.currency(), b.available.currency()])
        .chain(s.transactions.items.iter().map(|t| t.amount.currency()));
    let first = all.next();
    if all.any(|c| Some(c) != first) {
        return Err(AdapterError::Encode("a statement in more than one currency".into()));
    }
    Ok(first)
}

pub fn render(req: &RawRequest, page: u32, s: &Statement) -> Result<Vec<u8>, AdapterError> {
    let now = created_at(req)?;
    let entries = &s.transactions.items;
    // `Bal` is mandatory, and the gateway answers a statement with the balances.
    let currency = currency(s)?
        .filter(|_| !s.balances.is_empty())
        .ok_or_else(|| AdapterError::Encode("a statement without balances".into()))?;
    let mut doc = Doc::new(NAMESPACE);
    doc.open("BkToCstmrStmt");
    doc.open("GrpHdr").text("MsgId", &message_id("SGM", req)).text("CreDtTm", &now).close("GrpHdr");
    doc.open("Stmt").text("Id", &message_id("SGS", req));
    doc.open("StmtPgntn")
        .text("PgNb", &page.to_string())
        .text("LastPgInd", if s.transactions.next_cursor.is_none() { "true" } else { "false" })
        .close("StmtPgntn");
    doc.text("CreDtTm", &now);
    if let Some(from) = &s.from {
        // An open or future end: the statement reaches as far as the moment it was made.
        let to = match &s.to {
            Some(to)
                if to.parse::<jiff::Timestamp>().ok()
                    < Some(jiff::Timestamp::from_second(req.received_at).unwrap_or_default()) =>
            {
                to.clone()
            }
            _ => now.clone(),
        };
        doc.open("FrToDt").text("FrDtTm", from).text("ToDtTm", &to).close("FrToDt");
    }
    let account = s.account_id.as_str();
    if account.chars().count() > 34 {
        return Err(AdapterError::Encode("an account id longer than ISO's 34 characters".into()));
    }
    doc.open("Acct").open("Id").open("Othr").text("Id", account).close("Othr").close("Id");
    doc.text("Ccy", currency.code()).close("Acct");

    // Opening and closing booked balances of this page, from the running balances.
    if let (Some(first), Some(last)) = (entries.first(), entries.last())
        && let (Some(after_first), Some(after_last)) = (&first.balance_after, &last.balance_after)
    {
        balance(&mut doc, "OPBD", minor(after_first)? - signed(first)?, currency, &first.booked_at);
        balance(&mut doc, "CLBD", minor(after_last)?, currency, &last.booked_at);
    }
    for b in &s.balances {
        balance(&mut doc, "ITBD", minor(&b.booked)?, currency, &b.as_of);
        balance(&mut doc, "ITAV", minor(&b.available)?, currency, &b.as_of);
    }

    summary(&mut doc, entries, currency)?;
    for t in entries {
        entry(&mut doc, t)?;
    }
    doc.close("Stmt").close("BkToCstmrStmt");
    Ok(doc.finish())
}

/// `TxsSummry`: counts and sums of the entries listed, re-derived here.
fn summary(doc: &mut Doc, entries: &[Transaction], currency: Currency) -> Result<(), AdapterError> {
    let (mut credits, mut debits) = ((0usize, 0u128), (0usize, 0u128));
    for t in entries {
        let amount = minor(&t.amount)?.unsigned_abs();
        let side = if t.credit_debit == CreditDebit::Credit { &mut credits } else { &mut debits };
        side.0 += 1;
        side.1 += amount;
    }
    let net = credits.1 as i128 - debits.1 as i128;
    let sum = |minor: u128| super::xml::decimal(minor, currency);
    doc.open("TxsSummry").open("TtlNtries");
    doc.text("NbOfNtries", &(credits.0 + debits.0).to_string()).text("Sum", &sum(credits.1 + debits.1));
    doc.open("TtlNetNtry").text("Amt", &sum(net.unsigned_abs())).text("CdtDbtInd", indicator(net < 0));
    doc.close("TtlNetNtry").close("TtlNtries");
    doc.open("TtlCdtNtries").text("NbOfNtries", &credits.0.to_string()).text("Sum", &sum(credits.1));
    doc.close("TtlCdtNtries");
    doc.open("TtlDbtNtries").text("NbOfNtries", &debits.0.to_string()).text("Sum", &sum(debits.1));
    doc.close("TtlDbtNtries").close("TxsSummry");
    Ok(())
}

/// One `Ntry`, booked, with its details as far as the consent shows them.
fn entry(doc: &mut Doc, t: &Transaction) -> Result<(), AdapterError> {
    let currency = t.amount.currency();
    let amount = minor(&t.amount)?.unsigned_abs();
    let side = if t.credit_debit == CreditDebit::Credit { "CRDT" } else { "DBIT" };
    let id = t.transaction_id.as_str();
    doc.open("Ntry");
    if id.chars().count() <= 35 {
        doc.text("NtryRef", id);
    }
    doc.amount("Amt", amount, currency).text("CdtDbtInd", side);
    doc.open("Sts").text("Cd", "BOOK").close("Sts");
    doc.open("BookgDt").text("DtTm", &t.booked_at).close("BookgDt");
    doc.empty("BkTxCd");
    doc.open("NtryDtls").open("TxDtls");
    doc.amount("Amt", amount, currency).text("CdtDbtInd", side);
    // The counterparty: who paid a credit, who was paid by a debit.
    if t.counterparty_name.is_some() || t.counterparty_account.is_some() {
        let (party, account) =
            if t.credit_debit == CreditDebit::Credit { ("Dbtr", "DbtrAcct") } else { ("Cdtr", "CdtrAcct") };
        doc.open("RltdPties");
        if let Some(name) = &t.counterparty_name {
            doc.open(party).open("Pty").text("Nm", &cut(name, 140)).close("Pty").close(party);
        }
        if let Some(number) = &t.counterparty_account {
            doc.open(account).open("Id").open("Othr").text("Id", &cut(number, 34)).close("Othr").close("Id");
            doc.close(account);
        }
        doc.close("RltdPties");
    }
    if let Some(text) = t.description.as_deref().filter(|d| !d.is_empty()) {
        doc.open("RmtInf");
        for piece in pieces(text, 140) {
            doc.text("Ustrd", &piece);
        }
        doc.close("RmtInf");
    }
    doc.close("TxDtls").close("NtryDtls").close("Ntry");
    Ok(())
}
