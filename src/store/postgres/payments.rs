//! Payments and refunds on PostgreSQL, shared by every gateway instance. Each write is one
//! transaction that locks what its decision reads: a payment locks its consent (shared
//! under a recurring consent, exclusively when it consumes a single one), so a revocation
//! and a payment never pass each other, and the spend counters it counts against, so two
//! payments of one partner on two instances can never both fit in the last of a daily
//! limit. Those counters are what every payment of a partner contends for: new payments are
//! recorded in batches that share a commit (`recorder.rs`, [`Locked`]), which take the
//! counters before any consent they update. Every other writer takes its locks in an order
//! that agrees (a payment's row, then its consent's counters, then the partner's; a bulk
//! consent, then the partner's counter; a consent alone), so writers wait, never deadlock.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use scenegate_adapter_contract::{
    ConsentId, Currency, PaymentId, RefundId,
    canonical::{ConsentStatus, Iso20022Status, PaymentConsentType},
};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};

use super::{
    consent::{self as consent_store, LockMode},
    events, idempotency,
    recorder::{Recorder, Settle, Writes},
};
use crate::events::Notify;
use crate::idempotency::Claim;
use crate::payments::model::{Payment, Reason, Refund, Settlement};
use crate::payments::store::{
    Drawn, EventOf, NewBulk, NewPayment, NewRefund, PaymentStore, PaymentStoreError, Refused, SettledAnswer, Spent,
    check_spend, draw_on_consent,
};
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
    /// New payments are recorded in batches, one transaction each, and settlements in
    /// batches of their own, one statement each (`recorder.rs`).
    recorder: Recorder,
}

impl PgPaymentStore {
    /// Spawns the payment recorder: call it inside the runtime.
    pub fn new(pool: PgPool) -> Self {
        Self::with_batch_deadline(pool, super::recorder::BATCH_DEADLINE)
    }

    /// With each batch answered unavailable once it has taken `deadline`: a batch of new
    /// payments commits nothing then (its transaction is abandoned); an abandoned batch of
    /// settlements may still commit once the server can finish it, each payment moved only
    /// from the status its settlement expects, so at most once.
    pub fn with_batch_deadline(pool: PgPool, deadline: std::time::Duration) -> Self {
        let recorder = Recorder::spawn(pool.clone(), Writes { record: record_batch, settle: settle_all }, deadline);
        Self { pool, recorder }
    }
}

/// Records a batch of new payments inside the recorder's transaction: the batch's locks
/// (see [`Locked`]), each payment checked against them, and every payment that fits written
/// in one statement.
fn record_batch<'c>(
    conn: &'c mut PgConnection,
    batch: &'c [NewPayment<'c>],
) -> BoxFuture<'c, Result<Vec<Result<(), PaymentStoreError>>, PaymentStoreError>> {
    Box::pin(async move {
        // Deferred idempotency keys first, before any counter lock is held: a key another
        // transaction is writing is waited for holding nothing that others wait for.
        let deferred: Vec<&Claim> = batch.iter().map(|n| n.claim).filter(|c| c.deferred.is_some()).collect();
        let mut taken = match deferred.is_empty() {
            true => Default::default(),
            false => idempotency::claim_deferred_in(conn, &deferred).await.map_err(unavailable)?,
        };
        // A key taken goes to the first of the batch's payments that deferred it.
        let holds: Vec<bool> = batch
            .iter()
            .map(|n| {
                n.claim.deferred.is_none()
                    || taken.remove(&(n.claim.partner_id.clone(), n.claim.key.as_str().to_owned()))
            })
            .collect();
        let holding: Vec<&NewPayment<'_>> = batch.iter().zip(&holds).filter(|(_, h)| **h).map(|(n, _)| n).collect();
        let mut locked = Locked::take(conn, &holding).await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut fitting = Vec::with_capacity(batch.len());
        let mut consumed = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for (n, new) in batch.iter().enumerate() {
            if !holds[n] {
                outcomes.push(Err(PaymentStoreError::KeyTaken));
                continue;
            }
            // One payment twice in a batch (never, under its idempotency lease) is recorded once.
            if !ids.insert(new.payment.id.as_str()) {
                outcomes.push(Err(Refused::ConsentState(ConsentStatus::Consumed).into()));
                continue;
            }
            match locked.admit(new)? {
                Ok(single) => {
                    fitting.push(new);
                    consumed.extend(single.map(|c| (n, c)));
                    outcomes.push(Ok(()));
                }
                Err(refused) => outcomes.push(Err(refused)),
            }
        }
        let recorded = insert_all(conn, &fitting).await?;
        for (n, new) in batch.iter().enumerate() {
            if outcomes[n].is_ok() && !recorded.contains(new.payment.id.as_str()) {
                // A unique index refused it: what it pays was used already. (The batch's
                // later payments were checked as if it counted: never more than the limits.)
                outcomes[n] = Err(Refused::ConsentState(ConsentStatus::Consumed).into());
            }
        }
        for (n, (consent, version)) in consumed {
            let notify = batch[n].event.notify;
            if outcomes[n].is_ok()
                && !consent_store::update_in(conn, &consent, version, notify).await.map_err(unavailable)?
            {
                // Impossible under the row lock the batch holds.
                return Err(unavailable("consent changed during the payment"));
            }
        }
        // The deferred keys of payments refused are let go, as if never claimed.
        let refused: Vec<&Claim> = (0..batch.len())
            .filter(|&n| holds[n] && batch[n].claim.deferred.is_some() && outcomes[n].is_err())
            .map(|n| batch[n].claim)
            .collect();
        idempotency::release_deferred_in(conn, &refused).await.map_err(unavailable)?;
        Ok(outcomes)
    })
}

