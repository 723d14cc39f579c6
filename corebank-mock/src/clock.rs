//! The core's clock and the Beijing-time text formats of its wire (`yyyyMMddHHmmss`,
//! `yyyyMMdd`).
//!
//! The database keeps instants as Unix seconds so ordering and range filters are plain
//! integer comparisons; only the wire sees local time. Live requests read the time from a
//! [`Clock`] that tests can move forward (one-time codes expiring, a payment on the next day);
//! the seed uses fixed instants instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::civil::Date;
use jiff::tz::{self, TimeZone};
use jiff::{Timestamp, Zoned};

/// China has one zone and no daylight saving, so a fixed offset is exact.
pub(crate) fn beijing() -> TimeZone {
    TimeZone::fixed(tz::offset(8))
}

pub(crate) fn to_zoned(unix: i64) -> Zoned {
    Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned(beijing())
}

/// `yyyyMMddHHmmss`, Beijing time, written field by field: a statement page prints one per
/// line, and `strftime` interprets its format string every time (about 450 instructions a
/// line under callgrind).
pub(crate) fn fmt_time(unix: i64) -> String {
    let t = to_zoned(unix).datetime();
    if !(0..=9999).contains(&t.year()) {
        return t.strftime("%Y%m%d%H%M%S").to_string();
    }
    format!("{:04}{:02}{:02}{:02}{:02}{:02}", t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second())
}

/// RFC 3339 in UTC to the second, `2026-12-04T03:00:00Z`: the modern dialect's instants.
pub(crate) fn fmt_rfc3339(unix: i64) -> String {
    static WHOLE_SECONDS: jiff::fmt::temporal::DateTimePrinter =
        jiff::fmt::temporal::DateTimePrinter::new().precision(Some(0));
    WHOLE_SECONDS.timestamp_to_string(&Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH))
}

pub(crate) fn fmt_date(d: Date) -> String {
    d.strftime("%Y%m%d").to_string()
}

/// The system clock plus a skew that only ever grows. Clones share the skew, so moving one
/// core's clock moves it for every request that core serves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    skew_secs: Arc<AtomicI64>,
}

impl Clock {
    pub(crate) fn now_unix(&self) -> i64 {
        Timestamp::now().as_second().saturating_add(self.skew_secs.load(Ordering::Relaxed))
    }

    /// Negative steps are ignored: time going backwards would let an expired code live again.
    pub(crate) fn advance(&self, secs: i64) {
        self.skew_secs.fetch_add(secs.max(0), Ordering::Relaxed);
    }
}

/// The Beijing calendar day an instant falls on.
pub(crate) fn day_of(unix: i64) -> Date {
    to_zoned(unix).date()
}

/// Strict `yyyyMMdd`: exactly eight digits naming a real calendar day.
pub(crate) fn parse_date(s: &str) -> Option<Date> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i16>().ok();
    Date::new(n(0..4)?, i8::try_from(n(4..6)?).ok()?, i8::try_from(n(6..8)?).ok()?).ok()
}

/// Unix second at which a Beijing calendar day starts.
pub(crate) fn day_start(d: Date) -> i64 {
    d.to_zoned(beijing()).map(|z| z.timestamp().as_second()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The field-by-field printers print what `strftime` prints, for every second of the
        /// years 1..=9999.
        #[test]
        fn times_print_as_strftime_prints_them(unix in -62_135_596_800_i64..=253_402_271_999) {
            let zoned = to_zoned(unix);
            prop_assert_eq!(fmt_time(unix), zoned.strftime("%Y%m%d%H%M%S").to_string());
            let utc = Timestamp::from_second(unix).unwrap();
            prop_assert_eq!(fmt_rfc3339(unix), utc.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
    }

    #[test]
    fn beijing_day_turns_at_16_00_utc() {
        let midnight = day_start(jiff::civil::date(2026, 11, 2));
        assert_eq!(midnight, 1_793_548_800, "2026-11-01T16:00:00Z");
        assert_eq!(day_of(midnight - 1), jiff::civil::date(2026, 11, 1));
        assert_eq!(day_of(midnight), jiff::civil::date(2026, 11, 2));
        assert_eq!(fmt_time(midnight), "20261102000000");
    }

    #[test]
    fn clock_only_moves_forward_and_clones_share_it() {
        let clock = Clock::default();
        let other = clock.clone();
        let before = clock.now_unix();
        clock.advance(3_600);
        clock.advance(-7_200);
        let after = other.now_unix();
        assert!((3_600..3_700).contains(&(after - before)), "{}", after - before);
    }
}
