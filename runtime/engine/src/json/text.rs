//! Turning raw JSON text into field text: string unescaping and whitespace compaction.

use std::borrow::Cow;

/// Unescapes the raw content of a JSON string (between the quotes). Borrows when there is no backslash.
/// Lone surrogates become U+FFFD (as Go does).
pub fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices().peekable();
    let b = raw.as_bytes();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else { break };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'u' => {
                let hi = hex4(b, i + 2);
                for _ in 0..4 {
                    chars.next();
                }
                let Some(hi) = hi else { continue };
                if (0xD800..0xDC00).contains(&hi)
                    && b.get(i + 6) == Some(&b'\\')
                    && b.get(i + 7) == Some(&b'u')
                {
                    if let Some(lo) = hex4(b, i + 8).filter(|lo| (0xDC00..0xE000).contains(lo)) {
                        for _ in 0..6 {
                            chars.next();
                        }
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        continue;
                    }
                }
                out.push(char::from_u32(hi).unwrap_or('\u{FFFD}'));
            }
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let h = b.get(at..at + 4)?;
    let s = std::str::from_utf8(h).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// The compact form of valid JSON text: blanks outside strings removed. Borrows when already compact.
pub fn compact(raw: &str) -> Cow<'_, str> {
    let mut blanks = blanks_outside_strings(raw.as_bytes()).peekable();
    if blanks.peek().is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut run_start = 0;
    for i in blanks {
        out.push_str(raw.get(run_start..i).unwrap_or(""));
        run_start = i + 1;
    }
    out.push_str(raw.get(run_start..).unwrap_or(""));
    Cow::Owned(out)
}

/// Positions of the JSON blanks (space, tab, CR, LF) that lie outside string literals.
fn blanks_outside_strings(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let (mut in_str, mut esc) = (false, false);
    b.iter().enumerate().filter_map(move |(i, &c)| {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            return Some(i);
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_borrows_plain_strings() {
        assert!(matches!(
            unescape("plain text"),
            Cow::Borrowed("plain text")
        ));
    }

    #[test]
    fn unescape_handles_every_escape() {
        assert_eq!(
            unescape(r#"a\"b\\c\/d\n\t\r\b\f"#),
            "a\"b\\c/d\n\t\r\u{8}\u{c}"
        );
        assert_eq!(unescape(r"\u00e9\u4e2d"), "é中");
        assert_eq!(unescape(r"\ud83d\ude00!"), "😀!");
        assert_eq!(unescape(r"\ud83dx"), "\u{FFFD}x");
        assert_eq!(unescape(r"\ude00"), "\u{FFFD}");
    }

    #[test]
    fn compact_removes_blanks_outside_strings_only() {
        assert!(matches!(compact(r#"{"a":[1,2]}"#), Cow::Borrowed(_)));
        assert_eq!(
            compact("{ \"a b\" : [ 1 ,\n 2 ], \"c\":\"x \\\" y\" }"),
            r#"{"a b":[1,2],"c":"x \" y"}"#
        );
    }
}
