//! State the gateway keeps between requests, behind small traits.
//!
//! The embedded default keeps it in a SQLite file under the data directory (one node,
//! survives restarts); tests may use memory. A cluster of stateless gateways will put the
//! same traits on Redis and PostgreSQL.

mod memory;
pub mod sqlite;

use async_trait::async_trait;

pub use memory::MemoryReplayStore;
pub use sqlite::SqliteReplayStore;

#[derive(Debug, thiserror::Error)]
#[error("state store failed: {0}")]
pub struct StoreError(pub String);

/// Remembers single-use values (assertion `jti`s, later authorisation codes) until they
/// expire, so each can be used once.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records `key` until `expires_at`. Returns false when `key` is already recorded and
    /// not yet expired: the caller must refuse the replay. Atomic across concurrent callers.
    async fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn contract(store: &dyn ReplayStore) {
        assert!(store.first_use("a", 100, 10).await.unwrap());
        assert!(!store.first_use("a", 100, 50).await.unwrap(), "replay inside the window must be refused");
        assert!(store.first_use("b", 100, 50).await.unwrap());
        assert!(store.first_use("a", 200, 100).await.unwrap(), "an expired record no longer blocks");
    }

    #[tokio::test]
    async fn memory_store_keeps_the_contract() {
        contract(&MemoryReplayStore::default()).await;
    }

    #[tokio::test]
    async fn sqlite_store_keeps_the_contract_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.sqlite");
        contract(&SqliteReplayStore::new(sqlite::open(&path).await.unwrap())).await;
        let reopened = SqliteReplayStore::new(sqlite::open(&path).await.unwrap());
        assert!(!reopened.first_use("b", 100, 60).await.unwrap());
    }

    #[tokio::test]
    async fn concurrent_first_uses_admit_exactly_one() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            std::sync::Arc::new(SqliteReplayStore::new(sqlite::open(&dir.path().join("gw.sqlite")).await.unwrap()));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let s = store.clone();
                tokio::spawn(async move { s.first_use("same", 100, 1).await.unwrap() })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            admitted += usize::from(t.await.unwrap());
        }
        assert_eq!(admitted, 1);
    }
}
