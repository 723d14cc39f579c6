//! Per-partner rate limits shared by every instance: GCRA in one Lua step on Redis, taken a
//! few cells at a time by partners whose rate is high.
//!
//! A call that asked Redis every time would put a Redis round trip on every request, and
//! make Redis (one thread) the cluster's bottleneck for a partner polling thousands of
//! times a second. So an instance takes up to [`MAX_LEASE`] cells in one step and spends them
//! itself for at most [`LEASE_TTL`]; cells it does not spend in time are lost, never handed
//! to a later window. The cells are charged to the shared budget when taken, so the cluster
//! never admits more than the partner's burst plus its rate over the window and the lease
//! time; at most `MAX_LEASE - 1` cells per instance are left unspent when traffic stops. A
//! lease is at most the partner's rate over [`LEASE_TTL`] and an eighth of its burst, so a
//! partner limited to tens of requests a second is counted one by one, exactly as before.
//!
//! One lease is taken at a time per partner and instance: the requests that find it spent
//! while another is taking the next one wait for that one and spend its cells, instead of
//! each asking Redis and replacing the others' leases (a partner's dozens of concurrent
//! requests had made a lease last about four of them instead of sixteen).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::Redis;
use crate::{
    config::RateLimit,
    limit::{Decision, LocalLimits, RateLimiterStore},
};

/// How long cells taken from the shared budget may wait here to be spent.
pub const LEASE_TTL: Duration = Duration::from_millis(50);

/// Most cells taken from the shared budget at once.
pub const MAX_LEASE: u32 = 16;

/// The generic cell rate algorithm on one key holding the partner's theoretical arrival time
/// (TAT, in microseconds). It runs on Redis's own clock (`TIME`), so instances whose clocks
/// differ still share one budget, and as one script, so no two instances interleave between
/// reading and writing the TAT. A cell is admitted when the backlog it leaves is at most
/// `burst` emission intervals: `burst` cells at once, then one per interval. Takes up to
/// `ARGV[3]` cells, as many as fit (at least one, or none). Returns
/// `{taken, remaining, retry_after_us}`.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local fit = math.floor((tolerance - (tat - now)) / interval)
if fit < 1 then
  return {0, 0, tat + interval - tolerance - now}
end
local taken = math.min(wanted, fit)
local new_tat = tat + taken * interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {taken, math.floor((tolerance - (new_tat - now)) / interval), 0}
";

/// Cells of one partner taken from the shared budget and not yet spent here.
struct Lease {
    /// The limit they were taken under: a changed limit starts afresh.
    limit: RateLimit,
    cells: u32,
    /// What the shared budget had left when they were taken.
    shared_remaining: u32,
    until: Instant,
}

pub struct RedisLimits {
    redis: Redis,
    script: redis::Script,
    leases: Mutex<HashMap<String, Lease>>,
    /// Per partner, held while a lease is being taken (see the module's doc).
    takers: Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    lease_ttl: Duration,
    /// Decides while Redis cannot.
    fallback: LocalLimits,
}

impl RedisLimits {
    pub fn new(redis: Redis) -> Self {
        Self::with_lease_ttl(redis, LEASE_TTL)
    }

    fn with_lease_ttl(redis: Redis, lease_ttl: Duration) -> Self {
        Self {
            redis,
            script: redis::Script::new(GCRA),
            leases: Mutex::new(HashMap::new()),
            takers: Mutex::new(HashMap::new()),
            lease_ttl,
            fallback: LocalLimits::default(),
        }
    }

    /// One cell of a lease this instance holds, while it lasts.
    fn spend_leased(&self, partner_id: &str, limit: RateLimit) -> Option<Decision> {
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        let lease = leases.get_mut(partner_id)?;
        if lease.limit != limit || lease.cells == 0 || Instant::now() >= lease.until {
            return None;
        }
        lease.cells -= 1;
        Some(Decision::Allowed { limit: limit.burst.get(), remaining: lease.shared_remaining + lease.cells })
    }

    /// The right to take this partner's next lease. Bounded like the leases: one entry per
    /// partner that has called.
    fn taker(&self, partner_id: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut takers = self.takers.lock().unwrap_or_else(PoisonError::into_inner);
        takers.entry(partner_id.to_owned()).or_default().clone()
    }