/// What a batch of new payments holds locked until its commit, as it stands after the
/// batch's payments so far: every spend counter they count against, with its value, and
/// every consent they draw on, as read.
///
/// The locks are taken first, each set sorted, in one global order: recurring consents
/// (shared), the consents' counters, the partners' counters, single consents (exclusively).
/// Shared locks never wait for each other, so batches on several instances queue on the
/// first counter they share and never deadlock; every other writer's order agrees (see the
/// module's doc). With its locks held nothing but this batch can change what it decides on,
/// so each payment is checked here, in Rust, against the values held, and every payment that
/// fits is written by one statement: the counters, which every other instance's batches of
/// the partner wait for, are held for three round trips and the commit, however many
/// payments the batch has.
struct Locked {
    /// `(consent, "day:…" or "month:…")` → spent.
    consent_spend: HashMap<(String, String), i64>,
    /// `(partner, day, currency)` → spent.
    partner_spend: HashMap<(String, String, String), i64>,
    /// Consent id → the consent and its version.
    consents: HashMap<String, (crate::consent::Consent, i64)>,
}

impl Locked {
    async fn take(conn: &mut PgConnection, batch: &[&NewPayment<'_>]) -> Result<Self, PaymentStoreError> {
        let mut consent_rows = BTreeSet::new();
        let mut partner_rows = BTreeSet::new();
        let mut shared = BTreeSet::new();
        let mut exclusive = BTreeSet::new();
        for new in batch {
            let p = new.payment;
            match new.consent_kind {
                PaymentConsentType::Recurring => {
                    consent_rows.insert((p.consent_id.as_str().to_owned(), day_period(p)));
                    consent_rows.insert((p.consent_id.as_str().to_owned(), month_period(p)));
                    shared.insert(p.consent_id.as_str().to_owned());
                }
                PaymentConsentType::Single => {
                    exclusive.insert(p.consent_id.as_str().to_owned());
                }
                // Refused by `draw_on_consent`; a bulk consent is locked by its execution only.
                PaymentConsentType::Bulk => {}
            }
            partner_rows.insert((p.partner_id.clone(), p.day.clone(), p.currency.code().to_owned()));
        }
        // A consent some job takes as single and another as recurring (a kind never changes,
        // so never) is locked exclusively only.
        let shared: Vec<String> = shared.difference(&exclusive).cloned().collect();
        let exclusive: Vec<String> = exclusive.into_iter().collect();
        let mut consents: HashMap<_, _> = lock_consents(conn, &shared, LockMode::Share).await?.into_iter().collect();
        let (ids, periods): (Vec<String>, Vec<String>) = consent_rows.into_iter().unzip();
        // ON CONFLICT DO UPDATE locks an existing row as an UPDATE would, an inserted one is
        // locked by its insert; rows are taken in the order given.
        let consent_spend: Vec<(String, String, i64)> = sqlx::query_as(
            "INSERT INTO consent_spend AS s (consent_id, period, spent_minor)
             SELECT id, period, 0 FROM UNNEST($1::TEXT[], $2::TEXT[]) WITH ORDINALITY AS k (id, period, n) ORDER BY n
             ON CONFLICT (consent_id, period) DO UPDATE SET spent_minor = s.spent_minor
             RETURNING s.consent_id, s.period, s.spent_minor",
        )
        .bind(ids)
        .bind(periods)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        let (mut partners, mut days, mut currencies) = (Vec::new(), Vec::new(), Vec::new());
        for (partner, day, currency) in partner_rows {
            partners.push(partner);
            days.push(day);
            currencies.push(currency);
        }
        let partner_spend: Vec<(String, String, String, i64)> = sqlx::query_as(
            "INSERT INTO partner_spend AS s (partner_id, day, currency, spent_minor)
             SELECT partner, day, currency, 0
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[]) WITH ORDINALITY AS k (partner, day, currency, n) ORDER BY n
             ON CONFLICT (partner_id, day, currency) DO UPDATE SET spent_minor = s.spent_minor
             RETURNING s.partner_id, s.day, s.currency, s.spent_minor",
        )
        .bind(partners)
        .bind(days)
        .bind(currencies)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        consents.extend(lock_consents(conn, &exclusive, LockMode::Update).await?);
        Ok(Self {
            consent_spend: consent_spend.into_iter().map(|(id, period, spent)| ((id, period), spent)).collect(),
            partner_spend: partner_spend.into_iter().map(|(p, d, c, spent)| ((p, d, c), spent)).collect(),
            consents,
        })
    }

