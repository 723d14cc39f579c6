//! Single-use values (client-assertion `jti`s) across the cluster: `SET … NX EXAT`.

use async_trait::async_trait;

use super::Redis;
use crate::store::{ReplayStore, StoreError};

pub struct RedisReplayStore {
    redis: Redis,
}

impl RedisReplayStore {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl ReplayStore for RedisReplayStore {
    /// Fails closed: when Redis cannot answer, the value is not admitted (the caller answers
    /// 503 with `Retry-After`); a replay must never slip through an outage.
    async fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        if expires_at <= now {
            return Ok(false);
        }
        let key = self.redis.key("once", key);
        let set = self
            .redis
            .run("single-use check", |mut conn| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("NX")
                    .arg("EXAT")
                    .arg(expires_at)
                    .query_async::<Option<String>>(&mut conn)
                    .await
            })
            .await
            .map_err(StoreError::Unavailable)?;
        Ok(set.is_some())
    }

    async fn forget(&self, key: &str) -> Result<(), StoreError> {
        let key = self.redis.key("once", key);
        self.redis
            .run("single-use release", |mut conn| async move {
                redis::cmd("DEL").arg(&key).query_async::<i64>(&mut conn).await
            })
            .await
            .map_err(StoreError::Unavailable)?;
        Ok(())
    }

    /// Redis expires the keys itself.
    async fn purge(&self, _now: i64) -> Result<u64, StoreError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::redis::test_support;

    #[tokio::test]
    async fn one_value_is_admitted_once_across_instances() {
        let Some(cfg) = test_support::config().await else { return };
        let now = jiff::Timestamp::now().as_second();
        let stores: Vec<_> = (0..3).map(|_| Arc::new(RedisReplayStore::new(Redis::connect(&cfg).unwrap()))).collect();
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let s = stores[i % 3].clone();
                tokio::spawn(async move { s.first_use("jti-1", now + 60, now).await.unwrap() })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            admitted += usize::from(t.await.unwrap());
        }
        assert_eq!(admitted, 1);
        assert!(stores[0].first_use("jti-2", now + 60, now).await.unwrap());
    }

    #[tokio::test]
    async fn a_forgotten_value_is_admitted_again_on_every_instance() {
        let Some(cfg) = test_support::config().await else { return };
        let now = jiff::Timestamp::now().as_second();
        let (a, b) = (
            RedisReplayStore::new(Redis::connect(&cfg).unwrap()),
            RedisReplayStore::new(Redis::connect(&cfg).unwrap()),
        );
        assert!(a.first_use("marker", now + 60, now).await.unwrap());
        assert!(!b.first_use("marker", now + 60, now).await.unwrap());
        a.forget("marker").await.unwrap();
        assert!(b.first_use("marker", now + 60, now).await.unwrap(), "forgotten on one instance, free on another");
        assert!(!a.first_use("marker", now + 60, now).await.unwrap());
    }

    #[tokio::test]
    async fn an_unreachable_redis_admits_nothing() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let store = RedisReplayStore::new(Redis::connect(&test_support::config_at(closed)).unwrap());
        let now = jiff::Timestamp::now().as_second();
        assert!(matches!(store.first_use("jti", now + 60, now).await, Err(StoreError::Unavailable(_))));
    }

    #[tokio::test]
    async fn a_blackholed_redis_answers_within_the_timeout() {
        let (addr, held) = test_support::blackhole().await;
        let store = RedisReplayStore::new(Redis::connect(&test_support::config_at(addr)).unwrap());
        let now = jiff::Timestamp::now().as_second();
        let answered =
            tokio::time::timeout(std::time::Duration::from_secs(2), store.first_use("jti", now + 60, now)).await;
        assert!(matches!(answered, Ok(Err(StoreError::Unavailable(_)))), "bounded by shared.timeout_ms: {answered:?}");
        held.abort();
    }
}
