//! Quoted-string escapes of the condition language (docs/semantics.md#quoted-strings).
//!
//! Falco 0.44.1 (libs 0.25.x) accepts `\b \f \n \r \t \\ \/`, the delimiter's own escape (`\"` inside
//! `"…"`, `\'` inside `'…'`), and backslash-space, which yields a lone backslash (legacy rules rely on
//! it). Everything else — including `\x`, which only newer libs accept — is an error.

/// Decodes the body of a quoted string (the text between the delimiters).
///
/// `delim` is the quote character that opened the string. The error text matches Falco's.
pub fn unescape(body: &str, delim: char) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        // The lexer never ends a string right after a backslash, so an escape always has a second
        // character; a dangling one is kept as-is to stay total.
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        let decoded = match e {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            ' ' | '\\' => '\\',
            '/' => '/',
            '"' if delim == '"' => '"',
            '"' => return Err("invalid \\\" escape in '-quoted string".to_string()),
            '\'' if delim == '\'' => '\'',
            '\'' => return Err("invalid \\' escape in \"-quoted string".to_string()),
            other => return Err(format!("unsupported string escape sequence: \\{other}")),
        };
        out.push(decoded);
    }
    Ok(out)
}

/// Writes `value` as a double-quoted condition string that `unescape` (and Falco) decode back to
/// `value`.
///
/// A backslash right before the closing quote would escape it, so a trailing backslash is written as
/// backslash-space, which Falco decodes to a single backslash. NUL bytes cannot be represented (Falco
/// reads the condition as a C string) and are written as-is.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    let last = value.len().checked_sub(1);
    for (i, c) in value.char_indices() {
        match c {
            '\\' if Some(i) == last => out.push_str("\\ "),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_supported_escape() {
        assert_eq!(
            unescape(r#"a\b\f\n\r\t\\\/\"z"#, '"').unwrap(),
            "a\u{8}\u{c}\n\r\t\\/\"z"
        );
        assert_eq!(unescape(r"it\'s", '\'').unwrap(), "it's");
        assert_eq!(unescape(r"a\ b", '"').unwrap(), "a\\b");
    }

    #[test]
    fn rejects_unknown_and_foreign_quote_escapes() {
        assert_eq!(
            unescape(r"\x41", '"').unwrap_err(),
            "unsupported string escape sequence: \\x"
        );
        assert_eq!(
            unescape(r"\d+", '"').unwrap_err(),
            "unsupported string escape sequence: \\d"
        );
        assert_eq!(
            unescape(r#"\""#, '\'').unwrap_err(),
            "invalid \\\" escape in '-quoted string"
        );
        assert_eq!(
            unescape(r"\'", '"').unwrap_err(),
            "invalid \\' escape in \"-quoted string"
        );
        assert_eq!(
            unescape("\\é", '"').unwrap_err(),
            "unsupported string escape sequence: \\é"
        );
    }

    #[test]
    fn quote_round_trips_through_unescape() {
        for v in [
            "",
            "plain",
            "a\\",
            "a\\\\",
            "\\",
            "x\"y",
            "tab\there",
            "new\nline",
            "b\u{8}f\u{c}",
            "é ü",
        ] {
            let q = quote(v);
            let body = &q[1..q.len() - 1];
            assert_eq!(unescape(body, '"').unwrap(), v, "{q}");
            // The closing quote must not be preceded by a backslash, or the lexer would not stop.
            assert!(!body.ends_with('\\'), "{q}");
        }
    }
}
