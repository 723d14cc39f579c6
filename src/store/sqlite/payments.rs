//! Payments and refunds in the gateway's SQLite file. Every write runs in one
//! `BEGIN IMMEDIATE` transaction, so its checks and its writes see one state and concurrent
//! payments queue on the write lock: no two can both fit in the last of an allowance.

use super::SqliteDb;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use scenegate_adapter_contract::{
    ConsentId, Currency, PaymentId, RefundId,
    canonical::{ConsentStatus, Iso20022Status},
};

use super::{Columns, consent as consent_store, events, idempotency};
use crate::events::Notify;
use crate::payments::model::{Payment, Reason, Refund, Settlement};
use crate::payments::store::{
    Drawn, EventOf, NewBulk, NewPayment, NewRefund, PartnerLimits, PaymentStore, PaymentStoreError, Refused,
    SettledAnswer, Spent, check_spend, draw_on_consent,
};

pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS payments (
        id TEXT PRIMARY KEY,
        partner_id TEXT NOT NULL,
        consent_id TEXT NOT NULL,
        single INTEGER NOT NULL,
        customer_id TEXT NOT NULL,
        debtor TEXT NOT NULL,
        payee TEXT NOT NULL,
        amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
        currency TEXT NOT NULL,
        reference TEXT NOT NULL,
        scenario TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('RCVD', 'ACTC', 'ACSP', 'ACSC', 'RJCT')),
        reason_code TEXT,
        reason_text TEXT,
        core_txn_id TEXT,
        refunded_minor INTEGER NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
        day TEXT NOT NULL,
        month TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    )",
    // A single payment consent carries exactly one payment, whatever else goes wrong.
    "CREATE UNIQUE INDEX IF NOT EXISTS one_payment_per_single_consent ON payments (consent_id) WHERE single = 1",
    "CREATE INDEX IF NOT EXISTS payments_unsettled ON payments (updated_at) WHERE status IN ('ACTC', 'ACSP')",
    "CREATE TABLE IF NOT EXISTS refunds (
        id TEXT PRIMARY KEY,
        payment_id TEXT NOT NULL REFERENCES payments (id),
        partner_id TEXT NOT NULL,
        amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
        currency TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('RCVD', 'ACTC', 'ACSP', 'ACSC', 'RJCT')),
        reason_code TEXT,
        reason_text TEXT,
        core_txn_id TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS refunds_by_payment ON refunds (payment_id, created_at)",
    "CREATE INDEX IF NOT EXISTS refunds_unsettled ON refunds (updated_at) WHERE status IN ('ACTC', 'ACSP')",
    // What a recurring consent has spent per period (`day:2026-12-03`, `month:2026-12`).
    "CREATE TABLE IF NOT EXISTS consent_spend (
        consent_id TEXT NOT NULL,
        period TEXT NOT NULL,
        spent_minor INTEGER NOT NULL CHECK (spent_minor >= 0),
        PRIMARY KEY (consent_id, period)
    )",
    // What each partner has initiated per Beijing day and currency.
    "CREATE TABLE IF NOT EXISTS partner_spend (
        partner_id TEXT NOT NULL,
        day TEXT NOT NULL,
        currency TEXT NOT NULL,
        spent_minor INTEGER NOT NULL CHECK (spent_minor >= 0),
        PRIMARY KEY (partner_id, day, currency)
    )",
];

/// Bulk payments: which payment paid which transaction of a bulk consent. The primary key
/// is the store's own guarantee that a listed transaction is paid at most once.
pub const BULK_SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS bulk_payments (
        consent_id TEXT NOT NULL,
        end_to_end_id TEXT NOT NULL,
        payment_id TEXT NOT NULL UNIQUE REFERENCES payments (id),
        PRIMARY KEY (consent_id, end_to_end_id)
    )"];

#[derive(Clone)]
pub struct SqlitePaymentStore {
    db: SqliteDb,
}

impl SqlitePaymentStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

fn unavailable(e: impl std::fmt::Display) -> PaymentStoreError {
    PaymentStoreError::Unavailable(e.to_string())
}

fn db(e: sqlx::Error) -> PaymentStoreError {
    unavailable(e)
}

/// The writer thread's errors: all of them a 503 to the caller (a refusal is decided by
/// the checks, never by a failed statement).
fn wdb(e: rusqlite::Error) -> PaymentStoreError {
    unavailable(e)
}

