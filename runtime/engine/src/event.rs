//! The audit event view: a borrowing view over the JSON bytes of ONE audit event.
//!
//! `Event::parse(bytes)` validates the whole JSON text once and tapes all of it in that pass; the
//! well-known top-level members are indexed. Strings borrow from the input.

use crate::fields::time::parse_rfc3339_ns;
use crate::json::{self, Kind, Node, Text, Tok};
use std::borrow::Cow;
use std::fmt;

/// Why a byte slice is not an acceptable audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// Byte offset in the slice given to `Event::parse`.
    pub offset: usize,
    pub msg: String,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.msg, self.offset)
    }
}

impl std::error::Error for EventError {}

/// Top-level members read by many fields, found once at parse time (first occurrence wins, as upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Top {
    AuditId,
    Stage,
    Verb,
    RequestUri,
    User,
    ImpersonatedUser,
    ObjectRef,
    Annotations,
    RequestObject,
    ResponseObject,
    ResponseStatus,
    UserAgent,
    StageTimestamp,
    Kind,
    Items,
}

const TOP_COUNT: usize = 15;
const ABSENT: u32 = u32::MAX;

impl Top {
    fn from_key(k: &str) -> Option<Top> {
        Top::from_bytes(k.as_bytes())
    }

    /// Called for every top-level key of every event: dispatch on length and first byte, then one
    /// comparison of a fixed-size array (inline, no `memcmp` call).
    fn from_bytes(k: &[u8]) -> Option<Top> {
        fn is<const N: usize>(k: &[u8], name: &[u8; N], top: Top) -> Option<Top> {
            <&[u8; N]>::try_from(k)
                .is_ok_and(|k| k == name)
                .then_some(top)
        }
        match (k.len(), k.first()?) {
            (4, b'v') => is(k, b"verb", Top::Verb),
            (4, b'u') => is(k, b"user", Top::User),
            (4, b'k') => is(k, b"kind", Top::Kind),
            (5, b's') => is(k, b"stage", Top::Stage),
            (5, b'i') => is(k, b"items", Top::Items),
            (7, b'a') => is(k, b"auditID", Top::AuditId),
            (9, b'o') => is(k, b"objectRef", Top::ObjectRef),
            (9, b'u') => is(k, b"userAgent", Top::UserAgent),
            (10, b'r') => is(k, b"requestURI", Top::RequestUri),
            (11, b'a') => is(k, b"annotations", Top::Annotations),
            (13, b'r') => is(k, b"requestObject", Top::RequestObject),
            (14, b'r') if k.get(8) == Some(&b'O') => is(k, b"responseObject", Top::ResponseObject),
            (14, b'r') => is(k, b"responseStatus", Top::ResponseStatus),
            (14, b's') => is(k, b"stageTimestamp", Top::StageTimestamp),
            (16, b'i') => is(k, b"impersonatedUser", Top::ImpersonatedUser),
            _ => None,
        }
    }
}

/// What `Event` keeps about where an event sits on a tape: its object's token, its well-known
/// top-level members and its time. Computed once per event (`EventIndex::new`), then reused by
/// `Event::from_index` however often the event is viewed.
#[derive(Debug, Clone, Copy)]
pub struct EventIndex {
    root: usize,
    known: [u32; TOP_COUNT],
    time_ns: Option<u64>,
}

impl EventIndex {
    /// Indexes the object at token `root` of `toks` (a tape `json::parse_value` built over `src`).
    pub fn new<'a>(
        src: impl Into<Text<'a>>,
        toks: &[Tok],
        root: usize,
    ) -> Result<EventIndex, EventError> {
        let src = src.into();
        let root_tok = toks.get(root).copied();
        if root_tok.map(|t| t.kind) != Some(Kind::Obj) {
            return Err(EventError {
                offset: root_tok.map_or(0, |t| t.start as usize),
                msg: "not a JSON object".into(),
            });
        }
        let mut known = [ABSENT; TOP_COUNT];
        if let Some(root) = Node::within(src, toks, root) {
            for (k, v) in root.members() {
                let slot = match k.kind() {
                    Kind::Str => Top::from_bytes(k.raw_bytes()),
                    _ => k.as_str().and_then(|k| Top::from_key(&k)),
                };
                if let Some(cell) = slot.and_then(|s| known.get_mut(s as usize)) {
                    if *cell == ABSENT {
                        *cell = v.index() as u32;
                    }
                }
            }
        }
        let time_ns = known
            .get(Top::StageTimestamp as usize)
            .filter(|&&i| i != ABSENT)
            .and_then(|&i| Node::within(src, toks, i as usize))
            .and_then(|n| n.as_str())
            .and_then(|s| parse_rfc3339_ns(&s));
        Ok(EventIndex {
            root,
            known,
            time_ns,
        })
    }

    /// `stageTimestamp` in ns since the epoch (see `Event::time_ns`).
    pub fn time_ns(&self) -> Option<u64> {
        self.time_ns
    }

    /// Tape index of the event's object.
    pub fn root(&self) -> usize {
        self.root
    }
}