    /// Checks one payment against what the batch holds and, if it fits, counts it there as
    /// the batch will record it: its counters move, a single consent it consumes is
    /// returned (with the version it was read at) for the caller to save with it. The inner
    /// result is the payment's own refusal; the outer one an error that fails the batch.
    #[allow(clippy::type_complexity)]
    fn admit(
        &mut self,
        new: &NewPayment<'_>,
    ) -> Result<Result<Option<(crate::consent::Consent, i64)>, PaymentStoreError>, PaymentStoreError> {
        let p = new.payment;
        let Some((consent, version)) = self.consents.get(p.consent_id.as_str()) else {
            return Ok(Err(PaymentStoreError::NotFound));
        };
        if consent.payment.as_ref().is_some_and(|t| t.kind != new.consent_kind) {
            return Err(unavailable("the consent's kind is not the one the payment was checked against"));
        }
        let (mut drawn_consent, version) = (consent.clone(), *version);
        let drawn = match draw_on_consent(&mut drawn_consent, p, new.now) {
            Ok(drawn) => drawn,
            Err(refused) => return Ok(Err(refused)),
        };
        let consent_key = |period: String| (p.consent_id.as_str().to_owned(), period);
        let (day, month) = (consent_key(day_period(p)), consent_key(month_period(p)));
        let partner = (p.partner_id.clone(), p.day.clone(), p.currency.code().to_owned());
        let spent = Spent {
            consent_day: self.consent_spend.get(&day).copied().unwrap_or(0),
            consent_month: self.consent_spend.get(&month).copied().unwrap_or(0),
            partner_day: self.partner_spend.get(&partner).copied().unwrap_or(0),
        };
        if let Err(refused) = check_spend(p.amount_minor, spent, drawn, new.partner_limits) {
            return Ok(Err(refused.into()));
        }
        *self.partner_spend.entry(partner).or_default() += p.amount_minor;
        Ok(Ok(match drawn {
            Drawn::Recurring(_) => {
                *self.consent_spend.entry(day).or_default() += p.amount_minor;
                *self.consent_spend.entry(month).or_default() += p.amount_minor;
                None
            }
            Drawn::Single => {
                self.consents.insert(p.consent_id.as_str().to_owned(), (drawn_consent.clone(), version + 1));
                Some((drawn_consent, version))
            }
        }))
    }
}