fn stored(e: crate::store::StoreError) -> PaymentStoreError {
    unavailable(e)
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, PaymentStoreError> {
    serde_json::to_string(v).map_err(unavailable)
}

fn status_of(code: &str) -> Result<Iso20022Status, PaymentStoreError> {
    Ok(match code {
        "RCVD" => Iso20022Status::Rcvd,
        "ACTC" => Iso20022Status::Actc,
        "ACSP" => Iso20022Status::Acsp,
        "ACSC" => Iso20022Status::Acsc,
        "RJCT" => Iso20022Status::Rjct,
        other => return Err(unavailable(format!("unknown stored status `{other}`"))),
    })
}

fn reason_of(row: &impl Columns) -> Result<Option<Reason>, PaymentStoreError> {
    Ok(match (row.opt_text("reason_code").map_err(stored)?, row.opt_text("reason_text").map_err(stored)?) {
        (Some(code), text) => Some(Reason { code, text: text.unwrap_or_default() }),
        (None, _) => None,
    })
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, PaymentStoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| unavailable(format!("stored value `{s}` unreadable: {e}")))
}

fn payment_of(row: &impl Columns) -> Result<Payment, PaymentStoreError> {
    let text = |c: &str| row.text(c).map_err(stored);
    let int = |c: &str| row.int(c).map_err(stored);
    Ok(Payment {
        id: parse(&text("id")?)?,
        partner_id: text("partner_id")?,
        consent_id: parse::<ConsentId>(&text("consent_id")?)?,
        customer_id: text("customer_id")?,
        debtor: text("debtor")?,
        payee: serde_json::from_str(&text("payee")?).map_err(unavailable)?,
        amount_minor: int("amount_minor")?,
        currency: parse::<Currency>(&text("currency")?)?,
        reference: text("reference")?,
        scenario: serde_json::from_str(&text("scenario")?).map_err(unavailable)?,
        status: status_of(&text("status")?)?,
        reason: reason_of(row)?,
        core_txn_id: row.opt_text("core_txn_id").map_err(stored)?,
        refunded_minor: int("refunded_minor")?,
        day: text("day")?,
        month: text("month")?,
        created_at: int("created_at")?,
        updated_at: int("updated_at")?,
    })
}

fn refund_of(row: &impl Columns) -> Result<Refund, PaymentStoreError> {
    let text = |c: &str| row.text(c).map_err(stored);
    let int = |c: &str| row.int(c).map_err(stored);
    Ok(Refund {
        id: parse(&text("id")?)?,
        payment_id: parse(&text("payment_id")?)?,
        partner_id: text("partner_id")?,
        amount_minor: int("amount_minor")?,
        currency: parse::<Currency>(&text("currency")?)?,
        reason_text: text("reason")?,
        status: status_of(&text("status")?)?,
        reason: reason_of(row)?,
        core_txn_id: row.opt_text("core_txn_id").map_err(stored)?,
        created_at: int("created_at")?,
        updated_at: int("updated_at")?,
    })
}

