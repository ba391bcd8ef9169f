//! Splitting an input document (a file line or an HTTP body) into audit events (docs/semantics.md#ingestion).
//!
//! A document is an `Event` object, an `EventList` object (each of `items` is an event; items are not
//! checked for `kind`), or a JSON array of such documents (recursively). Anything else is rejected with
//! upstream's message, and a bad element anywhere in an array rejects the whole document. Individual
//! events without a parsable `stageTimestamp`, or larger than the size limit, are dropped on their own
//! while the other events of the document go through.

use crate::event::{Event, EventIndex, Top};
use crate::json::{self, Kind, Node, Tok};
use std::borrow::Cow;
use std::fmt;

/// Error text upstream logs for JSON that is neither an Event, an EventList nor an array of those.
pub const NOT_RECOGNIZED: &str = "data not recognized as a k8s audit event";

/// Start of the message of an event dropped for exceeding the size limit.
pub const TOO_LARGE_PREFIX: &str = "event larger than maxEventSize";

/// Deepest nesting of arrays of documents accepted (deeper input is rejected instead of risking the stack).
const MAX_ARRAY_NESTING: u32 = 256;

/// Upstream's default `maxEventSize` (bytes of the compact event JSON).
pub const DEFAULT_MAX_EVENT_SIZE: usize = 262_144;

/// Why a document, or one event of it, was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestError {
    /// Byte offset in the document.
    pub offset: usize,
    pub msg: String,
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.msg, self.offset)
    }
}

impl std::error::Error for IngestError {}

/// The events of one document, in document order, and the events dropped individually.
#[derive(Debug, Default)]
pub struct Split<'d> {
    pub events: Vec<Event<'d>>,
    pub dropped: Vec<IngestError>,
}

/// A document parsed once: the tape of the whole document, the index of every accepted event (its
/// object's token, top-level members and time; `DocTape::events` reads it without parsing again), and
/// the events dropped individually. A replayer keeps one and refills it for every document
/// (`split_tape_into`), so the buffers are allocated once.
#[derive(Debug, Default)]
pub struct DocTape {
    pub tape: Vec<Tok>,
    pub dropped: Vec<IngestError>,
    /// The index of each accepted event, computed by the checks.
    index: Vec<EventIndex>,
}

impl DocTape {
    /// The accepted events, in document order, each a view over `doc` and this tape (nothing is parsed,
    /// indexed or copied again). `doc` must be the text `split_tape_into` gave for this tape.
    pub fn events<'t>(&'t self, doc: &'t str) -> impl Iterator<Item = Event<'t>> + 't {
        self.index
            .iter()
            .map(move |&ix| Event::from_index(doc, Cow::Borrowed(&self.tape), ix))
    }
}

/// Parses `doc` once and finds its events, dropping events without a valid `stageTimestamp` or whose
/// compact JSON exceeds `max_event_size`. `Err` drops the whole document. Also gives the document
/// as text, for [`DocTape::events`].
pub fn split_tape(doc: &[u8], max_event_size: usize) -> Result<(&str, DocTape), IngestError> {
    let mut out = DocTape::default();
    let text = split_tape_into(doc, max_event_size, &mut out)?;
    Ok((text, out))
}

/// [`split_tape`] into `out`, reusing its buffers (its previous content is replaced; after `Err` it
/// holds no events). Gives the document as text, for [`DocTape::events`].
pub fn split_tape_into<'d>(
    doc: &'d [u8],
    max_event_size: usize,
    out: &mut DocTape,
) -> Result<&'d str, IngestError> {
    out.dropped.clear();
    out.index.clear();
    let (doc, pieces) = pieces_into(doc, &mut out.tape)?;
    let tape = &out.tape;
    for piece in pieces {
        match piece {
            Piece::Event(root) => match EventIndex::new(doc, tape, root) {
                Ok(ix) => {
                    let ev = Event::from_index(doc, Cow::Borrowed(tape), ix);
                    match check(&ev) {
                        Ok(()) if ev.compact_len() <= max_event_size => out.index.push(ix),
                        Ok(()) => out.dropped.push(IngestError {
                            offset: ev_offset(tape, root),
                            msg: format!("{TOO_LARGE_PREFIX}: size={}", ev.compact_len()),
                        }),
                        Err(msg) => out.dropped.push(IngestError {
                            offset: ev_offset(tape, root),
                            msg,
                        }),
                    }
                }
                Err(e) => out.dropped.push(IngestError {
                    offset: e.offset,
                    msg: e.msg,
                }),
            },
            Piece::Unparsable(at, _) => out.dropped.push(IngestError {
                offset: at,
                msg: "can't read stageTimestamp".into(),
            }),
        }
    }
    Ok(doc)
}

