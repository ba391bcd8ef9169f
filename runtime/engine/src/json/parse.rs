//! The validating JSON scanner that fills a token tape.
//!
//! Tape layout: a value is one `Tok`; an object or array token is followed by its children (objects:
//! key token then value, per member), and its `next` field is the index just past its subtree, so a
//! reader skips a member in O(1). Offsets are absolute into the source text (so tapes built later for
//! a sub-slice share the coordinates of the event).
//!
//! Parsing less: the value of a member named in [`UNTAPED_MEMBERS`] (Kubernetes' `managedFields`, often
//! half of a stored object, read by no field) is validated exactly like any other value but only its
//! container token goes on the tape, marked `untaped`, with no children. A reader that must look inside
//! (only `json.value` pointers can) tapes that one subtree on demand (`Node::retape`).
//!
//! Code layout is part of the speed: audit events hold a token every dozen bytes, so the cost per token
//! (calls, returned tuples, error-building code in the hot loop) outweighs the byte scanning. Everything a
//! token needs is inlined into the two recursive functions, `object` and `array`, and every error is built
//! in one cold function: 1.28-1.36x the speed of the same code left to the compiler's inlining
//! (bench/README.md, "issue 14, fourth pass"; a SIMD structural pass and a loop-with-a-stack variant were
//! measured there too, and were slower on audit events). Only optimised builds inline this way: without
//! optimisation every inlined local keeps its own stack slot, and `object`'s frame grew enough for the
//! 512 levels of nesting the parser accepts to overflow a test thread's stack.

use super::swar;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    True,
    False,
    /// A number; `start..end` is its lexeme.
    Num,
    /// A string without backslashes; `start..end` is the content between the quotes.
    Str,
    /// A string with escapes; `start..end` is the raw content between the quotes.
    StrEsc,
    Obj,
    Arr,
}

/// One tape entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tok {
    pub kind: Kind,
    pub start: u32,
    pub end: u32,
    /// Index just past this token's subtree.
    pub next: u32,
    /// Containers: whether blanks occur outside strings in the text (so compact text must be
    /// rebuilt); a compact container's text is borrowed as is.
    pub blank: bool,
    /// Containers: validated, but the children were not put on the tape (see the module notes).
    pub untaped: bool,
}

/// Member names whose container values are validated without taping their children.
pub const UNTAPED_MEMBERS: &[&[u8]] = &[b"managedFields"];

/// A JSON syntax error at an absolute byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub msg: &'static str,
}

/// Index of the first `"` or `\\` at or after `i` (or `src.len()`), eight bytes at a time: most
/// strings of an audit event are short, where this beats a SIMD search's setup cost. Also ORs into
/// `high` the top bits of the bytes looked at, so the caller knows whether non-ASCII bytes may be
/// present (bytes just past the hit can add false alarms, never misses).
#[inline]
fn find_quote_or_backslash(src: &[u8], mut i: usize, high: &mut u64) -> usize {
    while let Some(x) = swar::word(src, i) {
        *high |= x;
        let hit = swar::equal_to(x, b'"') | swar::equal_to(x, b'\\');
        if hit != 0 {
            return i + swar::first_flagged(hit);
        }
        i += 8;
    }
    while let Some(&c) = src.get(i) {
        *high |= u64::from(c);
        if c == b'"' || c == b'\\' {
            return i;
        }
        i += 1;
    }
    src.len()
}

/// Deepest nesting accepted; deeper input is rejected instead of risking the stack.
const MAX_DEPTH: u32 = 512;

struct Parser<'s, 't> {
    src: &'s [u8],
    pos: usize,
    tape: &'t mut Vec<Tok>,
    /// Blank bytes skipped so far (containers compare it before and after to set `Tok::blank`).
    blanks: usize,
    /// Above zero while inside an untaped subtree: tokens are checked but not pushed.
    quiet: u32,
    /// Whether members named in `UNTAPED_MEMBERS` are left untaped.
    skip_members: bool,
}

