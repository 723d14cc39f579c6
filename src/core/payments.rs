//! The core's payment postings and its one-time codes, in the core's wire format.
//!
//! A posting is idempotent by `req_seq`: the gateway sends its payment (or refund) id, so a
//! repeat after a timeout never books twice. A timeout is an *unknown* outcome, never a
//! failure: [`CoreClient::void_payment`] settles it by either finding the posting or making
//! sure it can never happen.

use serde::{Deserialize, Serialize};

use super::{CoreClient, CoreError};

/// Who is credited, as the core names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoreCreditor {
    /// An account of this bank.
    Internal { acct_no: String },
    /// An account at another bank: booked to the clearing account with these details.
    External { acct_no: String, name: String, bank_code: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostingKind {
    Payment,
    Refund,
}

/// One payment or refund for the core to book.
#[derive(Clone, Debug)]
pub struct PostingOrder {
    /// The gateway's payment or refund id: the core's de-duplication key.
    pub req_seq: String,
    pub debtor: String,
    pub creditor: CoreCreditor,
    pub amount_minor: i64,
    pub currency: String,
    pub memo: String,
    pub scene: String,
    pub mcc: Option<String>,
    /// The partner the payment came through.
    pub channel: String,
    pub kind: PostingKind,
    /// Refunds: the `req_seq` of the payment refunded.
    pub original: Option<String>,
}

/// Why the core refused a posting. Each maps to an ISO 20022 reason code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    InsufficientFunds,
    AccountFrozen,
    AccountClosed,
    CurrencyMismatch,
    OverTransactionLimit,
    OverDailyLimit,
    RefundExceedsPayment,
    AccountNotFound,
    /// The posting was voided after an unknown outcome; it can never be booked.
    Voided,
    Other {
        code: String,
        message: String,
    },
}

impl Refusal {
    fn from_code(code: &str, message: &str) -> Self {
        match code {
            "E402" => Self::InsufficientFunds,
            "E423" => Self::AccountFrozen,
            "E424" => Self::AccountClosed,
            "E415" => Self::CurrencyMismatch,
            "E451" => Self::OverTransactionLimit,
            "E452" => Self::OverDailyLimit,
            "E453" => Self::RefundExceedsPayment,
            "E404" => Self::AccountNotFound,
            "E410" => Self::Voided,
            other => Self::Other { code: other.to_owned(), message: message.to_owned() },
        }
    }

    /// ISO 20022 `ExternalStatusReason1Code` and plain words for the partner.
    pub fn iso_reason(&self) -> (&'static str, &'static str) {
        match self {
            Self::InsufficientFunds => ("AM04", "insufficient funds in the debtor account"),
            Self::AccountFrozen => ("AC06", "the account is blocked"),
            Self::AccountClosed => ("AC04", "the account is closed"),
            Self::CurrencyMismatch => ("AM03", "the currency is not that of the account"),
            Self::OverTransactionLimit => ("AM02", "the amount exceeds the customer's per-payment limit"),
            Self::OverDailyLimit => ("AM14", "the amount exceeds the customer's daily limit"),
            Self::RefundExceedsPayment => ("AM02", "the refund exceeds what remains refundable"),
            Self::AccountNotFound => ("AC01", "the account number is not known"),
            Self::Voided => {
                ("AB03", "the bank could not confirm the payment in time; it was cancelled, no money moved")
            }
            Self::Other { .. } => ("NARR", "refused by the bank's core system"),
        }
    }
}

/// What the core did with a posting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostingOutcome {
    Booked { txn_id: String },
    Refused(Refusal),
}

/// The answer to a status query or a void: booked, or certain never to be booked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    Booked {
        txn_id: String,
    },
    /// Never booked, and now never will be.
    Voided,
    /// Nothing under that `req_seq` (status query only; a void never answers this).
    Unknown,
}

#[derive(Serialize)]
struct PaymentBody<'a> {
    req_seq: &'a str,
    dr_acct: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cr_acct: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cr_ext_acct: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cr_ext_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cr_ext_bank: Option<&'a str>,
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