/// One row decoded by `decode`, inside the writer thread's transaction.
fn one_in<T>(
    conn: &Connection,
    sql: &str,
    id: &str,
    decode: fn(&rusqlite::Row<'_>) -> Result<T, PaymentStoreError>,
) -> Result<Option<T>, PaymentStoreError> {
    conn.prepare_cached(sql)
        .map_err(wdb)?
        .query_row(params![id], |row| Ok(decode(row)))
        .optional()
        .map_err(wdb)?
        .transpose()
}

fn payment_in(conn: &Connection, id: &str) -> Result<Option<Payment>, PaymentStoreError> {
    one_in(conn, "SELECT * FROM payments WHERE id = ?1", id, |r| payment_of(r))
}

fn refund_in(conn: &Connection, id: &str) -> Result<Option<Refund>, PaymentStoreError> {
    one_in(conn, "SELECT * FROM refunds WHERE id = ?1", id, |r| refund_of(r))
}

/// Adds `delta` to a spend counter if the result stays within `limit`; false (and nothing
/// written) when it would not. A negative `delta` gives spend back.
fn count_spend(conn: &Connection, table: Spend<'_>, delta: i64, limit: Option<i64>) -> Result<bool, PaymentStoreError> {
    // One statement: the running total moves by `delta` (never below zero) unless that takes
    // it past `limit`, in which case nothing is written and no row comes back. (An upsert
    // from a SELECT needs its WHERE, which is also where a first row is checked.)
    let moved = match table {
        Spend::Consent { consent_id, period } => conn
            .prepare_cached(
                "INSERT INTO consent_spend (consent_id, period, spent_minor)
                 SELECT ?1, ?2, MAX(?3, 0) WHERE ?4 IS NULL OR ?3 <= 0 OR ?3 <= ?4
                 ON CONFLICT (consent_id, period) DO UPDATE SET spent_minor = MAX(spent_minor + ?3, 0)
                   WHERE ?4 IS NULL OR ?3 <= 0 OR spent_minor + ?3 <= ?4",
            )
            .map_err(wdb)?
            .execute(params![consent_id, period, delta, limit]),
        Spend::Partner { partner_id, day, currency } => conn
            .prepare_cached(
                "INSERT INTO partner_spend (partner_id, day, currency, spent_minor)
                 SELECT ?1, ?2, ?5, MAX(?3, 0) WHERE ?4 IS NULL OR ?3 <= 0 OR ?3 <= ?4
                 ON CONFLICT (partner_id, day, currency) DO UPDATE SET spent_minor = MAX(spent_minor + ?3, 0)
                   WHERE ?4 IS NULL OR ?3 <= 0 OR spent_minor + ?3 <= ?4",
            )
            .map_err(wdb)?
            .execute(params![partner_id, day, delta, limit, currency]),
    };
    Ok(moved.map_err(wdb)? == 1)
}

#[derive(Clone, Copy)]
enum Spend<'a> {
    Consent { consent_id: &'a str, period: &'a str },
    Partner { partner_id: &'a str, day: &'a str, currency: &'a str },
}

/// What a payment's counters hold before it, read inside the write transaction (which no
/// other writer shares).
fn spent_in(conn: &Connection, p: &Payment) -> Result<Spent, PaymentStoreError> {
    let consent = |period: String| -> Result<i64, PaymentStoreError> {
        conn.prepare_cached("SELECT spent_minor FROM consent_spend WHERE consent_id = ?1 AND period = ?2")
            .map_err(wdb)?
            .query_row(params![p.consent_id.as_str(), period], |r| r.get(0))
            .optional()
            .map_err(wdb)
            .map(Option::unwrap_or_default)
    };
    let partner_day = conn
        .prepare_cached("SELECT spent_minor FROM partner_spend WHERE partner_id = ?1 AND day = ?2 AND currency = ?3")
        .map_err(wdb)?
        .query_row(params![p.partner_id, p.day, p.currency.code()], |r| r.get(0))
        .optional()
        .map_err(wdb)?
        .unwrap_or_default();
    Ok(Spent {
        consent_day: consent(format!("day:{}", p.day))?,
        consent_month: consent(format!("month:{}", p.month))?,
        partner_day,
    })
}

/// Checks a payment against its consent and its limits ([`draw_on_consent`], [`check_spend`])
/// and, if it fits, consumes a single consent or counts against a recurring one's
/// allowances, and counts against the partner's daily limit. Inside the write transaction.
fn use_consent(
    conn: &Connection,
    p: &Payment,
    limits: PartnerLimits,
    notify: Notify,
    now: i64,
) -> Result<Drawn, PaymentStoreError> {
    let (mut consent, version) =
        consent_store::get_in(conn, &p.consent_id).map_err(unavailable)?.ok_or(PaymentStoreError::NotFound)?;
    let drawn = draw_on_consent(&mut consent, p, now)?;
    check_spend(p.amount_minor, spent_in(conn, p)?, drawn, limits)?;
    match drawn {
        Drawn::Single => {
            if !consent_store::update_in(conn, &consent, version, notify).map_err(unavailable)? {
                // Another writer changed the consent since we read it inside this
                // transaction: impossible under the write lock, so treat it as unavailable.
                return Err(unavailable("consent changed during the payment"));
            }
        }
        Drawn::Recurring(_) => {
            let id = p.consent_id.as_str();
            for period in [format!("day:{}", p.day), format!("month:{}", p.month)] {
                count_spend(conn, Spend::Consent { consent_id: id, period: &period }, p.amount_minor, None)?;
            }
        }
    }
    let spend = Spend::Partner { partner_id: &p.partner_id, day: &p.day, currency: p.currency.code() };
    count_spend(conn, spend, p.amount_minor, None)?;
    Ok(drawn)
}

/// Gives back what a rejected payment counted: its consent's allowances and the partner's
/// daily spend. A consumed single consent stays consumed (the customer authorised one try).
fn give_back(conn: &Connection, p: &Payment) -> Result<(), PaymentStoreError> {
    let id = p.consent_id.as_str();
    for period in [format!("day:{}", p.day), format!("month:{}", p.month)] {
        count_spend(conn, Spend::Consent { consent_id: id, period: &period }, -p.amount_minor, None)?;
    }
    let spend = Spend::Partner { partner_id: &p.partner_id, day: &p.day, currency: p.currency.code() };
    count_spend(conn, spend, -p.amount_minor, None)?;
    Ok(())
}

fn append_err(e: crate::events::EventStoreError) -> PaymentStoreError {
    unavailable(e)
}

/// Counts a payment against the partner's limits: its per-payment limit and what remains of
/// its daily one.
fn count_partner(
    conn: &Connection,
    p: &Payment,
    limits: crate::payments::PartnerLimits,
) -> Result<(), PaymentStoreError> {
    if p.amount_minor > limits.per_payment {
        return Err(Refused::OverPartnerPerPayment.into());
    }
    let spend = Spend::Partner { partner_id: &p.partner_id, day: &p.day, currency: p.currency.code() };
    if !count_spend(conn, spend, p.amount_minor, Some(limits.per_day))? {
        return Err(Refused::OverPartnerDaily.into());
    }
    Ok(())
}

/// Inserts a recorded payment; a second payment for what allows one (a single consent, a
/// bulk's transaction, the same id) is refused as the consent being used up.
fn insert_payment(conn: &Connection, p: &Payment, single: bool) -> Result<(), PaymentStoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO payments (id, partner_id, consent_id, single, customer_id, debtor, payee,
                amount_minor, currency, reference, scenario, status, day, month, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
        )
        .map_err(wdb)?
        .execute(params![
            p.id.as_str(),
            p.partner_id,
            p.consent_id.as_str(),
            single,
            p.customer_id,
            p.debtor,
            json(&p.payee)?,
            p.amount_minor,
            p.currency.code(),
            p.reference,
            json(&p.scenario)?,
            p.status.code(),
            p.day,
            p.month,
            p.created_at,
        ]);
    used_up(inserted)
}

