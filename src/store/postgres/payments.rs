//! Payments and refunds on PostgreSQL, shared by every gateway instance. Each write is one
//! transaction that locks what its decision reads: a payment locks its consent (shared
//! under a recurring consent, exclusively when it consumes a single one), so a revocation
//! and a payment never pass each other, and counts spend with conditional upserts, so two
//! payments of one partner on two instances can never both fit in the last of a daily
//! limit. Those counters are what every payment of a partner contends for: new payments are
//! recorded in batches that share a commit (`recorder.rs`), which lock the counters first.
//! Every other writer takes its locks in an order that agrees (a payment's row, then its
//! consent's counters, then the partner's; a bulk consent, then the partner's counter; a
//! consent alone), so writers wait, never deadlock.

use async_trait::async_trait;
use scenegate_adapter_contract::{
    ConsentId, Currency, PaymentId, RefundId,
    canonical::{ConsentStatus, Iso20022Status, PaymentConsentType},
};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};

use super::{
    consent::{self as consent_store, LockMode},
    events, idempotency,
    recorder::Recorder,
};
use crate::payments::model::{Payment, Reason, Refund, Settlement};
use crate::payments::store::{NewBulk, NewPayment, NewRefund, PaymentStore, PaymentStoreError, Refused};
use crate::{consent::Actor, events::NewEvent};
use futures_util::future::BoxFuture;

pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS payments (
        id TEXT PRIMARY KEY,
        partner_id TEXT NOT NULL,
        consent_id TEXT NOT NULL,
        single BOOLEAN NOT NULL,
        customer_id TEXT NOT NULL,
        debtor TEXT NOT NULL,
        payee TEXT NOT NULL,
        amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
        currency TEXT NOT NULL,
        reference TEXT NOT NULL,
        scenario TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('RCVD', 'ACTC', 'ACSP', 'ACSC', 'RJCT')),
        reason_code TEXT,
        reason_text TEXT,
        core_txn_id TEXT,
        refunded_minor BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
        day TEXT NOT NULL,
        month TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    // A single payment consent carries exactly one payment, whatever else goes wrong.
    "CREATE UNIQUE INDEX IF NOT EXISTS one_payment_per_single_consent ON payments (consent_id) WHERE single",
    "CREATE INDEX IF NOT EXISTS payments_unsettled ON payments (updated_at) WHERE status IN ('ACTC', 'ACSP')",
    "CREATE TABLE IF NOT EXISTS refunds (
        id TEXT PRIMARY KEY,
        payment_id TEXT NOT NULL REFERENCES payments (id),
        partner_id TEXT NOT NULL,
        amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
        currency TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('RCVD', 'ACTC', 'ACSP', 'ACSC', 'RJCT')),
        reason_code TEXT,
        reason_text TEXT,
        core_txn_id TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS refunds_by_payment ON refunds (payment_id, created_at)",
    "CREATE INDEX IF NOT EXISTS refunds_unsettled ON refunds (updated_at) WHERE status IN ('ACTC', 'ACSP')",
    // What a recurring consent has spent per period (`day:2026-12-03`, `month:2026-12`).
    "CREATE TABLE IF NOT EXISTS consent_spend (
        consent_id TEXT NOT NULL,
        period TEXT NOT NULL,
        spent_minor BIGINT NOT NULL CHECK (spent_minor >= 0),
        PRIMARY KEY (consent_id, period)
    )",
    // What each partner has initiated per Beijing day and currency.
    "CREATE TABLE IF NOT EXISTS partner_spend (
        partner_id TEXT NOT NULL,
        day TEXT NOT NULL,
        currency TEXT NOT NULL,
        spent_minor BIGINT NOT NULL CHECK (spent_minor >= 0),
        PRIMARY KEY (partner_id, day, currency)
    )",
];

/// Bulk payments: which payment paid which transaction of a bulk consent. The primary key
/// is the store's own guarantee that a listed transaction is paid at most once; `seq` keeps
/// the order the transactions were listed in.
pub const BULK_SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS bulk_payments (
        consent_id TEXT NOT NULL,
        end_to_end_id TEXT NOT NULL,
        payment_id TEXT NOT NULL UNIQUE REFERENCES payments (id),
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (consent_id, end_to_end_id)
    )"];