/// A one-time code was sent to the customer's phone.
#[derive(Clone, Debug, Deserialize)]
pub struct OtpSent {
    pub otp_id: String,
    pub masked_mobile: String,
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

/// What the core said of a one-time code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OtpCheck {
    /// Right, for the customer and the reference the code was sent for: the caller checks
    /// both are the ones it is authorising.
    Verified {
        cust_no: String,
        reference: String,
    },
    /// Wrong; the customer may try again (the core says how often in its message).
    Wrong,
    /// Too many wrong codes: this code is dead.
    Locked,
    Expired,
    AlreadyUsed,
}

impl CoreClient {
    /// Books a payment or refund. `Err(Timeout | Connect | Status)` means the outcome is
    /// unknown (except `Connect`, where the core never saw it): never report it as a failure.
    pub async fn post_payment(&self, order: &PostingOrder) -> Result<PostingOutcome, CoreError> {
        let (cr_acct, ext) = match &order.creditor {
            CoreCreditor::Internal { acct_no } => (Some(acct_no.as_str()), None),
            CoreCreditor::External { acct_no, name, bank_code } => {
                (None, Some((acct_no.as_str(), name.as_str(), bank_code.as_str())))
            }
        };
        let body = PaymentBody {
            req_seq: &order.req_seq,
            dr_acct: &order.debtor,
            cr_acct,
            cr_ext_acct: ext.map(|e| e.0),
            cr_ext_name: ext.map(|e| e.1),
            cr_ext_bank: ext.map(|e| e.2),
            amt_fen: order.amount_minor,
            ccy: &order.currency,
            memo: &order.memo,
            scene: &order.scene,
            mcc: order.mcc.as_deref(),
            channel: &order.channel,
            kind: match order.kind {
                PostingKind::Payment => "payment",
                PostingKind::Refund => "refund",
            },
            orig_req_seq: order.original.as_deref(),
        };
        match self.post::<_, Receipt>("post_payment", "/core/payments", &body).await {
            Ok(r) => booked(r).map(|txn_id| PostingOutcome::Booked { txn_id }),
            Err(CoreError::NotFound) => Ok(PostingOutcome::Refused(Refusal::AccountNotFound)),
            Err(CoreError::Rejected { code, message }) => {
                Ok(PostingOutcome::Refused(Refusal::from_code(&code, &message)))
            }
            Err(e) => Err(e),
        }
    }

    /// What the core knows of `req_seq`. Safe to repeat.
    pub async fn payment_status(&self, req_seq: &str) -> Result<Settlement, CoreError> {
        let path = format!("/core/payments/{}", super::encode(req_seq));
        match self.get::<Receipt>("payment_status", &path, &[]).await {
            Ok(r) => settlement(r),
            Err(CoreError::NotFound) => Ok(Settlement::Unknown),
            Err(CoreError::Rejected { code, .. }) if code == "E410" => Ok(Settlement::Voided),
            Err(e) => Err(e),
        }
    }

    /// Settles an unknown outcome: the booking if it happened, else a void that stops it
    /// from ever happening. Safe to repeat.
    pub async fn void_payment(&self, req_seq: &str) -> Result<Settlement, CoreError> {
        let path = format!("/core/payments/{}/void", super::encode(req_seq));
        match self.post::<_, Receipt>("void_payment", &path, &serde_json::json!({})).await {
            Ok(r) => settlement(r),
            Err(CoreError::Rejected { code, .. }) if code == "E410" => Ok(Settlement::Voided),
            Err(e) => Err(e),
        }
    }

    /// Sends a one-time code to the customer's registered phone.
    pub async fn send_otp(&self, cust_no: &str, purpose: &str, reference: &str) -> Result<OtpSent, CoreError> {
        self.post("send_otp", "/core/otp/send", &OtpSendBody { cust_no, purpose, reference }).await
    }

    pub async fn verify_otp(&self, otp_id: &str, code: &str) -> Result<OtpCheck, CoreError> {
        match self.post::<_, OtpVerified>("verify_otp", "/core/otp/verify", &OtpVerifyBody { otp_id, code }).await {
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
