//! Failed-login throttling, per customer (whichever login id was typed; per login id when no
//! customer has it) and per client address.
//!
//! A sliding window: after [`LOGIN_POLICY`]`.max_failures` failures within the window a
//! login id is locked until the oldest of them leaves the window (the same for an address
//! with [`IP_POLICY`]). Locked attempts are refused before the core is asked, and do not
//! count. The in-process [`LocalThrottle`] is the embedded default; a shared store (Redis)
//! can implement [`LoginThrottle`] for several gateway nodes.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Mutex,
};

use async_trait::async_trait;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures: usize,
    pub window_secs: i64,
}

/// 5 failures in 15 minutes lock a login id.
pub const LOGIN_POLICY: ThrottlePolicy = ThrottlePolicy { max_failures: 5, window_secs: 15 * 60 };
/// 20 failures in 15 minutes lock a client address (many login ids tried from one place).
pub const IP_POLICY: ThrottlePolicy = ThrottlePolicy { max_failures: 20, window_secs: 15 * 60 };

/// 20 refused client assertions in a minute lock a partner's client authentication (a
/// misconfigured partner backs off; a forger cannot make the gateway verify signatures at
/// will in the partner's name).
pub const CLIENT_POLICY: ThrottlePolicy = ThrottlePolicy { max_failures: 20, window_secs: 60 };
/// 60 refused client assertions in a minute lock an address, whatever clients it claims.
pub const CLIENT_IP_POLICY: ThrottlePolicy = ThrottlePolicy { max_failures: 60, window_secs: 60 };

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// A login id no customer has. Normalised: trimmed, lower case.
    Login(String),
    /// A customer, whichever of their login ids (mobile or customer number) was typed.
    Customer(String),
    Ip(IpAddr),
    /// Failed client authentications (`private_key_jwt`) of one onboarded partner.
    Client(String),
    /// Failed client authentications from one address, whatever client they claimed.
    ClientIp(IpAddr),
}

impl ThrottleKey {
    pub fn login(login_id: &str) -> Self {
        Self::Login(login_id.trim().to_lowercase())
    }

    pub fn policy(&self) -> ThrottlePolicy {
        match self {
            Self::Login(_) | Self::Customer(_) => LOGIN_POLICY,
            Self::Ip(_) => IP_POLICY,
            Self::Client(_) => CLIENT_POLICY,
            Self::ClientIp(_) => CLIENT_IP_POLICY,
        }
    }
}

#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// When `key` may try again, if it is locked at `now`.
    async fn locked_until(&self, key: &ThrottleKey, now: i64) -> Option<i64>;
    async fn record_failure(&self, key: &ThrottleKey, now: i64);
    /// Forgets a login id's failures after a successful login.
    async fn clear(&self, key: &ThrottleKey);
}

/// Failure times per key, in this process.
#[derive(Default)]
pub struct LocalThrottle {
    failures: Mutex<HashMap<ThrottleKey, VecDeque<i64>>>,
}

/// Entries beyond this make a record call sweep out keys with no recent failures.
const SWEEP_ABOVE: usize = 10_000;

fn prune(times: &mut VecDeque<i64>, policy: ThrottlePolicy, now: i64) {
    while times.front().is_some_and(|&t| t <= now - policy.window_secs) {
        times.pop_front();
    }
}

#[async_trait]
impl LoginThrottle for LocalThrottle {
    async fn locked_until(&self, key: &ThrottleKey, now: i64) -> Option<i64> {
        let policy = key.policy();
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let times = map.get_mut(key)?;
        prune(times, policy, now);
        (times.len() >= policy.max_failures).then(|| times.front().copied().unwrap_or(now) + policy.window_secs)
    }

    async fn record_failure(&self, key: &ThrottleKey, now: i64) {
        let policy = key.policy();
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > SWEEP_ABOVE {
            map.retain(|k, times| {
                prune(times, k.policy(), now);
                !times.is_empty()
            });
        }
        let times = map.entry(key.clone()).or_default();
        prune(times, policy, now);
        times.push_back(now);
        // Only the newest `max_failures` decide a lock.
        while times.len() > policy.max_failures {
            times.pop_front();
        }
    }

    async fn clear(&self, key: &ThrottleKey) {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }
}
