//! Failed-login throttling across the cluster: a sorted set of failure times per key.

use async_trait::async_trait;

use super::Redis;
use crate::grants::{LocalThrottle, LoginThrottle, ThrottleKey};

pub struct RedisThrottle {
    redis: Redis,
    /// Counts while Redis cannot (this instance's failures only).
    fallback: LocalThrottle,
}

impl RedisThrottle {
    pub fn new(redis: Redis) -> Self {
        Self { redis, fallback: LocalThrottle::default() }
    }

    fn key(&self, key: &ThrottleKey) -> String {
        match key {
            ThrottleKey::Login(id) => self.redis.key("login-fail", id),
            ThrottleKey::Customer(cust_no) => self.redis.key("customer-fail", cust_no),
            ThrottleKey::Client(id) => self.redis.key("client-fail", id),
            ThrottleKey::ClientIp(ip) => self.redis.key("client-ip-fail", &ip.to_string()),
            ThrottleKey::Ip(ip) => self.redis.key("ip-fail", &ip.to_string()),
        }
    }
}

#[async_trait]
impl LoginThrottle for RedisThrottle {
    async fn locked_until(&self, key: &ThrottleKey, now: i64) -> Option<i64> {
        let policy = key.policy();
        let k = self.key(key);
        let window_start = now - policy.window_secs;
        let answer = self
            .redis
            .run("login throttle", |mut conn| async move {
                let (times,): (Vec<(String, i64)>,) = redis::pipe()
                    .atomic()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&k)
                    .arg("-inf")
                    .arg(window_start)
                    .ignore()
                    .cmd("ZRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(&mut conn)
                    .await?;
                Ok(times)
            })
            .await;
        match answer {
            Ok(times) => (times.len() >= policy.max_failures)
                .then(|| times.first().map_or(now, |(_, t)| *t) + policy.window_secs),
            Err(_) => self.fallback.locked_until(key, now).await,
        }
    }

    async fn record_failure(&self, key: &ThrottleKey, now: i64) {
        let policy = key.policy();
        let k = self.key(key);
        let member = format!("{now}-{}", uuid::Uuid::new_v4().simple());
        let keep = i64::try_from(policy.max_failures).unwrap_or(i64::MAX);
        let recorded = self
            .redis
            .run("login throttle", |mut conn| async move {
                redis::pipe()
                    .atomic()
                    .cmd("ZADD")
                    .arg(&k)
                    .arg(now)
                    .arg(&member)
                    .ignore()
                    // Only the newest `max_failures` decide a lock.
                    .cmd("ZREMRANGEBYRANK")
                    .arg(&k)
                    .arg(0)
                    .arg(-(keep + 1))
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&k)
                    .arg(policy.window_secs)
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
        if recorded.is_err() {
            self.fallback.record_failure(key, now).await;
        }
    }

    async fn clear(&self, key: &ThrottleKey) {
        let k = self.key(key);
        let _ =
            self.redis
                .run("login throttle", |mut conn| async move {
                    redis::cmd("DEL").arg(&k).query_async::<()>(&mut conn).await
                })
                .await;
        self.fallback.clear(key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{grants::throttle::LOGIN_POLICY, store::redis::test_support};

    #[tokio::test]
    async fn failures_on_any_instance_lock_the_login_on_all() {
        let Some(cfg) = test_support::config().await else { return };
        let a = RedisThrottle::new(Redis::connect(&cfg).unwrap());
        let b = RedisThrottle::new(Redis::connect(&cfg).unwrap());
        let key = ThrottleKey::login("C0001");
        for n in 0..LOGIN_POLICY.max_failures {
            assert_eq!(b.locked_until(&key, 1_000).await, None, "not locked after {n}");
            let on = if n % 2 == 0 { &a } else { &b };
            on.record_failure(&key, 1_000 + i64::try_from(n).unwrap()).await;
        }
        assert_eq!(b.locked_until(&key, 1_010).await, Some(1_000 + LOGIN_POLICY.window_secs));
        assert_eq!(a.locked_until(&key, 1_000 + LOGIN_POLICY.window_secs).await, None, "the oldest left the window");
        a.clear(&key).await;
        assert_eq!(b.locked_until(&key, 1_010).await, None);
    }
}