/// A parsed audit event borrowing its JSON text.
///
/// The token tape covers the whole event (nested `requestObject`/`responseObject` included), built in
/// the one validating pass: fields never rescan the text. The tape is owned (`parse`) or borrowed from
/// a tape built for a larger document (`from_tape`, used by the webhook to parse a body exactly once).
pub struct Event<'a> {
    /// The text the tape's offsets refer to (the event itself, or the whole document holding it, or
    /// the part of it holding this event).
    src: Text<'a>,
    toks: Cow<'a, [Tok]>,
    /// Tape index of the event's object.
    root: usize,
    known: [u32; TOP_COUNT],
    time_ns: Option<u64>,
    num: u64,
    first_time_ns: Option<u64>,
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("num", &self.num)
            .field("time_ns", &self.time_ns)
            .finish_non_exhaustive()
    }
}

impl<'a> Event<'a> {
    /// Validates `raw` as one JSON object and indexes its top-level members.
    /// Invalid UTF-8 in strings is rejected (the API server always sends UTF-8).
    pub fn parse(raw: &'a [u8]) -> Result<Event<'a>, EventError> {
        // About one token per dozen bytes in audit events: one allocation, no regrowth.
        let mut tape = Vec::with_capacity(raw.len() / 12 + 16);
        json::parse_value(raw, 0, raw.len(), &mut tape).map_err(|e| EventError {
            offset: e.offset,
            msg: format!("cannot parse JSON: {}", e.msg),
        })?;
        let text = json::utf8(raw).ok_or_else(|| EventError {
            offset: 0,
            msg: "invalid UTF-8".into(),
        })?;
        Event::from_tape(text, Cow::Owned(tape), 0)
    }

    /// The event whose object is token `root` of `toks`, a tape `json::parse_value` built over `src`
    /// (no second validation). A tape from anywhere else cannot cause a panic, only wrong field values.
    pub fn from_tape(
        src: impl Into<Text<'a>>,
        toks: Cow<'a, [Tok]>,
        root: usize,
    ) -> Result<Event<'a>, EventError> {
        let src = src.into();
        let index = EventIndex::new(src, &toks, root)?;
        Ok(Event::from_index(src, toks, index))
    }

