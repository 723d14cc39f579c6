//! Group commit: the writes of many concurrent requests in one SQLite transaction, one
//! `fsync` for all of them.
//!
//! Every write on the hot paths (a payment's steps, an idempotency record, a single-use id)
//! is a *job*: a function that runs its statements on the connection it is given. One task
//! takes the jobs waiting in the queue (up to [`MAX_BATCH`]), opens one `BEGIN IMMEDIATE`
//! transaction, runs them one after another and commits once. Only then does any job's caller
//! get its answer: nobody hears "done" before their write is on disk, and if the commit fails
//! every job of the batch gets the error and none of their writes remain. A job sees the
//! writes of the jobs before it in its batch, exactly as it would had they committed one by
//! one in that order.
//!
//! A job that fails (a refusal: over a limit, a consumed consent) must leave none of its
//! writes and must not cost the others theirs. Savepoints give that, but each one is two more
//! round trips to the connection's thread per job, a third of a payment's statements. So a
//! batch is first run without them; if every job succeeds it commits as it is. If one fails,
//! the batch is rolled back and run again with each job in its own savepoint (a failed one
//! rolled back to it). That is why a job may be run twice: it is a function of its inputs
//! and the database, called again on a clean transaction, and only its last run's answer is
//! given.
//!
//! Why: SQLite commits one writer at a time and each commit waits for the disk. A payment
//! writes several times (its key, the payment, the settlement, the answer), so at tens of
//! concurrent payments the one writer spent its time in `fsync` and in handing each request
//! the connection in turn; with a batch the queue waiting behind one commit goes in the next.
//! There is no timer: a lone write commits at once, a busy queue batches itself.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
};

use sqlx::{Acquire, Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::store::StoreError;

/// Most jobs in one commit: bounds how long the first job of a batch waits for the last.
pub const MAX_BATCH: usize = 64;
/// Jobs waiting for the writer beyond this make their callers wait to enqueue.
const QUEUE: usize = 1024;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A job's work on the writer's transaction: true when it succeeded.
type Run = Box<dyn for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, bool> + Send>;

/// One caller's work and the way back to it.
struct Job {
    /// Runs the work on the writer's transaction; true when it succeeded (its outcome is kept
    /// for `answer`).
    run: Run,
    /// Answers the caller with the last run's outcome once the batch is committed, or with
    /// the batch's error.
    answer: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

/// The queue in front of the writing connection. Cheap to clone.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl GroupCommit {
    /// Starts the task that commits for `writer` (the one writing connection's pool).
    pub fn start(writer: SqlitePool) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(commit_loop(writer, queue));
        Self { jobs }
    }

    /// Runs `work` in the next batch and answers once that batch is committed. An `Err` from
    /// `work` keeps none of its writes and is answered as it is (once the batch is decided);
    /// a failed commit answers every job of the batch with the commit's error. `work` may be
    /// called twice (see the module's notes): it owns its inputs and clones what it moves.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let (job, answered) = job(work);
        let stopped = || E::from(StoreError::Unavailable("the database writer has stopped".into()));
        self.jobs.send(job).await.map_err(|_| stopped())?;
        // Dropped unanswered: the batch broke off before this job ran (nothing of it kept).
        answered.await.unwrap_or_else(|_| Err(E::from(StoreError::Unavailable("the write was not committed".into()))))
    }
}

/// Wraps `work` as a job, with the receiver its answer comes back on.
fn job<T, E, F>(mut work: F) -> (Job, oneshot::Receiver<Result<T, E>>)
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
{
    let outcome = Arc::new(Mutex::new(None::<Result<T, E>>));
    let kept = Arc::clone(&outcome);
    let (answer, answered) = oneshot::channel::<Result<T, E>>();
    let job = Job {
        run: Box::new(move |conn| {
            let running = work(conn);
            let kept = Arc::clone(&kept);
            Box::pin(async move {
                let out = running.await;
                let ok = out.is_ok();
                *kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(out);
                ok
            })
        }),
        answer: Box::new(move |batch: Result<(), StoreError>| {
            let out = outcome.lock().unwrap_or_else(PoisonError::into_inner).take();
            let out = match (batch, out) {
                (Ok(()), Some(out)) => out,
                (Err(e), _) => Err(E::from(e)),
                (Ok(()), None) => Err(E::from(StoreError::Unavailable("the write did not run".into()))),
            };
            let _ = answer.send(out);
        }),
    };
    (job, answered)
}

async fn commit_loop(writer: SqlitePool, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        metrics::histogram!("scenegate_db_group_commit_jobs").record(jobs.len() as f64);
        // Its own task, so a job that panics loses its batch (answered as not committed),
        // not the writer.
        let writer = writer.clone();
        let started = std::time::Instant::now();
        let batch = tokio::spawn(async move { commit(&writer, jobs).await }).await;
        metrics::histogram!("scenegate_db_group_commit_seconds").record(started.elapsed().as_secs_f64());
        if let Err(e) = batch {
            tracing::error!(error = %e, "a database write batch panicked; its writes were rolled back");
        }
    }
}

async fn commit(writer: &SqlitePool, mut jobs: Vec<Job>) {
    let committed = run(writer, &mut jobs).await.map_err(StoreError::from);
    if let Err(e) = &committed {
        tracing::warn!(error = %e, jobs = jobs.len(), "a database write batch failed; none of it was kept");
    }
    for job in jobs {
        (job.answer)(committed.clone());
    }
}

