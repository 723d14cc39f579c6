//! A mock of the bank's core systems, reached by the gateway over real HTTP.
//!
//! It speaks the core's own wire format (a `ret_code` envelope, `_fen` integer amounts, basis
//! points, Beijing-time `yyyyMMddHHmmss` strings), unlike the gateway's, so the gateway's
//! normalising is exercised for real. Behind it is a double-entry ledger in SQLite: every
//! movement is one txn with two postings that net to zero, balances are sums of postings, and
//! `GET /core/ledger/check` audits that at any time.
//!
//! A request goes: `routes` (path table, parameter checks) → `ledger` (the only writer of
//! money; `payment` adds a payment's checks on top of it) or a plain query → `wire`
//! (envelope) / `error` (the one refusal mapping).
//!
//! The same process can instead play the bank's new core: the modern dialect
//! (`routes::modern`, its own `error` mapping and amount strings) over the same engine, and
//! either core may hold only a range of the demo accounts (both described below).
//!
//! # Envelope and codes
//!
//! Every answer is `{ret_code, ret_msg, data}`. `"0000"` is success; a business refusal is
//! HTTP 200 with an E-code and `data: null`, so read `ret_code`, not the status. Codes:
//!
//! | code | meaning |
//! |---|---|
//! | `E400` | bad parameter; `ret_msg` names it |
//! | `E401` | invalid login id or password |
//! | `E402` | insufficient available balance |
//! | `E404` | not found: debtor, creditor, original payment, payment, otp, customer, account |
//! | `E409` | `req_seq` already used with different content (or by a plain transfer) |
//! | `E410` | `req_seq` has been voided |
//! | `E415` | currency differs from an account's (or, for a refund, the original's) |
//! | `E423` | account frozen |
//! | `E424` | account closed |
//! | `E451` | over the payer's per-payment limit |
//! | `E452` | over the payer's daily payment limit (`ret_msg` says what is left today) |
//! | `E453` | refund over what remains refundable of the original |
//! | `E461` | wrong one-time code (`ret_msg` says how many attempts are left) |
//! | `E462` | one-time code locked after 5 wrong codes |
//! | `E463` | one-time code expired |
//! | `E464` | one-time code already used |
//! | `E999` | internal error (HTTP 500; the cause is logged, never answered) |
//!
//! # Payment API
//!
//! **`POST /core/payments`** posts one payment, refund or inbound credit as one balanced
//! double-entry transaction. Body:
//!
//! | field | |
//! |---|---|
//! | `req_seq` | 1–64 characters; the idempotency key, shared with transfers |
//! | `kind` | `payment`, `refund` or `inbound` |
//! | `dr_acct` | payment: the payer's account (a customer account). Refund: optional; if given, the original's creditor account (for an external creditor, the clearing account). Inbound: not allowed |
//! | `cr_acct` | payment: a customer account of this bank to credit. Refund: optional; if given, the original's debtor account. Inbound, required: the customer account credited |
//! | `cr_ext_acct`, `cr_ext_name`, `cr_ext_bank` | payment only, instead of `cr_acct`: a creditor at another bank (account 1–34 letters/digits, name 1–140 characters, bank code 1–12 letters/digits). Credited to the clearing GL account of the currency (`GL-CNY-CLEARING`, `GL-USD-CLEARING`) with the name and account recorded as counterparty |
//! | `dr_ext_acct`, `dr_ext_name`, `dr_ext_bank` | inbound only: who the money comes from (another bank, or the bank's other core). Account 1–34 letters/digits and name 1–140 characters required, bank code optional (1–12 letters/digits); shown as counterparty on the creditor's statement |
//! | `amt_fen` | integer minor units, 1 to 10^14 |
//! | `ccy` | ISO 4217, must be the accounts' currency (and a refund's original's) |
//! | `memo` | optional, ≤ 140 characters |
//! | `scene` | `ecommerce_goods`, `bill_payment`, `transport`, `parking`, `top_up`, `travel`, `government` or `other`; required for a payment, a refund defaults to the original's, optional for an inbound credit |
//! | `mcc` | optional, 4 digits |
//! | `channel` | 1–64 characters: the partner the gateway acts for |
//! | `orig_req_seq` | refund only, required: the `req_seq` of the payment refunded |
//!
//! A refund debits the original's creditor (the merchant, or the clearing account for an
//! external creditor) and credits the original's debtor; several partial refunds may add up
//! to the original amount, not one fen more. Success `data` is the receipt
//! `{txn_id, req_seq, status: "S", txn_time}` (no balances). The same body again answers the
//! same receipt and posts nothing. Checks, in order: parameters (E400), voided (E410),
//! accounts exist and are customer accounts (E404), a refund's original (E404 unknown or not
//! a payment, E415 other currency, E400 accounts not the original's), already posted (replay,
//! or E409), each leg's currency (E415) and status (E423 frozen, E424 closed), the payer's
//! limits (E451, E452) or the refund's remainder (E453), the debtor's funds (E402). All of
//! them and the write happen in one `BEGIN IMMEDIATE` transaction.
//!
//! An inbound credit (`kind: inbound`) is the second leg of a payment between the bank's
//! two cores (or money from another bank): it debits the currency's clearing account and
//! credits `cr_acct`. Checks: parameters (E400), voided (E410), the creditor exists and is a
//! customer account (E404), already posted (replay, or E409), currency (E415), frozen (E423),
//! closed (E424); no payer limits and no funds check (the clearing account is the bank's).
//! It has a status and can be voided like a payment, but cannot be refunded (E404). The
//! first leg is an external payment (`cr_ext_*`) on the payer's core; a full refund of it
//! reverses that leg should the second fail.
//!
//! Limits are per customer and currency (table `cust_limits`). The daily limit counts the
//! customer's outgoing payments (`kind = payment`, from any of their accounts in that
//! currency) on the Beijing calendar day of the payment; refunds do not give allowance back.
//! A customer without limits in a currency cannot pay in it. Seeded:
//!
//! | customers | CNY per payment / per day | USD per payment / per day |
//! |---|---|---|
//! | personal (C0001–C0004) | 50,000.00 / 200,000.00 | 5,000.00 / 20,000.00 |
//! | business (C0005–C0009) | 1,000,000.00 / 5,000,000.00 | 100,000.00 / 500,000.00 |
//!
//! **`GET /core/payments/{req_seq}`** answers the receipt of the payment, refund or inbound credit posted
//! under `req_seq`; E410 if it was voided; E404 if nothing (or only a plain transfer) was.
//!
//! **`POST /core/payments/{req_seq}/void`** (no body) settles an unknown outcome: if a payment
//! or refund was posted under `req_seq` it answers its receipt (`status: "S"`: it happened);
//! otherwise it records `req_seq` as voided, so any later post with it is E410, and answers
//! `{req_seq, status: "V"}`. Atomic against a concurrent post of the same `req_seq`;
//! repeatable. E409 if a plain transfer holds that `req_seq`.
//!
//! **`POST /core/otp/send`** `{cust_no, purpose (1–140), ref (1–64)}` → `{otp_id,
//! expires_at, masked_mobile: "138****0001"}`: a uniformly random six-digit code, valid
//! 300 s, is "sent" by SMS to the customer's mobile (the text quotes `purpose`). Only a salted
//! SHA-256 of it is stored. E404 unknown customer.
//!
//! **`POST /core/otp/verify`** `{otp_id, code}` → `{otp_id, verified: true, cust_no, ref}`,
//! once. E461 wrong code (attempts left in `ret_msg`), E462 on the 5th wrong code and from
//! then on (even with the right code), E463 expired, E464 already used, E404 unknown.
//!
//! **`GET /core/sms-outbox`**: HTML, the demo's phone: the last 50 messages, newest first,
//! masked number, text, time. **`GET /core/sms-outbox.json`**: `{items: [{mobile, text,
//! sent_at, otp_id}]}`, the same messages with the full number, for tests.
//!
//! ## Mock-only test hooks
//!
//! Not part of any real core; for the gateway's failure tests.
//!
//! - **`POST /core/admin/accounts/{acct_no}/status`** `{acct_status: "N" | "F" | "C"}` →
//!   the account. Freezes, closes or reopens a customer account.
//! - **`POST /core/admin/customers/{cust_no}/limits`** `{ccy, per_txn_fen, daily_fen}` →
//!   what was set. Replaces a customer's limits in one currency.
//! - **`POST /core/admin/faults`** `{payment_delay_ms}` (0–600000, 0 clears) and
//!   **`GET /core/admin/faults`** → `{payment_delay_ms}`. While set, `POST /core/payments`
//!   ends its transaction (commits, when it posts) and only then waits that long before
//!   answering, so the gateway times out on an outcome that did happen.
//!
//! # Seeded accounts
//!
//! Customers C0001–C0005 (C0005 the business 北京云杉科技) hold accounts
//! `6222020000000000018` to `6222020000000000083` with six months of history; `…0067` is
//! frozen. The demo partners' settlement accounts, CNY current accounts of business
//! customers, to name as `cr_acct`:
//!
//! | account | customer | for |
//! |---|---|---|
//! | `6222020000000000091` | C0006 上海天游旅行科技有限公司 | SkyTrip (travel) |
//! | `6222020000000000109` | C0007 深圳泊易停车管理有限公司 | ParkEase (parking) |
//! | `6222020000000000117` | C0008 杭州速充网络科技有限公司 | mobile top-up |
//! | `6222020000000000125` | C0009 北京城市公共缴费服务有限公司 | bills and government fees |
//!
//! They start at zero. The clearing GL accounts are `GL-CNY-CLEARING` and `GL-USD-CLEARING`.
//!
//! # The modern dialect (`/api/v2/...`)
//!
//! The new core's wire, served instead of `/core/...` when [`CoreRole::dialect`] is
//! [`Dialect::Modern`] (the legacy paths then answer 404, and a legacy core answers 404 to
//! `/api/v2/...`). The same engine underneath: the same ledger, payment checks, limits,
//! idempotency and voids, serialised differently. JSON without an envelope: success is 2xx
//! with the resource, a refusal is 4xx/5xx with `{"error": {"code", "message"}}`. Amounts
//! are decimal strings with exactly the currency's minor digits (`"58000.00"`; CNY and USD
//! two), currencies ISO 4217, instants RFC 3339 UTC to the second (`2026-12-04T03:00:00Z`),
//! dates `YYYY-MM-DD`. Products, customer verify/identify, one-time codes and the mock-only
//! hooks are not in this dialect (the gateway asks the legacy core; tests reach a modern
//! core's hooks with [`router_in`]).
//!
//! | code | status | meaning |
//! |---|---|---|
//! | `INVALID_REQUEST` | 400 (405 for a wrong method) | bad body, field or query parameter; `message` starts with its name (`amount: …`, `external_creditor.bank_code: …`) |
//! | `NOT_FOUND` | 404 | unknown path, customer, account, posting, original posting or posting account (the message names it) |
//! | `POSTING_ID_REUSED` | 409 | `posting_id` already used with different content |
//! | `VOIDED` | 410 | `posting_id` was voided: it can never be posted |
//! | `INSUFFICIENT_FUNDS`, `ACCOUNT_FROZEN`, `ACCOUNT_CLOSED`, `CURRENCY_MISMATCH`, `LIMIT_PER_PAYMENT`, `LIMIT_DAILY`, `REFUND_EXCEEDS_ORIGINAL` | 422 | business refusals, as E402, E423, E424, E415, E451, E452, E453 |
//! | `INTERNAL` | 500 | the cause is logged, never answered |
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v2/health` | `{"status": "up"}` |
//! | `GET /api/v2/customers/{customer_number}/accounts` | `{"accounts": [Account…]}`: the accounts held by this core; `[]` when the customer holds none here; 404 unknown customer |
//! | `GET /api/v2/accounts/{account_number}` | Account: `{account_number, customer_number, name, currency, type: "savings" \| "current", status: "active" \| "frozen" \| "closed", opened_on}` |
//! | `GET /api/v2/accounts/{n}/balance` | `{account_number, customer_number, currency, booked, available, as_of}`; `available` is `"0.00"` unless active |
//! | `GET /api/v2/accounts/{n}/transactions` | `{account_number, customer_number, transactions: [{sequence, transaction_id, booked_at, direction: "debit" \| "credit", amount, currency, description, counterparty: {name, account_number} or null, balance_after}], has_more}`. Query: `booked_from`, `booked_to` (RFC 3339, inclusive), `order=asc\|desc`, `after_sequence` (asc) / `before_sequence` (desc) keyset cursors, `limit` 1–100 (default 100) |
//! | `POST /api/v2/postings` | 201 `{posting_id, status: "booked", transaction_id, booked_at}`; the same body again 200 with the same receipt, nothing posted; other content under the same id 409 |
//! | `GET /api/v2/postings/{posting_id}` | the receipt, or 200 `{posting_id, status: "voided"}`, or 404 |
//! | `POST /api/v2/postings/{posting_id}/void` | the receipt if it was booked; else voids it for good and answers `{posting_id, status: "voided"}` (repeatable) |
//! | `GET /api/v2/ledger/check` | `{balanced, transaction_count, entry_count, unbalanced_transactions, totals_by_currency: {"CNY": "0.00"…}, daily_spend_mismatches, statement_mismatches}` |
//!
//! A posting's body (unknown fields are refused):
//!
//! | field | |
//! |---|---|
//! | `posting_id` | 1–64 characters; the de-duplication key, as `req_seq` |
//! | `type` | `payment`, `refund` or `inbound` |
//! | `debit_account` | payment: the payer's account |
//! | `credit_account` | payment: an account held here (or `external_creditor`); inbound: the account credited |
//! | `external_creditor` | payment to elsewhere: `{account_number (1–34 letters/digits), name (1–140), bank_code (1–12 letters/digits)}`, credited to clearing |
//! | `external_debtor` | inbound, required: `{account_number, name, bank_code?}`, debited to clearing |
//! | `original_posting_id` | refund, required: the payment refunded (its accounts follow from it) |
//! | `amount`, `currency` | a decimal string with exactly the currency's minor digits, 0.01 up to 10^14 minor units; ISO 4217 |
//! | `narrative` | optional, ≤ 140 characters |
//! | `scenario` | as `scene`: required for a payment, optional otherwise |
//! | `merchant_category_code` | optional, 4 digits |
//! | `channel` | 1–64 characters: the partner the gateway acts for |
//!
//! //! # Two cores: holding a range of accounts
//!
//! The bank runs two cores, each holding a range of account numbers; [`CoreRole::accounts`]
//! says which demo accounts a mock seeds ([`Holding::All`], the default, as above;
//! [`Holding::Only`] or [`Holding::Except`] an inclusive range). Every customer, their
//! limits, the products and the GL accounts are in every core. A seeded history entry whose
//! other side is held by the other core is booked against the clearing account with that
//! account (its holder's name and number) as counterparty, so each account's statement and
//! balance read exactly as in the unsharded core and each core's ledger balances alone. The
//! demo split: the new core holds `6222020000000000050..=6222020000000000089` (王芳's USD
//! account, 赵磊's frozen CNY account, both 北京云杉科技 accounts), the legacy core the rest.

mod clock;
mod db;
mod error;
mod faults;
mod holding;
mod ledger;
mod otp;
mod params;
mod password;
mod payment;
mod routes;
mod seed;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use holding::{Dialect, Holding, parse_range};
pub use wire::LedgerCheck;

/// The password every seeded demo customer logs in with (by mobile number or customer number).
pub const DEMO_PASSWORD: &str = "Scenegate#2026";

#[derive(Debug, Clone, Default)]
pub struct CoreBankConfig {
    /// Folder for `corebank.sqlite`; `None` keeps the ledger in memory (tests).
    pub data_dir: Option<PathBuf>,
    /// Write the demo customers, products and six months of history into an empty core.
    pub seed: bool,
}

/// Which of the bank's cores this one plays: the accounts it holds and the wire it speaks.
/// The default is today's single core (every account, legacy dialect).
///
/// Kept apart from [`CoreBankConfig`] so the struct literals that build that config stay
/// valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreRole {
    /// The demo accounts seeded here. Only seeding reads it: a core already seeded keeps
    /// what it holds.
    pub accounts: Holding,
    /// The routes [`router`] mounts: `/core/...` (legacy) or `/api/v2/...` (modern).
    pub dialect: Dialect,
}

/// Handle to one core; clones share the connections, the clock and the faults.
#[derive(Clone, Debug)]
pub struct CoreBank {
    /// Read-only connections used on the caller's thread: lookups, statements, balances.
    reads: scenegate_sqlite_batch::InlineReads,
    /// The other writes (codes, mock settings), behind the ledger's write gate.
    writer: scenegate_sqlite_batch::GatedPool,
    /// Postings, voids and the reads that decide them (a payment's status, the ledger
    /// check), committed together on the writer thread (`scenegate-sqlite-batch`).
    batch: scenegate_sqlite_batch::WriterThread,
    /// Keeps a core without a data folder's file alive as long as a handle is.
    _scratch: Option<Arc<tempfile::TempDir>>,
    clock: clock::Clock,
    faults: Arc<faults::Faults>,
    dialect: Dialect,
}

impl CoreBank {
    /// Creates the folder, database and schema as needed, then seeds once when asked and empty.
    /// The single, unsharded core speaking the legacy dialect.
    pub async fn open(cfg: CoreBankConfig) -> anyhow::Result<CoreBank> {
        Self::open_as(cfg, CoreRole::default()).await
    }

    /// As [`CoreBank::open`], for one of several cores: seeds only the demo accounts
    /// `role.accounts` holds (every customer, the GL accounts and the limits in any case),
    /// and serves `role.dialect`.
    pub async fn open_as(cfg: CoreBankConfig, role: CoreRole) -> anyhow::Result<CoreBank> {
        let db = db::connect(cfg.data_dir.as_deref()).await?;
        db.batch.write(seed::ensure_gl).await??;
        if cfg.seed {
            seed::seed_once(&db.batch, &role.accounts).await?;
        }
        Ok(CoreBank {
            reads: db.reads,
            writer: db.writer,
            batch: db.batch,
            _scratch: db._scratch,
            clock: clock::Clock::default(),
            faults: Arc::default(),
            dialect: role.dialect,
        })
    }

    /// Mock-only, for tests: moves this core's clock (and every clone's) forward, e.g. past
    /// a one-time code's expiry or into the next day's payment limit. Whole seconds.
    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(i64::try_from(by.as_secs()).unwrap_or(i64::MAX));
    }

    /// Audits the whole ledger; the same report `GET /core/ledger/check` serves.
    pub async fn ledger_check(&self) -> anyhow::Result<LedgerCheck> {
        ledger::check(&self.batch).await
    }
}

/// Every route of the core's dialect (`/core/...` or `/api/v2/...`), with the core as state.
/// Shared by [`serve`] and tests.
pub fn router(core: CoreBank) -> axum::Router {
    let dialect = core.dialect;
    routes::router(core, dialect)
}

/// The routes of `dialect` over this core, whichever it was opened to speak: lets a test
/// reach the legacy mock-only hooks (`/core/admin/...`) of a modern core.
pub fn router_in(core: CoreBank, dialect: Dialect) -> axum::Router {
    routes::router(core, dialect)
}

/// Serves for the life of the process, with the same listener bounds as the gateway (header
/// deadline and size, connection cap); bind port 0 in tests and read the address back.
pub async fn serve(listener: tokio::net::TcpListener, core: CoreBank) -> std::io::Result<()> {
    let limits = scenegate_listener::Limits::default();
    scenegate_listener::serve("core", listener, router(core), limits, None, Default::default(), std::future::pending())
        .await
}
