//! Timestamp texts of alerts (docs/semantics.md#text-alert-line, #json-alerts): the local `HH:MM:SS.nnnnnnnnn`
//! prefix, the ISO 8601 prefix and the JSON `time` member. The local zone is injectable so tests do not depend on
//! the machine's zone; the calendar arithmetic is the event view's (`fields::time`).

use crate::fields::time::{civil, clock_text, utc_datetime_text, Civil};

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

/// Appends `local_clock(ns, zone)` (no intermediate `String`: alerts write it for every match).
pub fn write_local_clock(out: &mut Vec<u8>, ns: u64, zone: LocalZone) {
    let c = civil(ns, zone.offset_secs((ns / 1_000_000_000) as i64));
    write_clock(out, &c);
}

/// Appends `json_time(ns)`.
pub fn write_json_time(out: &mut Vec<u8>, ns: u64) {
    write_utc_datetime(out, ns, b"Z");
}

/// Appends `iso8601(ns)`.
pub fn write_iso8601(out: &mut Vec<u8>, ns: u64) {
    write_utc_datetime(out, ns, b"+0000");
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn` in UTC, then `zone`.
fn write_utc_datetime(out: &mut Vec<u8>, ns: u64, zone: &[u8]) {
    let c = civil(ns, 0);
    // Event times are after 1970 and before 2555 (u64 ns): always four year digits.
    write_digits(out, c.year.unsigned_abs(), 4);
    out.push(b'-');
    write_digits(out, u64::from(c.month), 2);
    out.push(b'-');
    write_digits(out, u64::from(c.day), 2);
    out.push(b'T');
    write_clock(out, &c);
    out.extend_from_slice(zone);
}

/// `HH:MM:SS.nnnnnnnnn`.
fn write_clock(out: &mut Vec<u8>, c: &Civil) {
    write_digits(out, u64::from(c.hour), 2);
    out.push(b':');
    write_digits(out, u64::from(c.min), 2);
    out.push(b':');
    write_digits(out, u64::from(c.sec), 2);
    out.push(b'.');
    write_digits(out, u64::from(c.nanos), 9);
}

/// Appends `n` zero-padded to at least `width` digits (`format!("{n:0width$}")`).
fn write_digits(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while n > 0 && at > 0 {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
    }
    let from = at.min(digits.len().saturating_sub(width));
    out.extend_from_slice(digits.get(from..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_704_164_645_123_456_789; // 2024-01-02T03:04:05.123456789Z

    #[test]
    fn formats_match_falco_examples() {
        assert_eq!(local_clock(T, LocalZone::Utc), "03:04:05.123456789");
        assert_eq!(iso8601(T), "2024-01-02T03:04:05.123456789+0000");
        assert_eq!(json_time(T), "2024-01-02T03:04:05.123456789Z");
        assert_eq!(json_time(0), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn written_times_equal_the_texts() {
        for ns in [
            0,
            T,
            1_709_251_199_000_000_001,
            951_782_400_000_000_000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_json_time(&mut out, ns);
            assert_eq!(String::from_utf8(out).unwrap(), json_time(ns));
            let mut out = Vec::new();
            write_iso8601(&mut out, ns);
            assert_eq!(String::from_utf8(out).unwrap(), iso8601(ns));
            for zone in [LocalZone::Utc, LocalZone::System] {
                let mut out = Vec::new();
                write_local_clock(&mut out, ns, zone);
                assert_eq!(String::from_utf8(out).unwrap(), local_clock(ns, zone));
            }
        }
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
