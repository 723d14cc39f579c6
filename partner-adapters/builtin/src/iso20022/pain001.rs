//! `pain.001.001.09` `CstmrCdtTrfInitn` → a canonical [`BulkPaymentRequest`], every check
//! made here refused with the ISO 20022 status reason code a `pain.002` carries.
//!
//! Accepted: one `PmtInf` (`PmtMtd` `TRF`) of 1 to 100 `CdtTrfTxInf`, all amounts in one
//! currency with exactly that currency's decimals; each creditor by `CdtrAcct/Id/Othr/Id`
//! and `Cdtr/Nm`, its bank by its CNAPS code in `ClrSysMmbId/MmbId` when it is another bank;
//! `EndToEndId`s unique; the debtor account optional (the gateway's `acc_…` id, as
//! statements name it). `NbOfTxs` and `CtrlSum` are re-derived at both levels and must be
//! what was declared (`CtrlSum` may be left out, as ISO allows).

use scenegate_adapter_contract::{
    AdapterError, Currency, Money,
    canonical::{BulkPaymentRequest, BulkTransaction, Creditor, MAX_BULK_TRANSACTIONS},
};

use super::tree::{self, Node};

pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";
/// The message name a `pain.002` quotes as `OrgnlMsgNmId`.
pub const MESSAGE_NAME: &str = "pain.001.001.09";

/// A refused document: the ISO 20022 `ExternalStatusReason1Code`, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub field: &'static str,
    pub text: String,
}

/// The reason codes used (ISO 20022 external code list, `ExternalStatusReason1Code`).
pub mod reason {
    /// `FF01` InvalidFileFormat: not a readable `pain.001.001.09`.
    pub const FILE_FORMAT: &str = "FF01";
    /// `AM18` InvalidNumberOfTransactions: `NbOfTxs` is not the number of transactions.
    pub const NUMBER_OF_TRANSACTIONS: &str = "AM18";
    /// `AM10` InvalidControlSum: `CtrlSum` is not the sum of the amounts.
    pub const CONTROL_SUM: &str = "AM10";
    /// `AM12` InvalidAmount.
    pub const AMOUNT: &str = "AM12";
    /// `AM01` ZeroAmount.
    pub const ZERO_AMOUNT: &str = "AM01";
    /// `AM03` NotAllowedCurrency.
    pub const CURRENCY: &str = "AM03";
    /// `AM05` Duplication: an `EndToEndId` given twice.
    pub const DUPLICATION: &str = "AM05";
    /// `AC01` IncorrectAccountNumber.
    pub const ACCOUNT: &str = "AC01";
    /// `RC01` BankIdentifierIncorrect.
    pub const BANK: &str = "RC01";
    /// `DU01` DuplicateMessageID: the `MsgId` was used for another document.
    pub const DUPLICATE_MESSAGE: &str = "DU01";
    /// `AM02` NotAllowedAmount: over a limit.
    pub const NOT_ALLOWED_AMOUNT: &str = "AM02";
    /// `NARR`: the reason is in the text.
    pub const NARRATIVE: &str = "NARR";
}

fn refuse(code: &'static str, field: &'static str, text: impl Into<String>) -> Refusal {
    Refusal { code, field, text: text.into() }
}

impl From<Refusal> for AdapterError {
    fn from(r: Refusal) -> Self {
        AdapterError::field(r.field, format!("{} ({})", r.text, r.code))
    }
}

/// What a `pain.002` quotes of the original message, as far as it could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Original {
    pub message_id: Option<String>,
    pub payment_info_id: Option<String>,
}

/// The message id and payment information id of a document, if it can be read at all.
pub fn original(body: &[u8]) -> Original {
    let Ok(root) = tree::parse(body) else { return Original::default() };
    let text = |path: &[&str]| root.text_at(path).filter(|t| id_ok(t)).map(str::to_owned);
    Original {
        message_id: text(&["CstmrCdtTrfInitn", "GrpHdr", "MsgId"]),
        payment_info_id: text(&["CstmrCdtTrfInitn", "PmtInf", "PmtInfId"]),
    }
}

/// An ISO `Max35Text` identifier: 1 to 35 characters, no control characters.
fn id_ok(text: &str) -> bool {
    (1..=35).contains(&text.chars().count()) && !text.chars().any(char::is_control)
}

fn id(node: &Node, path: &[&str], field: &'static str) -> Result<String, Refusal> {
    let text = node.text_at(path).unwrap_or_default();
    if id_ok(text) {
        Ok(text.to_owned())
    } else {
        Err(refuse(reason::FILE_FORMAT, field, "must be 1 to 35 characters"))
    }
}

