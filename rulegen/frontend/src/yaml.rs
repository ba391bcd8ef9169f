//! A spanned YAML tree for rule files.
//!
//! Built from `saphyr-parser`'s event stream (a maintained, YAML 1.2 parser that reports a span for
//! every event, unlike serde_yaml which only has positions on errors). Scalars keep their text exactly
//! as written after YAML unquoting (`0x10` stays `0x10`, a bare `=` is the string "="), which is what
//! Falco's yaml-cpp reader hands to the rule loader.
//!
//! Hostile input is bounded: nesting depth and the number of nodes (counting every node an alias
//! expands to) are limited, so alias bombs and deeply nested flow collections fail with an error
//! instead of exhausting memory or the stack.

use crate::span::{FileId, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};

/// Maximum nesting depth of collections (rule files need about 6).
pub const MAX_DEPTH: usize = 128;
/// Maximum number of nodes in one file, aliases counted at their expanded size.
pub const MAX_NODES: usize = 2_000_000;

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// An empty/`~`/`null` plain scalar.
    Null,
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Pairs in document order (duplicate keys are kept; lookups see the first).
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// Where the node starts (and, for scalars, its extent).
    pub span: Span,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(v) => Some(v),
            _ => None,
        }
    }
    /// The value of the first key whose text is `key` (yaml-cpp's `node[key]`).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map(|(_, v)| v)
    }
    /// The key node itself (for key positions).
    pub fn get_key(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map(|(k, _)| k)
    }
    /// Text of a key, as yaml-cpp's `as<std::string>()` would give it (empty for non-scalars).
    pub fn key_text(&self) -> String {
        self.as_scalar().unwrap_or("").to_string()
    }
    fn count(&self) -> usize {
        match &self.kind {
            NodeKind::Null | NodeKind::Scalar { .. } => 1,
            NodeKind::Seq(v) => 1 + v.iter().map(Node::count).sum::<usize>(),
            NodeKind::Map(v) => 1 + v.iter().map(|(k, v)| k.count() + v.count()).sum::<usize>(),
        }
    }
}

/// A YAML syntax error (or a limit exceeded), with where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub message: String,
    pub span: Span,
}

/// Maps saphyr's character indices to byte offsets of the source.
struct Positions<'a> {
    src: &'a str,
    /// Byte offset of every char index (plus one past the end).
    byte_of_char: Vec<u32>,
}

impl<'a> Positions<'a> {
    fn new(src: &'a str) -> Self {
        let mut byte_of_char: Vec<u32> = src.char_indices().map(|(b, _)| b as u32).collect();
        byte_of_char.push(src.len() as u32);
        Positions { src, byte_of_char }
    }

    fn byte(&self, char_index: usize) -> u32 {
        self.byte_of_char
            .get(char_index)
            .copied()
            .unwrap_or(self.src.len() as u32)
    }

    fn span(&self, file: FileId, s: &saphyr_parser::Span) -> Span {
        let start = self.byte(s.start.index());
        let end = self.byte(s.end.index()).max(start);
        Span {
            file,
            offset: start,
            len: end - start,
            line: s.start.line() as u32,
            col: s.start.col() as u32 + 1,
        }
    }

    fn point(&self, file: FileId, m: &saphyr_parser::Marker) -> Span {
        Span::point(
            file,
            self.byte(m.index()),
            m.line() as u32,
            m.col() as u32 + 1,
        )
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        span: Span,
        anchor: usize,
    },
}

/// Work budget (bytes re-parsed) for re-indenting closing brackets (see `parse`), so that a
/// hostile file with many of them stays linear-ish.
const BRACKET_FIX_BUDGET: usize = 32 << 20;

/// Parses every document of `src`. Null documents are returned as `Null` nodes.
///
/// yaml-cpp (Falco) accepts a flow collection whose closing `]`/`}` sits at the indentation of the
/// key that opened it (`  items: [` ... `  ]`), which real rule files do; YAML 1.2 parsers reject
/// it. When saphyr reports "invalid indentation" exactly at such a bracket, the bracket is moved to
/// just after the last content before it (outside comments) and parsing is retried; the text keeps
/// its length and every node keeps its position.
pub fn parse(src: &str, file: FileId) -> Result<Vec<Node>, YamlError> {
    let mut text = std::borrow::Cow::Borrowed(src);
    let mut first_error = None;
    let mut budget = BRACKET_FIX_BUDGET;
    loop {
        match parse_once(&text, file) {
            Ok(docs) => return Ok(docs),
            Err(e) => {
                let fixed = if e.message == "invalid indentation" {
                    move_bracket(&text, e.span.offset as usize)
                } else {
                    None
                };
                let first = first_error.get_or_insert(e).clone();
                budget = match budget.checked_sub(text.len().max(1)) {
                    Some(b) => b,
                    None => return Err(first),
                };
                match fixed {
                    Some(t) => text = std::borrow::Cow::Owned(t),
                    None => return Err(first),
                }
            }
        }
    }
}

