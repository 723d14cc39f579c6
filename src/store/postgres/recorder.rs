//! Group commit of payments on PostgreSQL: new payments, and the settlements that follow
//! their core bank's answer.
//!
//! Every payment of a partner counts against that partner's daily limit, one row in
//! `partner_spend` (and a recurring consent's payments against its allowance rows): each
//! payment's transaction must hold that row's lock until it commits, so payments recorded one
//! transaction each pass it on one commit, one fsync, at a time, whatever the number of
//! instances. Each instance therefore records the payments waiting together in one
//! transaction and answers them after its one commit: payments share an fsync as they do on
//! the embedded default's writer thread.
//!
//! Settlements waiting at the same time are written on the batch's connection first, by one
//! statement of their own, committed by itself before the new payments' transaction begins:
//! a settlement takes no counter lock, and a batch of new payments that fails takes no
//! settlement with it (a settlement does wait for the batch before its own, at most
//! [`BATCH_DEADLINE`]). Written one statement each as requests finished, with sqlx's
//! connection tests before and after each, settlements cost PostgreSQL more CPU than the
//! batches of new payments (`bench/HISTORY.md`, 2026-12-06).
//!
//! What a batch writes and in which order it locks (`record_batch` and `settle_all` in
//! `payments.rs`) is the payment store's; this module only gathers the batches, runs them
//! and answers their requests.

use std::time::{Duration, Instant};

use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use crate::payments::store::{NewPayment, PaymentStoreError};

/// Most jobs in one batch: a batch holds its counters' locks, which every other instance's
/// batches of the same partner wait for, from its first statement to its commit.
const MAX_BATCH: usize = 48;

/// Jobs waiting for the recorder; more are refused at once (503) rather than queued.
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

/// What writes a batch of settlements in one statement: for each, in order, whether it was
/// written (`false`: the payment was no longer in the status its settlement expects, or the
/// same payment came earlier in the batch), or an error when the statement failed and wrote
/// none of them.
pub(super) type SettleFn = for<'c> fn(
    &'c mut PgConnection,
    &'c [&'c Settle],
) -> futures_util::future::BoxFuture<'c, Result<Vec<bool>, PaymentStoreError>>;

/// A settlement waiting to be written: the payment as it will be once settled, written only
/// if it is still in `expected` (the status its caller read), with its event and, when given,
/// its request's answer under the request's idempotency key.
pub(super) struct Settle {
    pub payment: crate::payments::Payment,
    pub expected: scenegate_adapter_contract::canonical::Iso20022Status,
    pub answer: Option<(crate::idempotency::Claim, crate::idempotency::StoredResponse)>,
    pub event: crate::events::NewEvent,
    pub now: i64,
}

/// A payment waiting to be recorded: what its request handed over, owned.
struct Record {
    payment: crate::payments::Payment,
    consent_kind: scenegate_adapter_contract::canonical::PaymentConsentType,
    claim: crate::idempotency::Claim,
    partner_limits: crate::payments::PartnerLimits,
    event: crate::events::NewEvent,
    now: i64,
    answer: oneshot::Sender<Result<(), PaymentStoreError>>,
}

impl Record {
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

enum Job {
    Record(Record),
    Settle(Settle, oneshot::Sender<Result<bool, PaymentStoreError>>),
}

/// How a batch is written: the payment store's statements.
#[derive(Clone, Copy)]
pub(super) struct Writes {
    pub record: RecordFn,
    pub settle: SettleFn,
}

/// The handle requests record and settle payments through; the batches run on a task of
/// their own.
#[derive(Clone)]
pub(super) struct Recorder {
    jobs: mpsc::Sender<Job>,
}

impl Recorder {
    /// Starts the recorder's task, each batch bounded by `deadline` ([`BATCH_DEADLINE`] in
    /// the gateway): call it inside the runtime.
    pub fn spawn(pool: PgPool, writes: Writes, deadline: Duration) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, rx, writes, deadline));
        Self { jobs }
    }

    /// Records the payment with whichever others are waiting; answers after their commit.
    pub async fn record(&self, new: NewPayment<'_>) -> Result<(), PaymentStoreError> {
        let (answer, answered) = oneshot::channel();
        self.send(Job::Record(Record {
            payment: new.payment.clone(),
            consent_kind: new.consent_kind,
            claim: new.claim.clone(),
            partner_limits: new.partner_limits,
            event: new.event,
            now: new.now,
            answer,
        }))?;
        answered.await.map_err(|_| unavailable("the payment recorder stopped before answering"))?
    }

    /// Writes the settlement with whichever others are waiting; whether it was written (see
    /// [`SettleFn`]), after its commit.
    pub async fn settle(&self, settle: Settle) -> Result<bool, PaymentStoreError> {
        let (answer, answered) = oneshot::channel();
        self.send(Job::Settle(settle, answer))?;
        answered.await.map_err(|_| unavailable("the payment recorder stopped before answering"))?
    }

    fn send(&self, job: Job) -> Result<(), PaymentStoreError> {
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => unavailable("too many payments waiting to be recorded"),
            mpsc::error::TrySendError::Closed(_) => unavailable("the payment recorder has stopped"),
        })
    }
}

