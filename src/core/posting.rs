//! Postings (payments, refunds, inbound credits) and one-time codes as the gateway asks any
//! core for them, and what a core can answer.
//!
//! A posting is idempotent by `req_seq`: the gateway sends its payment (or refund) id, so a
//! repeat after a timeout never books twice. A timeout is an *unknown* outcome, never a
//! failure: a void settles it by either finding the posting or making sure it can never
//! happen.

/// Who is credited, as the core names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoreCreditor {
    /// An account of this bank.
    Internal { acct_no: String },
    /// An account at another bank (or in another of this bank's core systems): booked to
    /// the core's clearing account with these details.
    External { acct_no: String, name: String, bank_code: String },
}

/// Who is debited by an inbound credit: the payer as the creditor's statement shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalDebtor {
    pub acct_no: String,
    pub name: String,
    pub bank_code: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostingKind {
    Payment,
    /// Refunds: the `req_seq` of the payment refunded. `debtor` and `creditor` are the
    /// original's creditor and debtor, which the core checks.
    Refund {
        original: String,
    },
    /// The whole of the original given back, its accounts found by the core: how the first
    /// leg of a payment between two cores is undone when the second cannot be booked.
    Reversal {
        original: String,
    },
    /// Money arriving from outside this core (the second leg of a payment between two core
    /// systems): the core's clearing account is debited, `creditor` credited.
    Inbound {
        debtor: ExternalDebtor,
    },
}

/// One posting for a core to book.
#[derive(Clone, Debug)]
pub struct PostingOrder {
    /// The gateway's payment or refund id (or a leg of it): the core's de-duplication key.
    pub req_seq: String,
    /// The debited customer account; for an inbound credit, the account credited.
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
    /// Between two cores: the creditor's core could not be credited, so the debit on the
    /// debtor's core was reversed.
    NotCredited,
    Other {
        code: String,
        message: String,
    },
}

impl Refusal {
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
            Self::NotCredited => {
                ("MS03", "the payee's account could not be credited; the debit was reversed, no money moved")
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
    /// A payment between two core systems whose second leg was refused: the first leg was
    /// reversed (booked, recorded under its own `req_seq`), so no money moved in the end.
    Reversed(Refusal),
}

/// A one-time code was sent to the customer's phone.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct OtpSent {
    pub otp_id: String,
    pub masked_mobile: String,
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
