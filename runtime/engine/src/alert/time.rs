//! Timestamp texts of alerts (docs/semantics.md#text-alert-line, #json-alerts): the local `HH:MM:SS.nnnnnnnnn`
//! prefix, the ISO 8601 prefix and the JSON `time` member. The local zone is injectable so tests do not depend on
//! the machine's zone; the calendar arithmetic is the event view's (`fields::time`).

use crate::fields::time::{clock_text, utc_datetime_text};

/// Which zone "local time" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocalZone {
    /// The process's local zone (`TZ`, else `/etc/localtime`), as Falco uses.
    #[default]
    System,
    Utc,
}

impl LocalZone {
    /// Offset from UTC in seconds at the instant `unix_secs`.
    pub fn offset_secs(self, unix_secs: i64) -> i64 {
        match self {
            LocalZone::Utc => 0,
            LocalZone::System => crate::fields::time::local_offset_s(unix_secs),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000` (Falco's `%evt.time.iso8601`, always UTC): the field's own text.
pub use crate::fields::time::iso8601_text as iso8601;

/// `HH:MM:SS.nnnnnnnnn` in `zone` (Falco's `%evt.time`).
pub fn local_clock(ns: u64, zone: LocalZone) -> String {
    clock_text(ns, zone.offset_secs((ns / 1_000_000_000) as i64))
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (the JSON alert's `time`).
pub fn json_time(ns: u64) -> String {
    utc_datetime_text(ns, "Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::time::civil;

    const T: u64 = 1_704_164_645_123_456_789; // 2024-01-02T03:04:05.123456789Z

    #[test]
    fn formats_match_falco_examples() {
        assert_eq!(local_clock(T, LocalZone::Utc), "03:04:05.123456789");
        assert_eq!(iso8601(T), "2024-01-02T03:04:05.123456789+0000");
        assert_eq!(json_time(T), "2024-01-02T03:04:05.123456789Z");
        assert_eq!(json_time(0), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn civil_handles_leap_years_and_month_ends() {
        // 2024-02-29T23:59:59Z and one second later.
        let leap = 1_709_251_199u64 * 1_000_000_000;
        assert_eq!(json_time(leap), "2024-02-29T23:59:59.000000000Z");
        assert_eq!(
            json_time(leap + 1_000_000_000),
            "2024-03-01T00:00:00.000000000Z"
        );
        assert_eq!(
            json_time(951_782_400 * 1_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
        // A negative offset crossing midnight moves the clock back a day.
        let c = civil(T, -4 * 3600);
        assert_eq!((c.month, c.day, c.hour), (1, 1, 23));
    }
}