/// A body split for the pipeline: the tape of the whole body (parsed once), the index of each acceptable
/// event, and the events dropped on their own (counted by cause).
#[derive(Debug, Default)]
pub struct SplitBody {
    pub tape: Vec<Tok>,
    /// The index of each event: a worker views the event with `Event::from_index` without parsing or
    /// indexing it again.
    pub index: Vec<EventIndex>,
    pub oversized: u64,
    pub invalid: u64,
    pub dropped: Vec<IngestError>,
}

impl SplitBody {
    /// The byte range of each event's object in the body, in order.
    pub fn ranges(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        self.index.iter().map(|ix| {
            self.tape
                .get(ix.root())
                .map_or(0..0, |t| t.start as usize..t.end as usize)
        })
    }
}

/// Splits a body into events by the rules of [`split_tape`], keeping each event's index so a worker can
/// evaluate it from the same tape. `Err` = the whole body is bad.
pub fn split_body(body: &[u8], max_event: usize) -> Result<SplitBody, String> {
    let (_, split) = split_tape(body, max_event).map_err(|e| e.to_string())?;
    let oversized = split
        .dropped
        .iter()
        .filter(|d| d.msg.starts_with(TOO_LARGE_PREFIX))
        .count() as u64;
    Ok(SplitBody {
        tape: split.tape,
        index: split.index,
        oversized,
        invalid: split.dropped.len() as u64 - oversized,
        dropped: split.dropped,
    })
}

/// Splits `doc` into parsed events that own their part of the tape (so they can outlive the split),
/// dropping events without a valid `stageTimestamp` or whose compact JSON exceeds `max_event_size`.
/// `Err` drops the whole document. Callers that evaluate in place use [`split_tape`] and
/// [`DocTape::events`] instead, which copy nothing.
pub fn split_document(doc: &[u8], max_event_size: usize) -> Result<Split<'_>, IngestError> {
    let (doc, t) = split_tape(doc, max_event_size)?;
    let mut split = Split {
        events: Vec::with_capacity(t.index.len()),
        dropped: t.dropped,
    };
    for root in t.index.iter().map(EventIndex::root) {
        let Some(sub) = subtree(&t.tape, root) else {
            continue;
        };
        if let Ok(ev) = Event::from_tape(doc, Cow::Owned(sub), 0) {
            split.events.push(ev);
        }
    }
    Ok(split)
}

/// The tokens of the subtree at `root`, re-indexed so that `root` is token 0 (offsets stay absolute).
fn subtree(tape: &[Tok], root: usize) -> Option<Vec<Tok>> {
    let end = tape.get(root)?.next as usize;
    let base = root as u32;
    Some(
        tape.get(root..end)?
            .iter()
            .map(|t| Tok {
                next: t.next.saturating_sub(base),
                ..*t
            })
            .collect(),
    )
}

fn ev_offset(tape: &[Tok], root: usize) -> usize {
    tape.get(root).map_or(0, |t| t.start as usize)
}

/// Why an event cannot be evaluated (no valid time), as upstream words it.
fn check(ev: &Event<'_>) -> Result<(), String> {
    if ev.time_ns().is_some() {
        return Ok(());
    }
    Err(match ev.top(Top::StageTimestamp) {
        None => "can't read stageTimestamp".to_string(),
        Some(ts) => format!(
            "parsing time {:?}: cannot parse as RFC 3339",
            ts.as_str().unwrap_or_default()
        ),
    })
}