/// A unique index refusing a row means what it guards was used already.
fn used_up(done: rusqlite::Result<usize>) -> Result<(), PaymentStoreError> {
    match done {
        Err(e) if super::is_unique_violation(&e) => Err(Refused::ConsentState(ConsentStatus::Consumed).into()),
        other => other.map(drop).map_err(wdb),
    }
}

/// Consumes a bulk consent for its execution, inside the transaction: it must be this
/// partner's and customer's, authorised, and each payment one of its transactions as listed.
fn use_bulk_consent(
    conn: &Connection,
    payments: &[(String, Payment)],
    notify: Notify,
    now: i64,
) -> Result<(), PaymentStoreError> {
    let Some((_, first)) = payments.first() else { return Err(PaymentStoreError::NotFound) };
    let (mut consent, version) =
        consent_store::get_in(conn, &first.consent_id).map_err(unavailable)?.ok_or(PaymentStoreError::NotFound)?;
    crate::payments::store::check_bulk_use(&mut consent, payments, now)?;
    if !consent_store::update_in(conn, &consent, version, notify).map_err(unavailable)? {
        return Err(unavailable("consent changed during the payment"));
    }
    Ok(())
}

#[async_trait]
impl PaymentStore for SqlitePaymentStore {
    async fn create_payment(&self, new: NewPayment<'_>) -> Result<(), PaymentStoreError> {
        let (payment, claim, event, limits, now) =
            (new.payment.clone(), new.claim.clone(), new.event, new.partner_limits, new.now);
        self.db
            .batch
            .write(move |conn| {
                let p = &payment;
                // The key first: a request whose key another has is refused for that, whatever
                // else it would meet (the job's savepoint undoes it if the payment is refused).
                idempotency::link_in(conn, &claim, p.id.as_str()).map_err(PaymentStoreError::of_link)?;
                let drawn = use_consent(conn, p, limits, event.notify, now)?;
                insert_payment(conn, p, drawn == Drawn::Single)?;
                events::append(conn, &event, now).map_err(append_err)?;
                Ok(())
            })
            .await
    }