fn unavailable(m: impl std::fmt::Display) -> PaymentStoreError {
    PaymentStoreError::Unavailable(m.to_string())
}

async fn run(pool: PgPool, mut rx: mpsc::Receiver<Job>, writes: Writes, deadline: Duration) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = Instant::now();
        let (mut records, mut settles) = (Vec::new(), Vec::new());
        for job in batch.drain(..) {
            match job {
                Job::Record(r) => records.push(r),
                Job::Settle(s, answer) => settles.push((s, answer)),
            }
        }
        let (written, recorded) = match tokio::time::timeout(deadline, write(&pool, &records, &settles, writes)).await {
            Ok(outcomes) => outcomes,
            Err(_) => {
                let late = || unavailable("the database did not finish recording in time");
                (settles.iter().map(|_| Err(late())).collect(), records.iter().map(|_| Err(late())).collect())
            }
        };
        // The requests may have gone (timeout, hang-up): what was committed stays, and their
        // retries or the reconciler find it.
        for ((_, answer), outcome) in settles.drain(..).zip(written) {
            let _ = answer.send(outcome);
        }
        let jobs = records.len();
        for (job, outcome) in records.drain(..).zip(recorded) {
            let _ = job.answer.send(outcome);
        }
        if jobs > 0 {
            metrics::histogram!("scenegate_db_group_commit_jobs", "db" => "postgres_payments").record(jobs as f64);
        }
        metrics::histogram!("scenegate_db_group_commit_seconds", "db" => "postgres_payments")
            .record(started.elapsed().as_secs_f64());
    }
}

type Outcomes = (Vec<Result<bool, PaymentStoreError>>, Vec<Result<(), PaymentStoreError>>);

/// The batch on one connection: its settlements in one statement, then its new payments in
/// one transaction. An outcome per job, in order.
async fn write(
    pool: &PgPool,
    records: &[Record],
    settles: &[(Settle, oneshot::Sender<Result<bool, PaymentStoreError>>)],
    writes: Writes,
) -> Outcomes {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            let e = e.to_string();
            return (
                settles.iter().map(|_| Err(unavailable(&e))).collect(),
                records.iter().map(|_| Err(unavailable(&e))).collect(),
            );
        }
    };
    let written = match settles.is_empty() {
        true => Vec::new(),
        false => {
            let jobs: Vec<&Settle> = settles.iter().map(|(s, _)| s).collect();
            metrics::histogram!("scenegate_db_group_commit_jobs", "db" => "postgres_settlements")
                .record(jobs.len() as f64);
            match (writes.settle)(&mut conn, &jobs).await {
                Ok(written) => written.into_iter().map(Ok).collect(),
                Err(e) => {
                    let e = e.to_string();
                    jobs.iter().map(|_| Err(unavailable(&e))).collect()
                }
            }
        }
    };
    let recorded = match records.is_empty() {
        true => Vec::new(),
        false => record_batch(&mut conn, records, writes.record).await,
    };
    (written, recorded)
}

/// One transaction for the batch's new payments; an outcome per job, in order. If the
/// transaction itself fails, no job was recorded.
async fn record_batch(
    conn: &mut PgConnection,
    batch: &[Record],
    record: RecordFn,
) -> Vec<Result<(), PaymentStoreError>> {
    let failed = |e: String| (0..batch.len()).map(|_| Err(unavailable(&e))).collect::<Vec<_>>();
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => return failed(e.to_string()),
    };
    let payments: Vec<NewPayment<'_>> = batch.iter().map(Record::new_payment).collect();
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