/// Parses the one JSON value filling `src[start..end]` (surrounding blanks allowed) onto `tape`,
/// leaving the values of `UNTAPED_MEMBERS` untaped.
pub fn parse_value(
    src: &[u8],
    start: usize,
    end: usize,
    tape: &mut Vec<Tok>,
) -> Result<(), ParseError> {
    parse_with(src, start, end, tape, true)
}

/// Like [`parse_value`], but tapes every value (used to tape an untaped subtree on demand).
pub fn parse_value_fully(
    src: &[u8],
    start: usize,
    end: usize,
    tape: &mut Vec<Tok>,
) -> Result<(), ParseError> {
    parse_with(src, start, end, tape, false)
}

fn parse_with(
    src: &[u8],
    start: usize,
    end: usize,
    tape: &mut Vec<Tok>,
    skip_members: bool,
) -> Result<(), ParseError> {
    let slice = src.get(..end).ok_or(ParseError {
        offset: start,
        msg: "range out of bounds",
    })?;
    if slice.len() > u32::MAX as usize {
        return Err(ParseError {
            offset: 0,
            msg: "input too large",
        });
    }
    let mut p = Parser {
        src: slice,
        pos: start,
        tape,
        blanks: 0,
        quiet: 0,
        skip_members,
    };
    p.skip_ws();
    p.value(0)?;
    p.skip_ws();
    if p.pos != slice.len() {
        return Err(p.err("unexpected data after the JSON value"));
    }
    Ok(())
}