    /// The event `index` describes, over the tape and text it was computed from (`EventIndex::new`):
    /// ingestion indexes each event once, for its time and size checks, and hands the index on instead
    /// of scanning the top-level members and parsing the time a second time.
    pub fn from_index(
        src: impl Into<Text<'a>>,
        toks: Cow<'a, [Tok]>,
        index: EventIndex,
    ) -> Event<'a> {
        Event {
            src: src.into(),
            toks,
            root: index.root,
            known: index.known,
            time_ns: index.time_ns,
            num: 0,
            first_time_ns: None,
        }
    }

    fn root(&self) -> Option<Node<'_, 'a>> {
        Node::within(self.src, &self.toks, self.root)
    }

    /// The JSON text of this event.
    pub fn text(&self) -> &'a str {
        self.toks
            .get(self.root)
            .map(|t| self.src.slice(t.start as usize, t.end as usize))
            .unwrap_or_default()
    }

    /// The bytes of this event's JSON object.
    pub fn raw(&self) -> &'a [u8] {
        self.text().as_bytes()
    }

    /// The event as compact JSON (blanks outside strings removed), as upstream stores it.
    pub fn compact_text(&self) -> Cow<'a, str> {
        if self.root().is_some_and(|r| r.has_blanks()) {
            json::compact(self.text())
        } else {
            Cow::Borrowed(self.text())
        }
    }

    /// The length of `compact_text()` without building it (or checking UTF-8 again) when the event
    /// has no blanks outside strings, as logs written by the API server have none.
    pub fn compact_len(&self) -> usize {
        if self.root().is_some_and(|r| r.has_blanks()) {
            self.compact_text().len()
        } else {
            self.raw().len()
        }
    }

    /// A well-known top-level member.
    pub fn top(&self, which: Top) -> Option<Node<'_, 'a>> {
        let idx = *self.known.get(which as usize)?;
        if idx == ABSENT {
            return None;
        }
        Node::within(self.src, &self.toks, idx as usize)
    }

    /// The first top-level member named `key`.
    pub fn member(&self, key: &str) -> Option<Node<'_, 'a>> {
        if let Some(t) = Top::from_key(key) {
            return self.top(t);
        }
        self.root()?
            .members()
            .find(|(k, _)| k.str_eq(key))
            .map(|(_, v)| v)
    }

    /// Whether the top-level object has an `auditID` member (the gate of every `ka.*` field).
    pub fn has_audit_id(&self) -> bool {
        self.known.get(Top::AuditId as usize) != Some(&ABSENT)
    }

    /// Every top-level member, in document order.
    pub fn members(&self) -> impl Iterator<Item = (Cow<'a, str>, Node<'_, 'a>)> + '_ {
        self.root()
            .into_iter()
            .flat_map(|root| root.members())
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    /// `stageTimestamp` in ns since the epoch; `None` when absent or not RFC 3339 (ingestion drops such events).
    pub fn time_ns(&self) -> Option<u64> {
        self.time_ns
    }

    /// Overrides the event time (tests, or sources that carry their own timestamp).
    pub fn set_time_ns(&mut self, ns: u64) {
        self.time_ns = Some(ns);
    }

    /// Sequence number (`evt.num`), set by whoever feeds the engine (1 for the first event).
    pub fn num(&self) -> u64 {
        self.num
    }

    pub fn set_num(&mut self, num: u64) {
        self.num = num;
    }

    /// Time of the first event of the stream, the origin of `evt.reltime` (unset: this event's own time).
    pub fn first_time_ns(&self) -> Option<u64> {
        self.first_time_ns
    }

    pub fn set_first_time_ns(&mut self, ns: u64) {
        self.first_time_ns = Some(ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EV: &str = r#"{"kind":"Event","auditID":"a-1","verb":"get","stageTimestamp":"2024-01-02T03:04:05.123456789Z",
        "requestObject":{"spec":{"containers":[{"image":"nginx"}]}},"responseObject":{"metadata":{"name":"p"}},
        "extra":{"x":1},"verb":"second"}"#;

    #[test]
    fn indexes_top_level_members() {
        let ev = Event::parse(EV.as_bytes()).unwrap();
        assert!(ev.has_audit_id());
        assert_eq!(
            ev.top(Top::Verb).unwrap().text(),
            "get",
            "first duplicate wins"
        );
        assert_eq!(ev.member("extra").unwrap().get("x").unwrap().text(), "1");
        assert!(ev.member("nope").is_none());
        assert_eq!(ev.time_ns(), Some(1_704_164_645_123_456_789));
    }

    #[test]
    fn well_known_keys_are_recognised_exactly() {
        for (name, top) in [
            ("auditID", Top::AuditId),
            ("stage", Top::Stage),
            ("verb", Top::Verb),
            ("requestURI", Top::RequestUri),
            ("user", Top::User),
            ("impersonatedUser", Top::ImpersonatedUser),
            ("objectRef", Top::ObjectRef),
            ("annotations", Top::Annotations),
            ("requestObject", Top::RequestObject),
            ("responseObject", Top::ResponseObject),
            ("responseStatus", Top::ResponseStatus),
            ("userAgent", Top::UserAgent),
            ("stageTimestamp", Top::StageTimestamp),
            ("kind", Top::Kind),
            ("items", Top::Items),
        ] {
            assert_eq!(Top::from_key(name), Some(top), "{name}");
        }
        for other in [
            "",
            "Verb",
            "verbs",
            "vrb",
            "apiVersion",
            "level",
            "sourceIPs",
            "responseStatuz",
            "requestReceivedTimestamp",
        ] {
            assert_eq!(Top::from_key(other), None, "{other}");
        }
    }

    #[test]
    fn nested_objects_are_taped_in_the_one_pass() {
        let ev = Event::parse(EV.as_bytes()).unwrap();
        let img = ev
            .top(Top::RequestObject)
            .unwrap()
            .path(&["spec", "containers", "0", "image"])
            .unwrap();
        assert_eq!(img.text(), "nginx");
        assert_eq!(
            ev.member("responseObject")
                .unwrap()
                .path(&["metadata", "name"])
                .unwrap()
                .text(),
            "p"
        );
        assert_eq!(
            ev.top(Top::RequestObject).unwrap().text(),
            r#"{"spec":{"containers":[{"image":"nginx"}]}}"#
        );
    }

    /// The tape of a JSON array and the token index of each of its elements.
    fn array_tape(doc: &str) -> (Vec<Tok>, Vec<usize>) {
        let mut tape = Vec::new();
        json::parse_value(doc.as_bytes(), 0, doc.len(), &mut tape).unwrap();
        let roots = Node::new(doc, &tape, 0)
            .unwrap()
            .elements()
            .map(|n| n.index())
            .collect();
        (tape, roots)
    }

    #[test]
    fn events_over_a_shared_tape_read_like_parsed_ones() {
        let doc = format!("[{EV}, {{\"auditID\":\"b\"}}]");
        let (tape, roots) = array_tape(&doc);
        let a = Event::from_tape(doc.as_str(), Cow::Borrowed(&tape), roots[0]).unwrap();
        assert_eq!(a.raw(), EV.as_bytes());
        assert_eq!(a.top(Top::Verb).unwrap().text(), "get");
        assert_eq!(a.time_ns(), Event::parse(EV.as_bytes()).unwrap().time_ns());
        assert!(
            a.compact_text().len() < EV.len(),
            "the newline and blanks are dropped"
        );
        let b = Event::from_tape(doc.as_str(), Cow::Borrowed(&tape), roots[1]).unwrap();
        assert_eq!(b.top(Top::AuditId).unwrap().text(), "b");
        assert!(b.top(Top::Verb).is_none());
        assert!(matches!(
            b.compact_text(),
            Cow::Borrowed(r#"{"auditID":"b"}"#)
        ));
        assert!(Event::from_tape(doc.as_str(), Cow::Borrowed(&tape), 0).is_err());
        assert!(Event::from_tape(doc.as_str(), Cow::Borrowed(&tape), 10_000).is_err());
    }

    #[test]
    fn an_event_read_through_a_part_of_the_text_reads_like_the_whole() {
        // A worker holds only the part of a body from its first event to its last (`Text`): the
        // tape's offsets stay those of the body.
        let doc = format!("[{{\"auditID\":\"é\"}}, {EV}]");
        let (tape, roots) = array_tape(&doc);
        let start = tape[roots[1]].start as usize;
        let part = Text::new(&doc[start..], start);
        let ev = Event::from_tape(part, Cow::Borrowed(&tape), roots[1]).unwrap();
        let whole = Event::from_tape(doc.as_str(), Cow::Borrowed(&tape), roots[1]).unwrap();
        assert_eq!(ev.raw(), EV.as_bytes());
        assert_eq!(ev.top(Top::Verb).unwrap().text(), "get");
        assert_eq!(ev.time_ns(), whole.time_ns());
        assert_eq!(ev.compact_text(), whole.compact_text());
        // An event outside the part reads as empty text (its keys too, so no member is found): never a
        // panic, never another event's bytes.
        let outside = Event::from_tape(part, Cow::Borrowed(&tape), roots[0]).unwrap();
        assert_eq!(outside.raw(), b"");
        assert!(outside.top(Top::AuditId).is_none());
    }

    #[test]
    fn rejects_non_objects_and_bad_json() {
        assert!(Event::parse(b"[1]").is_err());
        assert!(Event::parse(b"\"x\"").is_err());
        let e = Event::parse(br#"{"a":1,"requestObject":{"b":[1,}}"#).unwrap_err();
        assert_eq!(e.offset, 31);
        assert!(Event::parse(b"{\"a\":\"\xff\"}").is_err());
    }

    #[test]
    fn bad_or_missing_timestamps_give_no_time() {
        for ts in [r#""2024-01-02 03:04:05Z""#, r#""""#, "1704164645", "null"] {
            let s = format!(r#"{{"stageTimestamp":{ts}}}"#);
            assert_eq!(Event::parse(s.as_bytes()).unwrap().time_ns(), None, "{ts}");
        }
        assert_eq!(Event::parse(b"{}").unwrap().time_ns(), None);
    }

    #[test]
    fn event_is_covariant_so_short_borrows_work() {
        fn takes<'e>(ev: &'e Event<'e>) -> &'e str {
            ev.text()
        }
        let buf = EV.to_string();
        let ev = Event::parse(buf.as_bytes()).unwrap();
        let t = takes(&ev);
        assert!(t.starts_with('{'));
    }
}
