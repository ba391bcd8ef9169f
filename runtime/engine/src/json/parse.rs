//! The validating JSON scanner that fills a token tape.
//!
//! Tape layout: a value is one `Tok`; an object or array token is followed by its children (objects:
//! key token then value, per member), and its `next` field is the index just past its subtree, so a
//! reader skips a member in O(1). Offsets are absolute into the source text (so tapes built later for
//! a sub-slice share the coordinates of the event).

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
}

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
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = src.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w);
        *high |= x;
        let q = x ^ (ONES * u64::from(b'"'));
        let b = x ^ (ONES * u64::from(b'\\'));
        // A zero byte in q or b marks a match (classic "has zero byte" test; exact for the lowest one).
        let hit = (q.wrapping_sub(ONES) & !q | b.wrapping_sub(ONES) & !b) & HIGH;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
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
}

/// Parses the one JSON value filling `src[start..end]` (surrounding blanks allowed) onto `tape`.
pub fn parse_value(
    src: &[u8],
    start: usize,
    end: usize,
    tape: &mut Vec<Tok>,
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

    fn push(&mut self, kind: Kind, start: usize, end: usize) {
        let next = self.tape.len() as u32 + 1;
        self.tape.push(Tok {
            kind,
            start: start as u32,
            end: end as u32,
            next,
            blank: false,
        });
    }

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

    fn digits(&mut self) -> usize {
        let s = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - s
    }

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
                    if high & 0x8080_8080_8080_8080 != 0 {
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
                self.value(depth + 1)?;
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

    fn close(&mut self, at: usize, blanks_before: usize) {
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
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(tape(&deep).is_err());
    }
}