impl Parser<'_, '_> {
    /// Every error path ends here: kept out of the hot loops (see the module notes).
    #[cold]
    #[inline(never)]
    fn err(&self, msg: &'static str) -> ParseError {
        ParseError {
            offset: self.pos,
            msg,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        let start = self.pos;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
        self.blanks += self.pos - start;
    }

    #[inline]
    fn push(&mut self, kind: Kind, start: usize, end: usize) {
        if self.quiet > 0 {
            return;
        }
        let next = self.tape.len() as u32 + 1;
        self.tape.push(Tok {
            kind,
            start: start as u32,
            end: end as u32,
            next,
            blank: false,
            untaped: false,
        });
    }

    /// The value of a member whose key token is `tape[key]`: untaped when the key is one of
    /// `UNTAPED_MEMBERS` and the value a container, else parsed as usual.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn member_value(&mut self, key: Option<(usize, usize)>, depth: u32) -> Result<(), ParseError> {
        let untaped = self.quiet == 0
            && matches!(self.peek(), Some(b'{' | b'['))
            && key.is_some_and(|(s, e)| {
                self.src
                    .get(s..e)
                    .is_some_and(|k| UNTAPED_MEMBERS.contains(&k))
            });
        if !untaped {
            return self.value(depth);
        }
        let at = self.tape.len();
        let (kind, start, blanks) = (self.peek(), self.pos, self.blanks);
        self.quiet += 1;
        let r = self.value(depth);
        self.quiet -= 1;
        r?;
        let kind = if kind == Some(b'{') {
            Kind::Obj
        } else {
            Kind::Arr
        };
        self.push(kind, start, self.pos);
        if let Some(t) = self.tape.get_mut(at) {
            t.blank = self.blanks != blanks;
            t.untaped = true;
        }
        Ok(())
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn value(&mut self, depth: u32) -> Result<(), ParseError> {
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let (s, e, esc) = self.string()?;
                self.push(if esc { Kind::StrEsc } else { Kind::Str }, s, e);
                Ok(())
            }
            Some(b't') => self.literal(b"true", Kind::True),
            Some(b'f') => self.literal(b"false", Kind::False),
            Some(b'n') => self.literal(b"null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => {
                let s = self.pos;
                self.number()?;
                self.push(Kind::Num, s, self.pos);
                Ok(())
            }
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn literal(&mut self, word: &'static [u8], kind: Kind) -> Result<(), ParseError> {
        if self.src.get(self.pos..self.pos + word.len()) == Some(word) {
            let s = self.pos;
            self.pos += word.len();
            self.push(kind, s, self.pos);
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn digits(&mut self) -> usize {
        let s = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - s
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn number(&mut self) -> Result<(), ParseError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        Ok(())
    }

    /// Scans a string at `pos` (on the opening quote); returns its content range and whether it has escapes.
    /// Raw control characters are tolerated, as the upstream parser does.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn string(&mut self) -> Result<(usize, usize, bool), ParseError> {
        self.pos += 1;
        let start = self.pos;
        let mut esc = false;
        let mut high = 0u64;
        loop {
            self.pos = find_quote_or_backslash(self.src, self.pos, &mut high);
            match self.src.get(self.pos) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let end = self.pos;
                    // Non-ASCII content must be UTF-8: with every other byte of a valid document being
                    // ASCII, the whole text is then UTF-8 and any token slice converts to `str`.
                    if swar::has_non_ascii(high) {
                        if let Err(e) = std::str::from_utf8(self.src.get(start..end).unwrap_or(&[]))
                        {
                            return Err(ParseError {
                                offset: start + e.valid_up_to(),
                                msg: "invalid UTF-8 in string",
                            });
                        }
                    }
                    self.pos += 1;
                    return Ok((start, end, esc));
                }
                Some(_) => {
                    esc = true;
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            let hex = self.src.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.err("invalid \\u escape"));
                            }
                            self.pos += 5;
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
            }
        }
    }

    #[inline(never)]
    fn object(&mut self, depth: u32) -> Result<(), ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let at = self.tape.len();
        let start = self.pos;
        let blanks = self.blanks;
        self.push(Kind::Obj, start, start);
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a member name"));
                }
                let (ks, ke, kesc) = self.string()?;
                self.push(if kesc { Kind::StrEsc } else { Kind::Str }, ks, ke);
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return Err(self.err("expected ':'"));
                }
                self.pos += 1;
                self.skip_ws();
                // Escaped keys never match (no untaped name needs escapes).
                let key = (self.skip_members && !kesc).then_some((ks, ke));
                self.member_value(key, depth + 1)?;
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                    }
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or '}'")),
                }
            }
        }
        self.close(at, blanks);
        Ok(())
    }

    #[inline(never)]
    fn array(&mut self, depth: u32) -> Result<(), ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let at = self.tape.len();
        let start = self.pos;
        let blanks = self.blanks;
        self.push(Kind::Arr, start, start);
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                self.value(depth + 1)?;
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                    }
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or ']'")),
                }
            }
        }
        self.close(at, blanks);
        Ok(())
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn close(&mut self, at: usize, blanks_before: usize) {
        if self.quiet > 0 {
            return;
        }
        let next = self.tape.len() as u32;
        let end = self.pos as u32;
        let blank = self.blanks != blanks_before;
        if let Some(t) = self.tape.get_mut(at) {
            t.end = end;
            t.next = next;
            t.blank = blank;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tape(s: &str) -> Result<Vec<Tok>, ParseError> {
        let mut t = Vec::new();
        parse_value(s.as_bytes(), 0, s.len(), &mut t).map(|_| t)
    }

    #[test]
    fn accepts_valid_json_and_links_subtrees() {
        let t = tape(r#" {"a": [1, -2.5e3, "x\"y"], "b": {"c": null}, "d": true} "#).unwrap();
        let kinds: Vec<Kind> = t.iter().map(|t| t.kind).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            vec![Obj, Str, Arr, Num, Num, StrEsc, Str, Obj, Str, Null, Str, True]
        );
        assert_eq!(t[0].next, 12);
        assert_eq!(t[2].next, 6);
        assert_eq!(t[7].next, 10);
    }

    #[test]
    fn rejects_invalid_json_with_offsets() {
        for bad in [
            "",
            "{",
            "{\"a\" 1}",
            "[1,]",
            "01",
            "1.",
            "-",
            "{\"a\":tru}",
            "\"\\x\"",
            "\"\\u12\"",
            "{} x",
            "[1 2]",
        ] {
            assert!(tape(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(tape("[1, x]").unwrap_err().offset, 4);
    }

    #[test]
    fn quote_search_finds_the_first_hit_at_any_offset() {
        for n in 0..20 {
            let mut s = "a".repeat(n);
            s.push('"');
            s.push_str("\\\"");
            assert_eq!(find_quote_or_backslash(s.as_bytes(), 0, &mut 0), n);
            let mut b = "\u{e9}".repeat(n);
            b.push('\\');
            let mut high = 0;
            assert_eq!(find_quote_or_backslash(b.as_bytes(), 0, &mut high), 2 * n);
            assert_eq!(high & 0x8080_8080_8080_8080 != 0, n > 0);
        }
        assert_eq!(find_quote_or_backslash(b"abcdefghijk", 0, &mut 0), 11);
        assert_eq!(find_quote_or_backslash(b"abc\"", 2, &mut 0), 3);
    }

    #[test]
    fn strings_must_be_utf8() {
        assert!(tape("[\"caf\u{e9}\"]").is_ok());
        let mut bad = b"[\"ab\xff\"]".to_vec();
        let mut t = Vec::new();
        assert_eq!(
            parse_value(&bad, 0, bad.len(), &mut t).unwrap_err().offset,
            4
        );
        bad = b"[1,\xc3]".to_vec();
        assert!(
            parse_value(&bad, 0, bad.len(), &mut t).is_err(),
            "non-ASCII outside strings"
        );
    }

    #[test]
    fn untaped_members_validate_exactly_like_taped_ones() {
        let doc = br#"{"metadata":{"managedFields":[{"manager":"m","time":"t","n":-1.5e3,"ok":true,"x":null,"s":"a\"\u00e9"},[]],"name":"n"},"managedFields":{ "a" : [ 1 ] }}"#;
        let outcome = |b: &[u8], skip: bool| {
            let mut t = Vec::new();
            let r = parse_with(b, 0, b.len(), &mut t, skip);
            (r, t.iter().filter(|t| t.untaped).count())
        };
        let (ok, untaped) = outcome(doc, true);
        assert!(ok.is_ok() && untaped == 2);
        let (full, none) = outcome(doc, false);
        assert!(full.is_ok() && none == 0);
        // Every truncation and every single-byte change is accepted or rejected (same offset, same
        // message) with and without untaped members.
        let mut cases: Vec<Vec<u8>> = (0..doc.len()).map(|n| doc[..n].to_vec()).collect();
        for i in 0..doc.len() {
            for b in [b'"', b'\\', b'{', b']', b',', b'x', b'1', 0xff] {
                let mut m = doc.to_vec();
                m[i] = b;
                cases.push(m);
            }
        }
        for c in &cases {
            assert_eq!(
                outcome(c, true).0,
                outcome(c, false).0,
                "{}",
                String::from_utf8_lossy(c)
            );
        }
    }

    #[test]
    fn untaped_container_token_spans_its_text() {
        let doc = r#"{"managedFields":[1,{"a":2}],"b":3}"#;
        let t = tape(doc).unwrap();
        assert_eq!(t.len(), 5, "object, key, untaped array, key, number");
        assert!(t[2].untaped && t[2].kind == Kind::Arr && t[2].next == 3);
        assert_eq!(
            &doc[t[2].start as usize..t[2].end as usize],
            r#"[1,{"a":2}]"#
        );
        assert_eq!(t[0].next, 5);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(tape(&deep).is_err());
        // Objects too, and at the limit itself (on the 2 MiB stack of a test thread, which is also the
        // stack of tokio's and of the replay's threads).
        let nested = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        assert_eq!(tape(&nested(100_000)).unwrap_err().msg, "nesting too deep");
        assert_eq!(tape(&nested(513)).unwrap_err().msg, "nesting too deep");
        assert!(tape(&nested(512)).is_ok());
    }
}
