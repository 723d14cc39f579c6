//! Per-partner rate limits shared by every instance: GCRA in one Lua step on Redis.

use std::time::Duration;

use async_trait::async_trait;

use super::Redis;
use crate::{
    config::RateLimit,
    limit::{Decision, LocalLimits, RateLimiterStore},
};

/// The generic cell rate algorithm on one key holding the partner's theoretical arrival time
/// (TAT, in microseconds). It runs on Redis's own clock (`TIME`), so instances whose clocks
/// differ still share one budget, and as one script, so no two instances interleave between
/// reading and writing the TAT. A request is admitted when the backlog it leaves is at most
/// `burst` emission intervals: `burst` requests at once, then one per interval. Returns
/// `{admitted, remaining, retry_after_us}`.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > tolerance then
  return {0, 0, new_tat - tolerance - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, math.floor((tolerance - (new_tat - now)) / interval), 0}
";

pub struct RedisLimits {
    redis: Redis,
    script: redis::Script,
    /// Decides while Redis cannot.
    fallback: LocalLimits,
}

impl RedisLimits {
    pub fn new(redis: Redis) -> Self {
        Self { redis, script: redis::Script::new(GCRA), fallback: LocalLimits::default() }
    }
}

#[async_trait]
impl RateLimiterStore for RedisLimits {
    async fn check(&self, partner_id: &str, limit: RateLimit) -> Decision {
        let interval_us = 1_000_000 / u64::from(limit.requests_per_second.get()).max(1);
        let burst = limit.burst.get();
        let key = self.redis.key("rl", partner_id);
        let answer = self
            .redis
            .run("rate limit", |mut conn| {
                let mut call = self.script.key(&key);
                call.arg(interval_us.max(1)).arg(burst);
                async move { call.invoke_async::<(i64, i64, i64)>(&mut conn).await }
            })
            .await;
        match answer {
            Ok((1, remaining, _)) => {
                Decision::Allowed { limit: burst, remaining: u32::try_from(remaining.max(0)).unwrap_or(0) }
            }
            Ok((_, _, wait_us)) => {
                // Retry-After is in whole seconds; round up so a retry at that time succeeds.
                let secs = u64::try_from(wait_us.max(0)).unwrap_or(0).div_ceil(1_000_000).max(1);
                Decision::Limited { limit: burst, retry_after: Duration::from_secs(secs) }
            }
            Err(_) => self.fallback.check_local(partner_id, limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{limit::nz, store::redis::test_support};

    fn rl(rps: u32, burst: u32) -> RateLimit {
        RateLimit { requests_per_second: nz(rps), burst: nz(burst) }
    }

    #[tokio::test]
    async fn the_same_answers_as_the_local_limiter() {
        let Some(cfg) = test_support::config().await else { return };
        let limits = RedisLimits::new(Redis::connect(&cfg).unwrap());
        for left in (0..3).rev() {
            assert_eq!(limits.check("p", rl(1, 3)).await, Decision::Allowed { limit: 3, remaining: left });
        }
        match limits.check("p", rl(1, 3)).await {
            Decision::Limited { retry_after, limit: 3 } => assert_eq!(retry_after, Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(limits.check("other", rl(1, 3)).await, Decision::Allowed { .. }), "separate budgets");
        assert!(limits.redis.health.degraded().is_none());
    }

    #[tokio::test]
    async fn three_instances_share_one_budget() {
        let Some(cfg) = test_support::config().await else { return };
        let instances: Vec<_> = (0..3).map(|_| RedisLimits::new(Redis::connect(&cfg).unwrap())).collect();
        let mut admitted = 0;
        for n in 0..30 {
            if matches!(instances[n % 3].check("ptn_a", rl(1, 10)).await, Decision::Allowed { .. }) {
                admitted += 1;
            }
        }
        // A burst of 10 (and at most one more cell if a second passes during the loop).
        assert!((10..=11).contains(&admitted), "three instances together admit one burst: {admitted}");
    }

    #[tokio::test]
    async fn without_redis_each_instance_limits_on_its_own_and_says_so() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let limits = RedisLimits::new(Redis::connect(&test_support::config_at(closed)).unwrap());
        assert!(matches!(limits.check("p", rl(1, 1)).await, Decision::Allowed { .. }));
        assert!(matches!(limits.check("p", rl(1, 1)).await, Decision::Limited { .. }), "the local fallback limits");
        assert!(limits.redis.health.degraded().is_some(), "degraded is reported");
    }
}
