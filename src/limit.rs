//! Per-partner rate limits (GCRA via governor), sized from each partner's file.
//!
//! Limiters live outside the partner set so a config reload does not reset a partner's
//! budget; a limiter is rebuilt only when that partner's quota changes. Across a cluster the
//! same trait will be backed by a Redis GCRA script.

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

pub trait RateLimiterStore: Send + Sync {
    fn check(&self, partner_id: &str, limit: RateLimit) -> Decision;
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

impl RateLimiterStore for LocalLimits {
    fn check(&self, partner_id: &str, limit: RateLimit) -> Decision {
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
            assert_eq!(limits.check("p", rl(1, 3)), Decision::Allowed { limit: 3, remaining: left });
        }
        match limits.check("p", rl(1, 3)) {
            Decision::Limited { retry_after, limit: 3 } => assert_eq!(retry_after, Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(limits.check("other", rl(1, 3)), Decision::Allowed { .. }), "partners have separate budgets");
    }

    #[test]
    fn a_changed_quota_takes_effect() {
        let limits = LocalLimits::default();
        assert!(matches!(limits.check("p", rl(1, 1)), Decision::Allowed { .. }));
        assert!(matches!(limits.check("p", rl(1, 1)), Decision::Limited { .. }));
        assert!(matches!(limits.check("p", rl(1, 5)), Decision::Allowed { .. }));
    }
}
