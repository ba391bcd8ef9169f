//! The condition scanner: token recognisers that match at the cursor (docs/semantics.md#tokens).
//!
//! Falco's parser has no separate token stream: each grammar rule tries the token kinds it expects at
//! the current position (leftmost-longest, POSIX style). `Scanner` offers one method per token kind;
//! each either consumes its token and returns it, or leaves the cursor unchanged. Like Falco, every
//! successful match except blanks becomes the "last token" that end-of-input errors quote.

use super::escape;

/// A quoted-string match.
pub enum Quoted {
    /// No quoted string starts here, or it is not terminated (cursor unchanged).
    No,
    /// The decoded value.
    Ok(String),
    /// The string was consumed but holds a bad escape; the cursor stays after it, as in Falco.
    BadEscape(String),
}

pub struct Scanner<'a> {
    bytes: &'a [u8],
    /// Exclusive end of the visible input (a prefix when parsing output tokens).
    end: usize,
    pub pos: usize,
    pub last_token: String,
    /// Highest index whose byte (or end-of-input) was examined; lets the prefix search skip lengths
    /// that cannot change the outcome.
    pub examined: usize,
}

/// `[[:space:]]` of POSIX regex classes.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_alpha(b: u8) -> bool {
    b.is_ascii_alphabetic()
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str, end: usize) -> Scanner<'a> {
        let bytes = text.as_bytes();
        Scanner {
            bytes,
            end: end.min(bytes.len()),
            pos: 0,
            last_token: String::new(),
            examined: 0,
        }
    }

    pub fn at_end(&mut self) -> bool {
        self.peek_at(self.pos).is_none()
    }

    /// The byte at `i`, or `None` past the visible end.
    pub fn peek_at(&mut self, i: usize) -> Option<u8> {
        self.examined = self.examined.max(i);
        if i < self.end {
            self.bytes.get(i).copied()
        } else {
            None
        }
    }

    pub fn peek(&mut self) -> Option<u8> {
        self.peek_at(self.pos)
    }

    fn text(&self, from: usize, to: usize) -> String {
        String::from_utf8_lossy(self.bytes.get(from..to).unwrap_or_default()).into_owned()
    }

    /// Consumes the bytes `pos..to` as the last token.
    fn take(&mut self, to: usize) -> String {
        let tok = self.text(self.pos, to);
        self.pos = to;
        self.last_token = tok.clone();
        tok
    }

    /// Length of the run of bytes satisfying `f` starting at `i`.
    fn run(&mut self, i: usize, f: impl Fn(u8) -> bool) -> usize {
        let mut j = i;
        while self.peek_at(j).is_some_and(&f) {
            j += 1;
        }
        j - i
    }

    /// Blanks: space, `\t`, `\b`, `\r`, `\n` (not `\f`/`\v`). Does not change the last token.
    pub fn blank(&mut self) -> bool {
        let n = self.run(self.pos, |b| {
            matches!(b, b' ' | b'\t' | 0x08 | b'\r' | b'\n')
        });
        self.pos += n;
        n > 0
    }

    /// The literal `s` (a plain prefix test, no boundary check).
    pub fn lit(&mut self, s: &str) -> bool {
        let matches = s
            .bytes()
            .enumerate()
            .all(|(k, b)| self.peek_at(self.pos + k) == Some(b));
        if matches {
            self.take(self.pos + s.len());
        }
        matches
    }

    /// A word that must be followed by at least one blank (word operators, modifiers); the blank is
    /// consumed too.
    pub fn word_then_blank(&mut self, s: &str) -> bool {
        let (saved_pos, saved_tok) = (self.pos, self.last_token.clone());
        if self.lit(s) {
            if self.blank() {
                return true;
            }
            self.pos = saved_pos;
            self.last_token = saved_tok;
        }
        false
    }

    /// Length of an identifier `[a-zA-Z]+[a-zA-Z0-9_]*` at `i` (0 if none).
    fn ident_len(&mut self, i: usize) -> usize {
        if !self.peek_at(i).is_some_and(is_alpha) {
            return 0;
        }
        1 + self.run(i + 1, is_word)
    }

    pub fn identifier(&mut self) -> Option<String> {
        let n = self.ident_len(self.pos);
        (n > 0).then(|| self.take(self.pos + n))
    }

    /// Whether an identifier starts at the cursor (nothing consumed).
    pub fn identifier_follows(&mut self) -> bool {
        self.ident_len(self.pos) > 0
    }

    /// A field name: identifier segments joined by dots, at least two segments.
    pub fn field_name(&mut self) -> Option<String> {
        let mut j = self.pos + self.ident_len(self.pos);
        if j == self.pos {
            return None;
        }
        let mut segments = 1;
        while self.peek_at(j) == Some(b'.') {
            let n = self.ident_len(j + 1);
            if n == 0 {
                break;
            }
            j += 1 + n;
            segments += 1;
        }
        (segments >= 2).then(|| self.take(j))
    }

    /// A bare field argument: no brackets, quotes or white space.
    pub fn field_arg_bare(&mut self) -> Option<String> {
        let n = self.run(self.pos, |b| {
            !matches!(b, b'[' | b']' | b'"' | b'\'') && !is_space(b)
        });
        (n > 0).then(|| self.take(self.pos + n))
    }

    /// `0[xX][0-9a-fA-F]+`.
    pub fn hex_number(&mut self) -> Option<String> {
        if self.peek() != Some(b'0') || !matches!(self.peek_at(self.pos + 1), Some(b'x' | b'X')) {
            return None;
        }
        let n = self.run(self.pos + 2, |b| b.is_ascii_hexdigit());
        (n > 0).then(|| self.take(self.pos + 2 + n))
    }

    /// `[+-]?[0-9]+\.?[0-9]*([eE][+-][0-9]+)?`, longest match.
    pub fn number(&mut self) -> Option<String> {
        let mut j = self.pos;
        if matches!(self.peek_at(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let digits = self.run(j, |b| b.is_ascii_digit());
        if digits == 0 {
            return None;
        }
        j += digits;
        if self.peek_at(j) == Some(b'.') {
            j += 1;
            j += self.run(j, |b| b.is_ascii_digit());
        }
        if matches!(self.peek_at(j), Some(b'e' | b'E'))
            && matches!(self.peek_at(j + 1), Some(b'+' | b'-'))
        {
            let exp = self.run(j + 2, |b| b.is_ascii_digit());
            if exp > 0 {
                j += 2 + exp;
            }
        }
        Some(self.take(j))
    }

    /// A hex number or a number.
    pub fn any_number(&mut self) -> Option<String> {
        self.hex_number().or_else(|| self.number())
    }

    /// A bare string: no parentheses, quotes, white space, `=` or `,`.
    pub fn bare_string(&mut self) -> Option<String> {
        let n = self.run(self.pos, |b| {
            !matches!(b, b'(' | b')' | b'"' | b'\'' | b'=' | b',') && !is_space(b)
        });
        (n > 0).then(|| self.take(self.pos + n))
    }

    /// A `'…'` or `"…"` string. It ends at the first delimiter not preceded by a backslash, so a
    /// string cannot end in an escaped backslash (docs/semantics.md#quoted-strings); a NUL byte ends the input as in C.
    pub fn quoted(&mut self) -> Quoted {
        let Some(delim @ (b'"' | b'\'')) = self.peek() else {
            return Quoted::No;
        };
        let start = self.pos;
        let mut prev = delim;
        let mut j = start + 1;
        loop {
            match self.peek_at(j) {
                None | Some(0) => return Quoted::No,
                Some(b) if b == delim && prev != b'\\' => break,
                Some(b) => prev = b,
            }
            j += 1;
        }
        let body = self.text(start + 1, j);
        self.pos = j + 1;
        match escape::unescape(&body, char::from(delim)) {
            Ok(v) => {
                self.last_token = v.clone();
                Quoted::Ok(v)
            }
            Err(msg) => {
                self.last_token = self.text(start, j + 1);
                Quoted::BadEscape(msg)
            }
        }
    }

    /// `not` followed by white space (any `[[:space:]]`), consumed together.
    pub fn not_then_space(&mut self) -> bool {
        let follows = self.peek() == Some(b'n')
            && self.peek_at(self.pos + 1) == Some(b'o')
            && self.peek_at(self.pos + 2) == Some(b't')
            && self.peek_at(self.pos + 3).is_some_and(is_space);
        if follows {
            let n = self.run(self.pos + 3, is_space);
            self.take(self.pos + 3 + n);
        }
        follows
    }

    /// Whether `and`, `or` or `not` starts here as a whole word (not followed by a letter or digit).
    pub fn bool_keyword_follows(&mut self) -> bool {
        ["and", "or", "not"].iter().any(|kw| {
            kw.bytes()
                .enumerate()
                .all(|(k, b)| self.peek_at(self.pos + k) == Some(b))
                && !self
                    .peek_at(self.pos + kw.len())
                    .is_some_and(|b| b.is_ascii_alphanumeric())
        })
    }
}
