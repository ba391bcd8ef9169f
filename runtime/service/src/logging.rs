//! Logs an attacker cannot flood: per-cause rate limiting and quoting of untrusted text.
//!
//! Every log line that untrusted input can trigger (a bad token, a dropped event, a refused connection, an
//! output dropping alerts...) goes through a [`LogGate`]: at most `burst` lines per cause per `interval`;
//! the lines beyond that are counted, and the next line allowed for that cause first reports how many were
//! suppressed. `/metrics` carries the full numbers (`kaudit_log_lines_suppressed_total{cause}` here, the
//! cause's own counters elsewhere), so nothing is lost by logging less.
//!
//! Use a `static` gate per cause and the [`limited!`](crate::limited) macro:
//!
//! ```
//! use kaudit_service::logging::LogGate;
//! static BAD_TOKEN: LogGate = LogGate::new("bad_token");
//! kaudit_service::limited!(BAD_TOKEN, warn, "unauthorized audit request");
//! ```
//!
//! Text chosen by a client (event fields, header values, error messages quoting input) goes through
//! [`quoted`] first: escaped control characters, bounded length.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines per cause per interval by default: enough to see what is happening, too few to flood.
pub const DEFAULT_BURST: u32 = 10;
/// The default interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Longest untrusted text kept in a log line (bytes before escaping).
pub const MAX_QUOTED: usize = 200;

/// The rate limit of one cause of log lines.
pub struct LogGate {
    cause: &'static str,
    burst: u32,
    interval: Duration,
    window: Mutex<Option<Window>>,
    /// Lines suppressed since start (for `/metrics`).
    suppressed_total: AtomicU64,
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    emitted: u32,
    /// Suppressed in this window and not yet reported in a log line.
    unreported: u64,
}

/// What a caller may log now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Log the line; `suppressed` lines of this cause were dropped since the last one logged.
    Log { suppressed: u64 },
    /// Drop the line (it has been counted).
    Suppress,
}

/// Every gate that has been used, for `/metrics` and the end-of-run report.
static REGISTRY: Mutex<Vec<&'static LogGate>> = Mutex::new(Vec::new());

impl LogGate {
    /// A gate with the default burst and interval.
    pub const fn new(cause: &'static str) -> LogGate {
        LogGate::with_limit(cause, DEFAULT_BURST, DEFAULT_INTERVAL)
    }

    pub const fn with_limit(cause: &'static str, burst: u32, interval: Duration) -> LogGate {
        LogGate {
            cause,
            burst,
            interval,
            window: Mutex::new(None),
            suppressed_total: AtomicU64::new(0),
        }
    }

    pub fn cause(&self) -> &'static str {
        self.cause
    }

    /// Lines of this cause suppressed since start.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed_total.load(Relaxed)
    }

    /// Decides about one line now.
    pub fn admit(&'static self) -> Admit {
        self.admit_at(Instant::now())
    }

    fn admit_at(&'static self, now: Instant) -> Admit {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let window = match w.as_mut() {
            Some(x) => x,
            None => {
                REGISTRY
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(self);
                w.insert(Window {
                    start: now,
                    emitted: 0,
                    unreported: 0,
                })
            }
        };
        if now.duration_since(window.start) >= self.interval {
            window.start = now;
            window.emitted = 0;
        }
        if window.emitted < self.burst {
            window.emitted += 1;
            let suppressed = std::mem::take(&mut window.unreported);
            Admit::Log { suppressed }
        } else {
            window.unreported += 1;
            self.suppressed_total.fetch_add(1, Relaxed);
            Admit::Suppress
        }
    }

    /// Suppressed lines not yet reported by a later line (for the end-of-run summary); resets them.
    fn take_unreported(&self) -> u64 {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.as_mut().map_or(0, |w| std::mem::take(&mut w.unreported))
    }
}

/// Logs one line through a gate: `limited!(GATE, warn, "format", args...)`, or with tracing fields first,
/// as `tracing` takes them: `limited!(GATE, warn, peer = %addr, "format", args...)`. When lines were suppressed before this one,
/// the line carries `suppressed=N`.
#[macro_export]
macro_rules! limited {
    ($gate:expr, $level:ident, $($fields:tt)*) => {
        if let $crate::logging::Admit::Log { suppressed } = $gate.admit() {
            if suppressed > 0 {
                $crate::server::tracing::$level!(cause = $gate.cause(), suppressed, $($fields)*);
            } else {
                $crate::server::tracing::$level!($($fields)*);
            }
        }
    };
}

