//! Group commit of new payments on PostgreSQL.
//!
//! Every payment of a partner counts against that partner's daily limit, one row in
//! `partner_spend` (and a recurring consent's payments against its allowance rows): each
//! payment's transaction must hold that row's lock until it commits, so payments recorded one
//! transaction each pass it on one commit, one fsync, at a time, whatever the number of
//! instances. Each instance therefore records the payments waiting together in one
//! transaction, one savepoint each (a refused payment is rolled back to it and costs the
//! others nothing), and answers them after the one commit: payments share an fsync as they do
//! on the embedded default's writer thread.
//!
//! A batch first locks every counter its payments will count against, in one global order
//! (consents' counters, then partners', each sorted), before it locks any consent; batches on
//! several instances therefore queue on the first counter they share and never deadlock, and
//! no other writer locks a counter before a consent.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use crate::payments::store::{NewPayment, PaymentStoreError};

/// Most payments in one transaction: each takes a savepoint, and PostgreSQL keeps up to 64
/// subtransactions of a transaction in its shared cache before it slows every snapshot down.
const MAX_BATCH: usize = 48;

/// Payments waiting for the recorder; more are refused at once (503) rather than queued.
const QUEUE: usize = 1024;

/// Longest a batch may take, from taking a connection to its commit. A batch whose database
/// went silent would otherwise hold up every payment queued behind it; past this its
/// payments are answered unavailable (their retries, or the reconciler, find whatever did
/// commit) and the recorder goes on with the next batch.
const BATCH_DEADLINE: Duration = Duration::from_secs(10);

/// What records one payment inside the batch's transaction (the statements of
/// `PgPaymentStore::create_payment`), after the batch has locked its counters.
pub(super) type RecordFn = for<'c> fn(
    &'c mut PgConnection,
    &'c NewPayment<'c>,
) -> futures_util::future::BoxFuture<'c, Result<(), PaymentStoreError>>;

/// A payment waiting to be recorded: what its request handed over, owned.
struct Job {
    payment: crate::payments::Payment,
    consent_kind: scenegate_adapter_contract::canonical::PaymentConsentType,
    claim: crate::idempotency::Claim,
    partner_limits: crate::payments::PartnerLimits,
    event: crate::events::NewEvent,
    now: i64,
    answer: oneshot::Sender<Result<(), PaymentStoreError>>,
}

impl Job {
    fn new_payment(&self) -> NewPayment<'_> {
        NewPayment {
            payment: &self.payment,
            consent_kind: self.consent_kind,
            claim: &self.claim,
            partner_limits: self.partner_limits,
            event: self.event.clone(),
            now: self.now,
        }
    }
}

/// The handle requests record payments through; the batches run on a task of their own.
#[derive(Clone)]
pub(super) struct Recorder {
    jobs: mpsc::Sender<Job>,
}

impl Recorder {
    pub fn spawn(pool: PgPool, record: RecordFn) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, rx, record));
        Self { jobs }
    }

    /// Records the payment with whichever others are waiting; answers after their commit.
    pub async fn record(&self, new: NewPayment<'_>) -> Result<(), PaymentStoreError> {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            payment: new.payment.clone(),
            consent_kind: new.consent_kind,
            claim: new.claim.clone(),
            partner_limits: new.partner_limits,
            event: new.event,
            now: new.now,
            answer,
        };
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => unavailable("too many payments waiting to be recorded"),
            mpsc::error::TrySendError::Closed(_) => unavailable("the payment recorder has stopped"),
        })?;
        answered.await.map_err(|_| unavailable("the payment recorder stopped before answering"))?
    }
}

fn unavailable(m: impl std::fmt::Display) -> PaymentStoreError {
    PaymentStoreError::Unavailable(m.to_string())
}

async fn run(pool: PgPool, mut rx: mpsc::Receiver<Job>, record: RecordFn) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = Instant::now();
        let jobs = batch.len();
        let outcomes = match tokio::time::timeout(BATCH_DEADLINE, record_batch(&pool, &batch, record)).await {
            Ok(outcomes) => outcomes,
            Err(_) => batch.iter().map(|_| Err(unavailable("the database did not finish recording in time"))).collect(),
        };
        for (job, outcome) in batch.drain(..).zip(outcomes) {
            // The request may have gone (timeout, hang-up): what was committed stays, and
            // its retry or the reconciler finds it.
            let _ = job.answer.send(outcome);
        }
        metrics::histogram!("scenegate_db_group_commit_jobs", "db" => "postgres_payments").record(jobs as f64);
        metrics::histogram!("scenegate_db_group_commit_seconds", "db" => "postgres_payments")
            .record(started.elapsed().as_secs_f64());
    }
}

