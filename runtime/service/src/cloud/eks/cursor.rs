//! Where the EKS source stands in each CloudWatch log stream, and which polled events are new.
//!
//! CloudWatch Logs gives every event a millisecond timestamp, a stream name and an event ID, and
//! `FilterLogEvents` returns a log group's events sorted by timestamp (all streams interleaved). Several
//! events can share one millisecond, and the next poll must start at or before that millisecond or it
//! would miss the ones ingested after the previous poll. So each stream's position is a timestamp plus
//! the IDs of the events already taken at exactly that timestamp: an event is new when it is later than
//! its stream's timestamp, or at that timestamp with an ID not taken yet. A poll starts `lookback`
//! before the newest position of any stream, which re-reads a short overlap (deduplicated here) so
//! events ingested late, up to `lookback` after their timestamp, are still seen. Only CloudWatch's
//! timestamps are compared: the local clock is used once, for the very first start without a
//! checkpoint, so clock skew between this host and AWS cannot lose events.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How many event IDs one stream may remember at one timestamp. The audit log of one API server does
/// not write this many events in one millisecond; past it, further IDs are not remembered and a
/// restart at that very millisecond may repeat some of them (never lose them).
pub const MAX_IDS_PER_STREAM: usize = 10_000;

/// One stream's position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCursor {
    /// Milliseconds since the epoch of the newest event taken from the stream.
    pub timestamp: i64,
    /// IDs of the events taken at exactly `timestamp`.
    pub ids: BTreeSet<String>,
}

/// The positions of every stream seen, by stream name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursors {
    pub streams: BTreeMap<String, StreamCursor>,
}

impl Cursors {
    /// Where the next poll starts: `lookback_ms` before the newest stream position, or `None` when no
    /// stream has been seen (the caller then starts from its own clock).
    pub fn poll_start(&self, lookback_ms: i64) -> Option<i64> {
        self.streams
            .values()
            .map(|c| c.timestamp)
            .max()
            .map(|t| t.saturating_sub(lookback_ms).max(0))
    }

    /// Whether an event was not taken yet.
    pub fn is_new(&self, stream: &str, timestamp: i64, id: &str) -> bool {
        match self.streams.get(stream) {
            None => true,
            Some(c) => timestamp > c.timestamp || (timestamp == c.timestamp && !c.ids.contains(id)),
        }
    }

    /// Records an event as taken. Events of one stream must be recorded in timestamp order (the order
    /// `FilterLogEvents` returns them in); an older one than the stream's position changes nothing.
    pub fn take(&mut self, stream: &str, timestamp: i64, id: &str) {
        let c = self.streams.entry(stream.to_string()).or_default();
        if timestamp > c.timestamp {
            c.timestamp = timestamp;
            c.ids.clear();
        }
        if timestamp == c.timestamp && c.ids.len() < MAX_IDS_PER_STREAM {
            c.ids.insert(id.to_string());
        }
    }

    /// Forgets streams whose position is before `start`: a poll from `start` on cannot return any
    /// event of theirs that was taken, so they are no longer needed for deduplication.
    pub fn prune_before(&mut self, start: i64) {
        self.streams.retain(|_, c| c.timestamp >= start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_stream_takes_everything() {
        let c = Cursors::default();
        assert!(c.is_new("a", 0, "x"));
        assert_eq!(c.poll_start(1000), None);
    }

    #[test]
    fn same_millisecond_events_are_told_apart_by_id() {
        let mut c = Cursors::default();
        c.take("a", 100, "e1");
        c.take("a", 100, "e2");
        assert!(!c.is_new("a", 100, "e1"));
        assert!(!c.is_new("a", 100, "e2"));
        // Ingested after the previous poll, same millisecond: still new.
        assert!(c.is_new("a", 100, "e3"));
        assert!(!c.is_new("a", 99, "e0"));
        assert!(c.is_new("a", 101, "e4"));
        // Another stream is independent.
        assert!(c.is_new("b", 50, "e1"));
    }

    #[test]
    fn a_later_timestamp_replaces_the_remembered_ids() {
        let mut c = Cursors::default();
        c.take("a", 100, "e1");
        c.take("a", 101, "e2");
        assert_eq!(c.streams["a"].ids.len(), 1);
        assert!(!c.is_new("a", 100, "e9"), "older than the position");
        // An out-of-order older event does not move the position back.
        c.take("a", 100, "e3");
        assert_eq!(c.streams["a"].timestamp, 101);
    }

    #[test]
    fn the_poll_starts_lookback_before_the_newest_stream() {
        let mut c = Cursors::default();
        c.take("a", 5_000, "e1");
        c.take("b", 9_000, "e2");
        assert_eq!(c.poll_start(1_000), Some(8_000));
        assert_eq!(c.poll_start(0), Some(9_000));
        assert_eq!(c.poll_start(20_000), Some(0));
        c.prune_before(8_000);
        assert!(!c.streams.contains_key("a"));
        assert!(c.streams.contains_key("b"));
    }

    #[test]
    fn remembered_ids_are_bounded() {
        let mut c = Cursors::default();
        for i in 0..MAX_IDS_PER_STREAM + 10 {
            c.take("a", 7, &i.to_string());
        }
        assert_eq!(c.streams["a"].ids.len(), MAX_IDS_PER_STREAM);
    }

    #[test]
    fn survives_a_json_round_trip() {
        let mut c = Cursors::default();
        c.take("kube-apiserver-audit-1", 1_700_000_000_123, "3788");
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Cursors>(&text).unwrap(), c);
    }
}
