//! In-process stores, for tests and throwaway runs.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;

use super::{ReplayStore, StoreError};

#[derive(Default)]
pub struct MemoryReplayStore {
    seen: Mutex<HashMap<String, i64>>,
}

#[async_trait]
impl ReplayStore for MemoryReplayStore {
    async fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        let mut seen = self.seen.lock().map_err(|_| StoreError::Unavailable("replay store lock poisoned".into()))?;
        // Keep the map bounded by the live window: sweep when it grows.
        if seen.len() > 10_000 {
            seen.retain(|_, exp| *exp > now);
        }
        match seen.get(key) {
            Some(exp) if *exp > now => Ok(false),
            _ => {
                seen.insert(key.to_owned(), expires_at);
                Ok(true)
            }
        }
    }

    async fn forget(&self, key: &str) -> Result<(), StoreError> {
        let mut seen = self.seen.lock().map_err(|_| StoreError::Unavailable("replay store lock poisoned".into()))?;
        seen.remove(key);
        Ok(())
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let mut seen = self.seen.lock().map_err(|_| StoreError::Unavailable("replay store lock poisoned".into()))?;
        let before = seen.len();
        seen.retain(|_, exp| *exp > now);
        Ok((before - seen.len()) as u64)
    }
}
