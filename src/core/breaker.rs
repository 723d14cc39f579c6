//! A circuit breaker and an in-flight bound for the core connector.
//!
//! A core that hangs must not take the gateway with it: without these, every request would
//! wait out the core timeout while holding a connection, and a slow core would turn into
//! thousands of parked requests. After `failures` consecutive failures (timeouts, refused
//! connections, 5xx; never a business answer such as "insufficient funds") the breaker opens
//! and calls fail at once (503 `core_unavailable` with `Retry-After`) for `open_for`; then one
//! probe is let through (half-open): success closes the breaker, failure opens it again.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failures: u32,
    pub open_for: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is out; everyone else is refused until it answers.
    HalfOpen,
}

#[derive(Debug)]
pub struct Breaker {
    /// The core system's name, labelling its state gauge and log lines.
    system: std::sync::Arc<str>,
    settings: BreakerSettings,
    state: Mutex<State>,
}

/// Permission to make one call; hand it back with the outcome.
#[derive(Debug)]
#[must_use]
pub struct Permit(());

impl Breaker {
    pub fn new(system: std::sync::Arc<str>, settings: BreakerSettings) -> Self {
        let breaker = Self { system, settings, state: Mutex::new(State::Closed { failures: 0 }) };
        breaker.record_state(0.0);
        breaker
    }

    /// A permit, or how long until the breaker lets a probe through.
    pub fn admit(&self, now: Instant) -> Result<Permit, Duration> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match *state {
            State::Closed { .. } => Ok(Permit(())),
            State::Open { until } if now >= until => {
                *state = State::HalfOpen;
                self.record_state(1.0);
                Ok(Permit(()))
            }
            State::Open { until } => Err(until - now),
            State::HalfOpen => Err(self.settings.open_for.min(Duration::from_secs(1))),
        }
    }

    /// Records the outcome of a permitted call.
    pub fn record(&self, permit: Permit, healthy: bool, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = match (*state, healthy) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.settings.failures => {
                State::Closed { failures: failures + 1 }
            }
            // The threshold reached, or the probe failed.
            (State::Closed { .. } | State::HalfOpen, false) => State::Open { until: now + self.settings.open_for },
            // A call admitted before the breaker opened: the breaker is already open.
            (open @ State::Open { .. }, false) => open,
        };
        drop(permit);
        match (*state, next) {
            (State::Open { .. }, State::Open { .. }) => {}
            (_, State::Open { .. }) => {
                tracing::warn!(core = %self.system, open_for = ?self.settings.open_for, "core circuit opened: calls fail fast until a probe succeeds");
                metrics::counter!("scenegate_core_breaker_opened_total", "connector" => self.system.clone())
                    .increment(1);
                self.record_state(2.0);
            }
            (State::Open { .. } | State::HalfOpen, State::Closed { .. }) => {
                tracing::warn!(core = %self.system, "core circuit closed: the core answers again");
                self.record_state(0.0);
            }
            _ => {}
        }
        *state = next;
    }

    /// `closed`, `half_open` or `open`, for `/readyz`.
    pub fn state_name(&self) -> &'static str {
        match *self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
            State::Closed { .. } => "closed",
            State::HalfOpen => "half_open",
            State::Open { .. } => "open",
        }
    }
}

impl Breaker {
    fn record_state(&self, value: f64) {
        metrics::gauge!("scenegate_core_breaker_state", "connector" => self.system.clone()).set(value);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SETTINGS: BreakerSettings = BreakerSettings { failures: 3, open_for: Duration::from_secs(5) };

    #[test]
    fn opens_after_consecutive_failures_probes_once_then_closes() {
        let b = Breaker::new("core".into(), SETTINGS);
        let t0 = Instant::now();
        for _ in 0..2 {
            let p = b.admit(t0).unwrap();
            b.record(p, false, t0);
        }
        let p = b.admit(t0).unwrap();
        b.record(p, true, t0);
        assert_eq!(b.state_name(), "closed", "a success resets the count");
        for _ in 0..3 {
            let p = b.admit(t0).unwrap();
            b.record(p, false, t0);
        }
        assert_eq!(b.state_name(), "open");
        assert_eq!(b.admit(t0 + Duration::from_secs(2)).unwrap_err(), Duration::from_secs(3));
        let probe = b.admit(t0 + Duration::from_secs(5)).unwrap();
        assert!(b.admit(t0 + Duration::from_secs(5)).is_err(), "one probe at a time");
        b.record(probe, false, t0 + Duration::from_secs(5));
        assert_eq!(b.state_name(), "open", "a failed probe opens it again");
        let probe = b.admit(t0 + Duration::from_secs(10)).unwrap();
        b.record(probe, true, t0 + Duration::from_secs(10));
        assert_eq!(b.state_name(), "closed");
    }

    proptest! {
        /// Whatever the outcomes: never more than one call out while not closed, and an open
        /// breaker never admits before its time.
        #[test]
        fn never_admits_while_open_and_probes_alone(outcomes in proptest::collection::vec(any::<bool>(), 1..60)) {
            let b = Breaker::new("core".into(), SETTINGS);
            let mut now = Instant::now();
            for healthy in outcomes {
                now += Duration::from_secs(1);
                let before = b.state_name();
                match b.admit(now) {
                    Ok(permit) => {
                        if before == "half_open" { prop_assert!(false, "admitted beside a probe"); }
                        if b.state_name() == "half_open" {
                            prop_assert!(b.admit(now).is_err(), "a second call beside the probe");
                        }
                        b.record(permit, healthy, now);
                    }
                    Err(wait) => prop_assert!(wait > Duration::ZERO && before != "closed"),
                }
            }
        }
    }
}
