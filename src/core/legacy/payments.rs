//! Postings and one-time codes in the legacy core's wire format: `POST /core/payments` with
//! `req_seq` as its de-duplication key, E-codes for refusals.

use serde::{Deserialize, Serialize};

use super::LegacyCore;
use crate::core::{
    CoreError,
    http::encode,
    posting::{CoreCreditor, OtpCheck, OtpSent, PostingKind, PostingOrder, PostingOutcome, Refusal, Settlement},
};

/// The legacy core's refusal codes.
fn refusal(code: &str, message: &str) -> Refusal {
    match code {
        "E402" => Refusal::InsufficientFunds,
        "E423" => Refusal::AccountFrozen,
        "E424" => Refusal::AccountClosed,
        "E415" => Refusal::CurrencyMismatch,
        "E451" => Refusal::OverTransactionLimit,
        "E452" => Refusal::OverDailyLimit,
        "E453" => Refusal::RefundExceedsPayment,
        "E404" => Refusal::AccountNotFound,
        "E410" => Refusal::Voided,
        other => Refusal::Other { code: other.to_owned(), message: message.to_owned() },
    }
}

#[derive(Serialize, Default)]
struct PaymentBody<'a> {
    req_seq: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dr_acct: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cr_acct: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cr_ext_acct: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cr_ext_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cr_ext_bank: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dr_ext_acct: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dr_ext_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dr_ext_bank: Option<&'a str>,
    amt_fen: i64,
    ccy: &'a str,
    memo: &'a str,
    scene: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mcc: Option<&'a str>,
    channel: &'a str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    orig_req_seq: Option<&'a str>,
}

#[derive(Deserialize)]
struct Receipt {
    #[serde(default)]
    txn_id: Option<String>,
    status: String,
}

#[derive(Serialize)]
struct OtpSendBody<'a> {
    cust_no: &'a str,
    purpose: &'a str,
    #[serde(rename = "ref")]
    reference: &'a str,
}

#[derive(Serialize)]
struct OtpVerifyBody<'a> {
    otp_id: &'a str,
    code: &'a str,
}

#[derive(Deserialize)]
struct OtpVerified {
    cust_no: String,
    #[serde(rename = "ref")]
    reference: String,
}

fn body(order: &PostingOrder) -> PaymentBody<'_> {
    let mut b = PaymentBody {
        req_seq: &order.req_seq,
        amt_fen: order.amount_minor,
        ccy: &order.currency,
        memo: &order.memo,
        scene: &order.scene,
        mcc: order.mcc.as_deref(),
        channel: &order.channel,
        ..PaymentBody::default()
    };
    match &order.kind {
        PostingKind::Payment | PostingKind::Refund { .. } => {
            b.dr_acct = Some(&order.debtor);
            match &order.creditor {
                CoreCreditor::Internal { acct_no } => b.cr_acct = Some(acct_no),
                CoreCreditor::External { acct_no, name, bank_code } => {
                    b.cr_ext_acct = Some(acct_no);
                    b.cr_ext_name = Some(name);
                    b.cr_ext_bank = Some(bank_code);
                }
            }
            b.kind = "payment";
            if let PostingKind::Refund { original } = &order.kind {
                b.kind = "refund";
                b.orig_req_seq = Some(original);
            }
        }
        PostingKind::Reversal { original } => {
            // The original alone: the core credits its debtor back from where it went.
            b.kind = "refund";
            b.orig_req_seq = Some(original);
        }
        PostingKind::Inbound { debtor } => {
            b.kind = "inbound";
            b.cr_acct = Some(&order.debtor);
            b.dr_ext_acct = Some(&debtor.acct_no);
            b.dr_ext_name = Some(&debtor.name);
            b.dr_ext_bank = debtor.bank_code.as_deref();
        }
    }
    b
}

