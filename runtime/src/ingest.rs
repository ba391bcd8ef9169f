//! Splitting an input document (a file line or an HTTP body) into audit events (spec §5.2).
//!
//! A document is an `Event` object, an `EventList` object (each of `items` is an event; items are not
//! checked for `kind`), or a JSON array of such documents (recursively). Anything else is rejected with
//! upstream's message, and a bad element anywhere in an array rejects the whole document. Individual
//! events without a parsable `stageTimestamp`, or larger than the size limit, are dropped on their own
//! while the other events of the document go through.

use crate::event::{Event, Top};
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

/// Splits `doc` into parsed events (each borrowing a sub-slice of `doc`), dropping events without a
/// valid `stageTimestamp` or whose compact JSON exceeds `max_event_size`. `Err` drops the whole document.
/// Preferred entry point: every event is parsed exactly once.
pub fn split_document(doc: &[u8], max_event_size: usize) -> Result<Split<'_>, IngestError> {
    let mut split = Split::default();
    for piece in pieces(doc)? {
        match piece {
            Piece::Parsed(ev, at) => accept(ev, at, max_event_size, &mut split),
            Piece::Unparsable(at, _) => split.dropped.push(IngestError {
                offset: at,
                msg: "can't read stageTimestamp".into(),
            }),
        }
    }
    Ok(split)
}

/// Splits `doc` into the byte slices of its events (sub-slices of `doc`), in document order, without
/// the per-event time and size checks (callers parse each slice with `Event::parse`). `Err` drops the
/// whole document.
pub fn split_events(doc: &[u8]) -> Result<Vec<&[u8]>, IngestError> {
    Ok(pieces(doc)?
        .into_iter()
        .map(|p| match p {
            Piece::Parsed(ev, _) => ev.raw(),
            Piece::Unparsable(_, raw) => raw,
        })
        .collect())
}

/// One event of a document: parsed, or an EventList item that is not a JSON object.
enum Piece<'d> {
    Parsed(Event<'d>, usize),
    Unparsable(usize, &'d [u8]),
}

fn pieces(doc: &[u8]) -> Result<Vec<Piece<'_>>, IngestError> {
    let start = skip_ws(doc, 0);
    let end = trim_end(doc);
    if start >= end {
        return Err(IngestError {
            offset: start,
            msg: "cannot parse JSON: cannot parse empty string".into(),
        });
    }
    let mut out = Vec::new();
    document(doc, start, end, 0, &mut out)?;
    Ok(out)
}

/// One (sub)document at `doc[start..end]` (trimmed).
fn document<'d>(
    doc: &'d [u8],
    start: usize,
    end: usize,
    depth: u32,
    out: &mut Vec<Piece<'d>>,
) -> Result<(), IngestError> {
    match doc.get(start) {
        Some(b'[') => {
            if depth >= MAX_ARRAY_NESTING {
                return Err(IngestError {
                    offset: start,
                    msg: "cannot parse JSON: nesting too deep".into(),
                });
            }
            for (s, e) in array_elements(doc, start, end)? {
                document(doc, s, e, depth + 1, out)?;
            }
            Ok(())
        }
        Some(b'{') => {
            let slice = doc.get(start..end).unwrap_or(&[]);
            let ev = Event::parse(slice).map_err(|e| IngestError {
                offset: start + e.offset,
                msg: e.msg,
            })?;
            let kind = ev.top(Top::Kind).and_then(|k| k.as_str());
            match kind.as_deref() {
                Some("Event") => {
                    out.push(Piece::Parsed(ev, start));
                    Ok(())
                }
                Some("EventList") => {
                    let (is, ie) = ev
                        .lazy_range("items")
                        .ok_or_else(|| not_recognized(start))?;
                    if doc.get(start + is) != Some(&b'[') {
                        return Err(not_recognized(start));
                    }
                    for (s, e) in array_elements(doc, start + is, start + ie)? {
                        let item = doc.get(s..e).unwrap_or(&[]);
                        out.push(match Event::parse(item) {
                            Ok(ev) => Piece::Parsed(ev, s),
                            Err(_) => Piece::Unparsable(s, item),
                        });
                    }
                    Ok(())
                }
                _ => Err(not_recognized(start)),
            }
        }
        _ => {
            // Validate first so that invalid JSON reports as such, as upstream does.
            let mut tape = Vec::new();
            crate::json::parse_value(doc, start, end, &[], &mut tape).map_err(|e| IngestError {
                offset: e.offset,
                msg: format!("cannot parse JSON: {}", e.msg),
            })?;
            Err(not_recognized(start))
        }
    }
}

/// Keeps `ev` unless it lacks a valid time or is too large.
fn accept<'d>(ev: Event<'d>, at: usize, max: usize, out: &mut Split<'d>) {
    if ev.time_ns().is_none() {
        let msg = match ev.top(Top::StageTimestamp) {
            None => "can't read stageTimestamp".to_string(),
            Some(ts) => format!(
                "parsing time {:?}: cannot parse as RFC 3339",
                ts.as_str().unwrap_or_default()
            ),
        };
        out.dropped.push(IngestError { offset: at, msg });
        return;
    }
    let size = ev.compact_text().len();
    if size > max {
        out.dropped.push(IngestError {
            offset: at,
            msg: format!("{TOO_LARGE_PREFIX}: size={size}"),
        });
        return;
    }
    out.events.push(ev);
}

fn not_recognized(offset: usize) -> IngestError {
    IngestError {
        offset,
        msg: NOT_RECOGNIZED.into(),
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

fn trim_end(b: &[u8]) -> usize {
    let mut e = b.len();
    while e > 0 && matches!(b.get(e - 1), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        e -= 1;
    }
    e
}

/// Splits the array at `doc[start..end]` (`[` at `start`, `]` at `end - 1`) into trimmed element
/// ranges. Checks the separators; the elements themselves are validated by whoever parses them.
fn array_elements(
    doc: &[u8],
    start: usize,
    end: usize,
) -> Result<Vec<(usize, usize)>, IngestError> {
    let bad = |offset: usize, msg: &str| IngestError {
        offset,
        msg: format!("cannot parse JSON: {msg}"),
    };
    if end < start + 2 || doc.get(end - 1) != Some(&b']') {
        return Err(bad(end, "unterminated array"));
    }
    let inner_end = end - 1;
    let mut out = Vec::new();
    let mut i = skip_ws(doc, start + 1);
    if i == inner_end {
        return Ok(out);
    }
    loop {
        let s = i;
        i = value_end(doc, i, inner_end).ok_or_else(|| bad(s, "unterminated value"))?;
        let e = trim_end(doc.get(..i).unwrap_or(&[])).max(s);
        if e == s {
            return Err(bad(s, "missing value"));
        }
        out.push((s, e));
        if i == inner_end {
            return Ok(out);
        }
        // value_end stops on a top-level ','.
        i = skip_ws(doc, i + 1);
        if i >= inner_end {
            return Err(bad(i, "missing value after ','"));
        }
    }
}

/// Index of the `,` ending the value starting at `i`, or `limit` when it runs to the end.
fn value_end(doc: &[u8], mut i: usize, limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < limit {
        match doc.get(i)? {
            b'"' => {
                i += 1;
                loop {
                    match doc.get(i)? {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    (depth == 0).then_some(limit)
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
        use rulegen::catalog::{ArgKind, FIELDS};
        use rulegen::ir::{FieldArg, FieldRef};
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