/// One transaction for the batch; an outcome per job, in order. A job refused or failing is
/// rolled back to its savepoint; if the transaction itself fails, no job was recorded.
async fn record_batch(pool: &PgPool, batch: &[Job], record: RecordFn) -> Vec<Result<(), PaymentStoreError>> {
    let mut outcomes: Vec<Result<(), PaymentStoreError>> = Vec::with_capacity(batch.len());
    let failed = |e: String, n| (0..n).map(|_| Err(unavailable(&e))).collect::<Vec<_>>();
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return failed(e.to_string(), batch.len()),
    };
    if let Err(e) = lock_counters(&mut tx, batch).await {
        return failed(e.to_string(), batch.len());
    }
    for job in batch {
        if let Err(e) = sqlx::query("SAVEPOINT payment").execute(&mut *tx).await {
            return failed(e.to_string(), batch.len());
        }
        let new = job.new_payment();
        let outcome = record(&mut tx, &new).await;
        if outcome.is_err()
            && let Err(e) = sqlx::query("ROLLBACK TO SAVEPOINT payment").execute(&mut *tx).await
        {
            return failed(e.to_string(), batch.len());
        }
        outcomes.push(outcome);
    }
    match tx.commit().await {
        Ok(()) => outcomes,
        // Nothing committed (or, if the connection broke during COMMIT, perhaps everything:
        // then each request's retry resumes its payment, or the reconciler settles it).
        Err(e) => {
            let e = e.to_string();
            outcomes.into_iter().map(|o| o.and_then(|()| Err(unavailable(&e)))).collect()
        }
    }
}

/// Locks (creating when missing) every spend counter the batch's payments count against,
/// in one order: the consents' counters, then the partners', each sorted by key.
async fn lock_counters(conn: &mut PgConnection, batch: &[Job]) -> Result<(), sqlx::Error> {
    use scenegate_adapter_contract::canonical::PaymentConsentType;
    let mut consent_rows = BTreeSet::new();
    let mut partner_rows = BTreeSet::new();
    for job in batch {
        let p = &job.payment;
        if job.consent_kind == PaymentConsentType::Recurring {
            consent_rows.insert((p.consent_id.as_str().to_owned(), format!("day:{}", p.day)));
            consent_rows.insert((p.consent_id.as_str().to_owned(), format!("month:{}", p.month)));
        }
        partner_rows.insert((p.partner_id.clone(), p.day.clone(), p.currency.code().to_owned()));
    }
    // ON CONFLICT DO UPDATE locks an existing row as an UPDATE would, an inserted one is
    // locked by its insert; rows are taken in the order given.
    if !consent_rows.is_empty() {
        let (ids, periods): (Vec<String>, Vec<String>) = consent_rows.into_iter().unzip();
        sqlx::query(
            "INSERT INTO consent_spend AS s (consent_id, period, spent_minor)
             SELECT id, period, 0 FROM UNNEST($1::TEXT[], $2::TEXT[]) WITH ORDINALITY AS k (id, period, n) ORDER BY n
             ON CONFLICT (consent_id, period) DO UPDATE SET spent_minor = s.spent_minor",
        )
        .bind(ids)
        .bind(periods)
        .execute(&mut *conn)
        .await?;
    }
    let mut partners = Vec::new();
    let mut days = Vec::new();
    let mut currencies = Vec::new();
    for (partner, day, currency) in partner_rows {
        partners.push(partner);
        days.push(day);
        currencies.push(currency);
    }
    sqlx::query(
        "INSERT INTO partner_spend AS s (partner_id, day, currency, spent_minor)
         SELECT partner, day, currency, 0
         FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[]) WITH ORDINALITY AS k (partner, day, currency, n) ORDER BY n
         ON CONFLICT (partner_id, day, currency) DO UPDATE SET spent_minor = s.spent_minor",
    )
    .bind(partners)
    .bind(days)
    .bind(currencies)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