/// `(cause, suppressed lines)` of every gate used so far, sorted by cause.
pub fn suppressed_counts() -> Vec<(&'static str, u64)> {
    let gates = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    let mut v: Vec<_> = gates
        .iter()
        .map(|g| (g.cause, g.suppressed_total()))
        .collect();
    v.sort();
    v
}

/// At the end of a run: one line per cause whose last suppressed lines were never reported.
pub fn report_unreported() {
    let gates: Vec<&'static LogGate> = REGISTRY.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for g in gates {
        let n = g.take_unreported();
        if n > 0 {
            tracing::warn!(
                cause = g.cause,
                suppressed = n,
                "log lines suppressed by the rate limit"
            );
        }
    }
}

/// Untrusted text made safe for one log line: in double quotes, control characters, quotes and
/// backslashes escaped (`\n`, `\x1b`, `\u{..}` for other non-printing characters), invalid UTF-8 as `\xNN`,
/// cut after `MAX_QUOTED` bytes with the number of bytes left out.
pub fn quoted(text: &[u8]) -> String {
    let (head, cut) = match text.get(..MAX_QUOTED) {
        Some(h) if text.len() > MAX_QUOTED => (h, text.len() - MAX_QUOTED),
        _ => (text, 0),
    };
    let mut out = String::with_capacity(head.len() + 16);
    out.push('"');
    for chunk in head.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                // Other invisible or line-breaking characters (C1 controls, U+2028, bidi overrides...).
                c if c.is_control() || is_format_char(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    if cut > 0 {
        let _ = write!(out, "...(+{cut} bytes)");
    }
    out
}

/// Unicode characters that can reorder or break a terminal line without being controls.
fn is_format_char(c: char) -> bool {
    matches!(c as u32, 0x2028 | 0x2029 | 0x200b..=0x200f | 0x202a..=0x202e | 0x2066..=0x2069 | 0xfeff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_lets_a_burst_through_then_counts_and_reports_the_rest() {
        static GATE: LogGate = LogGate::with_limit("test_burst", 3, Duration::from_secs(10));
        let t0 = Instant::now();
        let admitted: Vec<Admit> = (0..10).map(|_| GATE.admit_at(t0)).collect();
        assert_eq!(
            admitted.iter().filter(|a| **a != Admit::Suppress).count(),
            3
        );
        assert_eq!(GATE.suppressed_total(), 7);
        // Next interval: the first line reports the 7 suppressed before it.
        let later = t0 + Duration::from_secs(11);
        assert_eq!(GATE.admit_at(later), Admit::Log { suppressed: 7 });
        assert_eq!(GATE.admit_at(later), Admit::Log { suppressed: 0 });
        assert!(suppressed_counts().contains(&("test_burst", 7)));
    }

    #[test]
    fn unreported_suppressions_are_taken_once() {
        static GATE: LogGate = LogGate::with_limit("test_unreported", 1, Duration::from_secs(10));
        let t0 = Instant::now();
        GATE.admit_at(t0);
        GATE.admit_at(t0);
        GATE.admit_at(t0);
        assert_eq!(GATE.take_unreported(), 2);
        assert_eq!(GATE.take_unreported(), 0);
    }

    #[test]
    fn quoting_escapes_controls_and_truncates() {
        assert_eq!(quoted(b"ok"), "\"ok\"");
        assert_eq!(
            quoted(b"a\nb\r\x1b[31m\0\"\\"),
            r#""a\nb\r\x1b[31m\x00\"\\""#
        );
        assert_eq!(quoted(b"\xff\xfe"), r#""\xff\xfe""#);
        assert_eq!(
            quoted("x\u{2028}y\u{85}".as_bytes()),
            r#""x\u{2028}y\u{85}""#
        );
        let long = vec![b'a'; MAX_QUOTED + 50];
        let q = quoted(&long);
        assert!(q.ends_with("\"...(+50 bytes)"), "{q}");
        assert_eq!(q.len(), MAX_QUOTED + 2 + "...(+50 bytes)".len());
        assert!(!quoted(b"line1\nline2").contains('\n'));
    }
}