#[derive(Clone)]
pub struct PgPaymentStore {
    pool: PgPool,
    /// New payments are recorded in batches, one transaction each (`recorder.rs`).
    recorder: Recorder,
}

impl PgPaymentStore {
    /// Spawns the payment recorder: call it inside the runtime.
    pub fn new(pool: PgPool) -> Self {
        let recorder = Recorder::spawn(pool.clone(), record_in);
        Self { pool, recorder }
    }
}

/// Records one payment inside the recorder's transaction, which holds the spend counters'
/// locks already: the consent checked under its lock, the payment, its idempotency link,
/// its event, and what it counts against the consent's allowance and the partner's limits.
fn record_in<'c>(conn: &'c mut PgConnection, new: &'c NewPayment<'c>) -> BoxFuture<'c, Result<(), PaymentStoreError>> {
    Box::pin(async move {
        let p = new.payment;
        let drawn = draw_on_consent(conn, p, new.consent_kind, new.now).await?;
        insert_recorded(conn, new, drawn.is_none()).await?;
        count_spends(conn, p, drawn, new.partner_limits).await
    })
}

fn unavailable(e: impl std::fmt::Display) -> PaymentStoreError {
    PaymentStoreError::Unavailable(e.to_string())
}

fn db(e: sqlx::Error) -> PaymentStoreError {
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

fn reason_of(row: &PgRow) -> Option<Reason> {
    match (row.get::<Option<String>, _>("reason_code"), row.get::<Option<String>, _>("reason_text")) {
        (Some(code), text) => Some(Reason { code, text: text.unwrap_or_default() }),
        (None, _) => None,
    }
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, PaymentStoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| unavailable(format!("stored value `{s}` unreadable: {e}")))
}

