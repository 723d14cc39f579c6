//! The embedded default's group commit (`scenegate-sqlite-batch`): the hot paths' writes
//! (idempotency claims and answers, payments and refunds, single-use ids, webhook delivery
//! leases and outcomes) committed together on the one writing connection. This wrapper only
//! puts the batch's own failures in the stores' terms.

use sqlx::{SqliteConnection, SqlitePool};

use scenegate_sqlite_batch::BatchError;
pub use scenegate_sqlite_batch::BoxFuture;

use crate::store::StoreError;

/// The queue in front of the gateway database's writing connection. Cheap to clone.
#[derive(Clone, Debug)]
pub struct GroupCommit(scenegate_sqlite_batch::GroupCommit);

impl GroupCommit {
    pub fn start(writer: SqlitePool) -> Self {
        Self(scenegate_sqlite_batch::GroupCommit::start(writer, "gateway"))
    }

    /// Runs `work` in the next batch and answers once it is committed (see the crate's notes:
    /// `work` may run twice, and nothing is answered before the commit).
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        self.0.write(work).await.map_err(|e| E::from(store_error(e)))?
    }
}

fn store_error(e: BatchError) -> StoreError {
    match e {
        BatchError::Timeout => StoreError::Timeout(e.to_string()),
        BatchError::Stopped | BatchError::NotCommitted(_) => StoreError::Unavailable(e.to_string()),
    }
}