/// [`insert_all`]'s statement: the payments as parallel arrays, one element each.
static INSERT_ALL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    "WITH j AS (
            SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BOOLEAN[], $5::TEXT[], $6::TEXT[],
                $7::TEXT[], $8::BIGINT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[], $13::TEXT[], $14::TEXT[],
                $15::BIGINT[], $16::TEXT[], $17::TEXT[], $18::TEXT[], $19::TEXT[], $20::TEXT[], $21::TEXT[],
                $22::BIGINT[], $23::TEXT[], $24::BOOLEAN[])
            WITH ORDINALITY AS j (id, partner_id, consent_id, single, customer_id, debtor, payee, amount_minor,
                currency, reference, scenario, status, day, month, created_at, claim_partner, claim_key,
                event_id, event_type, event_subject, event_data, event_at, event_partner, event_webhook, n)
         ), guard AS (
            INSERT INTO payments (id, partner_id, consent_id, single, customer_id, debtor, payee, amount_minor,
                currency, reference, scenario, status, day, month, created_at, updated_at)
            SELECT id, partner_id, consent_id, single, customer_id, debtor, payee, amount_minor, currency,
                reference, scenario, status, day, month, created_at, created_at
            FROM j ORDER BY n
            ON CONFLICT DO NOTHING RETURNING id
         ), recorded AS (
            SELECT j.* FROM j JOIN guard USING (id)
         ), link AS (
            UPDATE idempotency i SET resource_id = r.id FROM recorded r
            WHERE i.partner_id = r.claim_partner AND i.key = r.claim_key
         ), consent_counted AS (
            UPDATE consent_spend s SET spent_minor = s.spent_minor + c.total
            FROM (
                SELECT r.consent_id, v.period, SUM(r.amount_minor) AS total
                FROM recorded r, LATERAL (VALUES ('day:' || r.day), ('month:' || r.month)) AS v (period)
                WHERE NOT r.single GROUP BY r.consent_id, v.period
            ) c
            WHERE s.consent_id = c.consent_id AND s.period = c.period
         ), partner_counted AS (
            UPDATE partner_spend s SET spent_minor = s.spent_minor + c.total
            FROM (
                SELECT partner_id, day, currency, SUM(amount_minor) AS total FROM recorded
                GROUP BY partner_id, day, currency
            ) c
            WHERE s.partner_id = c.partner_id AND s.day = c.day AND s.currency = c.currency
         ), {EVENTS}
         SELECT id FROM guard"
        .replace("{EVENTS}", &events::append_each("recorded", "event_at"))
});