fn payment_of(row: &PgRow) -> Result<Payment, PaymentStoreError> {
    Ok(Payment {
        id: parse(row.get("id"))?,
        partner_id: row.get("partner_id"),
        consent_id: parse::<ConsentId>(row.get("consent_id"))?,
        customer_id: row.get("customer_id"),
        debtor: row.get("debtor"),
        payee: serde_json::from_str(row.get("payee")).map_err(unavailable)?,
        amount_minor: row.get("amount_minor"),
        currency: parse::<Currency>(row.get("currency"))?,
        reference: row.get("reference"),
        scenario: serde_json::from_str(row.get("scenario")).map_err(unavailable)?,
        status: status_of(row.get("status"))?,
        reason: reason_of(row),
        core_txn_id: row.get("core_txn_id"),
        refunded_minor: row.get("refunded_minor"),
        day: row.get("day"),
        month: row.get("month"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

fn refund_of(row: &PgRow) -> Result<Refund, PaymentStoreError> {
    Ok(Refund {
        id: parse(row.get("id"))?,
        payment_id: parse(row.get("payment_id"))?,
        partner_id: row.get("partner_id"),
        amount_minor: row.get("amount_minor"),
        currency: parse::<Currency>(row.get("currency"))?,
        reason_text: row.get("reason"),
        status: status_of(row.get("status"))?,
        reason: reason_of(row),
        core_txn_id: row.get("core_txn_id"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

/// The payment, locked until the caller's transaction ends.
async fn lock_payment_in(conn: &mut PgConnection, id: &str) -> Result<Option<Payment>, PaymentStoreError> {
    let row = sqlx::query("SELECT * FROM payments WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    row.as_ref().map(payment_of).transpose()
}

/// The refund, locked until the caller's transaction ends.
async fn lock_refund_in(conn: &mut PgConnection, id: &str) -> Result<Option<Refund>, PaymentStoreError> {
    let row = sqlx::query("SELECT * FROM refunds WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    row.as_ref().map(refund_of).transpose()
}

/// Adds `delta` to a spend counter if the result stays within `limit`; false (and nothing
/// written) when it would not. A negative `delta` gives spend back (never below zero). One
/// conditional upsert: the row lock it takes decides between racing payments.
async fn count_spend(
    conn: &mut PgConnection,
    table: Spend<'_>,
    delta: i64,
    limit: Option<i64>,
) -> Result<bool, PaymentStoreError> {
    if delta > 0 && limit.is_some_and(|l| delta > l) {
        return Ok(false);
    }
    let counted: Option<i64> = match table {
        Spend::Consent { consent_id, period } => sqlx::query_scalar(
            "INSERT INTO consent_spend AS s (consent_id, period, spent_minor) VALUES ($1, $2, GREATEST($3, 0))
             ON CONFLICT (consent_id, period) DO UPDATE SET spent_minor = GREATEST(s.spent_minor + $3, 0)
             WHERE $4::BIGINT IS NULL OR s.spent_minor + $3 <= $4
             RETURNING s.spent_minor",
        )
        .bind(consent_id)
        .bind(period)
        .bind(delta)
        .bind(limit),
        Spend::Partner { partner_id, day, currency } => sqlx::query_scalar(
            "INSERT INTO partner_spend AS s (partner_id, day, currency, spent_minor) VALUES ($1, $2, $3, GREATEST($4, 0))
             ON CONFLICT (partner_id, day, currency) DO UPDATE SET spent_minor = GREATEST(s.spent_minor + $4, 0)
             WHERE $5::BIGINT IS NULL OR s.spent_minor + $4 <= $5
             RETURNING s.spent_minor",
        )
        .bind(partner_id)
        .bind(day)
        .bind(currency)
        .bind(delta)
        .bind(limit),
    }
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    Ok(counted.is_some())
}

#[derive(Clone, Copy)]
enum Spend<'a> {
    Consent { consent_id: &'a str, period: &'a str },
    Partner { partner_id: &'a str, day: &'a str, currency: &'a str },
}

/// What a payment draws on its consent: the allowance to count when the consent is
/// recurring; `None` when it is single (and consumed here).
type Drawn = Option<crate::consent::payment_terms::Allowance>;

/// Checks a payment against its consent, inside the transaction. A single consent is
/// locked exclusively and consumed by it. A recurring consent is locked shared: payments
/// under it proceed side by side (their allowance is counted last, by [`count_spends`]),
/// while a revocation, which updates the row, waits for them and is waited for by the next.
async fn draw_on_consent(
    conn: &mut PgConnection,
    p: &Payment,
    kind: PaymentConsentType,
    now: i64,
) -> Result<Drawn, PaymentStoreError> {
    let mode = match kind {
        PaymentConsentType::Recurring => LockMode::Share,
        PaymentConsentType::Single => LockMode::Update,
        // A bulk is paid by its execution, transaction by transaction, never by one payment
        // (and its consent is locked only by that execution, before any counter).
        PaymentConsentType::Bulk => return Err(Refused::AmountNotConsented.into()),
    };
    let (mut consent, version) = consent_store::lock_in(conn, &p.consent_id, mode)
        .await
        .map_err(unavailable)?
        .ok_or(PaymentStoreError::NotFound)?;
    if consent.partner_id != p.partner_id || consent.customer_id.as_deref() != Some(p.customer_id.as_str()) {
        return Err(PaymentStoreError::NotFound);
    }
    consent.expire_if_due(now);
    if consent.status != ConsentStatus::Authorised {
        return Err(Refused::ConsentState(consent.status).into());
    }
    let Some(terms) = consent.payment.clone() else { return Err(PaymentStoreError::NotFound) };
    if terms.kind != kind {
        return Err(unavailable("the consent's kind is not the one the payment was checked against"));
    }
    if terms.currency != p.currency || consent.accounts.first() != Some(&p.debtor) {
        return Err(Refused::AmountNotConsented.into());
    }
    match terms.kind {
        PaymentConsentType::Single => {
            if terms.amount_minor != Some(p.amount_minor) {
                return Err(Refused::AmountNotConsented.into());
            }
            consent
                .transition(ConsentStatus::Consumed, Actor::Partner(p.partner_id.clone()), now)
                .map_err(|e| Refused::ConsentState(e.from))?;
            if !consent_store::update_in(conn, &consent, version).await.map_err(unavailable)? {
                // Another writer changed the consent since we locked it: impossible under
                // the row lock, so treat it as unavailable.
                return Err(unavailable("consent changed during the payment"));
            }
            Ok(None)
        }
        PaymentConsentType::Recurring => {
            let allowance = terms.limits.ok_or_else(|| unavailable("recurring consent without limits"))?;
            if p.amount_minor > allowance.per_payment {
                return Err(Refused::OverConsentPerPayment.into());
            }
            Ok(Some(allowance))
        }
        PaymentConsentType::Bulk => Err(Refused::AmountNotConsented.into()),
    }
}

/// Counts a payment against what every payment of its partner (and of its recurring
/// consent) shares: the consent's daily and monthly allowances and the partner's limits.
/// These are the rows all payments contend for, so they are counted in one statement, last
/// in the transaction: their row locks are held for that statement and the commit only.
/// Each count is conditional; the refusals come in the order the limits are listed in.
async fn count_spends(
    conn: &mut PgConnection,
    p: &Payment,
    drawn: Drawn,
    limits: crate::payments::PartnerLimits,
) -> Result<(), PaymentStoreError> {
    let (day, month) = (format!("day:{}", p.day), format!("month:{}", p.month));
    let (within_day, within_month, within_partner): (bool, bool, bool) = sqlx::query_as(
        "WITH day AS (
            INSERT INTO consent_spend AS s (consent_id, period, spent_minor)
            SELECT $1, $2, $4 WHERE $5 AND ($6::BIGINT IS NULL OR $4 <= $6)
            ON CONFLICT (consent_id, period) DO UPDATE SET spent_minor = s.spent_minor + $4
            WHERE $6::BIGINT IS NULL OR s.spent_minor + $4 <= $6
            RETURNING 1
         ), month AS (
            INSERT INTO consent_spend AS s (consent_id, period, spent_minor)
            SELECT $1, $3, $4 WHERE $5 AND ($7::BIGINT IS NULL OR $4 <= $7)
            ON CONFLICT (consent_id, period) DO UPDATE SET spent_minor = s.spent_minor + $4
            WHERE $7::BIGINT IS NULL OR s.spent_minor + $4 <= $7
            RETURNING 1
         ), partner AS (
            INSERT INTO partner_spend AS s (partner_id, day, currency, spent_minor)
            SELECT $8, $9, $10, $4 WHERE $4 <= $11
            ON CONFLICT (partner_id, day, currency) DO UPDATE SET spent_minor = s.spent_minor + $4
            WHERE s.spent_minor + $4 <= $11
            RETURNING 1
         )
         SELECT NOT $5 OR EXISTS (SELECT 1 FROM day), NOT $5 OR EXISTS (SELECT 1 FROM month),
            EXISTS (SELECT 1 FROM partner)",
    )
    .bind(p.consent_id.as_str())
    .bind(&day)
    .bind(&month)
    .bind(p.amount_minor)
    .bind(drawn.is_some())
    .bind(drawn.and_then(|a| a.per_day))
    .bind(drawn.and_then(|a| a.per_month))
    .bind(&p.partner_id)
    .bind(&p.day)
    .bind(p.currency.code())
    .bind(limits.per_day)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    if !within_day {
        return Err(Refused::OverConsentDaily.into());
    }
    if !within_month {
        return Err(Refused::OverConsentMonthly.into());
    }
    if p.amount_minor > limits.per_payment {
        return Err(Refused::OverPartnerPerPayment.into());
    }
    if !within_partner {
        return Err(Refused::OverPartnerDaily.into());
    }
    Ok(())
}

/// Gives back what a rejected payment counted: its consent's allowances and the partner's
/// daily spend. A consumed single consent stays consumed (the customer authorised one try).
async fn give_back(conn: &mut PgConnection, p: &Payment) -> Result<(), PaymentStoreError> {
    let id = p.consent_id.as_str();
    for period in [format!("day:{}", p.day), format!("month:{}", p.month)] {
        count_spend(conn, Spend::Consent { consent_id: id, period: &period }, -p.amount_minor, None).await?;
    }
    let spend = Spend::Partner { partner_id: &p.partner_id, day: &p.day, currency: p.currency.code() };
    count_spend(conn, spend, -p.amount_minor, None).await?;
    Ok(())
}

/// A settlement and its event in one statement, if the payment is still in the status its
/// caller read (its other columns do not change before it is final).
static SETTLE_IF_UNMOVED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    events::append_after(
        "guard AS (
            UPDATE payments SET status = $1, reason_code = $2, reason_text = $3, core_txn_id = $4, updated_at = $5
            WHERE id = $6 AND status = $7 RETURNING 1
         )",
        7,
    )
});

fn append_err(e: crate::events::EventStoreError) -> PaymentStoreError {
    unavailable(e)
}

/// Counts a payment against the partner's limits: its per-payment limit and what remains of
/// its daily one.
async fn count_partner(
    conn: &mut PgConnection,
    p: &Payment,
    limits: crate::payments::PartnerLimits,
) -> Result<(), PaymentStoreError> {
    if p.amount_minor > limits.per_payment {
        return Err(Refused::OverPartnerPerPayment.into());
    }
    let spend = Spend::Partner { partner_id: &p.partner_id, day: &p.day, currency: p.currency.code() };
    if !count_spend(conn, spend, p.amount_minor, Some(limits.per_day)).await? {
        return Err(Refused::OverPartnerDaily.into());
    }
    Ok(())
}

const INSERT_PAYMENT: &str = "INSERT INTO payments (id, partner_id, consent_id, single, customer_id, debtor, payee,
        amount_minor, currency, reference, scenario, status, day, month, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)";

/// Binds a payment's columns as `$1`…`$15` of [`INSERT_PAYMENT`].
fn bind_payment<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    p: &'q Payment,
    single: bool,
) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>, PaymentStoreError> {
    Ok(query
        .bind(p.id.as_str())
        .bind(&p.partner_id)
        .bind(p.consent_id.as_str())
        .bind(single)
        .bind(&p.customer_id)
        .bind(&p.debtor)
        .bind(json(&p.payee)?)
        .bind(p.amount_minor)
        .bind(p.currency.code())
        .bind(&p.reference)
        .bind(json(&p.scenario)?)
        .bind(p.status.code())
        .bind(&p.day)
        .bind(&p.month)
        .bind(p.created_at))
}

/// Inserts a recorded payment; a second payment for what allows one (a single consent, a
/// bulk's transaction, the same id) is refused as the consent being used up.
async fn insert_payment(conn: &mut PgConnection, p: &Payment, single: bool) -> Result<(), PaymentStoreError> {
    used_up(bind_payment(sqlx::query(INSERT_PAYMENT), p, single)?.execute(&mut *conn).await)
}

/// A new payment, its idempotency record's link to it and its event, in one statement.
static RECORD_PAYMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    events::append_after(
        &format!(
            "link AS (UPDATE idempotency SET resource_id = $1 WHERE partner_id = $16 AND key = $17),
             guard AS ({INSERT_PAYMENT} RETURNING 1)"
        ),
        17,
    )
});

/// [`insert_payment`] with the idempotency link and the event, in one round trip.
async fn insert_recorded(conn: &mut PgConnection, new: &NewPayment<'_>, single: bool) -> Result<(), PaymentStoreError> {
    let query = bind_payment(sqlx::query(RECORD_PAYMENT.as_str()), new.payment, single)?
        .bind(new.claim.partner_id.clone())
        .bind(new.claim.key.as_str().to_owned());
    let (query, _) = events::bind_event(query, &new.event, new.now).map_err(append_err)?;
    used_up(query.execute(&mut *conn).await)
}

/// A unique index refusing a row means what it guards was used already.
fn used_up(done: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> Result<(), PaymentStoreError> {
    match done {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(Refused::ConsentState(ConsentStatus::Consumed).into())
        }
        other => other.map(drop).map_err(db),
    }
}

#[async_trait]
impl PaymentStore for PgPaymentStore {
    async fn create_payment(&self, new: NewPayment<'_>) -> Result<(), PaymentStoreError> {
        self.recorder.record(new).await
    }

    async fn settle_payment(
        &self,
        last_read: &Payment,
        outcome: &Settlement,
        event: for<'x> fn(&'x Payment) -> NewEvent,
        now: i64,
    ) -> Result<Option<Payment>, PaymentStoreError> {
        // The common case, a booking or a lost answer for a payment as its caller last read
        // it, in one statement; a rejection (it gives back what it counted) or a payment that
        // moved since takes the locked path.
        if !matches!(outcome, Settlement::Rejected(_)) {
            let Some(settled) = last_read.settled(outcome, now) else { return Ok(None) };
            let query = sqlx::query(SETTLE_IF_UNMOVED.as_str())
                .bind(settled.status.code())
                .bind(settled.reason.as_ref().map(|r| r.code.clone()))
                .bind(settled.reason.as_ref().map(|r| r.text.clone()))
                .bind(settled.core_txn_id.clone())
                .bind(now)
                .bind(settled.id.as_str().to_owned())
                .bind(last_read.status.code());
            let (query, _) = events::bind_event(query, &event(&settled), now).map_err(append_err)?;
            if query.execute(&self.pool).await.map_err(db)?.rows_affected() == 1 {
                return Ok(Some(settled));
            }
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        let read = lock_payment_in(&mut tx, last_read.id.as_str()).await?.ok_or(PaymentStoreError::NotFound)?;
        let Some(p) = read.settled(outcome, now) else { return Ok(None) };
        if matches!(outcome, Settlement::Rejected(_)) {
            give_back(&mut tx, &p).await?;
        }
        sqlx::query(
            "UPDATE payments SET status = $1, reason_code = $2, reason_text = $3, core_txn_id = $4, updated_at = $5
             WHERE id = $6",
        )
        .bind(p.status.code())
        .bind(p.reason.as_ref().map(|r| r.code.clone()))
        .bind(p.reason.as_ref().map(|r| r.text.clone()))
        .bind(&p.core_txn_id)
        .bind(now)
        .bind(p.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        events::append(&mut tx, &event(&p), now).await.map_err(append_err)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(p))
    }

    async fn create_bulk_payments(&self, new: NewBulk<'_>) -> Result<(), PaymentStoreError> {
        let Some((_, first)) = new.payments.first() else { return Err(PaymentStoreError::NotFound) };
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The consent's row lock queues concurrent executions: the second finds it consumed.
        let (mut consent, version) = consent_store::lock_in(&mut tx, &first.consent_id, LockMode::Update)
            .await
            .map_err(unavailable)?
            .ok_or(PaymentStoreError::NotFound)?;
        crate::payments::store::check_bulk_use(&mut consent, new.payments, new.now)?;
        if !consent_store::update_in(&mut tx, &consent, version).await.map_err(unavailable)? {
            return Err(unavailable("consent changed during the payment"));
        }
        let limits = new.partner_limits;
        for ((end_to_end_id, p), event) in new.payments.iter().zip(&new.events) {
            count_partner(&mut tx, p, limits).await?;
            insert_payment(&mut tx, p, false).await?;
            let tied =
                sqlx::query("INSERT INTO bulk_payments (consent_id, end_to_end_id, payment_id) VALUES ($1, $2, $3)")
                    .bind(p.consent_id.as_str())
                    .bind(end_to_end_id)
                    .bind(p.id.as_str())
                    .execute(&mut *tx)
                    .await;
            used_up(tied)?;
            events::append(&mut tx, event, new.now).await.map_err(append_err)?;
        }
        idempotency::link_in(&mut tx, new.claim, first.consent_id.as_str()).await.map_err(unavailable)?;
        tx.commit().await.map_err(db)
    }

    async fn bulk_payments(&self, consent_id: &ConsentId) -> Result<Vec<(String, Payment)>, PaymentStoreError> {
        let rows = sqlx::query(
            "SELECT b.end_to_end_id, p.* FROM bulk_payments b JOIN payments p ON p.id = b.payment_id
             WHERE b.consent_id = $1 ORDER BY b.seq",
        )
        .bind(consent_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(|r| Ok((r.get("end_to_end_id"), payment_of(r)?))).collect()
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, PaymentStoreError> {
        let row = sqlx::query("SELECT * FROM payments WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(payment_of).transpose()
    }

    async fn unsettled_payments(&self, before: i64, limit: u32) -> Result<Vec<Payment>, PaymentStoreError> {
        let rows = sqlx::query(
            "SELECT * FROM payments WHERE status IN ('ACTC', 'ACSP') AND updated_at < $1 ORDER BY updated_at LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(payment_of).collect()
    }

    async fn create_refund(&self, new: NewRefund<'_>) -> Result<(), PaymentStoreError> {
        let r = new.refund;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let p = lock_payment_in(&mut tx, r.payment_id.as_str()).await?.ok_or(PaymentStoreError::NotFound)?;
        if p.partner_id != r.partner_id {
            return Err(PaymentStoreError::NotFound);
        }
        if p.status != Iso20022Status::Acsc {
            return Err(Refused::NotRefundable.into());
        }
        if r.currency != p.currency {
            return Err(Refused::RefundExceeds { remaining_minor: p.amount_minor - p.refunded_minor }.into());
        }
        let remaining = p.amount_minor - p.refunded_minor;
        if r.amount_minor > remaining {
            return Err(Refused::RefundExceeds { remaining_minor: remaining }.into());
        }
        sqlx::query("UPDATE payments SET refunded_minor = refunded_minor + $1 WHERE id = $2")
            .bind(r.amount_minor)
            .bind(p.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO refunds (id, payment_id, partner_id, amount_minor, currency, reason, status, created_at,
                updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(r.id.as_str())
        .bind(r.payment_id.as_str())
        .bind(&r.partner_id)
        .bind(r.amount_minor)
        .bind(r.currency.code())
        .bind(&r.reason_text)
        .bind(r.status.code())
        .bind(r.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        idempotency::link_in(&mut tx, new.claim, r.id.as_str()).await.map_err(unavailable)?;
        events::append(&mut tx, &new.event, r.created_at).await.map_err(append_err)?;
        tx.commit().await.map_err(db)
    }

    async fn settle_refund(
        &self,
        id: &RefundId,
        outcome: &Settlement,
        event: for<'x> fn(&'x Refund) -> NewEvent,
        now: i64,
    ) -> Result<Option<Refund>, PaymentStoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let read = lock_refund_in(&mut tx, id.as_str()).await?.ok_or(PaymentStoreError::NotFound)?;
        let Some(r) = read.settled(outcome, now) else { return Ok(None) };
        if matches!(outcome, Settlement::Rejected(_)) {
            sqlx::query("UPDATE payments SET refunded_minor = refunded_minor - $1 WHERE id = $2")
                .bind(r.amount_minor)
                .bind(r.payment_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        sqlx::query(
            "UPDATE refunds SET status = $1, reason_code = $2, reason_text = $3, core_txn_id = $4, updated_at = $5
             WHERE id = $6",
        )
        .bind(r.status.code())
        .bind(r.reason.as_ref().map(|x| x.code.clone()))
        .bind(r.reason.as_ref().map(|x| x.text.clone()))
        .bind(&r.core_txn_id)
        .bind(now)
        .bind(r.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        events::append(&mut tx, &event(&r), now).await.map_err(append_err)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(r))
    }

    async fn refund(&self, id: &RefundId) -> Result<Option<Refund>, PaymentStoreError> {
        let row = sqlx::query("SELECT * FROM refunds WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(refund_of).transpose()
    }

    async fn refunds_of(&self, payment_id: &PaymentId) -> Result<Vec<Refund>, PaymentStoreError> {
        let rows = sqlx::query("SELECT * FROM refunds WHERE payment_id = $1 ORDER BY created_at, id")
            .bind(payment_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(refund_of).collect()
    }

    async fn unsettled_refunds(&self, before: i64, limit: u32) -> Result<Vec<Refund>, PaymentStoreError> {
        let rows = sqlx::query(
            "SELECT * FROM refunds WHERE status IN ('ACTC', 'ACSP') AND updated_at < $1 ORDER BY updated_at LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(refund_of).collect()
    }

    async fn status_counts(&self, partner_id: &str) -> Result<Vec<(String, i64)>, PaymentStoreError> {
        sqlx::query_as("SELECT status, COUNT(*) FROM payments WHERE partner_id = $1 GROUP BY status ORDER BY status")
            .bind(partner_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }
}