pub fn decode(body: &[u8]) -> Result<BulkPaymentRequest, Refusal> {
    let root = tree::parse(body).map_err(|e| refuse(reason::FILE_FORMAT, "Document", e.to_string()))?;
    if root.name != "Document" || root.attr("xmlns") != Some(NAMESPACE) {
        return Err(refuse(reason::FILE_FORMAT, "Document", format!("must be a `{MESSAGE_NAME}` document")));
    }
    let init =
        root.child("CstmrCdtTrfInitn").ok_or_else(|| refuse(reason::FILE_FORMAT, "CstmrCdtTrfInitn", "is missing"))?;
    let header = init.child("GrpHdr").ok_or_else(|| refuse(reason::FILE_FORMAT, "GrpHdr", "is missing"))?;
    let message_id = id(header, &["MsgId"], "GrpHdr/MsgId")?;
    let mut blocks = init.all("PmtInf");
    let block = blocks.next().ok_or_else(|| refuse(reason::FILE_FORMAT, "PmtInf", "is missing"))?;
    if blocks.next().is_some() {
        return Err(refuse(reason::NARRATIVE, "PmtInf", "send one payment information block per message"));
    }
    let payment_info_id = id(block, &["PmtInfId"], "PmtInf/PmtInfId")?;
    if block.text_at(&["PmtMtd"]) != Some("TRF") {
        return Err(refuse(reason::FILE_FORMAT, "PmtInf/PmtMtd", "must be TRF (credit transfer)"));
    }
    let debtor_account_id = match block.text_at(&["DbtrAcct", "Id", "Othr", "Id"]) {
        None => None,
        Some(text) => Some(text.parse().map_err(|_| {
            refuse(reason::ACCOUNT, "PmtInf/DbtrAcct/Id/Othr/Id", "must be an account id the bank gave (`acc_…`)")
        })?),
    };

    let entries: Vec<&Node> = block.all("CdtTrfTxInf").collect();
    if entries.is_empty() || entries.len() > MAX_BULK_TRANSACTIONS {
        return Err(refuse(
            reason::NARRATIVE,
            "PmtInf/CdtTrfTxInf",
            format!("a payment information block has 1 to {MAX_BULK_TRANSACTIONS} transactions"),
        ));
    }
    let mut transactions = Vec::with_capacity(entries.len());
    for entry in entries {
        let tx = transaction(entry)?;
        if transactions.iter().any(|t: &BulkTransaction| t.end_to_end_id == tx.end_to_end_id) {
            return Err(refuse(
                reason::DUPLICATION,
                "CdtTrfTxInf/PmtId/EndToEndId",
                format!("`{}` is given more than once", tx.end_to_end_id),
            ));
        }
        transactions.push(tx);
    }
    let currency = transactions[0].amount.currency();
    if transactions.iter().any(|t| t.amount.currency() != currency) {
        return Err(refuse(reason::CURRENCY, "CdtTrfTxInf/Amt/InstdAmt/@Ccy", "every amount must be in one currency"));
    }
    if let Some(ccy) = block.text_at(&["DbtrAcct", "Ccy"])
        && ccy != currency.code()
    {
        return Err(refuse(reason::CURRENCY, "PmtInf/DbtrAcct/Ccy", format!("the amounts are in {currency}")));
    }
    let count = transactions.len();
    let sum: i128 = transactions.iter().map(|t| i128::from(t.amount.to_minor().unwrap_or_default())).sum();
    for (node, at) in [(header, "GrpHdr"), (block, "PmtInf")] {
        totals(node, at, count, sum, currency)?;
    }
    Ok(BulkPaymentRequest { message_id, payment_info_id, currency, debtor_account_id, transactions })
}

/// `NbOfTxs` (required in the group header) and `CtrlSum` (if given) against what is there.
fn totals(node: &Node, at: &'static str, count: usize, sum: i128, currency: Currency) -> Result<(), Refusal> {
    let (count_field, sum_field) =
        if at == "GrpHdr" { ("GrpHdr/NbOfTxs", "GrpHdr/CtrlSum") } else { ("PmtInf/NbOfTxs", "PmtInf/CtrlSum") };
    match node.text_at(&["NbOfTxs"]) {
        None if at == "GrpHdr" => return Err(refuse(reason::FILE_FORMAT, count_field, "is missing")),
        None => {}
        Some(declared) if declared == count.to_string() => {}
        Some(declared) => {
            return Err(refuse(
                reason::NUMBER_OF_TRANSACTIONS,
                count_field,
                format!("says {} but the message has {count}", declared.chars().take(20).collect::<String>()),
            ));
        }
    }
    if let Some(declared) = node.text_at(&["CtrlSum"])
        && control_sum(declared, currency) != Some(sum)
    {
        return Err(refuse(
            reason::CONTROL_SUM,
            sum_field,
            format!(
                "says {} but the amounts add up to {}",
                declared.chars().take(40).collect::<String>(),
                super::xml::decimal(sum.unsigned_abs(), currency)
            ),
        ));
    }
    Ok(())
}

