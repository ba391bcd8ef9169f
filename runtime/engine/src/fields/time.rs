//! Event time: parsing `stageTimestamp` (Go's RFC 3339 parser as upstream uses it) and the renderings of
//! the `evt.time*` / `evt.datetime*` fields.
//!
//! Local-time renderings use the process time zone as `chrono::Local` determines it (`TZ`, else
//! /etc/localtime).

/// Parses an RFC 3339 timestamp with optional fraction (any number of digits; beyond 9 are ignored)
/// into ns since the epoch (UTC). `None` for anything Go's `time.Parse(RFC3339Nano, …)` rejects, and
/// for times before 1970 (not representable as an unsigned event time).
pub fn parse_rfc3339_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let d = b.get(from..from + len)?;
        d.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    let (month, day) = (num(5, 2)?, num(8, 2)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if let Some(b'.' | b',') = b.get(i) {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + u64::from(c - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset_s: i64 = match b.get(i) {
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = i64::from(oh * 3600 + om * 60);
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec) - offset_s;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Broken-down civil time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub nanos: u32,
}

/// Civil time of `ns` shifted by `offset_s` seconds.
pub fn civil(ns: u64, offset_s: i64) -> Civil {
    let secs = (ns / 1_000_000_000) as i64 + offset_s;
    let nanos = (ns % 1_000_000_000) as u32;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        min: sod / 60 % 60,
        sec: sod % 60,
        nanos,
    }
}

/// Offset of local time from UTC at `secs` since the epoch, in seconds (0 if it cannot be determined).
pub fn local_offset_s(secs: i64) -> i64 {
    use chrono::{Offset, TimeZone};
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(dt) => i64::from(
            chrono::Local
                .offset_from_utc_datetime(&dt.naive_utc())
                .fix()
                .local_minus_utc(),
        ),
        None => 0,
    }
}

/// Offset of the process's local time from UTC at event time `ns`.
fn local_offset_at(ns: u64) -> i64 {
    local_offset_s((ns / 1_000_000_000) as i64)
}

/// `HH:MM:SS.nnnnnnnnn` of `ns` shifted by `offset_s` seconds.
pub fn clock_text(ns: u64, offset_s: i64) -> String {
    let c = civil(ns, offset_s);
    format!("{:02}:{:02}:{:02}.{:09}", c.hour, c.min, c.sec, c.nanos)
}

/// `HH:MM:SS` of `ns` shifted by `offset_s` seconds.
pub fn clock_s_text(ns: u64, offset_s: i64) -> String {
    let c = civil(ns, offset_s);
    format!("{:02}:{:02}:{:02}", c.hour, c.min, c.sec)
}

/// `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` of `ns` shifted by `offset_s` seconds.
pub fn date_clock_text(ns: u64, offset_s: i64) -> String {
    let c = civil(ns, offset_s);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:09}",
        c.year, c.month, c.day, c.hour, c.min, c.sec, c.nanos
    )
}

/// `YYYY-MM-DD HH:MM:SS` of `ns` shifted by `offset_s` seconds.
pub fn date_clock_s_text(ns: u64, offset_s: i64) -> String {
    let c = civil(ns, offset_s);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

/// UTC `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn` followed by `zone` (how the rendering names UTC).
pub fn utc_datetime_text(ns: u64, zone: &str) -> String {
    let c = civil(ns, 0);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}{zone}",
        c.year, c.month, c.day, c.hour, c.min, c.sec, c.nanos
    )
}

/// `evt.time`: local `HH:MM:SS.nnnnnnnnn` (also the time prefix of text alerts).
pub fn time_text(ns: u64) -> String {
    clock_text(ns, local_offset_at(ns))
}

/// `evt.time.s`: local `HH:MM:SS`.
pub fn time_s_text(ns: u64) -> String {
    clock_s_text(ns, local_offset_at(ns))
}

/// `evt.time.iso8601`: UTC `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000`.
pub fn iso8601_text(ns: u64) -> String {
    utc_datetime_text(ns, "+0000")
}

/// `evt.datetime`: local `YYYY-MM-DD HH:MM:SS.nnnnnnnnn`.
pub fn datetime_text(ns: u64) -> String {
    date_clock_text(ns, local_offset_at(ns))
}

