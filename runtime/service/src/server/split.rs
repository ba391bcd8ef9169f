//! Splitting a body (webhook request or pull-source document) into events, and where that work runs.
//!
//! A body is parsed once, into one tape, by [`split`]. Small bodies are split where they were read: a
//! handoff to another thread costs more than parsing them. Larger ones are handed to the evaluation
//! workers (`Pipeline::split`), so an I/O thread only frames requests and admits them and is never
//! busy parsing a batch while other connections wait.

use crate::limited;
use crate::logging::{quoted, LogGate};
use kaudit_engine::ingest::{self, SplitBody};

/// Bodies up to this size are split on the thread that read them (at most ~20 µs of parsing).
pub const INLINE_SPLIT_BYTES: usize = 16 * 1024;

/// A client can make events invalid at will (rate-limited log lines; the counters have every one).
static EVENT_DROPPED: LogGate = LogGate::new("event_dropped");

/// Splits a body into events (`kaudit_engine::ingest::split_body`) and logs each event dropped on its own.
pub fn split(body: &[u8], max_event: usize) -> Result<SplitBody, String> {
    let out = ingest::split_body(body, max_event)?;
    for d in &out.dropped {
        limited!(
            EVENT_DROPPED,
            warn,
            offset = d.offset,
            "audit event dropped: {}",
            quoted(d.msg.as_bytes())
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EV: &str = r#"{"kind":"Event","verb":"get","stageTimestamp":"2024-01-02T03:04:05Z","user":{"username":"x"}}"#;

    #[test]
    fn split_gives_ranges_into_the_body_and_counts_drops() {
        let big = EV.replace("\"x\"", &format!("\"{}\"", "x".repeat(200)));
        let no_time = r#"{"kind":"Event","verb":"get"}"#;
        let body = format!(r#"{{"kind":"EventList","items":[{EV}, {big}, {no_time}, {EV}]}}"#);
        let s = split(body.as_bytes(), 150).unwrap();
        assert_eq!(s.index.len(), 2);
        for (r, ix) in s.ranges().zip(&s.index) {
            assert_eq!(&body[r], EV);
            let ev = kaudit_engine::event::Event::from_tape(
                body.as_str(),
                std::borrow::Cow::Borrowed(&s.tape),
                ix.root(),
            )
            .unwrap();
            assert_eq!(ev.raw(), EV.as_bytes(), "the tape is the body's");
        }
        assert_eq!((s.oversized, s.invalid), (1, 1));
    }

    #[test]
    fn split_rejects_bodies_that_are_not_audit_events() {
        assert!(split(b"{\"kind\":\"Pod\"}", 1000).is_err());
        assert!(split(b"[1]", 1000).is_err());
        assert!(split(b"{", 1000).is_err());
        assert!(split(b"", 1000).is_err());
    }
}
