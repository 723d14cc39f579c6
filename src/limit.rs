//! Per-partner rate limits (GCRA), sized from each partner's file.
//!
//! [`LocalLimits`] (governor, in this process) is the embedded default and the fallback of
//! the Redis limiter (`crate::store::redis::RedisLimits`), which runs the same algorithm in
//! one Lua step on Redis so a cluster's instances share each partner's budget. Limiters live
//! outside the partner set so a config reload does not reset a partner's budget.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::{InMemoryState, NotKeyed},
};

use crate::config::RateLimit;

/// The answer for one call: allowed with what is left, or refused with when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { limit: u32, remaining: u32 },
    Limited { limit: u32, retry_after: Duration },
}

#[async_trait::async_trait]
pub trait RateLimiterStore: Send + Sync {
    /// Counts one call of `partner_id` against `limit`. Never fails: a limiter whose shared
    /// state is unreachable decides locally (and says so in its health).
    async fn check(&self, partner_id: &str, limit: RateLimit) -> Decision;
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// In-process limits for the embedded single-node default.
#[derive(Default)]
pub struct LocalLimits {
    limiters: RwLock<HashMap<String, (RateLimit, Arc<Limiter>)>>,
    clock: DefaultClock,
}

impl LocalLimits {
    fn limiter(&self, partner_id: &str, limit: RateLimit) -> Arc<Limiter> {
        if let Ok(map) = self.limiters.read()
            && let Some((current, l)) = map.get(partner_id)
            && *current == limit
        {
            return l.clone();
        }
        let quota = Quota::per_second(limit.requests_per_second).allow_burst(limit.burst);
        let fresh = Arc::new(RateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>());
        let mut map = self.limiters.write().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(partner_id.to_owned()).or_insert_with(|| (limit, fresh.clone()));
        if entry.0 != limit {
            *entry = (limit, fresh);
        }
        entry.1.clone()
    }
}

impl LocalLimits {
    /// The decision in this process alone.
    pub fn check_local(&self, partner_id: &str, limit: RateLimit) -> Decision {
        let burst = limit.burst.get();
        match self.limiter(partner_id, limit).check() {
            Ok(snapshot) => Decision::Allowed { limit: burst, remaining: snapshot.remaining_burst_capacity() },
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                // Retry-After is in whole seconds; round up so a retry at that time succeeds.
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Decision::Limited { limit: burst, retry_after: Duration::from_secs(secs.max(1)) }
            }
        }
    }
}

#[async_trait::async_trait]
impl RateLimiterStore for LocalLimits {
    async fn check(&self, partner_id: &str, limit: RateLimit) -> Decision {
        self.check_local(partner_id, limit)
    }
}

pub fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rl(rps: u32, burst: u32) -> RateLimit {
        RateLimit { requests_per_second: nz(rps), burst: nz(burst) }
    }

    #[test]
    fn burst_is_allowed_then_limited_with_a_retry_time() {
        let limits = LocalLimits::default();
        for left in (0..3).rev() {
            assert_eq!(limits.check_local("p", rl(1, 3)), Decision::Allowed { limit: 3, remaining: left });
        }
        match limits.check_local("p", rl(1, 3)) {
            Decision::Limited { retry_after, limit: 3 } => assert_eq!(retry_after, Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(limits.check_local("other", rl(1, 3)), Decision::Allowed { .. }),
            "partners have separate budgets"
        );
    }

    #[test]
    fn a_changed_quota_takes_effect() {
        let limits = LocalLimits::default();
        assert!(matches!(limits.check_local("p", rl(1, 1)), Decision::Allowed { .. }));
        assert!(matches!(limits.check_local("p", rl(1, 1)), Decision::Limited { .. }));
        assert!(matches!(limits.check_local("p", rl(1, 5)), Decision::Allowed { .. }));
    }
}