async fn run(writer: &SqlitePool, jobs: &mut [Job]) -> Result<(), sqlx::Error> {
    let mut conn = writer.acquire().await?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut all_ok = true;
    for job in jobs.iter_mut() {
        if !(job.run)(tx.acquire().await?).await {
            all_ok = false;
            break;
        }
    }
    if all_ok {
        return tx.commit().await;
    }
    // One failed: start over with each job behind its own savepoint.
    tx.rollback().await?;
    metrics::counter!("scenegate_db_group_commit_reruns_total").increment(1);
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    for job in jobs.iter_mut() {
        let mut savepoint = tx.begin().await?;
        if (job.run)(savepoint.acquire().await?).await {
            savepoint.commit().await?;
        } else {
            savepoint.rollback().await?;
        }
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, super::super::SqliteDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::open(&dir.path().join("gw.sqlite")).await.unwrap();
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)").execute(&db.writer).await.unwrap();
        (dir, db)
    }

    fn insert(
        k: &'static str,
        n: i64,
    ) -> impl for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, Result<(), StoreError>> {
        move |conn| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (k, n) VALUES (?1, ?2)").bind(k).bind(n).execute(&mut *conn).await?;
                Ok(())
            })
        }
    }

    /// Inserts `k` numbered with how many rows it found, and answers that count.
    fn count_then_insert(
        k: &'static str,
    ) -> impl for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, Result<i64, StoreError>> {
        move |conn| {
            Box::pin(async move {
                let (before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t").fetch_one(&mut *conn).await?;
                sqlx::query("INSERT INTO t (k, n) VALUES (?1, ?2)").bind(k).bind(before).execute(&mut *conn).await?;
                Ok(before)
            })
        }
    }

    async fn rows(db: &super::super::SqliteDb) -> Vec<(String, i64)> {
        sqlx::query_as("SELECT k, n FROM t ORDER BY k").fetch_all(&db.reader).await.unwrap()
    }

    #[tokio::test]
    async fn concurrent_jobs_all_land_and_a_failing_one_leaves_nothing_of_its_own() {
        let (_dir, db) = db().await;
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let g = db.batch.clone();
                tokio::spawn(async move {
                    let key: &'static str = Box::leak(format!("k{i:03}").into_boxed_str());
                    g.write(insert(key, i)).await
                })
            })
            .collect();
        // A job that writes, then fails: its write must not survive; the others' do.
        let failing = db
            .batch
            .write(|conn: &mut SqliteConnection| -> BoxFuture<'_, Result<(), StoreError>> {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (k, n) VALUES ('half', 1)").execute(&mut *conn).await?;
                    Err(StoreError::Conflict("refused after writing".into()))
                })
            })
            .await;
        assert!(matches!(failing, Err(StoreError::Conflict(_))), "{failing:?}");
        for w in writes {
            w.await.unwrap().unwrap();
        }
        let rows = rows(&db).await;
        assert_eq!(rows.len(), 200);
        assert!(!rows.iter().any(|(k, _)| k == "half"), "a failed job keeps none of its writes");
        assert!(rows.iter().enumerate().all(|(i, (k, n))| *k == format!("k{i:03}") && *n == i as i64));
    }

    #[tokio::test]
    async fn a_job_sees_the_writes_of_the_jobs_before_it_and_answers_only_after_the_commit() {
        let (_dir, db) = db().await;
        db.batch.write(insert("a", 1)).await.unwrap();
        // Answered means committed: a fresh read-only connection sees it.
        assert_eq!(rows(&db).await, vec![("a".to_owned(), 1)]);
        let dup = db.batch.write(insert("a", 2)).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        assert_eq!(rows(&db).await, vec![("a".to_owned(), 1)]);
    }

    /// One batch, decided here rather than by timing: a job that writes and then refuses
    /// sends the batch round again behind savepoints; the others keep their writes and see
    /// the ones before them, and each caller gets its own last answer.
    #[tokio::test]
    async fn a_refusal_in_a_batch_reruns_it_and_costs_the_others_nothing() {
        let (_dir, db) = db().await;
        let (first, first_answer) = job(count_then_insert("a"));
        let (refused, refused_answer) = job(|conn: &mut SqliteConnection| -> BoxFuture<'_, Result<(), StoreError>> {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (k, n) VALUES ('refused', 0)").execute(&mut *conn).await?;
                Err(StoreError::Conflict("over the limit".into()))
            })
        });
        let (last, last_answer) = job(count_then_insert("c"));
        commit(&db.writer, vec![first, refused, last]).await;
        assert_eq!(first_answer.await.unwrap().unwrap(), 0);
        assert!(matches!(refused_answer.await.unwrap(), Err(StoreError::Conflict(_))));
        assert_eq!(last_answer.await.unwrap().unwrap(), 1, "sees the first job's row, not the refused one's");
        assert_eq!(rows(&db).await, vec![("a".to_owned(), 0), ("c".to_owned(), 1)]);
    }

    #[tokio::test]
    async fn a_closed_database_answers_unavailable_not_ok() {
        let (_dir, db) = db().await;
        db.close().await;
        let after = db.batch.write(insert("late", 1)).await;
        assert!(after.is_err(), "{after:?}");
    }
}
