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
//! Settlements are batched the same way, by a second task on a connection of its own: the
//! settlements waiting together are written by one statement, committed by itself. A
//! settlement takes no counter lock, so it never waits for a batch of new payments (one held
//! up behind a counter another instance's transaction has locked, say), and a batch of new
//! payments that fails takes no settlement with it. Written one statement each as requests
//! finished, with sqlx's connection tests before and after each, settlements cost
//! PostgreSQL more CPU than the batches of new payments (`bench/HISTORY.md`, 2026-12-06).
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

/// Jobs of each kind waiting for the recorder; more are refused at once (503) rather than
/// queued.
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

/// A settlement waiting to be written, with where its outcome goes.
struct Settling {
    settle: Settle,
    answer: oneshot::Sender<Result<bool, PaymentStoreError>>,
}

/// How a batch is written: the payment store's statements.
#[derive(Clone, Copy)]
pub(super) struct Writes {
    pub record: RecordFn,
    pub settle: SettleFn,
}

/// The handle requests record and settle payments through; the batches run on two tasks of
/// their own, one for new payments, one for settlements.
#[derive(Clone)]
pub(super) struct Recorder {
    records: mpsc::Sender<Record>,
    settlements: mpsc::Sender<Settling>,
}

impl Recorder {
    /// Starts the recorder's tasks, each batch bounded by `deadline` ([`BATCH_DEADLINE`] in
    /// the gateway): call it inside the runtime.
    pub fn spawn(pool: PgPool, writes: Writes, deadline: Duration) -> Self {
        let (records, waiting_records) = mpsc::channel(QUEUE);
        let (settlements, waiting_settlements) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool.clone(), waiting_records, writes, deadline));
        tokio::spawn(run(pool, waiting_settlements, writes, deadline));
        Self { records, settlements }
    }

    /// Records the payment with whichever others are waiting; answers after their commit.
    pub async fn record(&self, new: NewPayment<'_>) -> Result<(), PaymentStoreError> {
        let (answer, answered) = oneshot::channel();
        send(
            &self.records,
            Record {
                payment: new.payment.clone(),
                consent_kind: new.consent_kind,
                claim: new.claim.clone(),
                partner_limits: new.partner_limits,
                event: new.event,
                now: new.now,
                answer,
            },
        )?;
        answered.await.map_err(|_| unavailable("the payment recorder stopped before answering"))?
    }

    /// Writes the settlement with whichever others are waiting; whether it was written (see
    /// [`SettleFn`]), after its commit.
    pub async fn settle(&self, settle: Settle) -> Result<bool, PaymentStoreError> {
        let (answer, answered) = oneshot::channel();
        send(&self.settlements, Settling { settle, answer })?;
        answered.await.map_err(|_| unavailable("the payment recorder stopped before answering"))?
    }
}

fn send<J>(queue: &mpsc::Sender<J>, job: J) -> Result<(), PaymentStoreError> {
    queue.try_send(job).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => unavailable("too many payments waiting to be recorded"),
        mpsc::error::TrySendError::Closed(_) => unavailable("the payment recorder has stopped"),
    })
}

fn unavailable(m: impl std::fmt::Display) -> PaymentStoreError {
    PaymentStoreError::Unavailable(m.to_string())
}

/// What the recorder batches: how a batch of one kind is written, and each job answered.
trait Job: Send + Sized + 'static {
    type Outcome: Send;
    /// The `db` label of the batch's metrics.
    const DB: &'static str;
    /// An outcome per job, in order.
    fn write<'a>(
        conn: &'a mut PgConnection,
        batch: &'a [Self],
        writes: Writes,
    ) -> impl Future<Output = Vec<Result<Self::Outcome, PaymentStoreError>>> + Send + 'a;
    fn answer(self, outcome: Result<Self::Outcome, PaymentStoreError>);
}

impl Job for Record {
    type Outcome = ();
    const DB: &'static str = "postgres_payments";
    fn write<'a>(
        conn: &'a mut PgConnection,
        batch: &'a [Self],
        writes: Writes,
    ) -> impl Future<Output = Vec<Result<(), PaymentStoreError>>> + Send + 'a {
        record_batch(conn, batch, writes.record)
    }
    fn answer(self, outcome: Result<(), PaymentStoreError>) {
        let _ = self.answer.send(outcome);
    }
}

impl Job for Settling {
    type Outcome = bool;
    const DB: &'static str = "postgres_settlements";
    async fn write<'a>(
        conn: &'a mut PgConnection,
        batch: &'a [Self],
        writes: Writes,
    ) -> Vec<Result<bool, PaymentStoreError>> {
        let settles: Vec<&Settle> = batch.iter().map(|s| &s.settle).collect();
        match (writes.settle)(conn, &settles).await {
            Ok(written) => written.into_iter().map(Ok).collect(),
            Err(e) => {
                let e = e.to_string();
                batch.iter().map(|_| Err(unavailable(&e))).collect()
            }
        }
    }
    fn answer(self, outcome: Result<bool, PaymentStoreError>) {
        let _ = self.answer.send(outcome);
    }
}

/// Takes the jobs waiting, writes them as one batch on one connection within `deadline`,
/// answers each, and again.
async fn run<J: Job>(pool: PgPool, mut waiting: mpsc::Receiver<J>, writes: Writes, deadline: Duration) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = Instant::now();
        let written = async {
            match pool.acquire().await {
                Ok(mut conn) => J::write(&mut conn, &batch, writes).await,
                Err(e) => {
                    let e = e.to_string();
                    batch.iter().map(|_| Err(unavailable(&e))).collect()
                }
            }
        };
        let outcomes = match tokio::time::timeout(deadline, written).await {
            Ok(outcomes) => outcomes,
            Err(_) => batch.iter().map(|_| Err(unavailable("the database did not finish recording in time"))).collect(),
        };
        metrics::histogram!("scenegate_db_group_commit_jobs", "db" => J::DB).record(batch.len() as f64);
        // The requests may have gone (timeout, hang-up): what was committed stays, and their
        // retries or the reconciler find it.
        for (job, outcome) in batch.drain(..).zip(outcomes) {
            job.answer(outcome);
        }
        metrics::histogram!("scenegate_db_group_commit_seconds", "db" => J::DB).record(started.elapsed().as_secs_f64());
    }
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
