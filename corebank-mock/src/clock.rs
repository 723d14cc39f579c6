//! Beijing-time text formats of the core wire (`yyyyMMddHHmmss`, `yyyyMMdd`).
//!
//! The database keeps instants as Unix seconds so ordering and range filters are plain
//! integer comparisons; only the wire sees local time.

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

pub(crate) fn fmt_time(unix: i64) -> String {
    to_zoned(unix).strftime("%Y%m%d%H%M%S").to_string()
}

pub(crate) fn fmt_date(d: Date) -> String {
    d.strftime("%Y%m%d").to_string()
}

pub(crate) fn now_unix() -> i64 {
    Timestamp::now().as_second()
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