/// Moves the closing bracket at `at` (preceded on its line only by blanks) to right after the last
/// non-blank, non-comment character before that line.
fn move_bracket(text: &str, at: usize) -> Option<String> {
    let b = text.as_bytes();
    if !matches!(b.get(at), Some(b']') | Some(b'}')) {
        return None;
    }
    let line_start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    if !text
        .get(line_start..at)?
        .bytes()
        .all(|c| c == b' ' || c == b'\t')
    {
        return None;
    }
    // Walk back over previous lines to the last content outside a comment.
    let mut end = line_start;
    while end > 0 {
        let ls = text.get(..end - 1)?.rfind('\n').map_or(0, |i| i + 1);
        let line = text.get(ls..end - 1)?;
        let content = strip_comment(line).trim_end();
        if !content.is_empty() {
            let insert = ls + content.len();
            let mut out = String::with_capacity(text.len());
            out.push_str(text.get(..insert)?);
            out.push(char::from(*b.get(at)?));
            out.push_str(text.get(insert..at)?);
            out.push_str(text.get(at + 1..)?);
            return Some(out);
        }
        end = ls;
    }
    None
}

/// The part of a line before a `#` comment (a `#` at line start or after a blank, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev_blank => return line.get(..i).unwrap_or(line),
            None => {}
        }
        prev_blank = c == ' ' || c == '\t';
    }
    line
}

fn parse_once(src: &str, file: FileId) -> Result<Vec<Node>, YamlError> {
    let pos = Positions::new(src);
    let mut parser = Parser::new_from_str(src);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, (Node, usize)> = Default::default();
    let mut nodes: usize = 0;
    let mut doc_root: Option<Node> = None;

    loop {
        let (event, espan) = match parser.next_event() {
            None => break,
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                return Err(YamlError {
                    message: e.info().to_string(),
                    span: pos.point(file, e.marker()),
                })
            }
        };
        let span = pos.span(file, &espan);
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::Nothing => None,
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                doc_root = None;
                None
            }
            Event::DocumentEnd => {
                docs.push(doc_root.take().unwrap_or(Node {
                    kind: NodeKind::Null,
                    span,
                }));
                None
            }
            Event::Alias(id) => {
                let Some((node, size)) = anchors.get(&id) else {
                    return Err(YamlError {
                        message: "unknown anchor".into(),
                        span,
                    });
                };
                nodes += size;
                if nodes > MAX_NODES {
                    return Err(limit_error(span));
                }
                Some((node.clone(), 0))
            }
            Event::Scalar(text, style, anchor, _tag) => {
                nodes += 1;
                let kind = if style == ScalarStyle::Plain && is_null_text(&text) {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar {
                        text: text.into_owned(),
                        quoted: style != ScalarStyle::Plain,
                    }
                };
                let span = if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    block_indicator_span(src, span)
                } else {
                    span
                };
                Some((Node { kind, span }, anchor))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        message: format!("YAML nesting deeper than {MAX_DEPTH} levels"),
                        span,
                    });
                }
                nodes += 1;
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    span,
                    anchor,
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        message: format!("YAML nesting deeper than {MAX_DEPTH} levels"),
                        span,
                    });
                }
                nodes += 1;
                stack.push(Frame::Map {
                    pairs: Vec::new(),
                    pending_key: None,
                    span,
                    anchor,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    span,
                    anchor,
                }) => Some((
                    Node {
                        kind: NodeKind::Seq(items),
                        span,
                    },
                    anchor,
                )),
                _ => {
                    return Err(YamlError {
                        message: "unbalanced sequence end".into(),
                        span,
                    })
                }
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    pairs,
                    span,
                    anchor,
                    ..
                }) => Some((
                    Node {
                        kind: NodeKind::Map(pairs),
                        span,
                    },
                    anchor,
                )),
                _ => {
                    return Err(YamlError {
                        message: "unbalanced mapping end".into(),
                        span,
                    })
                }
            },
        };
        if nodes > MAX_NODES {
            return Err(limit_error(span));
        }
        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            let size = node.count();
            anchors.insert(anchor, (node.clone(), size));
        }
        match stack.last_mut() {
            None => doc_root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                pairs, pending_key, ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
        }
    }
    Ok(docs)
}

/// A block scalar's span starting at its `|`/`>` indicator (where yaml-cpp, and so Falco, puts
/// its mark) instead of at its first content byte.
fn block_indicator_span(src: &str, span: Span) -> Span {
    let b = src.as_bytes();
    let mut k = (span.offset as usize).min(b.len());
    let mut lines_back = 0u32;
    // Back over the line break and indentation before the content.
    while k > 0 && matches!(b.get(k - 1), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        k -= 1;
        if b.get(k) == Some(&b'\n') {
            lines_back += 1;
        }
    }
    // Back over chomping/indentation indicators (`>-`, `|+2`) to the indicator itself.
    while k > 0 && matches!(b.get(k - 1), Some(b'+' | b'-' | b'0'..=b'9')) {
        k -= 1;
    }
    if k == 0 || !matches!(b.get(k - 1), Some(b'|' | b'>')) || lines_back == 0 {
        return span;
    }
    let at = k - 1;
    let line_start = src
        .get(..at)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let col = src.get(line_start..at).map_or(0, |t| t.chars().count()) as u32 + 1;
    let end = span.offset + span.len;
    Span {
        file: span.file,
        offset: at as u32,
        len: end.saturating_sub(at as u32),
        line: span.line.saturating_sub(lines_back),
        col,
    }
}