impl LegacyCore {
    pub(super) async fn post_order(&self, order: &PostingOrder) -> Result<PostingOutcome, CoreError> {
        match self.write::<_, Receipt>("post_payment", "/core/payments", &body(order)).await {
            Ok(r) => booked(r).map(|txn_id| PostingOutcome::Booked { txn_id }),
            Err(CoreError::NotFound) => Ok(PostingOutcome::Refused(Refusal::AccountNotFound)),
            Err(CoreError::Rejected { code, message }) => Ok(PostingOutcome::Refused(refusal(&code, &message))),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn status_of(&self, req_seq: &str) -> Result<Settlement, CoreError> {
        let path = format!("/core/payments/{}", encode(req_seq));
        match self.read::<Receipt>("payment_status", &path, &[]).await {
            Ok(r) => settlement(r),
            Err(CoreError::NotFound) => Ok(Settlement::Unknown),
            Err(CoreError::Rejected { code, .. }) if code == "E410" => Ok(Settlement::Voided),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn void_posting(&self, req_seq: &str) -> Result<Settlement, CoreError> {
        let path = format!("/core/payments/{}/void", encode(req_seq));
        match self.write::<_, Receipt>("void_payment", &path, &serde_json::json!({})).await {
            Ok(r) => settlement(r),
            Err(CoreError::Rejected { code, .. }) if code == "E410" => Ok(Settlement::Voided),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn otp_send(&self, cust_no: &str, purpose: &str, reference: &str) -> Result<OtpSent, CoreError> {
        self.write("send_otp", "/core/otp/send", &OtpSendBody { cust_no, purpose, reference }).await
    }

    pub(super) async fn otp_verify(&self, otp_id: &str, code: &str) -> Result<OtpCheck, CoreError> {
        match self.write::<_, OtpVerified>("verify_otp", "/core/otp/verify", &OtpVerifyBody { otp_id, code }).await {
            Ok(v) => Ok(OtpCheck::Verified { cust_no: v.cust_no, reference: v.reference }),
            Err(CoreError::Rejected { code, .. }) => match code.as_str() {
                "E461" => Ok(OtpCheck::Wrong),
                "E462" => Ok(OtpCheck::Locked),
                "E463" => Ok(OtpCheck::Expired),
                "E464" => Ok(OtpCheck::AlreadyUsed),
                _ => Err(CoreError::Rejected { code, message: "one-time code refused".into() }),
            },
            Err(e) => Err(e),
        }
    }
}

fn booked(r: Receipt) -> Result<String, CoreError> {
    match (r.status.as_str(), r.txn_id) {
        ("S", Some(txn_id)) => Ok(txn_id),
        (status, _) => Err(CoreError::Decode(format!("unexpected posting status `{status}`"))),
    }
}

fn settlement(r: Receipt) -> Result<Settlement, CoreError> {
    match r.status.as_str() {
        "V" => Ok(Settlement::Voided),
        _ => booked(r).map(|txn_id| Settlement::Booked { txn_id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::posting::ExternalDebtor;

    fn order(kind: PostingKind, creditor: CoreCreditor) -> PostingOrder {
        PostingOrder {
            req_seq: "pay_1".into(),
            debtor: "6222020000000000018".into(),
            creditor,
            amount_minor: 1250,
            currency: "CNY".into(),
            memo: "m".into(),
            scene: "parking".into(),
            mcc: None,
            channel: "ptn_x".into(),
            kind,
        }
    }

    #[test]
    fn each_kind_of_posting_names_the_fields_the_legacy_core_reads() {
        let internal = CoreCreditor::Internal { acct_no: "6222020000000000026".into() };
        let json = |o: &PostingOrder| serde_json::to_value(body(o)).unwrap();
        let pay = json(&order(PostingKind::Payment, internal.clone()));
        assert_eq!((pay["kind"].as_str(), pay["dr_acct"].as_str()), (Some("payment"), Some("6222020000000000018")));
        assert_eq!(pay["cr_acct"], "6222020000000000026");
        let refund = json(&order(PostingKind::Refund { original: "pay_0".into() }, internal.clone()));
        assert_eq!((refund["kind"].as_str(), refund["orig_req_seq"].as_str()), (Some("refund"), Some("pay_0")));
        assert_eq!(refund["cr_acct"], "6222020000000000026");
        let reversal = json(&order(PostingKind::Reversal { original: "pay_0".into() }, internal.clone()));
        assert_eq!((reversal["kind"].as_str(), reversal["orig_req_seq"].as_str()), (Some("refund"), Some("pay_0")));
        assert!(reversal.get("dr_acct").is_none() && reversal.get("cr_acct").is_none());
        let debtor = ExternalDebtor { acct_no: "6222020000000000018".into(), name: "张三".into(), bank_code: None };
        let inbound = json(&order(PostingKind::Inbound { debtor }, internal));
        assert_eq!(
            (inbound["kind"].as_str(), inbound["cr_acct"].as_str()),
            (Some("inbound"), Some("6222020000000000018"))
        );
        assert_eq!(inbound["dr_ext_name"], "张三");
        assert!(inbound.get("dr_acct").is_none() && inbound.get("dr_ext_bank").is_none());
    }

    #[test]
    fn refusal_codes_map_to_reasons() {
        assert_eq!(refusal("E402", ""), Refusal::InsufficientFunds);
        assert_eq!(refusal("E410", ""), Refusal::Voided);
        assert!(matches!(refusal("E777", "odd"), Refusal::Other { .. }));
    }
}