    async fn settle_payment(
        &self,
        last_read: &Payment,
        outcome: &Settlement,
        event: EventOf<Payment>,
        answer: Option<&SettledAnswer<'_>>,
        now: i64,
    ) -> Result<Option<Payment>, PaymentStoreError> {
        // The writer thread is the only writer: reading it again there costs no round trip.
        let (id, outcome) = (last_read.id.clone(), outcome.clone());
        let answer = answer.map(|a| (a.claim.clone(), a.rendered_from.clone(), a.answer.clone()));
        self.db
            .batch
            .write(move |conn| {
                let read = payment_in(conn, id.as_str())?.ok_or(PaymentStoreError::NotFound)?;
                let Some(p) = read.settled(&outcome, now) else { return Ok(None) };
                if matches!(outcome, Settlement::Rejected(_)) {
                    give_back(conn, &p)?;
                }
                conn.prepare_cached(
                    "UPDATE payments SET status = ?1, reason_code = ?2, reason_text = ?3, core_txn_id = ?4,
                        updated_at = ?5
                     WHERE id = ?6",
                )
                .map_err(wdb)?
                .execute(params![
                    p.status.code(),
                    p.reason.as_ref().map(|r| &r.code),
                    p.reason.as_ref().map(|r| &r.text),
                    p.core_txn_id,
                    now,
                    p.id.as_str(),
                ])
                .map_err(wdb)?;
                events::append(conn, &event(&p), now).map_err(append_err)?;
                if let Some((claim, rendered_from, answer)) = &answer {
                    let answer = SettledAnswer { claim, rendered_from, answer };
                    if answer.fits(&p) {
                        idempotency::complete_in(conn, claim, answer.answer)?;
                    }
                }
                Ok(Some(p))
            })
            .await
    }

    async fn create_bulk_payments(&self, new: NewBulk<'_>) -> Result<(), PaymentStoreError> {
        let notify = new.notify();
        let (payments, claim, events, limits, now) =
            (new.payments.to_vec(), new.claim.clone(), new.events, new.partner_limits, new.now);
        self.db
            .batch
            .write(move |conn| {
                use_bulk_consent(conn, &payments, notify, now)?;
                for ((end_to_end_id, p), event) in payments.iter().zip(&events) {
                    count_partner(conn, p, limits)?;
                    insert_payment(conn, p, false)?;
                    let tied = conn
                        .prepare_cached(
                            "INSERT INTO bulk_payments (consent_id, end_to_end_id, payment_id) VALUES (?1, ?2, ?3)",
                        )
                        .map_err(wdb)?
                        .execute(params![p.consent_id.as_str(), end_to_end_id, p.id.as_str()]);
                    used_up(tied)?;
                    events::append(conn, event, now).map_err(append_err)?;
                }
                if let Some((_, p)) = payments.first() {
                    idempotency::link_in(conn, &claim, p.consent_id.as_str()).map_err(PaymentStoreError::of_link)?;
                }
                Ok(())
            })
            .await
    }