/// A `CtrlSum` (any number of decimals) in minor units of `currency`, if it is exactly a
/// whole number of them.
pub fn control_sum(text: &str, currency: Currency) -> Option<i128> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let places = currency.minor_units() as usize;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 18 || !digits(int) || !digits(frac) || frac.len() > 18 {
        return None;
    }
    if text.contains('.') && frac.is_empty() {
        return None;
    }
    let (kept, rest) = frac.split_at(frac.len().min(places));
    if rest.bytes().any(|b| b != b'0') {
        return None;
    }
    let scaled = format!("{int}{kept:0<places$}");
    scaled.parse().ok()
}

/// An `InstdAmt`: digits with at most the currency's decimals, more than zero.
pub fn amount(text: &str, currency: Currency) -> Result<Money, Refusal> {
    let field = "CdtTrfTxInf/Amt/InstdAmt";
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let places = currency.minor_units() as usize;
    if int.is_empty() || !digits(int) || !digits(frac) || (text.contains('.') && frac.is_empty()) {
        return Err(refuse(reason::AMOUNT, field, "must be a decimal amount such as 12500.00"));
    }
    if frac.len() > places {
        return Err(refuse(reason::AMOUNT, field, format!("{currency} amounts have at most {places} decimals")));
    }
    if int.len() > 15 {
        return Err(refuse(reason::AMOUNT, field, "is too large"));
    }
    let minor: i64 = format!("{int}{frac:0<places$}")
        .parse()
        .map_err(|_| refuse(reason::AMOUNT, field, "must be a decimal amount such as 12500.00"))?;
    if minor == 0 {
        return Err(refuse(reason::ZERO_AMOUNT, field, "must be more than zero"));
    }
    Ok(Money::from_minor(minor, currency))
}

fn transaction(node: &Node) -> Result<BulkTransaction, Refusal> {
    let end_to_end_id = id(node, &["PmtId", "EndToEndId"], "CdtTrfTxInf/PmtId/EndToEndId")?;
    let instructed = node
        .at(&["Amt", "InstdAmt"])
        .ok_or_else(|| refuse(reason::AMOUNT, "CdtTrfTxInf/Amt/InstdAmt", "is missing"))?;
    let currency: Currency = instructed.attr("Ccy").unwrap_or_default().parse().map_err(|_| {
        refuse(reason::CURRENCY, "CdtTrfTxInf/Amt/InstdAmt/@Ccy", "is not a currency this bank pays in")
    })?;
    let amount = amount(instructed.text.trim(), currency)?;
    let account = node.text_at(&["CdtrAcct", "Id", "Othr", "Id"]).unwrap_or_default();
    if account.is_empty() || account.len() > 34 || !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(refuse(reason::ACCOUNT, "CdtTrfTxInf/CdtrAcct/Id/Othr/Id", "must be 1 to 34 letters or digits"));
    }
    let name = node.text_at(&["Cdtr", "Nm"]).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 140 || name.chars().any(char::is_control) {
        return Err(refuse(reason::FILE_FORMAT, "CdtTrfTxInf/Cdtr/Nm", "must be 1 to 140 characters"));
    }
    // The data standard's rule, as the standard API applies it (a CNAPS code here).
    let bank_code = match node.text_at(&["CdtrAgt", "FinInstnId", "ClrSysMmbId", "MmbId"]) {
        None => None,
        Some(code) if scenegate_adapter_contract::is_bank_code(code) => Some(code.to_owned()),
        Some(_) => {
            return Err(refuse(
                reason::BANK,
                "CdtTrfTxInf/CdtrAgt/FinInstnId/ClrSysMmbId/MmbId",
                "must be the creditor bank's CNAPS code (12 digits)",
            ));
        }
    };
    let pieces: Vec<&str> =
        node.at(&["RmtInf"]).map(|r| r.all("Ustrd").map(|u| u.text.trim()).collect()).unwrap_or_default();
    let remittance_reference = match pieces.join(" ").trim() {
        "" => end_to_end_id.clone(),
        text if text.chars().count() <= 140 && !text.chars().any(char::is_control) => text.to_owned(),
        _ => return Err(refuse(reason::FILE_FORMAT, "CdtTrfTxInf/RmtInf/Ustrd", "must be at most 140 characters")),
    };
    Ok(BulkTransaction {
        end_to_end_id,
        amount,
        creditor: Creditor {
            merchant: None,
            account_number: Some(account.to_owned()),
            name: Some(name.to_owned()),
            bank_code,
        },
        remittance_reference,
    })
}
