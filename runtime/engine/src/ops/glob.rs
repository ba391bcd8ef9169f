//! `glob`/`iglob` (docs/semantics.md#glob-pmatch-and-regex): POSIX `fnmatch(3)` without flags (byte-wise, as in the
//! C locale): `*` and `?` also match `/` and leading dots, `[...]`/`[!...]`/`[^...]` bracket expressions with
//! ranges and `[:class:]` names, `\` escapes the next character; the whole value must match. `iglob` folds ASCII
//! case.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    Any,
    Star,
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClassItem {
    Byte(u8),
    Range(u8, u8),
    Named(NamedClass),
}

/// POSIX character class names usable as `[:name:]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NamedClass {
    Alpha,
    Digit,
    Alnum,
    Upper,
    Lower,
    Space,
    Blank,
    Punct,
    Xdigit,
    Cntrl,
    Print,
    Graph,
}

impl NamedClass {
    fn from_name(name: &[u8]) -> Option<NamedClass> {
        Some(match name {
            b"alpha" => NamedClass::Alpha,
            b"digit" => NamedClass::Digit,
            b"alnum" => NamedClass::Alnum,
            b"upper" => NamedClass::Upper,
            b"lower" => NamedClass::Lower,
            b"space" => NamedClass::Space,
            b"blank" => NamedClass::Blank,
            b"punct" => NamedClass::Punct,
            b"xdigit" => NamedClass::Xdigit,
            b"cntrl" => NamedClass::Cntrl,
            b"print" => NamedClass::Print,
            b"graph" => NamedClass::Graph,
            _ => return None,
        })
    }

    fn contains(self, c: u8) -> bool {
        match self {
            NamedClass::Alpha => c.is_ascii_alphabetic(),
            NamedClass::Digit => c.is_ascii_digit(),
            NamedClass::Alnum => c.is_ascii_alphanumeric(),
            NamedClass::Upper => c.is_ascii_uppercase(),
            NamedClass::Lower => c.is_ascii_lowercase(),
            NamedClass::Space => matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
            NamedClass::Blank => c == b' ' || c == b'\t',
            NamedClass::Punct => c.is_ascii_punctuation(),
            NamedClass::Xdigit => c.is_ascii_hexdigit(),
            NamedClass::Cntrl => c.is_ascii_control(),
            NamedClass::Print => (0x20..0x7f).contains(&c),
            NamedClass::Graph => c.is_ascii_graphic(),
        }
    }
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    toks: Vec<Tok>,
    fold: bool,
}

