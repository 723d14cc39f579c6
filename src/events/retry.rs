//! When a failed webhook is tried again, and when the gateway gives up on it.
//!
//! The steps follow Standard Webhooks' suggested schedule (5 s, 5 min, 30 min, 2 h, 5 h,
//! 10 h, 14 h, 20 h, 24 h). Each wait is drawn uniformly between the previous step and the
//! current one ("full jitter" within the step): after a partner's outage, its backlog comes
//! back spread out rather than all at once, yet each retry still waits longer than the one
//! before. No attempt is scheduled beyond `horizon` after the first attempt; the last one is
//! pulled in to the horizon, and if that fails too the event is dead-lettered.
//!
//! Tests shrink the whole schedule with [`RetryPolicy::compressed`] or build their own.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before retry n (the n-th entry follows the n-th failed attempt).
    pub delays: Vec<Duration>,
    /// How long after the first attempt the gateway keeps trying.
    pub horizon: Duration,
}

const MINUTE: u64 = 60;
const HOUR: u64 = 3_600;

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::standard()
    }
}

impl RetryPolicy {
    /// Standard Webhooks' schedule, capped at 24 hours.
    pub fn standard() -> Self {
        let secs = [5, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 14 * HOUR, 20 * HOUR, 24 * HOUR];
        Self { delays: secs.into_iter().map(Duration::from_secs).collect(), horizon: Duration::from_secs(24 * HOUR) }
    }

    /// The same shape, `factor` times faster (delays and horizon divided by `factor`).
    pub fn compressed(self, factor: u32) -> Self {
        let factor = factor.max(1);
        Self { delays: self.delays.into_iter().map(|d| d / factor).collect(), horizon: self.horizon / factor }
    }

    /// After `attempts` failed attempts, the first at `first_attempt_at`, at `now` (unix
    /// seconds): when to try next, or `None` to give up.
    pub fn next_attempt(&self, attempts: u32, first_attempt_at: i64, now: i64) -> Option<i64> {
        self.next_attempt_with(attempts, first_attempt_at, now, uniform)
    }

    /// [`Self::next_attempt`] with the random draw injected (`pick(low, high)` returns a
    /// number of seconds in `low..=high`, `1 <= low <= high`), so tests can pin it.
    pub fn next_attempt_with(
        &self,
        attempts: u32,
        first_attempt_at: i64,
        now: i64,
        pick: impl FnOnce(i64, i64) -> i64,
    ) -> Option<i64> {
        let deadline = first_attempt_at.saturating_add(secs_ceil(self.horizon));
        if now >= deadline {
            return None;
        }
        let step = usize::try_from(attempts).ok()?.checked_sub(1)?;
        let high = *self.delays.get(step)?;
        let low = step.checked_sub(1).and_then(|prev| self.delays.get(prev)).copied().unwrap_or_default();
        // Whole seconds (the store's unit), at least one so a retry is never immediate.
        let (low, high) = (secs_ceil(low).max(1), secs_ceil(high).max(1));
        let wait = pick(low.min(high), high);
        Some(now.saturating_add(wait).min(deadline))
    }
}

/// A uniform draw in `low..=high` (`low <= high`). The modulo bias over a 64-bit draw is far
/// below anything that matters for spreading retries.
fn uniform(low: i64, high: i64) -> i64 {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return high; // no randomness: fall back to the schedule itself
    }
    let span = u64::try_from(high - low).unwrap_or(0).saturating_add(1);
    low + i64::try_from(u64::from_le_bytes(bytes) % span).unwrap_or(0)
}

fn secs_ceil(d: Duration) -> i64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowest(p: &RetryPolicy, attempts: u32, first: i64, now: i64) -> Option<i64> {
        p.next_attempt_with(attempts, first, now, |low, _| low)
    }
    fn highest(p: &RetryPolicy, attempts: u32, first: i64, now: i64) -> Option<i64> {
        p.next_attempt_with(attempts, first, now, |_, high| high)
    }

    #[test]
    fn the_standard_schedule_is_jittered_within_each_step() {
        let p = RetryPolicy::standard();
        assert_eq!((lowest(&p, 1, 0, 0), highest(&p, 1, 0, 0)), (Some(1), Some(5)));
        assert_eq!((lowest(&p, 2, 0, 5), highest(&p, 2, 0, 5)), (Some(10), Some(305)));
        assert_eq!((lowest(&p, 3, 0, 400), highest(&p, 3, 0, 400)), (Some(700), Some(400 + 1_800)));
        for attempts in 1..=9 {
            let next = p.next_attempt(attempts, 0, 0).unwrap();
            let high = i64::try_from(p.delays[attempts as usize - 1].as_secs()).unwrap();
            assert!((1..=high).contains(&next), "attempt {attempts}: {next}");
        }
    }

    #[test]
    fn the_draw_stays_within_its_bounds() {
        for _ in 0..1_000 {
            assert!((3..=7).contains(&uniform(3, 7)));
        }
        assert_eq!(uniform(5, 5), 5);
    }

    #[test]
    fn nothing_is_scheduled_past_the_horizon_and_then_it_gives_up() {
        let p = RetryPolicy::standard();
        let day = 24 * 3_600;
        // 20 hours in, the next 14-hour step is pulled in to the 24-hour horizon.
        assert_eq!(highest(&p, 7, 1_000, 1_000 + 20 * 3_600), Some(1_000 + day));
        assert_eq!(highest(&p, 8, 1_000, 1_000 + day), None, "the horizon has passed");
        assert_eq!(lowest(&p, 10, 0, 0), None, "the schedule ran out");
        assert_eq!(lowest(&p, 0, 0, 0), None, "no attempt has failed yet");
    }

    #[test]
    fn compression_keeps_the_shape_for_fast_tests() {
        let p = RetryPolicy::standard().compressed(3_600);
        assert_eq!(p.horizon, Duration::from_secs(24));
        assert_eq!(p.delays[3], Duration::from_secs(2));
        assert_eq!(highest(&p, 1, 0, 0), Some(1), "5 s / 3600 rounds up to the store's one second");
        assert_eq!(highest(&p, 9, 0, 10), Some(24), "capped at the compressed horizon");
    }
}