/// Splits `doc` into the byte slices of its events (sub-slices of `doc`), in document order, without
/// the per-event time and size checks (callers parse each slice with `Event::parse`). `Err` drops the
/// whole document.
pub fn split_events(doc: &[u8]) -> Result<Vec<&[u8]>, IngestError> {
    let (tape, pieces) = pieces(doc)?;
    Ok(pieces
        .into_iter()
        .map(|p| match p {
            Piece::Event(root) => tape
                .get(root)
                .and_then(|t| doc.get(t.start as usize..t.end as usize))
                .unwrap_or_default(),
            Piece::Unparsable(_, raw) => raw,
        })
        .collect())
}

/// One event of a document: the tape index of its object, or an EventList item that is not a JSON
/// object.
enum Piece<'d> {
    Event(usize),
    Unparsable(usize, &'d [u8]),
}

/// Parses the whole document (one validating pass), then finds its events on the tape.
fn pieces(doc: &[u8]) -> Result<(Vec<Tok>, Vec<Piece<'_>>), IngestError> {
    let mut tape = Vec::new();
    let (_, pieces) = pieces_into(doc, &mut tape)?;
    Ok((tape, pieces))
}

/// [`pieces`] onto `tape` (cleared first, its allocation reused); also gives the document as text.
fn pieces_into<'d>(
    doc: &'d [u8],
    tape: &mut Vec<Tok>,
) -> Result<(&'d str, Vec<Piece<'d>>), IngestError> {
    tape.clear();
    if doc
        .iter()
        .all(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        return Err(IngestError {
            offset: doc.len(),
            msg: "cannot parse JSON: cannot parse empty string".into(),
        });
    }
    // About one token per dozen bytes in audit events: one allocation, no regrowth.
    tape.reserve(doc.len() / 12 + 16);
    json::parse_value(doc, 0, doc.len(), tape).map_err(|e| IngestError {
        offset: e.offset,
        msg: format!("cannot parse JSON: {}", e.msg),
    })?;
    // Accepted, so UTF-8 (`json::utf8`); the `Err` arm is for a parser bug, never a panic.
    let text = json::utf8(doc).ok_or(IngestError {
        offset: 0,
        msg: "cannot parse JSON: invalid UTF-8".into(),
    })?;
    let mut out = Vec::new();
    if let Some(root) = Node::new(text, tape, 0) {
        document(text, tape, root, 0, &mut out)?;
    }
    Ok((text, out))
}

/// One (sub)document: an Event, an EventList or an array of documents.
fn document<'d>(
    doc: &'d str,
    tape: &[Tok],
    node: Node<'_, 'd>,
    depth: u32,
    out: &mut Vec<Piece<'d>>,
) -> Result<(), IngestError> {
    let start = node_offset(tape, node);
    match node.kind() {
        Kind::Arr => {
            if depth >= MAX_ARRAY_NESTING {
                return Err(IngestError {
                    offset: start,
                    msg: "cannot parse JSON: nesting too deep".into(),
                });
            }
            for el in node.elements() {
                document(doc, tape, el, depth + 1, out)?;
            }
            Ok(())
        }
        Kind::Obj => {
            // First `kind` member wins, as for every top-level member of an event.
            let kind = node
                .members()
                .find(|(k, _)| k.str_eq("kind"))
                .and_then(|(_, v)| v.as_str());
            match kind.as_deref() {
                Some("Event") => {
                    out.push(Piece::Event(node.index()));
                    Ok(())
                }
                Some("EventList") => {
                    let items = node
                        .members()
                        .find(|(k, _)| k.str_eq("items"))
                        .map(|(_, v)| v)
                        .filter(|v| v.is_array())
                        .ok_or_else(|| not_recognized(start))?;
                    for item in items.elements() {
                        out.push(if item.is_object() {
                            Piece::Event(item.index())
                        } else {
                            Piece::Unparsable(node_offset(tape, item), raw_of(doc, tape, item))
                        });
                    }
                    Ok(())
                }
                _ => Err(not_recognized(start)),
            }
        }
        _ => Err(not_recognized(start)),
    }
}