/// `evt.datetime.s`: local `YYYY-MM-DD HH:MM:SS`.
pub fn datetime_s_text(ns: u64) -> String {
    date_clock_s_text(ns, local_offset_at(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_704_164_645_123_456_789; // 2024-01-02T03:04:05.123456789Z

    #[test]
    fn parses_rfc3339_variants() {
        assert_eq!(parse_rfc3339_ns("2024-01-02T03:04:05.123456789Z"), Some(T));
        assert_eq!(
            parse_rfc3339_ns("2024-01-02T03:04:05.123456789123Z"),
            Some(T),
            ">9 digits truncated"
        );
        assert_eq!(
            parse_rfc3339_ns("2024-01-02T03:04:05Z"),
            Some(T - 123_456_789)
        );
        assert_eq!(
            parse_rfc3339_ns("2024-01-02T03:04:05.1Z"),
            Some(T - 23_456_789)
        );
        assert_eq!(
            parse_rfc3339_ns("2024-01-02T05:04:05.123456789+02:00"),
            Some(T)
        );
        assert_eq!(
            parse_rfc3339_ns("2024-01-01T22:04:05.123456789-05:00"),
            Some(T)
        );
        assert_eq!(
            parse_rfc3339_ns("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000_000_000)
        );
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "1704164645",
            "2024-01-02 03:04:05Z",
            "2024-01-02T03:04:05",
            "2024-01-02T03:04:05z",
            "2024-01-02T03:04:05.Z",
            "2024-13-02T03:04:05Z",
            "2023-02-29T03:04:05Z",
            "2024-01-02T24:04:05Z",
            "2024-01-02T03:04:60Z",
            "2024-01-02T03:04:05+0200",
            "2024-01-02T03:04:05Zjunk",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad:?}");
        }
    }

    // Expected texts below are written out by hand from the instant T = 2024-01-02T03:04:05.123456789Z;
    // the forms are the ones Falco printed for that instant (micro case drv_evt_fields, TZ=UTC).
    const IST: i64 = 5 * 3600 + 1800; // +05:30
    const PST: i64 = -8 * 3600; // -08:00: the local date is the day before

    #[test]
    fn renders_utc_forms() {
        assert_eq!(iso8601_text(T), "2024-01-02T03:04:05.123456789+0000");
        assert_eq!(utc_datetime_text(T, "Z"), "2024-01-02T03:04:05.123456789Z");
        assert_eq!(clock_text(T, 0), "03:04:05.123456789");
        assert_eq!(clock_s_text(T, 0), "03:04:05");
        assert_eq!(date_clock_text(T, 0), "2024-01-02 03:04:05.123456789");
        assert_eq!(date_clock_s_text(T, 0), "2024-01-02 03:04:05");
    }

    #[test]
    fn renders_shifted_forms() {
        assert_eq!(clock_text(T, IST), "08:34:05.123456789");
        assert_eq!(clock_s_text(T, IST), "08:34:05");
        assert_eq!(date_clock_text(T, IST), "2024-01-02 08:34:05.123456789");
        assert_eq!(date_clock_s_text(T, PST), "2024-01-01 19:04:05");
        assert_eq!(date_clock_text(T, PST), "2024-01-01 19:04:05.123456789");
    }

    #[test]
    fn civil_dates_at_the_edges() {
        let day = |ns: u64| {
            let c = civil(ns, 0);
            (c.year, c.month, c.day, c.hour, c.min, c.sec, c.nanos)
        };
        assert_eq!(day(0), (1970, 1, 1, 0, 0, 0, 0));
        assert_eq!(day(1), (1970, 1, 1, 0, 0, 0, 1));
        // 2000-02-29T23:59:59.999999999Z (a leap day of a year divisible by 400).
        assert_eq!(
            day(951_868_799_999_999_999),
            (2000, 2, 29, 23, 59, 59, 999_999_999)
        );
        // 2100-03-01T00:00:00Z (2100 is not a leap year).
        assert_eq!(day(4_107_542_400_000_000_000), (2100, 3, 1, 0, 0, 0, 0));
        // The largest event time: 2554-07-21T23:34:33.709551615Z.
        assert_eq!(day(u64::MAX), (2554, 7, 21, 23, 34, 33, 709_551_615));
    }
}
