//! Splitting a body (webhook request or pull-source document) into events, and where that work runs.
//!
//! A body is parsed once, into one tape, by [`split`]. Small bodies are split by the I/O thread that
//! read them: a handoff to another thread costs more than parsing them. Larger ones are parsed on
//! tokio's blocking pool, a few at a time, so an I/O thread only frames and admits requests and is never
//! busy parsing a batch while other connections wait. (Handing them to the evaluation workers instead
//! was measured and lost: bench/README.md, "issue 14, fifth pass".)

use crate::limited;
use crate::logging::{quoted, LogGate};
use bytes::Bytes;
use kaudit_engine::ingest::{self, SplitBody};
use tokio::sync::Semaphore;

/// Bodies up to this size are split on the thread that read them (at most ~20 µs of parsing).
pub const INLINE_SPLIT_BYTES: usize = 16 * 1024;

/// A client can make events invalid at will (rate-limited log lines; the counters have every one).
static EVENT_DROPPED: LogGate = LogGate::new("event_dropped");

/// Where bodies too large to split inline are split: the blocking pool, a few at a time
/// (`kaudit.parse_concurrency`). A parse (tape) takes up to 8 bytes per body byte before it is counted
/// in the byte budget, and parses beyond what the evaluation workers can take only fill the queue.
pub struct Splitter {
    permits: Semaphore,
}

impl Splitter {
    /// At most `at_once` large bodies parsed at the same time (at least 1).
    pub fn new(at_once: usize) -> Splitter {
        Splitter {
            permits: Semaphore::new(at_once.max(1)),
        }
    }

    /// [`split`], inline for a small body, else on the blocking pool.
    pub async fn split(&self, body: &Bytes, max_event: usize) -> Result<SplitBody, String> {
        if body.len() <= INLINE_SPLIT_BYTES {
            return split(body, max_event);
        }
        // (The semaphore is never closed.)
        let _slot = self.permits.acquire().await.ok();
        let b = body.clone();
        tokio::task::spawn_blocking(move || split(&b, max_event))
            .await
            .unwrap_or_else(|e| Err(format!("internal: {e}")))
    }
}

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_bodies_are_parsed_one_at_a_time_at_most_as_configured() {
        // Over INLINE_SPLIT_BYTES, so it goes to the blocking pool and needs a permit.
        let items = vec![EV; 200].join(",");
        let body = Bytes::from(format!(r#"{{"kind":"EventList","items":[{items}]}}"#));
        assert!(body.len() > INLINE_SPLIT_BYTES);
        // 0 is taken as 1: a parse still runs.
        let s = Splitter::new(0);
        assert_eq!(s.split(&body, 1000).await.unwrap().index.len(), 200);
        // With the only permit held, a large body waits; a small one is parsed inline at once.
        let held = s.permits.acquire().await.unwrap();
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(200), s.split(&body, 1000));
        assert!(waiting.await.is_err(), "parsed without a permit");
        let small = Bytes::from_static(EV.as_bytes());
        assert_eq!(s.split(&small, 1000).await.unwrap().index.len(), 1);
        drop(held);
        assert_eq!(s.split(&body, 1000).await.unwrap().index.len(), 200);
    }

    #[test]
    fn split_rejects_bodies_that_are_not_audit_events() {
        assert!(split(b"{\"kind\":\"Pod\"}", 1000).is_err());
        assert!(split(b"[1]", 1000).is_err());
        assert!(split(b"{", 1000).is_err());
        assert!(split(b"", 1000).is_err());
    }
}