    /// Keeps `cells` taken under `limit` for this instance to spend. The lease it replaces
    /// was spent or lapsed (leases are taken one at a time); were it not, its cells would be
    /// lost, never counted twice.
    fn keep_lease(&self, partner_id: &str, limit: RateLimit, cells: u32, shared_remaining: u32) {
        let lease = Lease { limit, cells, shared_remaining, until: Instant::now() + self.lease_ttl };
        self.leases.lock().unwrap_or_else(PoisonError::into_inner).insert(partner_id.to_owned(), lease);
    }
}

/// Cells taken at once: the partner's rate over the lease time and an eighth of its burst, at
/// most [`MAX_LEASE`], at least one.
fn lease_size(limit: RateLimit, lease_ttl: Duration) -> u32 {
    let per_ttl = u128::from(limit.requests_per_second.get()) * lease_ttl.as_millis() / 1000;
    let by_rate = u32::try_from(per_ttl).unwrap_or(u32::MAX);
    by_rate.min(limit.burst.get() / 8).clamp(1, MAX_LEASE)
}

#[async_trait]
impl RateLimiterStore for RedisLimits {
    async fn check(&self, partner_id: &str, limit: RateLimit) -> Decision {
        if let Some(leased) = self.spend_leased(partner_id, limit) {
            return leased;
        }
        let wanted = lease_size(limit, self.lease_ttl);
        // A partner counted one by one has no lease to wait for.
        let _taking = if wanted > 1 {
            let taker = self.taker(partner_id);
            let (taking, waited) = match taker.clone().try_lock_owned() {
                Ok(taking) => (taking, false),
                Err(_) => (taker.lock_owned().await, true),
            };
            if let Some(leased) = self.spend_leased(partner_id, limit) {
                return leased;
            }
            // The call this one waited for found Redis unreachable: decide here rather than
            // each waiter trying again in turn, one timeout after another.
            if waited && self.redis.health.is_degraded() {
                return self.fallback.check_local(partner_id, limit);
            }
            Some(taking)
        } else {
            None
        };
        let interval_us = 1_000_000 / u64::from(limit.requests_per_second.get()).max(1);
        let burst = limit.burst.get();
        let key = self.redis.key("rl", partner_id);
        let answer = self
            .redis
            .run("rate limit", |mut conn| {
                let mut call = self.script.key(&key);
                call.arg(interval_us.max(1)).arg(burst).arg(wanted);
                async move { call.invoke_async::<(i64, i64, i64)>(&mut conn).await }
            })
            .await;
        match answer {
            Ok((taken @ 1.., remaining, _)) => {
                let spare = u32::try_from(taken - 1).unwrap_or(0);
                let shared_remaining = u32::try_from(remaining.max(0)).unwrap_or(0);
                if spare > 0 {
                    self.keep_lease(partner_id, limit, spare, shared_remaining);
                }
                Decision::Allowed { limit: burst, remaining: shared_remaining + spare }
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

    #[test]
    fn a_partner_limited_to_tens_a_second_is_counted_one_by_one() {
        assert_eq!(lease_size(rl(20, 40), LEASE_TTL), 1);
        assert_eq!(lease_size(rl(100, 10), LEASE_TTL), 1, "an eighth of the burst");
        assert_eq!(lease_size(rl(100, 400), LEASE_TTL), 5, "the rate over 50 ms");
        assert_eq!(lease_size(rl(100_000, 100_000), LEASE_TTL), MAX_LEASE);
    }

    // The next two use a long lease and a rate of one cell a second (16-cell leases), so
    // the budget does not refill between the calls however slow the machine.
    #[tokio::test]
    async fn an_instance_spends_the_cells_it_took_before_it_asks_again() {
        let Some(cfg) = test_support::config().await else { return };
        let partner = format!("ptn_lease_{}", uuid::Uuid::new_v4().simple());
        let limit = rl(1, 160);
        let long = Duration::from_secs(600);
        let a = RedisLimits::with_lease_ttl(Redis::connect(&cfg).unwrap(), long);
        let b = RedisLimits::with_lease_ttl(Redis::connect(&cfg).unwrap(), long);
        // A takes 16 cells: 144 left in the shared budget, 15 of them kept by A.
        assert_eq!(a.check(&partner, limit).await, Decision::Allowed { limit: 160, remaining: 144 + 15 });
        // B takes the next 16 from what is left.
        let Decision::Allowed { remaining: after_b, .. } = b.check(&partner, limit).await else { panic!() };
        assert!(after_b <= 128 + 15 + 1, "B's cells come out of the budget A took from: {after_b}");
        // A spends its own without asking Redis, which would now say 128 or fewer are left.
        assert_eq!(a.check(&partner, limit).await, Decision::Allowed { limit: 160, remaining: 144 + 14 });
        // A changed limit does not spend cells taken under the old one.
        let changed = a.check(&partner, rl(1, 161)).await;
        assert!(matches!(changed, Decision::Allowed { remaining, .. } if remaining <= 113 + 15 + 1), "{changed:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_that_find_the_lease_spent_wait_for_one_lease() {
        let Some(cfg) = test_support::config().await else { return };
        let partner = format!("ptn_lease_{}", uuid::Uuid::new_v4().simple());
        let limit = rl(1, 160); // 16-cell leases, no refill in the test's time
        let a =
            std::sync::Arc::new(RedisLimits::with_lease_ttl(Redis::connect(&cfg).unwrap(), Duration::from_secs(600)));
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let a = a.clone();
                let partner = partner.clone();
                tokio::spawn(async move { a.check(&partner, limit).await })
            })
            .collect();
        for call in calls {
            assert!(matches!(call.await.unwrap(), Decision::Allowed { .. }));
        }
        // Sixteen calls at once spent one lease: the shared budget lost 16 cells, not 16 × 16.
        let b = RedisLimits::with_lease_ttl(Redis::connect(&cfg).unwrap(), Duration::from_secs(600));
        assert_eq!(b.check(&partner, limit).await, Decision::Allowed { limit: 160, remaining: 128 + 15 });
    }

    #[tokio::test]
    async fn cells_not_spent_in_time_are_lost_not_saved_up() {
        let Some(cfg) = test_support::config().await else { return };
        let partner = format!("ptn_lease_{}", uuid::Uuid::new_v4().simple());
        let limit = rl(16, 160); // 16-cell leases of one second
        let a = RedisLimits::with_lease_ttl(Redis::connect(&cfg).unwrap(), Duration::from_secs(1));
        assert_eq!(a.check(&partner, limit).await, Decision::Allowed { limit: 160, remaining: 144 + 15 });
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        // The 15 kept cells have lapsed (a call spending one would say 158), and the budget
        // has refilled in that second: a fresh lease of 16.
        assert_eq!(a.check(&partner, limit).await, Decision::Allowed { limit: 160, remaining: 144 + 15 });
    }

    #[tokio::test]
    async fn three_instances_taking_leases_admit_about_the_rate_and_never_more() {
        let Some(cfg) = test_support::config().await else { return };
        let partner = format!("ptn_lease_{}", uuid::Uuid::new_v4().simple());
        let limit = rl(320, 160); // 16-cell leases
        let instances: Vec<_> = (0..3).map(|_| RedisLimits::new(Redis::connect(&cfg).unwrap())).collect();
        let started = Instant::now();
        let mut admitted = 0_u32;
        for n in 0..1_200 {
            if matches!(instances[n % 3].check(&partner, limit).await, Decision::Allowed { .. }) {
                admitted += 1;
            }
        }
        // At most the burst plus the rate over the run and one lease time; at least the burst
        // less what three instances may hold unspent.
        let elapsed = started.elapsed() + LEASE_TTL;
        let ceiling = 160 + (320.0 * elapsed.as_secs_f64()).ceil() as u32 + 1;
        assert!(admitted <= ceiling, "admitted {admitted}, more than {ceiling}");
        assert!(admitted >= 160 - 3 * (MAX_LEASE - 1), "admitted {admitted}: leases wasted too much");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_waiting_for_a_lease_from_a_blackholed_redis_wait_one_timeout_not_one_each() {
        // Accepts connections, never answers; the shared timeout is 200 ms.
        let (addr, held) = test_support::blackhole().await;
        let limits = std::sync::Arc::new(RedisLimits::new(Redis::connect(&test_support::config_at(addr)).unwrap()));
        let started = Instant::now();
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let limits = limits.clone();
                tokio::spawn(async move { limits.check("p", rl(100_000, 100_000)).await })
            })
            .collect();
        for call in calls {
            assert!(matches!(call.await.unwrap(), Decision::Allowed { .. }), "the local fallback admits");
        }
        // One caller waits out the timeout; the others, queued behind it, decide locally.
        let took = started.elapsed();
        assert!(took < Duration::from_millis(800), "8 callers took {took:?}: they tried Redis in turn");
        assert!(limits.redis.health.degraded().is_some());
        held.abort();
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
