//! `pain.002.001.10` `CstmrPmtStsRpt`: the status of a bulk (accepted, executed, read) and
//! of each of its payments, and a refused `pain.001`.
//!
//! The group status (`GrpSts`, repeated as `PmtInfSts` for the one block):
//! - before execution: `ACTC` (validated, waiting for or holding the customer's
//!   authorisation), `RJCT` once the consent can no longer be executed (the customer
//!   declined, it expired or was revoked);
//! - after: `ACSC` every payment booked, `RJCT` none, `PART` some refused and the rest
//!   booked or settling, else `ACSP` (settling: a core answer is pending).
//!
//! Each transaction after execution: one `TxInfAndSts` with `OrgnlEndToEndId`, `TxSts`,
//! `StsRsnInf/Rsn/Cd` when refused (`AM04` insufficient funds, …) and the payment id as
//! `AcctSvcrRef`.

use scenegate_adapter_contract::{
    AdapterError, RawRequest,
    canonical::{BulkPaymentView, ConsentStatus, Iso20022Status},
};

use super::camt053::{created_at, message_id};
use super::pain001::{MESSAGE_NAME, Original, reason};
use super::xml::{Doc, cut, minor};

pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10";

/// A status and, for a refusal, its reason code and words.
pub struct Status<'a> {
    pub code: &'static str,
    pub reason: Option<(&'a str, &'a str)>,
}

fn status_reason(doc: &mut Doc, code: &str, text: &str) {
    doc.open("StsRsnInf").open("Rsn");
    // ISO codes are four capitals; anything else is the gateway's own (proprietary) reason.
    if code.len() == 4 && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        doc.text("Cd", code);
    } else {
        doc.text("Prtry", &cut(code, 35));
    }
    doc.close("Rsn");
    if !text.is_empty() {
        doc.text("AddtlInf", &cut(text, 105));
    }
    doc.close("StsRsnInf");
}

fn header(doc: &mut Doc, req: &RawRequest) -> Result<(), AdapterError> {
    doc.open("GrpHdr").text("MsgId", &message_id("SGP", req)).text("CreDtTm", &created_at(req)?).close("GrpHdr");
    Ok(())
}

/// The group status of a bulk as it now stands.
pub fn group_status(bulk: &BulkPaymentView) -> Status<'static> {
    let outcomes: Vec<Iso20022Status> =
        bulk.transactions.iter().filter_map(|t| t.payment.as_ref()).map(|p| p.status).collect();
    if outcomes.is_empty() {
        return match bulk.consent_status {
            ConsentStatus::AwaitingAuthorisation | ConsentStatus::Authorised | ConsentStatus::Consumed => {
                Status { code: "ACTC", reason: None }
            }
            ConsentStatus::Rejected => {
                Status { code: "RJCT", reason: Some(("MS02", "the customer declined to authorise the payments")) }
            }
            ConsentStatus::Expired => {
                Status { code: "RJCT", reason: Some((reason::NARRATIVE, "the authorisation expired unused")) }
            }
            ConsentStatus::Revoked => Status { code: "RJCT", reason: Some(("DS02", "the order was withdrawn")) },
        };
    }
    let rejected = outcomes.iter().filter(|s| **s == Iso20022Status::Rjct).count();
    let booked = outcomes.iter().filter(|s| **s == Iso20022Status::Acsc).count();
    let code = if rejected == outcomes.len() {
        "RJCT"
    } else if rejected > 0 {
        "PART"
    } else if booked == outcomes.len() {
        "ACSC"
    } else {
        "ACSP"
    };
    Status { code, reason: None }
}

/// The report of a bulk: group, block, and one entry per transaction once executed.
pub fn report(req: &RawRequest, bulk: &BulkPaymentView) -> Result<Vec<u8>, AdapterError> {
    let currency = bulk.currency;
    let mut sum = 0i128;
    for t in &bulk.transactions {
        sum += minor(&t.amount)?;
    }
    let count = bulk.transactions.len().to_string();
    let control = super::xml::decimal(sum.unsigned_abs(), currency);
    let status = group_status(bulk);
    let mut doc = Doc::new(NAMESPACE);
    doc.open("CstmrPmtStsRpt");
    header(&mut doc, req)?;
    doc.open("OrgnlGrpInfAndSts").text("OrgnlMsgId", &bulk.message_id).text("OrgnlMsgNmId", MESSAGE_NAME);
    doc.text("OrgnlNbOfTxs", &count).text("OrgnlCtrlSum", &control).text("GrpSts", status.code);
    if let Some((code, text)) = status.reason {
        status_reason(&mut doc, code, text);
    }
    doc.close("OrgnlGrpInfAndSts");
    doc.open("OrgnlPmtInfAndSts").text("OrgnlPmtInfId", &bulk.payment_info_id);
    doc.text("OrgnlNbOfTxs", &count).text("OrgnlCtrlSum", &control).text("PmtInfSts", status.code);
    for t in &bulk.transactions {
        let Some(payment) = &t.payment else { continue };
        doc.open("TxInfAndSts").text("OrgnlEndToEndId", &t.end_to_end_id).text("TxSts", payment.status.code());
        if let Some(r) = &payment.reason {
            status_reason(&mut doc, &r.code, &r.description);
        }
        doc.text("AcctSvcrRef", &cut(payment.payment_id.as_str(), 35));
        doc.open("OrgnlTxRef").open("Amt").amount("InstdAmt", minor(&t.amount)?.unsigned_abs(), currency);
        doc.close("Amt").close("OrgnlTxRef").close("TxInfAndSts");
    }
    doc.close("OrgnlPmtInfAndSts").close("CstmrPmtStsRpt");
    Ok(doc.finish())
}

/// A `pain.001` (or a call on a bulk) refused as a whole: `GrpSts` `RJCT` with the reason.
pub fn rejection(req: &RawRequest, original: &Original, code: &str, text: &str) -> Result<Vec<u8>, AdapterError> {
    let mut doc = Doc::new(NAMESPACE);
    doc.open("CstmrPmtStsRpt");
    header(&mut doc, req)?;
    doc.open("OrgnlGrpInfAndSts");
    doc.text("OrgnlMsgId", original.message_id.as_deref().unwrap_or("NONREF")).text("OrgnlMsgNmId", MESSAGE_NAME);
    doc.text("GrpSts", "RJCT");
    status_reason(&mut doc, code, text);
    doc.close("OrgnlGrpInfAndSts");
    if let Some(block) = &original.payment_info_id {
        doc.open("OrgnlPmtInfAndSts").text("OrgnlPmtInfId", block).text("PmtInfSts", "RJCT").close("OrgnlPmtInfAndSts");
    }
    doc.close("CstmrPmtStsRpt");
    Ok(doc.finish())
}
