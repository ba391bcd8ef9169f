//! Read-only navigation over a token tape.

use super::parse::{parse_value_fully, Kind, Tok};
use super::text::{compact, unescape};
use std::borrow::Cow;

/// One JSON value of an event: the source bytes, the tape holding it, and its token index.
///
/// The source is text (`json::utf8` made it `str` once per document, after `parse_value` accepted it)
/// and every token starts and ends on an ASCII byte, so a token's text is a slice of it: no UTF-8
/// check per value read.
#[derive(Debug, Clone, Copy)]
pub struct Node<'t, 'a> {
    text: Text<'a>,
    toks: &'t [Tok],
    idx: usize,
}

/// The text a tape's offsets refer to, or a part of it: `src` holds the bytes from offset `base` on
/// (a worker evaluating some events of a large body checks only their part of it for UTF-8).
#[derive(Debug, Clone, Copy)]
pub struct Text<'a> {
    src: &'a str,
    base: usize,
}

impl<'a> Text<'a> {
    /// The text of offsets `base..base + src.len()`.
    pub fn new(src: &'a str, base: usize) -> Text<'a> {
        Text { src, base }
    }

    /// The text of offsets `start..end` ("" outside this part).
    #[inline]
    pub fn slice(&self, start: usize, end: usize) -> &'a str {
        match (start.checked_sub(self.base), end.checked_sub(self.base)) {
            (Some(s), Some(e)) => self.src.get(s..e).unwrap_or_default(),
            _ => "",
        }
    }
}

impl<'a> From<&'a str> for Text<'a> {
    /// A whole text (offset 0 on).
    fn from(src: &'a str) -> Text<'a> {
        Text::new(src, 0)
    }
}

impl<'t, 'a> Node<'t, 'a> {
    /// The node of token `idx` of `toks`, a tape over `src` (None if out of range).
    pub fn new(src: &'a str, toks: &'t [Tok], idx: usize) -> Option<Node<'t, 'a>> {
        Node::within(Text::new(src, 0), toks, idx)
    }

    /// The node of token `idx` of `toks`, whose offsets `text` covers.
    pub fn within(text: Text<'a>, toks: &'t [Tok], idx: usize) -> Option<Node<'t, 'a>> {
        toks.get(idx).map(|_| Node { text, toks, idx })
    }

    fn tok(&self) -> Tok {
        // `new` and every navigation step check the index, so this cannot miss; Null is a harmless default.
        self.toks.get(self.idx).copied().unwrap_or(Tok {
            kind: Kind::Null,
            start: 0,
            end: 0,
            next: 0,
            blank: false,
            untaped: false,
        })
    }

    pub fn kind(&self) -> Kind {
        self.tok().kind
    }

    /// Index of this node's token (for callers that keep per-token caches).
    pub fn index(&self) -> usize {
        self.idx
    }

