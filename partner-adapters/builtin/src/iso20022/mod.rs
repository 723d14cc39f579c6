//! `iso20022`: ISO 20022 XML for a corporate customer's treasury or ERP system.
//!
//! ISO 20022 has no in-band signature (its messages are secured by the channel), so the
//! partner calls with the gateway's own OAuth access tokens (`private_key_jwt`, optionally
//! sender-constrained), at the protocol's paths under `/gw/{partner_id}/…`:
//!
//! - `GET camt.053/accounts/{account_id}?from=…&to=…&limit=…&cursor=…`: a `camt.053.001.08`
//!   `BkToCstmrStmt` of one consented account, with the customer-bound token of an
//!   account-access consent (`ReadBalances` and `ReadTransactionsBasic` or `…Detail`);
//! - `POST consents`, `GET consents/{consent_id}`, `DELETE consents/{consent_id}`: the
//!   account-access consent the customer then authorises on the bank's pages. ISO 20022 has
//!   no consent message, so these take and answer the standard API's JSON (as
//!   `/v1/consents` does), refusals included;
//! - `GET accounts`: the accounts the customer chose, with the ids statements are asked by
//!   (the standard API's JSON, as `/v1/accounts`; ISO 20022 lists no accounts either).
//!
//! Statements: one statement per page of transactions, entries in booking order (oldest
//! first). `StmtPgntn` numbers the pages and says whether more follow; the next page's
//! cursor is in a `Link: <…>; rel="next"` header and is passed back as `cursor` (it is the
//! gateway's own cursor prefixed by the next page number, `2.…`). Balances, all derived from
//! what the gateway knows, none invented:
//! - `ITBD` and `ITAV`: the booked and available balance when the statement was made
//!   (interim: the day is not closed), always present;
//! - `OPBD` and `CLBD`: the booked balance just before the page's first entry and just after
//!   its last, dated with those entries' booking times; only when the consent shows running
//!   balances (`ReadTransactionsDetail`) and the page has entries.
//!
//! `FrToDt` is the window the entries come from (the asked `from`/`to` cut to the consent's
//! window by the gateway), ending when the statement was made if open or later; absent when
//! the window has no start.
//!
//! `TxsSummry` counts and sums are re-derived from the entries listed. Entries carry no bank
//! transaction code (the core books none), so the mandatory `BkTxCd` is empty rather than
//! made up. Amounts are exact decimals with their `Ccy`, never floats.
//!
//! Bulk payments (Berlin Group's bulk, in ISO 20022), with the partner's own token:
//!
//! - `POST pain.001` (`application/xml`, scope `payments:write`): a `pain.001.001.09` of one
//!   `PmtInf` with 1 to 100 credit transfers. Checked whole (see `pain001.rs`: counts and
//!   control sums re-derived at both levels, exact amounts, one currency, unique
//!   `EndToEndId`s); the gateway makes it one payment consent of kind `bulk` and answers
//!   `201` with a `pain.002` (`GrpSts` `ACTC`) and `Location: /gw/{partner_id}/pain.002/{consent_id}`:
//!   the consent id the customer's authorisation (PAR, `/oauth2/authorize`) is started
//!   with. `MsgId` is the idempotency key: the same document again gets the first answer,
//!   another document under the same `MsgId` is refused (`DU01`). A refused `pain.001` is
//!   answered with a `pain.002` `GrpSts` `RJCT` and the reason code (`AM18`, `AM10`, …).
//! - `POST pain.001/{consent_id}/execution` (no body, the customer-bound token of that
//!   consent, scope `payments:initiate`): one payment per transaction; answers the
//!   `pain.002` of the outcome. The consent is consumed by it: a retry gets the same answer.
//! - `GET pain.002/{consent_id}`: the bulk's `pain.002` as it now stands.
//!
//! A refused statement request is answered with an `admi.002.001.01` `MessageReject` (the
//! ISO 20022 answer to a message that could not be processed) with the HTTP status of the
//! gateway's problem, the problem's type in `RjctgPtyRsn` and its detail in `RsnDesc`.

mod camt053;
mod pain001;
mod pain002;
mod reject;
mod transform;
mod tree;
mod xml;

use scenegate_adapter_contract::{
    AdapterConfigError, AdapterError, AdapterKind, Authentication, BuildContext, CanonicalRequest, CanonicalResponse,
    Capabilities, Entry, ErrorView, EventNotice, IdempotencyRef, Notifications, Notify, Operation, PartnerAdapter,
    RawRequest, RawResponse, SecurityLevel,
};

pub use transform::{Route, route};

pub struct Kind;

const CAPABILITIES: Capabilities = Capabilities {
    operations: &[
        Operation::CreateConsent,
        Operation::GetConsent,
        Operation::DeleteConsent,
        Operation::ListAccounts,
        Operation::ListTransactions,
        Operation::InitiateBulkPayment,
        Operation::ExecuteBulkPayment,
        Operation::GetBulkPayment,
    ],
    authentication: Authentication::BearerToken,
    entry: Entry::PathStyle,
    notifications: Notifications::QueryOnly,
    highest_level: SecurityLevel::A2,
};

impl AdapterKind for Kind {
    fn name(&self) -> &'static str {
        "iso20022"
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn PartnerAdapter>, AdapterConfigError> {
        ctx.refuse_settings("iso20022")?;
        Ok(Box::new(Iso20022))
    }
}

#[derive(Debug)]
pub struct Iso20022;

impl PartnerAdapter for Iso20022 {
    fn operation(&self, req: &RawRequest) -> Result<Operation, AdapterError> {
        transform::operation(req)
    }

    fn order_reference(&self, op: Operation, req: &RawRequest) -> Result<Option<IdempotencyRef>, AdapterError> {
        transform::order_reference(op, req)
    }

    fn decode(&self, op: Operation, req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
        transform::decode(op, req)
    }

    fn encode(&self, op: Operation, req: &RawRequest, res: CanonicalResponse) -> Result<RawResponse, AdapterError> {
        transform::encode(op, req, res)
    }

    fn encode_error(&self, _op: Option<Operation>, req: &RawRequest, error: &ErrorView<'_>) -> Option<RawResponse> {
        // Consents and the account list are the standard API's JSON, and so are their
        // refusals (problem+json).
        match transform::route_of(req) {
            Some(Route::CreateConsent | Route::Consent { .. } | Route::Accounts) => None,
            // A refused `pain.001` is answered as ISO 20022 answers one: a `pain.002`.
            Some(Route::Initiate) => Some(reject::pain001(req, error)),
            _ => Some(reject::render(req, error)),
        }
    }

    fn notification(&self, _event: &EventNotice<'_>, _now: i64) -> Result<Notify, AdapterError> {
        // The partner asks (statements); nothing is pushed.
        Ok(Notify::Skip)
    }
}

#[cfg(test)]
mod bulk_tests;
#[cfg(test)]
mod tests;
