//! Group commit of new payments on PostgreSQL.
//!
//! Every payment of a partner counts against that partner's daily limit, one row in
//! `partner_spend` (and a recurring consent's payments against its allowance rows): each
//! payment's transaction must hold that row's lock until it commits, so payments recorded one
//! transaction each pass it on one commit, one fsync, at a time, whatever the number of
//! instances. Each instance therefore records the payments waiting together in one
//! transaction and answers them after its one commit: payments share an fsync as they do on
//! the embedded default's writer thread.
//!
//! What a batch writes and in which order it locks (`record_batch` in `payments.rs`) is the
//! payment store's; this module only gathers the batches, runs each in a transaction and
//! answers its requests.

use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use crate::payments::store::{NewPayment, PaymentStoreError};

/// Most payments in one transaction: a batch holds its counters' locks, which every other
/// instance's batches of the same partner wait for, from its first statement to its commit.
const MAX_BATCH: usize = 48;

/// Payments waiting for the recorder; more are refused at once (503) rather than queued.
const QUEUE: usize = 1024;

/// Longest a batch may take, from taking a connection to its commit. A batch whose database
/// went silent would otherwise hold up every payment queued behind it; past this its
/// payments are answered unavailable (their retries, or the reconciler, find whatever did
/// commit) and the recorder goes on with the next batch.
pub(super) const BATCH_DEADLINE: Duration = Duration::from_secs(10);

/// What records a batch inside its transaction: an outcome per payment, in order (a refused
/// one wrote nothing), or an error when the transaction itself failed and must not commit.
pub(super) type RecordFn =
    for<'c> fn(
        &'c mut PgConnection,
        &'c [NewPayment<'c>],
    )
        -> futures_util::future::BoxFuture<'c, Result<Vec<Result<(), PaymentStoreError>>, PaymentStoreError>>;

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
    /// Starts the recorder's task, each batch bounded by `deadline` ([`BATCH_DEADLINE`] in
    /// the gateway): call it inside the runtime.
    pub fn spawn(pool: PgPool, record: RecordFn, deadline: Duration) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, rx, record, deadline));
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

async fn run(pool: PgPool, mut rx: mpsc::Receiver<Job>, record: RecordFn, deadline: Duration) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = Instant::now();
        let jobs = batch.len();
        let outcomes = match tokio::time::timeout(deadline, record_batch(&pool, &batch, record)).await {
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

/// One transaction for the batch; an outcome per job, in order. If the transaction itself
/// fails, no job was recorded.
async fn record_batch(pool: &PgPool, batch: &[Job], record: RecordFn) -> Vec<Result<(), PaymentStoreError>> {
    let failed = |e: String| (0..batch.len()).map(|_| Err(unavailable(&e))).collect::<Vec<_>>();
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return failed(e.to_string()),
    };
    let payments: Vec<NewPayment<'_>> = batch.iter().map(Job::new_payment).collect();
    let outcomes = match record(&mut tx, &payments).await {
        Ok(outcomes) => outcomes,
        // Rolled back as the transaction drops.
        Err(e) => return failed(e.to_string()),
    };
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
