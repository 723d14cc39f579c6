//! The embedded default's group commit (`scenegate-sqlite-batch`): the hot paths' writes
//! (idempotency claims and answers, payments and refunds, single-use ids, consent changes,
//! the outbox and its delivery leases) committed together by the writer thread, each a plain
//! function of a `rusqlite` connection. This wrapper only puts the batch's own failures in
//! the stores' terms.

use std::path::Path;

use rusqlite::Connection;
use scenegate_sqlite_batch::{BatchError, WriteGate, WriterOptions, WriterThread};

use crate::store::StoreError;

/// The queue in front of the gateway database's writer thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct GroupCommit(WriterThread);

impl GroupCommit {
    pub fn open(path: &Path, options: WriterOptions, gate: WriteGate) -> Result<Self, StoreError> {
        WriterThread::open(path, options, gate).map(Self).map_err(store_error)
    }

    /// Runs `work` in the next batch and answers once it is committed (see the crate's notes:
    /// `work` may run twice, and nothing is answered before the commit).
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&Connection) -> Result<T, E> + Send + 'static,
    {
        self.0.write(work).await.map_err(|e| E::from(store_error(e)))?
    }
}

fn store_error(e: BatchError) -> StoreError {
    match e {
        BatchError::Stopped | BatchError::NotCommitted(_) => StoreError::Unavailable(e.to_string()),
    }
}
