//! `admi.002.001.01` `MessageReject`: how this channel refuses a statement request (and any
//! call refused before its operation was known), with the gateway problem's HTTP status.

use scenegate_adapter_contract::{ErrorView, RawRequest, RawResponse};

use super::camt053::created_at;
use super::pain001::{self, reason};
use super::pain002;
use super::xml::{Doc, cut};

pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:admi.002.001.01";

/// `RltdRef/Ref` is the rejected message's own id; a statement request (a `GET`) has none,
/// so it is `NONREF` and the gateway's request id goes in `AddtlData`.
pub fn render(req: &RawRequest, error: &ErrorView<'_>) -> RawResponse {
    let mut doc = Doc::new(NAMESPACE);
    doc.open("admi.002.001.01");
    doc.open("RltdRef").text("Ref", "NONREF").close("RltdRef");
    doc.open("Rsn").text("RjctgPtyRsn", &cut(&error.code.to_ascii_uppercase(), 35));
    if let Ok(at) = created_at(req) {
        doc.text("RjctnDtTm", &at);
    }
    doc.text("RsnDesc", &cut(error.detail, 350));
    doc.text("AddtlData", &cut(&format!("{}; request_id={}", error.title, error.request_id), 20_000));
    doc.close("Rsn").close("admi.002.001.01");
    let mut out = RawResponse::new(error.status, "application/xml", doc.finish());
    if let Some(after) = error.retry_after {
        out.headers.push(("retry-after".into(), after.to_string()));
    }
    out
}

/// A refused `pain.001`: a `pain.002` with `GrpSts` `RJCT`, the ISO reason of a document
/// that failed its checks (read again here: the adapter keeps no state between calls), else
/// the reason the gateway's refusal maps to, else the problem type as a proprietary reason.
pub fn pain001(req: &RawRequest, error: &ErrorView<'_>) -> RawResponse {
    let original = pain001::original(&req.body);
    let (code, text) = match pain001::decode(&req.body) {
        Err(refusal) if error.code == "invalid_request" => (refusal.code.to_owned(), refusal.text),
        _ => (gateway_reason(error.code), error.detail.to_owned()),
    };
    match pain002::rejection(req, &original, &code, &text) {
        Ok(body) => {
            let mut out = RawResponse::new(error.status, "application/xml", body);
            if let Some(after) = error.retry_after {
                out.headers.push(("retry-after".into(), after.to_string()));
            }
            out
        }
        Err(_) => render(req, error),
    }
}

/// The ISO 20022 reason for a gateway refusal, where one fits.
fn gateway_reason(problem: &str) -> String {
    match problem {
        "idempotency_key_reused" => reason::DUPLICATE_MESSAGE.to_owned(),
        "partner_limit_exceeded" => reason::NOT_ALLOWED_AMOUNT.to_owned(),
        other => other.to_ascii_uppercase(),
    }
}