    /// The raw source of the token: string content without quotes (still escaped), a number's lexeme,
    /// or the whole text of a container.
    pub fn raw(&self) -> &'a str {
        let t = self.tok();
        self.text.slice(t.start as usize, t.end as usize)
    }

    /// The raw source bytes of the token (see `raw`).
    pub fn raw_bytes(&self) -> &'a [u8] {
        self.raw().as_bytes()
    }

    pub fn is_str(&self) -> bool {
        matches!(self.kind(), Kind::Str | Kind::StrEsc)
    }

    pub fn is_array(&self) -> bool {
        self.kind() == Kind::Arr
    }

    pub fn is_object(&self) -> bool {
        self.kind() == Kind::Obj
    }

    /// The unescaped content of a string node.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        match self.kind() {
            Kind::Str => Some(Cow::Borrowed(self.raw())),
            Kind::StrEsc => Some(unescape(self.raw())),
            _ => None,
        }
    }

    /// Field text (docs/semantics.md#ka-field-extraction): a string's unescaped content, else the compact JSON text
    /// of the value.
    pub fn text(&self) -> Cow<'a, str> {
        let t = self.tok();
        match t.kind {
            Kind::Str => Cow::Borrowed(self.raw()),
            Kind::StrEsc => unescape(self.raw()),
            // The parser noted whether the container has blanks: compact text is then rebuilt,
            // otherwise it is the source text (no rescan of large objects).
            Kind::Obj | Kind::Arr if !t.blank => Cow::Borrowed(self.raw()),
            Kind::Obj | Kind::Arr => compact(self.raw()),
            _ => Cow::Borrowed(self.raw()),
        }
    }

    /// Whether the text of this container has blanks outside strings (false for other kinds).
    pub fn has_blanks(&self) -> bool {
        self.tok().blank
    }

    /// Whether this container was validated but its children left off the tape (`parse` module
    /// notes): it then looks empty to `members`, `elements` and `step`; its text is complete.
    pub fn is_untaped(&self) -> bool {
        self.tok().untaped
    }

    /// The full tape of this node's subtree (its token is index 0 of it), for a reader that must look
    /// inside an untaped container: its offsets refer to `source()`. The text was validated when the
    /// tape holding this node was built, so this cannot fail on a tape `parse_value` made; on any other
    /// tape it gives `None`.
    pub fn retape(&self) -> Option<Vec<Tok>> {
        let t = self.tok();
        let start = (t.start as usize).checked_sub(self.text.base)?;
        let end = (t.end as usize).checked_sub(self.text.base)?;
        let mut tape = Vec::new();
        parse_value_fully(self.text.src.as_bytes(), start, end, &mut tape).ok()?;
        Some(tape)
    }

    /// The source text `retape`'s tapes refer to.
    pub fn source(&self) -> &'a str {
        self.text.src
    }

    /// The compact JSON text of the value (strings keep their quotes and escapes).
    pub fn json_text(&self) -> Cow<'a, str> {
        let t = self.tok();
        match t.kind {
            Kind::Str | Kind::StrEsc => {
                let start = (t.start as usize).saturating_sub(1);
                Cow::Borrowed(self.text.slice(start, t.end as usize + 1))
            }
            _ => self.text(),
        }
    }

    /// Whether this is a string node equal to `s` (after unescaping).
    pub fn str_eq(&self, s: &str) -> bool {
        self.tok_str_eq(self.tok(), s)
    }

    /// Whether token `t` (of this node's tape) is a string equal to `s`: a plain string's length comes
    /// from its token, so most unequal keys cost no byte comparison.
    #[inline]
    fn tok_str_eq(&self, t: Tok, s: &str) -> bool {
        match t.kind {
            Kind::Str => {
                t.end.saturating_sub(t.start) as usize == s.len()
                    && self.text.slice(t.start as usize, t.end as usize) == s
            }
            Kind::StrEsc => unescape(self.text.slice(t.start as usize, t.end as usize)) == s,
            _ => false,
        }
    }

    /// The value of the first member named `key` of an object node.
    ///
    /// The hot step of every field path: walks the tape directly (`tok_str_eq` on each key).
    pub fn get(&self, key: &str) -> Option<Node<'t, 'a>> {
        let t = self.tok();
        if t.kind != Kind::Obj {
            return None;
        }
        let (mut i, end) = (self.idx + 1, t.next as usize);
        while i + 1 < end {
            if self.tok_str_eq(*self.toks.get(i)?, key) {
                return Node::within(self.text, self.toks, i + 1);
            }
            i = self.toks.get(i + 1)?.next as usize;
        }
        None
    }

    /// Element `i` of an array node.
    pub fn at(&self, i: usize) -> Option<Node<'t, 'a>> {
        self.elements().nth(i)
    }

    /// One step of a plain path walk: object member by key, or array element by a decimal key.
    pub fn step(&self, key: &str) -> Option<Node<'t, 'a>> {
        match self.kind() {
            Kind::Obj => self.get(key),
            Kind::Arr => parse_index(key).and_then(|i| self.at(i)),
            _ => None,
        }
    }

    /// Walks `path` with `step`.
    pub fn path(&self, path: &[&str]) -> Option<Node<'t, 'a>> {
        let mut n = *self;
        for k in path {
            n = n.step(k)?;
        }
        Some(n)
    }

    /// Elements of an array node (nothing for other kinds).
    pub fn elements(&self) -> Elements<'t, 'a> {
        let t = self.tok();
        let (i, end) = if t.kind == Kind::Arr {
            (self.idx + 1, t.next as usize)
        } else {
            (0, 0)
        };
        Elements {
            text: self.text,
            toks: self.toks,
            i,
            end,
        }
    }

    /// Members of an object node as (key, value) (nothing for other kinds).
    pub fn members(&self) -> Members<'t, 'a> {
        let t = self.tok();
        let (i, end) = if t.kind == Kind::Obj {
            (self.idx + 1, t.next as usize)
        } else {
            (0, 0)
        };
        Members {
            text: self.text,
            toks: self.toks,
            i,
            end,
        }
    }
}

/// Decimal index as Go's `strconv.Atoi` reads it for array steps (leading zeros allowed, no sign).
/// A sign is accepted; `-0` is element 0, any other negative number is out of range.
fn parse_index(key: &str) -> Option<usize> {
    let digits = key.strip_prefix(['+', '-']).unwrap_or(key);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: usize = digits.parse().ok()?;
    (!key.starts_with('-') || i == 0).then_some(i)
}

/// Iterator over array elements.
pub struct Elements<'t, 'a> {
    text: Text<'a>,
    toks: &'t [Tok],
    i: usize,
    end: usize,
}

impl<'t, 'a> Iterator for Elements<'t, 'a> {
    type Item = Node<'t, 'a>;
    fn next(&mut self) -> Option<Node<'t, 'a>> {
        if self.i >= self.end {
            return None;
        }
        let n = Node::within(self.text, self.toks, self.i)?;
        self.i = self.toks.get(self.i).map_or(self.end, |t| t.next as usize);
        Some(n)
    }
}

