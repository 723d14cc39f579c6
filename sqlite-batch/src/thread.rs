//! The group commit on a thread of its own: one `rusqlite` connection, owned by one OS
//! thread, runs every batch's statements as plain function calls.
//!
//! Why not the pool's connection ([`crate::GroupCommit`])? sqlx drives each SQLite
//! connection from a worker thread of its own and hands every statement and every row across
//! a channel, so each statement costs two thread wake-ups. A payment is about a dozen
//! statements on the gateway's writer; measured under a payments burst on two cores, the
//! writer was busy all the time at ~130 µs per statement, more than half of the machine's CPU
//! in the kernel switching threads. Here a batch is one wake-up of this thread and one
//! answer per job; its statements are calls on this thread, microseconds each.
//!
//! The file still has other writers in the same process (the sqlx pool that runs migrations
//! and the writes off the hot paths). SQLite would make those wait in its busy handler, which
//! sleeps and retries rather than queues; a [`WriteGate`] queues them instead: the thread
//! holds it for each batch and the other writers take it for each of their transactions.

use std::{
    panic::AssertUnwindSafe,
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedMutexGuard, mpsc, oneshot};

use crate::{Answer, BatchError, MAX_BATCH, QUEUE};

/// One lock for everything that writes the file: the writer thread's batches and the other
/// connections' write transactions take turns, first come first served.
#[derive(Clone, Debug, Default)]
pub struct WriteGate(Arc<tokio::sync::Mutex<()>>);

impl WriteGate {
    /// Waits for the file's writing turn; hold the guard for the whole write transaction.
    pub async fn enter(&self) -> OwnedMutexGuard<()> {
        Arc::clone(&self.0).lock_owned().await
    }
}

/// A sqlx pool on the same file whose connections write only in their turn at the gate:
/// the writes off the hot paths (migrations, seeding, settings, purges).
#[derive(Clone, Debug)]
pub struct GatedPool {
    pool: sqlx::SqlitePool,
    gate: WriteGate,
    /// Longest a caller waits for its turn before `PoolTimedOut`.
    wait: Duration,
}

impl GatedPool {
    pub fn new(pool: sqlx::SqlitePool, gate: WriteGate, wait: Duration) -> Self {
        Self { pool, gate, wait }
    }

    /// The writing connection, once it is this caller's turn; the turn lasts as long as the
    /// returned connection.
    pub async fn acquire(&self) -> Result<GatedConnection, sqlx::Error> {
        let turn = tokio::time::timeout(self.wait, self.gate.enter()).await.map_err(|_| sqlx::Error::PoolTimedOut)?;
        Ok(GatedConnection { conn: self.pool.acquire().await?, _turn: turn })
    }

    /// The pool itself: its figures, and statements that must not wait for the gate (schema
    /// at start, before anything else writes).
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }
}

/// The writing connection for one turn at the gate.
pub struct GatedConnection {
    conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    _turn: OwnedMutexGuard<()>,
}

impl std::ops::Deref for GatedConnection {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl std::ops::DerefMut for GatedConnection {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

/// How the writer thread opens its connection.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Names the database in the metrics (`scenegate_db_group_commit_*{db}`).
    pub db: &'static str,
    /// How long SQLite waits for the file's lock when another process holds it.
    pub busy_timeout: Duration,
    /// `PRAGMA foreign_keys`, as the file's other connections have it.
    pub foreign_keys: bool,
}

/// A job's work on the batch's transaction: true when it succeeded.
type Run = Box<dyn FnMut(&Connection) -> bool + Send>;

struct Job {
    run: Run,
    /// Answers the caller with the last run's outcome once the batch is committed, or with
    /// the batch's error.
    answer: Box<dyn FnOnce(Result<(), BatchError>) + Send>,
}

/// The queue in front of the writer thread. Cheap to clone; the thread stops (and closes its
/// connection) when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct WriterThread {
    jobs: mpsc::Sender<Job>,
}

impl WriterThread {
    /// Opens a writing connection to the (existing, WAL-mode) file at `path` and starts the
    /// thread that commits on it.
    pub fn open(path: &Path, options: WriterOptions, gate: WriteGate) -> Result<Self, BatchError> {
        let conn = connect(path, &options).map_err(|e| BatchError::NotCommitted(e.to_string()))?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name(format!("{}-writer", options.db))
            .spawn(move || commit_loop(&conn, queue, &gate, options.db))
            .map_err(|e| BatchError::NotCommitted(e.to_string()))?;
        Ok(Self { jobs })
    }

    /// Runs `work` in the next batch and answers once that batch is committed: `Ok` with
    /// what `work` answered (an `Err` from `work` keeps none of its writes), or the batch's
    /// error, every job of a failed batch alike. `work` may be called twice (see the crate's
    /// notes): it owns its inputs and clones what it moves.
    pub async fn write<T, E, F>(&self, work: F) -> Answer<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnMut(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (job, answered) = job(work);
        self.jobs.send(job).await.map_err(|_| BatchError::Stopped)?;
        answered.await.unwrap_or_else(|_| Err(BatchError::NotCommitted("the batch broke off".into())))
    }
}