/// Writes the payments a batch admitted, each with its idempotency record's link, its counts
/// (a recurring consent's day and month, the partner's day) and its event, in one statement;
/// a payment a unique index refuses is written with none of them. The ids written.
async fn insert_all(
    conn: &mut PgConnection,
    batch: &[&NewPayment<'_>],
) -> Result<std::collections::HashSet<String>, PaymentStoreError> {
    if batch.is_empty() {
        return Ok(Default::default());
    }
    let column = |f: &dyn Fn(&NewPayment<'_>) -> String| batch.iter().map(|n| f(n)).collect::<Vec<String>>();
    let number = |f: &dyn Fn(&NewPayment<'_>) -> i64| batch.iter().map(|n| f(n)).collect::<Vec<i64>>();
    let mut payees = Vec::with_capacity(batch.len());
    let mut scenarios = Vec::with_capacity(batch.len());
    let mut event_ids = Vec::with_capacity(batch.len());
    let mut event_data = Vec::with_capacity(batch.len());
    for new in batch {
        payees.push(json(&new.payment.payee)?);
        scenarios.push(json(&new.payment.scenario)?);
        event_ids.push(crate::events::EventId::generate().as_str().to_owned());
        event_data.push(json(&new.event.data)?);
    }
    let singles: Vec<bool> = batch.iter().map(|n| n.consent_kind == PaymentConsentType::Single).collect();
    let ids: Vec<String> = sqlx::query_scalar(INSERT_ALL.as_str())
        .bind(column(&|n| n.payment.id.as_str().to_owned()))
        .bind(column(&|n| n.payment.partner_id.clone()))
        .bind(column(&|n| n.payment.consent_id.as_str().to_owned()))
        .bind(singles)
        .bind(column(&|n| n.payment.customer_id.clone()))
        .bind(column(&|n| n.payment.debtor.clone()))
        .bind(payees)
        .bind(number(&|n| n.payment.amount_minor))
        .bind(column(&|n| n.payment.currency.code().to_owned()))
        .bind(column(&|n| n.payment.reference.clone()))
        .bind(scenarios)
        .bind(column(&|n| n.payment.status.code().to_owned()))
        .bind(column(&|n| n.payment.day.clone()))
        .bind(column(&|n| n.payment.month.clone()))
        .bind(number(&|n| n.payment.created_at))
        .bind(column(&|n| n.claim.partner_id.clone()))
        .bind(column(&|n| n.claim.key.as_str().to_owned()))
        .bind(event_ids)
        .bind(column(&|n| n.event.event_type.clone()))
        .bind(column(&|n| n.event.subject_id.clone()))
        .bind(event_data)
        .bind(number(&|n| n.now))
        .bind(column(&|n| n.event.partner_id.clone()))
        .bind(batch.iter().map(|n| n.event.notify == Notify::Webhook).collect::<Vec<bool>>())
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    Ok(ids.into_iter().collect())
}

/// [`settle_all`]'s statement: the settlements as parallel arrays, one element each. A
/// payment moves only from the status its settlement expects; its event, delivery and answer
/// are written only when it did.
static SETTLE_ALL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    "WITH s AS (
            SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
                $7::BIGINT[], $8::BIGINT[], $9::TEXT[], $10::BYTEA[], $11::TEXT[], $12::TEXT[], $13::TEXT[],
                $14::TEXT[], $15::TEXT[], $16::TEXT[], $17::TEXT[], $18::BOOLEAN[])
            WITH ORDINALITY AS s (id, expected, status, reason_code, reason_text, core_txn_id, at,
                answer_status, answer_headers, answer_body, claim_partner, claim_key,
                event_id, event_partner, event_type, event_subject, event_data, event_webhook, n)
         ), guard AS (
            UPDATE payments p SET status = s.status, reason_code = s.reason_code, reason_text = s.reason_text,
                core_txn_id = s.core_txn_id, updated_at = s.at
            FROM s WHERE p.id = s.id AND p.status = s.expected
            RETURNING p.id
         ), settled AS (
            SELECT s.* FROM s JOIN guard USING (id)
         ), {ANSWERED}, {EVENTS}
         SELECT id FROM guard"
        .replace("{ANSWERED}", &idempotency::answers_from("settled"))
        .replace("{EVENTS}", &events::append_each("settled", "at"))
});

