//! Group commit: the writes of many concurrent requests in one SQLite transaction, one
//! `fsync` for all of them. Used by the gateway's embedded default and by the core-bank mock.
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
//!
//! Two engines run the same batches: [`WriterThread`] (one `rusqlite` connection on a thread
//! of its own, statements as plain calls: the gateway's) and [`GroupCommit`] (the sqlx pool's
//! one connection, a channel hop per statement: the core-bank mock's, until it moves over).

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
};

use sqlx::{Acquire, Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

/// Why a write got no answer of its own: nothing of it was kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The writer's task is gone (the database was closed).
    #[error("the database writer has stopped")]
    Stopped,
    /// No connection within the pool's wait.
    #[error("no database connection within the pool's wait")]
    Timeout,
    /// The batch failed (the commit, a savepoint, the connection), or broke off before this
    /// write ran.
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut => Self::Timeout,
            sqlx::Error::PoolClosed => Self::Stopped,
            other => Self::NotCommitted(other.to_string()),
        }
    }
}

/// Most jobs in one commit: bounds how long the first job of a batch waits for the last.
pub const MAX_BATCH: usize = 64;
/// Jobs waiting for the writer beyond this make their callers wait to enqueue.
const QUEUE: usize = 1024;

pub mod thread;
pub use thread::{WriteGate, WriterOptions, WriterThread};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a caller hears: its work's own outcome once committed, or the batch's failure.
pub type Answer<T, E> = Result<Result<T, E>, BatchError>;

/// A job's work on the writer's transaction: true when it succeeded.
type Run = Box<dyn for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, bool> + Send>;

/// One caller's work and the way back to it.
struct Job {
    /// Runs the work on the writer's transaction; true when it succeeded (its outcome is kept
    /// for `answer`).
    run: Run,
    /// Answers the caller with the last run's outcome once the batch is committed, or with
    /// the batch's error.
    answer: Box<dyn FnOnce(Result<(), BatchError>) + Send>,
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
    /// Starts the task that commits for `writer` (the pool of the one writing connection).
    /// `db` names the database in the metrics (`scenegate_db_group_commit_*{db}`).
    pub fn start(writer: SqlitePool, db: &'static str) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(commit_loop(writer, queue, db));
        Self { jobs }
    }

    /// Runs `work` in the next batch and answers once that batch is committed: `Ok` with
    /// what `work` answered (an `Err` from `work` keeps none of its writes), or the batch's
    /// error, every job of a failed batch alike. `work` may be called twice (see the crate's
    /// notes): it owns its inputs and clones what it moves.
    pub async fn write<T, E, F>(&self, work: F) -> Answer<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let (job, answered) = job(work);
        self.jobs.send(job).await.map_err(|_| BatchError::Stopped)?;
        // Dropped unanswered: the batch broke off before this job ran (nothing of it kept).
        answered.await.unwrap_or_else(|_| Err(BatchError::NotCommitted("the batch broke off".into())))
    }
}

/// Wraps `work` as a job, with the receiver its answer comes back on.
fn job<T, E, F>(mut work: F) -> (Job, oneshot::Receiver<Answer<T, E>>)
where
    T: Send + 'static,
    E: Send + 'static,
    F: for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
{
    let outcome = Arc::new(Mutex::new(None::<Result<T, E>>));
    let kept = Arc::clone(&outcome);
    let (answer, answered) = oneshot::channel::<Answer<T, E>>();
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
        answer: Box::new(move |batch: Result<(), BatchError>| {
            let out = outcome.lock().unwrap_or_else(PoisonError::into_inner).take();
            let out = match (batch, out) {
                (Ok(()), Some(out)) => Ok(out),
                (Err(e), _) => Err(e),
                (Ok(()), None) => Err(BatchError::NotCommitted("the write did not run".into())),
            };
            let _ = answer.send(out);
        }),
    };
    (job, answered)
}

async fn commit_loop(writer: SqlitePool, mut queue: mpsc::Receiver<Job>, db: &'static str) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        metrics::histogram!("scenegate_db_group_commit_jobs", "db" => db).record(jobs.len() as f64);
        // Its own task, so a job that panics loses its batch (answered as not committed),
        // not the writer.
        let writer = writer.clone();
        let started = std::time::Instant::now();
        let batch = tokio::spawn(async move { commit(&writer, jobs, db).await }).await;
        metrics::histogram!("scenegate_db_group_commit_seconds", "db" => db).record(started.elapsed().as_secs_f64());
        if let Err(e) = batch {
            tracing::error!(error = %e, "a database write batch panicked; its writes were rolled back");
        }
    }
}

async fn commit(writer: &SqlitePool, mut jobs: Vec<Job>, db: &'static str) {
    let committed = run(writer, &mut jobs, db).await.map_err(BatchError::from);
    if let Err(e) = &committed {
        tracing::warn!(error = %e, jobs = jobs.len(), "a database write batch failed; none of it was kept");
    }
    for job in jobs {
        (job.answer)(committed.clone());
    }
}