/// Iterator over object members.
pub struct Members<'t, 'a> {
    text: Text<'a>,
    toks: &'t [Tok],
    i: usize,
    end: usize,
}

impl<'t, 'a> Iterator for Members<'t, 'a> {
    type Item = (Node<'t, 'a>, Node<'t, 'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.i + 1 >= self.end {
            return None;
        }
        let k = Node::within(self.text, self.toks, self.i)?;
        let v = Node::within(self.text, self.toks, self.i + 1)?;
        self.i = self
            .toks
            .get(self.i + 1)
            .map_or(self.end, |t| t.next as usize);
        Some((k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_value;
    use super::*;

    fn with<R>(s: &str, f: impl FnOnce(Node<'_, '_>) -> R) -> R {
        let mut t = Vec::new();
        parse_value(s.as_bytes(), 0, s.len(), &mut t).unwrap();
        f(Node::new(s, &t, 0).unwrap())
    }

    #[test]
    fn navigates_objects_and_arrays() {
        with(r#"{"a":{"b":[10,"x",{"c":true}]},"a":2}"#, |n| {
            assert_eq!(n.path(&["a", "b", "0"]).unwrap().text(), "10");
            assert_eq!(n.path(&["a", "b", "1"]).unwrap().text(), "x");
            assert_eq!(n.path(&["a", "b", "2", "c"]).unwrap().text(), "true");
            assert!(n.path(&["a", "b", "3"]).is_none());
            assert!(n.path(&["a", "b", "c"]).is_none());
            assert!(n.path(&["a", "x"]).is_none());
            assert_eq!(
                n.get("a").unwrap().kind(),
                Kind::Obj,
                "first duplicate wins"
            );
            assert_eq!(n.get("a").unwrap().get("b").unwrap().elements().count(), 3);
            assert_eq!(n.members().count(), 2);
        });
    }

    #[test]
    fn text_of_values() {
        with(
            r#"{ "s":"a\u0041", "n": 1.50e3, "o": { "k" : [ 1 , null ] }, "z": null }"#,
            |n| {
                assert_eq!(n.get("s").unwrap().text(), "aA");
                assert_eq!(n.get("s").unwrap().json_text(), r#""a\u0041""#);
                assert_eq!(n.get("n").unwrap().text(), "1.50e3");
                assert_eq!(n.get("o").unwrap().text(), r#"{"k":[1,null]}"#);
                assert_eq!(n.get("z").unwrap().text(), "null");
            },
        );
    }

    #[test]
    fn compact_containers_borrow_and_blank_ones_are_compacted() {
        with(r#"{"a":{"b":[1,"x y"]},"c":[ 1 ],"d":{"e":{ }}}"#, |n| {
            let a = n.get("a").unwrap();
            assert!(!a.has_blanks());
            assert!(matches!(a.text(), Cow::Borrowed(r#"{"b":[1,"x y"]}"#)));
            assert!(n.get("c").unwrap().has_blanks());
            assert_eq!(n.get("c").unwrap().text(), "[1]");
            let d = n.get("d").unwrap();
            assert!(
                d.has_blanks(),
                "blanks in a nested container count for the outer one"
            );
            assert_eq!(d.text(), r#"{"e":{}}"#);
            assert!(n.has_blanks());
        });
    }

    #[test]
    fn untaped_members_are_whole_text_and_retape_on_demand() {
        let doc = r#"{"metadata":{"name":"n","managedFields":[{"manager":"m","f":{ "a":1}}]},"managedFields":"s","after":1}"#;
        with(doc, |n| {
            let mf = n.path(&["metadata", "managedFields"]).unwrap();
            assert!(mf.is_untaped() && mf.is_array());
            assert_eq!(mf.elements().count(), 0, "no children on the tape");
            assert!(mf.has_blanks());
            assert_eq!(mf.text(), r#"[{"manager":"m","f":{"a":1}}]"#);
            assert_eq!(n.path(&["metadata", "name"]).unwrap().text(), "n");
            assert_eq!(
                n.get("after").unwrap().text(),
                "1",
                "members after it are found"
            );
            assert!(
                !n.get("managedFields").unwrap().is_untaped(),
                "strings are plain values"
            );
            let tape = mf.retape().unwrap();
            let full = Node::new(mf.source(), &tape, 0).unwrap();
            assert!(!full.is_untaped());
            assert_eq!(full.path(&["0", "manager"]).unwrap().text(), "m");
            assert_eq!(full.path(&["0", "f", "a"]).unwrap().text(), "1");
        });
    }

    #[test]
    fn escaped_keys_match_unescaped() {
        with(r#"{"a\/b":1}"#, |n| {
            assert_eq!(n.get("a/b").unwrap().text(), "1")
        });
    }
}