/// Writes a batch of settlements in one statement (see [`SETTLE_ALL`]): whether each was
/// written, in order. A payment twice in the batch (its request and the reconciler settling
/// it at once) is written by its first settlement only; the others are answered `false`
/// and take the locked path, which reads what the first one left.
fn settle_all<'c>(
    conn: &'c mut PgConnection,
    batch: &'c [&'c Settle],
) -> BoxFuture<'c, Result<Vec<bool>, PaymentStoreError>> {
    Box::pin(async move {
        let mut seen = std::collections::HashSet::new();
        let first: Vec<bool> = batch.iter().map(|s| seen.insert(s.payment.id.as_str())).collect();
        let rows: Vec<&Settle> = batch.iter().zip(&first).filter(|(_, f)| **f).map(|(s, _)| *s).collect();
        let text = |f: &dyn Fn(&Settle) -> Option<String>| rows.iter().map(|s| f(s)).collect::<Vec<Option<String>>>();
        let mut event_ids = Vec::with_capacity(rows.len());
        let mut event_data = Vec::with_capacity(rows.len());
        let mut headers = Vec::with_capacity(rows.len());
        for s in &rows {
            event_ids.push(crate::events::EventId::generate().as_str().to_owned());
            event_data.push(json(&s.event.data)?);
            headers.push(s.answer.as_ref().map(|(_, a)| a.headers_json()).transpose().map_err(unavailable)?);
        }
        let reason = |s: &Settle| s.payment.reason.clone();
        let written: Vec<String> = sqlx::query_scalar(SETTLE_ALL.as_str())
            .bind(text(&|s| Some(s.payment.id.as_str().to_owned())))
            .bind(text(&|s| Some(s.expected.code().to_owned())))
            .bind(text(&|s| Some(s.payment.status.code().to_owned())))
            .bind(text(&|s| reason(s).map(|r| r.code)))
            .bind(text(&|s| reason(s).map(|r| r.text)))
            .bind(text(&|s| s.payment.core_txn_id.clone()))
            .bind(rows.iter().map(|s| s.now).collect::<Vec<i64>>())
            .bind(
                rows.iter().map(|s| s.answer.as_ref().map(|(_, a)| i64::from(a.status))).collect::<Vec<Option<i64>>>(),
            )
            .bind(headers)
            .bind(rows.iter().map(|s| s.answer.as_ref().map(|(_, a)| a.body.clone())).collect::<Vec<Option<Vec<u8>>>>())
            .bind(text(&|s| s.answer.as_ref().map(|(c, _)| c.partner_id.clone())))
            .bind(text(&|s| s.answer.as_ref().map(|(c, _)| c.key.as_str().to_owned())))
            .bind(event_ids)
            .bind(text(&|s| Some(s.event.partner_id.clone())))
            .bind(text(&|s| Some(s.event.event_type.clone())))
            .bind(text(&|s| Some(s.event.subject_id.clone())))
            .bind(event_data)
            .bind(rows.iter().map(|s| s.event.notify == Notify::Webhook).collect::<Vec<bool>>())
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        let written: std::collections::HashSet<String> = written.into_iter().collect();
        Ok(batch.iter().zip(first).map(|(s, f)| f && written.contains(s.payment.id.as_str())).collect())
    })
}

async fn lock_consents(
    conn: &mut PgConnection,
    ids: &[String],
    mode: LockMode,
) -> Result<Vec<(String, (crate::consent::Consent, i64))>, PaymentStoreError> {
    let locked = consent_store::lock_all_in(conn, ids, mode).await.map_err(unavailable)?;
    Ok(locked.into_iter().map(|(consent, version)| (consent.id.as_str().to_owned(), (consent, version))).collect())
}

fn day_period(p: &Payment) -> String {
    format!("day:{}", p.day)
}

fn month_period(p: &Payment) -> String {
    format!("month:{}", p.month)
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
        event: EventOf<Payment>,
        answer: Option<&SettledAnswer<'_>>,
        now: i64,
    ) -> Result<Option<Payment>, PaymentStoreError> {
        // The common case, a booking or a lost answer for a payment as its caller last read
        // it, written with the others waiting (`recorder.rs`) with its event and the
        // request's answer; a rejection (it gives back what it counted) or a payment that
        // moved since takes the locked path.
        if !matches!(outcome, Settlement::Rejected(_)) {
            let Some(settled) = last_read.settled(outcome, now) else { return Ok(None) };
            let settle = Settle {
                expected: last_read.status,
                answer: answer.filter(|a| a.fits(&settled)).map(|a| (a.claim.clone(), a.answer.clone())),
                event: event(&settled),
                now,
                payment: settled,
            };
            let payment = settle.payment.clone();
            if self.recorder.settle(settle).await? {
                return Ok(Some(payment));
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
        if let Some(a) = answer.filter(|a| a.fits(&p)) {
            idempotency::complete_in(&mut tx, a.claim, a.answer).await?;
        }
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
        if !consent_store::update_in(&mut tx, &consent, version, new.notify()).await.map_err(unavailable)? {
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
        idempotency::link_in(&mut tx, new.claim, first.consent_id.as_str())
            .await
            .map_err(PaymentStoreError::of_link)?;
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
        idempotency::link_in(&mut tx, new.claim, r.id.as_str()).await.map_err(PaymentStoreError::of_link)?;
        events::append(&mut tx, &new.event, r.created_at).await.map_err(append_err)?;
        tx.commit().await.map_err(db)
    }

    async fn settle_refund(
        &self,
        id: &RefundId,
        outcome: &Settlement,
        event: EventOf<Refund>,
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