fn node_offset(tape: &[Tok], node: Node<'_, '_>) -> usize {
    ev_offset(tape, node.index())
}

/// The source text of a token (strings with their quotes).
fn raw_of<'d>(doc: &'d str, tape: &[Tok], node: Node<'_, 'd>) -> &'d [u8] {
    let Some(t) = tape.get(node.index()) else {
        return &[];
    };
    let (s, e) = if node.is_str() {
        ((t.start as usize).saturating_sub(1), t.end as usize + 1)
    } else {
        (t.start as usize, t.end as usize)
    };
    doc.get(s..e).unwrap_or_default().as_bytes()
}

fn not_recognized(offset: usize) -> IngestError {
    IngestError {
        offset,
        msg: NOT_RECOGNIZED.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = r#""stageTimestamp":"2024-01-02T03:04:05Z""#;

    fn ev(id: &str) -> String {
        format!(r#"{{"kind":"Event","auditID":"{id}",{TS}}}"#)
    }

    fn ids(doc: &str) -> Result<(Vec<String>, usize), IngestError> {
        let s = split_document(doc.as_bytes(), DEFAULT_MAX_EVENT_SIZE)?;
        let ids = s
            .events
            .iter()
            .map(|e| {
                e.top(Top::AuditId)
                    .map(|n| n.text().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        Ok((ids, s.dropped.len()))
    }

    #[test]
    fn single_event() {
        assert_eq!(
            ids(&format!("  {}\n", ev("a"))).unwrap(),
            (vec!["a".into()], 0)
        );
    }

    #[test]
    fn event_list_items_are_not_checked_for_kind() {
        let doc = format!(
            r#"{{"kind":"EventList","items":[{}, {{"auditID":"b",{TS}}}, {{"kind":"Other","auditID":"c",{TS}}}]}}"#,
            ev("a")
        );
        assert_eq!(
            ids(&doc).unwrap(),
            (vec!["a".into(), "b".into(), "c".into()], 0)
        );
        assert_eq!(
            ids(r#"{"kind":"EventList","items":[]}"#).unwrap(),
            (vec![], 0)
        );
    }

    #[test]
    fn raw_slices_include_events_that_fail_later_checks() {
        let doc = format!(
            r#"{{"kind":"EventList","items":[{}, {{"auditID":"x"}}, 5]}}"#,
            ev("a")
        );
        let raws = split_events(doc.as_bytes()).unwrap();
        assert_eq!(
            raws,
            vec![
                ev("a").as_bytes(),
                br#"{"auditID":"x"}"#.as_slice(),
                b"5".as_slice()
            ]
        );
    }

    #[test]
    fn bad_items_are_dropped_alone() {
        let doc = format!(
            r#"{{"kind":"EventList","items":[{}, {{"auditID":"x"}}, 5, {{"auditID":"y","stageTimestamp":"bad"}}, {}]}}"#,
            ev("a"),
            ev("b")
        );
        assert_eq!(ids(&doc).unwrap(), (vec!["a".into(), "b".into()], 3));
    }

    #[test]
    fn arrays_recurse_and_one_bad_element_drops_all() {
        let doc = format!(
            "[{}, [{}], {{\"kind\":\"EventList\",\"items\":[{}]}}]",
            ev("a"),
            ev("b"),
            ev("c")
        );
        assert_eq!(ids(&doc).unwrap().0, vec!["a", "b", "c"]);
        let bad = format!(r#"[{}, {{"kind":"Nope"}}]"#, ev("a"));
        assert_eq!(ids(&bad).unwrap_err().msg, NOT_RECOGNIZED);
        let bad_json = format!("[{}, {{]", ev("a"));
        assert!(ids(&bad_json)
            .unwrap_err()
            .msg
            .starts_with("cannot parse JSON"));
        assert_eq!(ids("[]").unwrap(), (vec![], 0));
        // An event without a valid time inside an array is dropped alone.
        let no_ts = format!(r#"[{}, {{"kind":"Event","auditID":"z"}}]"#, ev("a"));
        assert_eq!(ids(&no_ts).unwrap(), (vec!["a".into()], 1));
    }

    #[test]
    fn unrecognized_documents() {
        for doc in [
            r#"{"kind":"Pod"}"#,
            r#"{"auditID":"x"}"#,
            r#"{"kind":1}"#,
            r#"{"kind":"EventList"}"#,
            r#"{"kind":"EventList","items":{}}"#,
            "5",
            "\"Event\"",
            "null",
        ] {
            assert_eq!(ids(doc).unwrap_err().msg, NOT_RECOGNIZED, "{doc}");
        }
        for doc in ["", "   ", "{", "[1,", "[1 2]", "[,1]", "[1,]", "nul"] {
            let e = ids(doc).unwrap_err();
            assert!(e.msg.starts_with("cannot parse JSON"), "{doc:?}: {e}");
        }
    }

    #[test]
    fn deeply_nested_arrays_are_rejected_not_a_crash() {
        let deep = "[".repeat(200_000) + &"]".repeat(200_000);
        assert!(ids(&deep).unwrap_err().msg.contains("nesting too deep"));
        let ok = "[".repeat(10) + &ev("a") + &"]".repeat(10);
        assert_eq!(ids(&ok).unwrap().0, vec!["a"]);
    }

    #[test]
    fn size_limit_applies_to_the_compact_event() {
        let e = ev("a");
        let padded = e.replace(",", " ,        ");
        let s = split_document(padded.as_bytes(), e.len()).unwrap();
        assert_eq!(s.events.len(), 1, "blanks do not count");
        let s = split_document(e.as_bytes(), e.len() - 1).unwrap();
        assert_eq!((s.events.len(), s.dropped.len()), (0, 1));
        assert!(s.dropped[0].msg.starts_with(TOO_LARGE_PREFIX));
    }

    #[test]
    fn events_borrow_the_document() {
        let doc = format!(r#"{{"kind":"EventList","items":[{}]}}"#, ev("a"));
        let s = split_document(doc.as_bytes(), DEFAULT_MAX_EVENT_SIZE).unwrap();
        let raw = s.events[0].raw();
        assert_eq!(split_events(doc.as_bytes()).unwrap(), vec![raw]);
        let base = doc.as_ptr() as usize;
        assert!(raw.as_ptr() as usize > base && (raw.as_ptr() as usize) < base + doc.len());
        assert_eq!(raw, ev("a").as_bytes());
    }

    #[test]
    fn mutated_documents_never_panic() {
        use crate::fields;
        use crate::value::Values;
        use kaudit_frontend::catalog::{ArgKind, FIELDS};
        use kaudit_frontend::ir::{FieldArg, FieldRef};
        let base = format!(
            r#"[{{"kind":"EventList","items":[{}, {{"kind":"Event","auditID":"b\u00e9","requestURI":"/a?x=1","requestObject":{{"spec":{{"containers":[{{"image":"i:1","ports":[{{"hostPort":1}}]}}]}}}},{TS}}}]}}]"#,
            ev("a")
        );
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let specials = b"{}[]\",:\\u0 9-";
        for _ in 0..3000 {
            let mut doc = base.clone().into_bytes();
            for _ in 0..(next() % 4 + 1) {
                if doc.is_empty() {
                    break;
                }
                let at = (next() as usize) % doc.len();
                match next() % 3 {
                    0 => doc[at] = specials[(next() as usize) % specials.len()],
                    1 => {
                        doc.remove(at);
                    }
                    _ => doc.truncate(at.max(1)),
                }
            }
            if let Ok(split) = split_document(&doc, DEFAULT_MAX_EVENT_SIZE) {
                for e in &split.events {
                    for f in FIELDS {
                        let arg = match f.arg {
                            ArgKind::None => FieldArg::None,
                            ArgKind::Index => FieldArg::Index(0),
                            ArgKind::Key => FieldArg::Key("x".into()),
                        };
                        let mut out = Values::new();
                        fields::extract(e, &FieldRef { id: f.id, arg }, &mut out);
                    }
                }
            }
            let _ = split_events(&doc);
        }
    }
}