fn limit_error(span: Span) -> YamlError {
    YamlError {
        message: format!(
            "YAML document too large: more than {MAX_NODES} nodes (after alias expansion)"
        ),
        span,
    }
}

/// yaml-cpp's null spellings for a plain scalar.
fn is_null_text(t: &str) -> bool {
    matches!(t, "" | "~" | "null" | "Null" | "NULL")
}

/// yaml-cpp's boolean decoding: y/n, yes/no, true/false, on/off in lower, UPPER or Capitalized form.
pub fn decode_bool(t: &str) -> Option<bool> {
    const T: [&str; 4] = ["y", "yes", "true", "on"];
    const F: [&str; 4] = ["n", "no", "false", "off"];
    let lower = t.to_ascii_lowercase();
    let spelled_ok = t == lower || t == t.to_ascii_uppercase() || {
        let mut cs = t.chars();
        cs.next().is_some_and(|c| c.is_ascii_uppercase())
            && cs.as_str() == cs.as_str().to_ascii_lowercase()
    };
    if !spelled_ok {
        return None;
    }
    if T.contains(&lower.as_str()) {
        Some(true)
    } else if F.contains(&lower.as_str()) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Node {
        let mut d = parse(src, 0).expect("parses");
        assert_eq!(d.len(), 1);
        d.remove(0)
    }

    #[test]
    fn scalars_keep_their_text() {
        let n = one("- [0x10, 1.50, yes, '007', ~x, =]\n");
        let seq = n.as_seq().unwrap()[0].as_seq().unwrap();
        let t: Vec<_> = seq.iter().map(|n| n.as_scalar().unwrap()).collect();
        assert_eq!(t, ["0x10", "1.50", "yes", "007", "~x", "="]);
    }

    #[test]
    fn spans_are_one_based() {
        let n = one("- rule: r\n  desc: d\n");
        let item = &n.as_seq().unwrap()[0];
        assert_eq!((item.span.line, item.span.col), (1, 3));
        let d = item.get("desc").unwrap();
        assert_eq!((d.span.line, d.span.col, d.span.offset), (2, 9, 18));
    }

    #[test]
    fn block_scalars_start_at_their_indicator() {
        let n = one("a: >-\n  x\n  y\nb: |\n\n  z\n");
        let a = n.get("a").unwrap();
        assert_eq!(
            (a.span.line, a.span.col, a.as_scalar()),
            (1, 4, Some("x y"))
        );
        let b = n.get("b").unwrap();
        assert_eq!(
            (b.span.line, b.span.col, b.as_scalar()),
            (4, 4, Some("\nz\n"))
        );
    }

    #[test]
    fn nulls_and_quoted_empty() {
        let n = one("a:\nb: ''\nc: ~\n");
        assert!(n.get("a").unwrap().is_null());
        assert_eq!(n.get("b").unwrap().as_scalar(), Some(""));
        assert!(n.get("c").unwrap().is_null());
    }

    #[test]
    fn indented_top_level_sequence() {
        let n = one("\n    - list: a\n      items: [x]\n");
        assert_eq!(n.as_seq().unwrap().len(), 1);
    }

    #[test]
    fn closing_bracket_at_key_indentation() {
        let src = "- list: a\n  items: [\n    x, y # c\n    # only a comment\n\n  ]\n- list: b\n  items: [z]\n";
        let n = one(src);
        let items = n.as_seq().unwrap();
        assert_eq!(items.len(), 2);
        let a: Vec<_> = items[0]
            .get("items")
            .unwrap()
            .as_seq()
            .unwrap()
            .iter()
            .map(|x| x.as_scalar().unwrap())
            .collect();
        assert_eq!(a, ["x", "y"]);
        assert_eq!(items[1].span.line, 7);
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let e = parse(&s, 0).unwrap_err();
        assert!(e.message.contains("too large"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let s = "[".repeat(100_000);
        assert!(parse(&s, 0).is_err());
    }

    #[test]
    fn bools() {
        for t in [
            "y", "Y", "yes", "YES", "Yes", "true", "True", "TRUE", "on", "On",
        ] {
            assert_eq!(decode_bool(t), Some(true), "{t}");
        }
        for t in ["n", "no", "False", "OFF"] {
            assert_eq!(decode_bool(t), Some(false), "{t}");
        }
        for t in ["nope", "tRue", "1", ""] {
            assert_eq!(decode_bool(t), None, "{t}");
        }
    }
}