async fn run(writer: &SqlitePool, jobs: &mut [Job], db: &'static str) -> Result<(), sqlx::Error> {
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
    metrics::counter!("scenegate_db_group_commit_reruns_total", "db" => db).increment(1);
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
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

    use super::*;

    /// A job's own error in these tests: a refusal, or the database's.
    #[derive(Debug)]
    enum Refusal {
        Refused,
        Db(sqlx::Error),
    }

    impl From<sqlx::Error> for Refusal {
        fn from(e: sqlx::Error) -> Self {
            Self::Db(e)
        }
    }

    async fn db() -> (tempfile::TempDir, SqlitePool, GroupCommit) {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("t.sqlite"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)").execute(&writer).await.unwrap();
        let batch = GroupCommit::start(writer.clone(), "test");
        (dir, writer, batch)
    }

    fn insert(
        k: &'static str,
        n: i64,
    ) -> impl for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, Result<(), Refusal>> {
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
    ) -> impl for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, Result<i64, Refusal>> {
        move |conn| {
            Box::pin(async move {
                let (before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t").fetch_one(&mut *conn).await?;
                sqlx::query("INSERT INTO t (k, n) VALUES (?1, ?2)").bind(k).bind(before).execute(&mut *conn).await?;
                Ok(before)
            })
        }
    }

    fn write_then_refuse(conn: &mut SqliteConnection) -> BoxFuture<'_, Result<(), Refusal>> {
        Box::pin(async move {
            sqlx::query("INSERT INTO t (k, n) VALUES ('refused', 0)").execute(&mut *conn).await?;
            Err(Refusal::Refused)
        })
    }

    async fn rows(pool: &SqlitePool) -> Vec<(String, i64)> {
        sqlx::query_as("SELECT k, n FROM t ORDER BY k").fetch_all(pool).await.unwrap()
    }

    #[tokio::test]
    async fn concurrent_jobs_all_land_and_a_refused_one_leaves_nothing_of_its_own() {
        let (_dir, pool, batch) = db().await;
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let g = batch.clone();
                tokio::spawn(async move {
                    let key: &'static str = Box::leak(format!("k{i:03}").into_boxed_str());
                    g.write(insert(key, i)).await
                })
            })
            .collect();
        let refused = batch.write(write_then_refuse).await;
        assert!(matches!(refused, Ok(Err(Refusal::Refused))), "{refused:?}");
        for w in writes {
            assert!(matches!(w.await.unwrap(), Ok(Ok(()))));
        }
        let rows = rows(&pool).await;
        assert_eq!(rows.len(), 200);
        assert!(rows.iter().enumerate().all(|(i, (k, n))| *k == format!("k{i:03}") && *n == i as i64));
    }

    #[tokio::test]
    async fn answered_means_committed_and_a_duplicate_is_the_job_s_own_error() {
        let (_dir, pool, batch) = db().await;
        assert!(matches!(batch.write(insert("a", 1)).await, Ok(Ok(()))));
        // Answered means committed: another connection sees it.
        let reader = SqlitePoolOptions::new().connect_with(pool.connect_options().as_ref().clone()).await.unwrap();
        assert_eq!(rows(&reader).await, vec![("a".to_owned(), 1)]);
        let dup = batch.write(insert("a", 2)).await;
        assert!(matches!(&dup, Ok(Err(Refusal::Db(sqlx::Error::Database(e)))) if e.is_unique_violation()), "{dup:?}");
        assert_eq!(rows(&reader).await, vec![("a".to_owned(), 1)]);
    }

    /// One batch, decided here rather than by timing: a job that writes and then refuses
    /// sends the batch round again behind savepoints; the others keep their writes and see
    /// the ones before them, and each caller gets its own last answer.
    #[tokio::test]
    async fn a_refusal_in_a_batch_reruns_it_and_costs_the_others_nothing() {
        let (_dir, pool, _batch) = db().await;
        let (first, first_answer) = job(count_then_insert("a"));
        let (refused, refused_answer) = job(write_then_refuse);
        let (last, last_answer) = job(count_then_insert("c"));
        commit(&pool, vec![first, refused, last], "test").await;
        assert!(matches!(first_answer.await.unwrap(), Ok(Ok(0))));
        assert!(matches!(refused_answer.await.unwrap(), Ok(Err(Refusal::Refused))));
        assert!(matches!(last_answer.await.unwrap(), Ok(Ok(1))), "sees the first job's row, not the refused one's");
        assert_eq!(rows(&pool).await, vec![("a".to_owned(), 0), ("c".to_owned(), 1)]);
    }

    #[tokio::test]
    async fn a_closed_database_answers_an_error_not_ok() {
        let (_dir, pool, batch) = db().await;
        pool.close().await;
        let after = batch.write(insert("late", 1)).await;
        assert!(after.is_err(), "{after:?}");
    }
}
