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
//! The batches run on [`WriterThread`]: one `rusqlite` connection on a thread of its own (see
//! `thread.rs` for why not sqlx's). The file's other writers take turns with it at a
//! [`WriteGate`] ([`GatedPool`]).

/// Why a write got no answer of its own: nothing of it was kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The writer's thread is gone (the database was closed).
    #[error("the database writer has stopped")]
    Stopped,
    /// The batch failed (the commit, a savepoint, the connection), or broke off before this
    /// write ran.
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
}

/// Most jobs in one commit: bounds how long the first job of a batch waits for the last.
pub const MAX_BATCH: usize = 64;
/// Jobs waiting for the writer beyond this make their callers wait to enqueue.
const QUEUE: usize = 1024;

/// What a caller hears: its work's own outcome once committed, or the batch's failure.
pub type Answer<T, E> = Result<Result<T, E>, BatchError>;

pub mod reads;
pub mod thread;
pub use reads::InlineReads;
pub use thread::{GatedConnection, GatedPool, WriteGate, WriterOptions, WriterThread};