    async fn bulk_payments(&self, consent_id: &ConsentId) -> Result<Vec<(String, Payment)>, PaymentStoreError> {
        let rows = sqlx::query(
            "SELECT b.end_to_end_id, p.* FROM bulk_payments b JOIN payments p ON p.id = b.payment_id
             WHERE b.consent_id = ?1 ORDER BY b.rowid",
        )
        .bind(consent_id.as_str())
        .fetch_all(&self.db.reader)
        .await
        .map_err(db)?;
        rows.iter().map(|r| Ok((r.text("end_to_end_id").map_err(stored)?, payment_of(r)?))).collect()
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, PaymentStoreError> {
        let row = sqlx::query("SELECT * FROM payments WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(&self.db.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(payment_of).transpose()
    }

    async fn unsettled_payments(&self, before: i64, limit: u32) -> Result<Vec<Payment>, PaymentStoreError> {
        let rows = sqlx::query(
            "SELECT * FROM payments WHERE status IN ('ACTC', 'ACSP') AND updated_at < ?1 ORDER BY updated_at LIMIT ?2 + 0",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.db.reader)
        .await
        .map_err(db)?;
        rows.iter().map(payment_of).collect()
    }

    async fn create_refund(&self, new: NewRefund<'_>) -> Result<(), PaymentStoreError> {
        let (refund, claim, event) = (new.refund.clone(), new.claim.clone(), new.event);
        self.db
            .batch
            .write(move |conn| {
                let r = &refund;
                let p = payment_in(conn, r.payment_id.as_str())?.ok_or(PaymentStoreError::NotFound)?;
                if p.partner_id != r.partner_id {
                    return Err(PaymentStoreError::NotFound);
                }
                if p.status != Iso20022Status::Acsc {
                    return Err(Refused::NotRefundable.into());
                }
                let remaining = p.amount_minor - p.refunded_minor;
                if r.currency != p.currency || r.amount_minor > remaining {
                    return Err(Refused::RefundExceeds { remaining_minor: remaining }.into());
                }
                conn.prepare_cached("UPDATE payments SET refunded_minor = refunded_minor + ?1 WHERE id = ?2")
                    .map_err(wdb)?
                    .execute(params![r.amount_minor, p.id.as_str()])
                    .map_err(wdb)?;
                conn.prepare_cached(
                    "INSERT INTO refunds (id, payment_id, partner_id, amount_minor, currency, reason, status,
                        created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                )
                .map_err(wdb)?
                .execute(params![
                    r.id.as_str(),
                    r.payment_id.as_str(),
                    r.partner_id,
                    r.amount_minor,
                    r.currency.code(),
                    r.reason_text,
                    r.status.code(),
                    r.created_at,
                ])
                .map_err(wdb)?;
                idempotency::link_in(conn, &claim, r.id.as_str()).map_err(PaymentStoreError::of_link)?;
                events::append(conn, &event, r.created_at).map_err(append_err)?;
                Ok(())
            })
            .await
    }

    async fn settle_refund(
        &self,
        id: &RefundId,
        outcome: &Settlement,
        event: EventOf<Refund>,
        now: i64,
    ) -> Result<Option<Refund>, PaymentStoreError> {
        let (id, outcome) = (id.clone(), outcome.clone());
        self.db
            .batch
            .write(move |conn| {
                let read = refund_in(conn, id.as_str())?.ok_or(PaymentStoreError::NotFound)?;
                let Some(r) = read.settled(&outcome, now) else { return Ok(None) };
                if matches!(outcome, Settlement::Rejected(_)) {
                    conn.prepare_cached("UPDATE payments SET refunded_minor = refunded_minor - ?1 WHERE id = ?2")
                        .map_err(wdb)?
                        .execute(params![r.amount_minor, r.payment_id.as_str()])
                        .map_err(wdb)?;
                }
                conn.prepare_cached(
                    "UPDATE refunds SET status = ?1, reason_code = ?2, reason_text = ?3, core_txn_id = ?4,
                        updated_at = ?5
                     WHERE id = ?6",
                )
                .map_err(wdb)?
                .execute(params![
                    r.status.code(),
                    r.reason.as_ref().map(|x| &x.code),
                    r.reason.as_ref().map(|x| &x.text),
                    r.core_txn_id,
                    now,
                    r.id.as_str(),
                ])
                .map_err(wdb)?;
                events::append(conn, &event(&r), now).map_err(append_err)?;
                Ok(Some(r))
            })
            .await
    }

    async fn refund(&self, id: &RefundId) -> Result<Option<Refund>, PaymentStoreError> {
        let row = sqlx::query("SELECT * FROM refunds WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(&self.db.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(refund_of).transpose()
    }

    async fn refunds_of(&self, payment_id: &PaymentId) -> Result<Vec<Refund>, PaymentStoreError> {
        let rows = sqlx::query("SELECT * FROM refunds WHERE payment_id = ?1 ORDER BY created_at, id")
            .bind(payment_id.as_str())
            .fetch_all(&self.db.reader)
            .await
            .map_err(db)?;
        rows.iter().map(refund_of).collect()
    }

    async fn unsettled_refunds(&self, before: i64, limit: u32) -> Result<Vec<Refund>, PaymentStoreError> {
        let rows = sqlx::query(
            "SELECT * FROM refunds WHERE status IN ('ACTC', 'ACSP') AND updated_at < ?1 ORDER BY updated_at LIMIT ?2 + 0",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.db.reader)
        .await
        .map_err(db)?;
        rows.iter().map(refund_of).collect()
    }

    async fn status_counts(&self, partner_id: &str) -> Result<Vec<(String, i64)>, PaymentStoreError> {
        sqlx::query_as("SELECT status, COUNT(*) FROM payments WHERE partner_id = ?1 GROUP BY status ORDER BY status")
            .bind(partner_id)
            .fetch_all(&self.db.reader)
            .await
            .map_err(db)
    }
}