fn connect(path: &Path, options: &WriterOptions) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(options.busy_timeout)?;
    // The file is in WAL mode already (its first opener set it; it is kept in the file).
    // FULL: an acknowledged write must survive power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", options.foreign_keys)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// Wraps `work` as a job, with the receiver its answer comes back on.
fn job<T, E, F>(mut work: F) -> (Job, oneshot::Receiver<Answer<T, E>>)
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(&Connection) -> Result<T, E> + Send + 'static,
{
    let outcome = Arc::new(Mutex::new(None::<Result<T, E>>));
    let kept = Arc::clone(&outcome);
    let (answer, answered) = oneshot::channel::<Answer<T, E>>();
    let job = Job {
        run: Box::new(move |conn| {
            let out = work(conn);
            let ok = out.is_ok();
            *kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(out);
            ok
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

fn commit_loop(conn: &Connection, mut queue: mpsc::Receiver<Job>, gate: &WriteGate, db: &'static str) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics::histogram!("scenegate_db_group_commit_jobs", "db" => db).record(batch.len() as f64);
        let started = Instant::now();
        let committed = {
            let _turn = gate.0.blocking_lock();
            // A job that panics loses its batch (answered as not committed), not the thread.
            match std::panic::catch_unwind(AssertUnwindSafe(|| commit(conn, &mut batch, db))) {
                Ok(done) => done.map_err(|e| BatchError::NotCommitted(e.to_string())),
                Err(_) => Err(BatchError::NotCommitted("a job of the batch panicked".into())),
            }
        };
        if !conn.is_autocommit() {
            // Broke off inside the transaction (an error or a panic): nothing of it is kept.
            let _ = conn.execute_batch("ROLLBACK");
        }
        metrics::histogram!("scenegate_db_group_commit_seconds", "db" => db).record(started.elapsed().as_secs_f64());
        if let Err(e) = &committed {
            tracing::warn!(error = %e, jobs = batch.len(), db, "a database write batch failed; none of it was kept");
        }
        for job in batch.drain(..) {
            (job.answer)(committed.clone());
        }
    }
}

/// One batch in one `BEGIN IMMEDIATE` transaction: first without savepoints; if a job fails,
/// again from the start with each job behind its own savepoint (see the crate's notes).
fn commit(conn: &Connection, jobs: &mut [Job], db: &'static str) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    if jobs.iter_mut().all(|job| (job.run)(conn)) {
        return conn.execute_batch("COMMIT");
    }
    conn.execute_batch("ROLLBACK")?;
    metrics::counter!("scenegate_db_group_commit_reruns_total", "db" => db).increment(1);
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in jobs.iter_mut() {
        conn.execute_batch("SAVEPOINT job")?;
        if (job.run)(conn) {
            conn.execute_batch("RELEASE job")?;
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
        }
    }
    conn.execute_batch("COMMIT")
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use super::*;

    #[derive(Debug)]
    enum Refusal {
        Refused,
        Db(rusqlite::Error),
    }

    impl From<rusqlite::Error> for Refusal {
        fn from(e: rusqlite::Error) -> Self {
            Self::Db(e)
        }
    }

    fn db() -> (tempfile::TempDir, std::path::PathBuf, WriterThread) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let setup = Connection::open(&path).unwrap();
        setup.pragma_update(None, "journal_mode", "WAL").unwrap();
        setup.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)").unwrap();
        let options = WriterOptions { db: "test", busy_timeout: Duration::from_secs(5), foreign_keys: true };
        let writer = WriterThread::open(&path, options, WriteGate::default()).unwrap();
        (dir, path, writer)
    }

    fn insert(k: String, n: i64) -> impl FnMut(&Connection) -> Result<(), Refusal> {
        move |conn| {
            conn.prepare_cached("INSERT INTO t (k, n) VALUES (?1, ?2)")?.execute(params![k, n])?;
            Ok(())
        }
    }

    fn count_then_insert(k: &'static str) -> impl FnMut(&Connection) -> Result<i64, Refusal> {
        move |conn| {
            let before: i64 = conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?;
            conn.execute("INSERT INTO t (k, n) VALUES (?1, ?2)", params![k, before])?;
            Ok(before)
        }
    }

    fn write_then_refuse(conn: &Connection) -> Result<(), Refusal> {
        conn.execute("INSERT INTO t (k, n) VALUES ('refused', 0)", [])?;
        Err(Refusal::Refused)
    }

    fn rows(path: &Path) -> Vec<(String, i64)> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT k, n FROM t ORDER BY k").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    }

    #[tokio::test]
    async fn concurrent_jobs_all_land_and_a_refused_one_leaves_nothing_of_its_own() {
        let (_dir, path, writer) = db();
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let w = writer.clone();
                tokio::spawn(async move { w.write(insert(format!("k{i:03}"), i)).await })
            })
            .collect();
        let refused = writer.write(write_then_refuse).await;
        assert!(matches!(refused, Ok(Err(Refusal::Refused))), "{refused:?}");
        for w in writes {
            assert!(matches!(w.await.unwrap(), Ok(Ok(()))));
        }
        let rows = rows(&path);
        assert_eq!(rows.len(), 200);
        assert!(rows.iter().enumerate().all(|(i, (k, n))| *k == format!("k{i:03}") && *n == i as i64));
    }

    #[tokio::test]
    async fn answered_means_committed_and_a_duplicate_is_the_job_s_own_error() {
        let (_dir, path, writer) = db();
        assert!(matches!(writer.write(insert("a".into(), 1)).await, Ok(Ok(()))));
        // Answered means committed: another connection sees it.
        assert_eq!(rows(&path), vec![("a".to_owned(), 1)]);
        let dup = writer.write(insert("a".into(), 2)).await;
        assert!(
            matches!(&dup, Ok(Err(Refusal::Db(rusqlite::Error::SqliteFailure(e, _))))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY),
            "{dup:?}"
        );
        assert_eq!(rows(&path), vec![("a".to_owned(), 1)]);
    }

    /// One batch, decided here rather than by timing: a job that writes and then refuses
    /// sends the batch round again behind savepoints; the others keep their writes and see
    /// the ones before them, and each caller gets its own last answer.
    #[tokio::test]
    async fn a_refusal_in_a_batch_reruns_it_and_costs_the_others_nothing() {
        let (_dir, path, _writer) = db();
        let conn = Connection::open(&path).unwrap();
        let (first, first_answer) = job(count_then_insert("a"));
        let (refused, refused_answer) = job(write_then_refuse);
        let (last, last_answer) = job(count_then_insert("c"));
        let mut jobs = vec![first, refused, last];
        commit(&conn, &mut jobs, "test").unwrap();
        for job in jobs {
            (job.answer)(Ok(()));
        }
        assert!(matches!(first_answer.await.unwrap(), Ok(Ok(0))));
        assert!(matches!(refused_answer.await.unwrap(), Ok(Err(Refusal::Refused))));
        assert!(matches!(last_answer.await.unwrap(), Ok(Ok(1))), "sees the first job's row, not the refused one's");
        assert_eq!(rows(&path), vec![("a".to_owned(), 0), ("c".to_owned(), 1)]);
    }

    #[tokio::test]
    async fn a_panicking_job_loses_its_batch_not_the_writer() {
        let (_dir, path, writer) = db();
        let panicked = writer
            .write(|conn: &Connection| -> Result<(), Refusal> {
                conn.execute("INSERT INTO t (k, n) VALUES ('p', 0)", [])?;
                panic!("a bug in a job")
            })
            .await;
        assert!(matches!(panicked, Err(BatchError::NotCommitted(_))), "{panicked:?}");
        assert!(matches!(writer.write(insert("after".into(), 1)).await, Ok(Ok(()))));
        assert_eq!(rows(&path), vec![("after".to_owned(), 1)], "nothing of the panicked batch was kept");
    }

    /// The gate queues the thread behind another writer instead of leaving it to SQLite's
    /// busy handler: another connection holds the file's write lock far longer than the
    /// thread's busy timeout, and the thread's job still commits, after it, because it waited
    /// for the turn rather than for the lock.
    #[tokio::test]
    async fn the_gate_makes_the_thread_wait_its_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let other = Connection::open(&path).unwrap();
        other.pragma_update(None, "journal_mode", "WAL").unwrap();
        other.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)").unwrap();
        let gate = WriteGate::default();
        let options = WriterOptions { db: "test", busy_timeout: Duration::from_millis(10), foreign_keys: true };
        let writer = WriterThread::open(&path, options, gate.clone()).unwrap();
        let turn = gate.enter().await;
        other.execute_batch("BEGIN IMMEDIATE; INSERT INTO t (k, n) VALUES ('first', 0)").unwrap();
        let queued = tokio::spawn({
            let writer = writer.clone();
            async move { writer.write(insert("queued".into(), 1)).await }
        });
        // Twenty times the thread's busy timeout: without the gate its BEGIN would give up.
        tokio::time::sleep(Duration::from_millis(200)).await;
        other.execute_batch("COMMIT").unwrap();
        drop(turn);
        let queued = queued.await.unwrap();
        assert!(matches!(queued, Ok(Ok(()))), "{queued:?}");
        assert_eq!(rows(&path), vec![("first".to_owned(), 0), ("queued".to_owned(), 1)]);
    }
}