impl Glob {
    /// Compiles `pattern` (never fails: malformed brackets match literally, as fnmatch does).
    pub fn new(pattern: &str, case_insensitive: bool) -> Glob {
        let p = pattern.as_bytes();
        let mut toks = Vec::new();
        let mut i = 0;
        while let Some(&c) = p.get(i) {
            match c {
                b'*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                    i += 1;
                }
                b'?' => {
                    toks.push(Tok::Any);
                    i += 1;
                }
                b'\\' => {
                    // A trailing backslash matches itself.
                    toks.push(Tok::Lit(p.get(i + 1).copied().unwrap_or(b'\\')));
                    i += 2;
                }
                b'[' => match parse_class(p, i + 1) {
                    Some((tok, next)) => {
                        toks.push(tok);
                        i = next;
                    }
                    None => {
                        toks.push(Tok::Lit(b'['));
                        i += 1;
                    }
                },
                _ => {
                    toks.push(Tok::Lit(c));
                    i += 1;
                }
            }
        }
        let fold = case_insensitive;
        if fold {
            for t in &mut toks {
                if let Tok::Lit(b) = t {
                    *b = b.to_ascii_lowercase();
                }
            }
        }
        Glob { toks, fold }
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let t = text.as_bytes();
        let (mut ti, mut pi) = (0usize, 0usize);
        // Position after the last star and the text position it is currently stretched to.
        let mut backtrack: Option<(usize, usize)> = None;
        loop {
            if let Some(tok) = self.toks.get(pi) {
                if *tok == Tok::Star {
                    backtrack = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                if let Some(&c) = t.get(ti) {
                    if self.tok_matches(tok, c) {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
            } else if ti == t.len() {
                return true;
            }
            match backtrack {
                Some((bp, bt)) if bt < t.len() => {
                    backtrack = Some((bp, bt + 1));
                    pi = bp;
                    ti = bt + 1;
                }
                _ => return false,
            }
        }
    }

    fn tok_matches(&self, tok: &Tok, c: u8) -> bool {
        let c = if self.fold { c.to_ascii_lowercase() } else { c };
        match tok {
            Tok::Lit(b) => *b == c,
            Tok::Any => true,
            Tok::Star => true,
            Tok::Class { negated, items } => {
                let hit = items.iter().any(|it| self.item_matches(it, c));
                hit != *negated
            }
        }
    }

    fn item_matches(&self, it: &ClassItem, c: u8) -> bool {
        match *it {
            ClassItem::Byte(b) => b == c || (self.fold && b.to_ascii_lowercase() == c),
            ClassItem::Range(lo, hi) => {
                (lo..=hi).contains(&c)
                    || (self.fold
                        && ((lo..=hi).contains(&c.to_ascii_uppercase())
                            || (lo..=hi).contains(&c.to_ascii_lowercase())))
            }
            ClassItem::Named(f) => {
                f.contains(c)
                    || (self.fold
                        && (f.contains(c.to_ascii_uppercase())
                            || f.contains(c.to_ascii_lowercase())))
            }
        }
    }
}

/// Parses a bracket expression starting after `[`; returns the token and the index after `]`,
/// or `None` when it is not terminated (then `[` is literal).
fn parse_class(p: &[u8], mut i: usize) -> Option<(Tok, usize)> {
    let negated = matches!(p.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == b']' && !first {
            return Some((Tok::Class { negated, items }, i + 1));
        }
        first = false;
        if c == b'[' && p.get(i + 1) == Some(&b':') {
            let rest = p.get(i + 2..)?;
            if let Some(end) = rest.windows(2).position(|w| w == b":]") {
                let f = NamedClass::from_name(rest.get(..end)?)?;
                items.push(ClassItem::Named(f));
                i += 2 + end + 2;
                continue;
            }
        }
        let (lo, next) = if c == b'\\' {
            (*p.get(i + 1)?, i + 2)
        } else {
            (c, i + 1)
        };
        if p.get(next) == Some(&b'-') && p.get(next + 1).is_some_and(|&h| h != b']') {
            let (hi, after) = match p.get(next + 1) {
                Some(b'\\') => (*p.get(next + 2)?, next + 3),
                Some(&h) => (h, next + 2),
                None => return None,
            };
            items.push(ClassItem::Range(lo, hi));
            i = after;
        } else {
            items.push(ClassItem::Byte(lo));
            i = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str, t: &str) -> bool {
        Glob::new(p, false).matches(t)
    }

    #[test]
    fn stars_and_questions_cross_slashes_and_dots() {
        assert!(g("*", ""));
        assert!(g("*", "/a/b/.c"));
        assert!(g("/var/*", "/var/run/docker.sock"));
        assert!(g("*.sock", ".sock"));
        assert!(g("a?c", "a/c"));
        assert!(g("?bc", ".bc"));
        assert!(!g("a?c", "ac"));
        assert!(g("a*b*c", "aXXbYYbZc"));
        assert!(!g("a*b*c", "aXXbYY"));
        assert!(!g("abc", "abcd"));
        assert!(!g("abc", "ab"));
        assert!(g("**a", "ba"));
    }

    #[test]
    fn brackets() {
        assert!(g("[abc]x", "bx"));
        assert!(!g("[!a]x", "ax"));
        assert!(g("[!a]x", "bx"));
        assert!(g("[^a]x", "bx"));
        assert!(g("[a-c][0-9]", "b7"));
        assert!(!g("[a-c]", "d"));
        assert!(g("[]]", "]"));
        assert!(g("[!]]", "a"));
        assert!(g("[a-]", "-"));
        assert!(g("[[:digit:]]*", "9lives"));
        assert!(!g("[[:digit:]]*", "lives"));
        assert!(g("[", "["), "unterminated bracket is literal");
        assert!(g("a[b", "a[b"));
    }

    #[test]
    fn escapes() {
        assert!(g(r"\*", "*"));
        assert!(!g(r"\*", "a"));
        assert!(g(r"a\?", "a?"));
        assert!(g(r"[\]]", "]"));
        assert!(g("a\\", "a\\"));
    }

    #[test]
    fn iglob_folds_ascii_case() {
        assert!(Glob::new("ADMIN*", true).matches("admin-user"));
        assert!(Glob::new("[A-C]x", true).matches("bX"));
        assert!(Glob::new("[[:upper:]]", true).matches("a"));
        assert!(!Glob::new("ADMIN*", false).matches("admin-user"));
    }
}
