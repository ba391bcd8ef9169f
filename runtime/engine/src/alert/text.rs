//! The rendered rule output (`message`) and Falco's text alert line (docs/semantics.md#output-format,
//! #text-alert-line).

use super::render::{apply_width, write_token_text};
use super::time::{iso8601, local_clock, write_iso8601, write_local_clock, LocalZone};
use crate::value::Values;
use kaudit_frontend::ir::{Output, OutputPart, Priority, ValueExpr};

/// Appends the rule output rendered for one event: literal text as is, each token's value text (padded or
/// cut to its width). Without `escape` the result is raw bytes, exactly as Falco 0.44 writes it; with it,
/// control characters in the values are escaped (`escape_controls`), the rule's own text is kept.
pub fn write_message<'r, 'e>(
    out: &mut Vec<u8>,
    output: &'r Output,
    values: &mut dyn FnMut(&'r ValueExpr, &mut Values<'e>),
    scratch: &mut Values<'e>,
    escape: bool,
) {
    for part in &output.parts {
        match part {
            OutputPart::Literal(s) => out.extend_from_slice(s.as_bytes()),
            OutputPart::Value { expr, width } => {
                scratch.clear();
                values(expr, scratch);
                let start = out.len();
                write_token_text(out, expr, scratch);
                if let Some(w) = width.filter(|w| *w > 0) {
                    apply_width(out, start, w);
                }
                if escape {
                    escape_controls(out, start);
                }
            }
        }
    }
}

/// The line prefix: `HH:MM:SS.nnnnnnnnn` in the local zone, or the ISO 8601 UTC time.
pub fn time_prefix(time_ns: u64, iso: bool, zone: LocalZone) -> String {
    if iso {
        iso8601(time_ns)
    } else {
        local_clock(time_ns, zone)
    }
}

/// Appends `<time>: <Priority> <message>` (no newline).
pub fn write_line(
    out: &mut Vec<u8>,
    time_ns: u64,
    iso: bool,
    zone: LocalZone,
    priority: Priority,
    message: &[u8],
) {
    write_line_start(out, time_ns, iso, zone, priority);
    out.extend_from_slice(message);
}

/// Appends `<time>: <Priority> `, the start of the line before the message (ASCII only).
pub fn write_line_start(
    out: &mut Vec<u8>,
    time_ns: u64,
    iso: bool,
    zone: LocalZone,
    priority: Priority,
) {
    if iso {
        write_iso8601(out, time_ns);
    } else {
        write_local_clock(out, time_ns, zone);
    }
    out.extend_from_slice(b": ");
    out.extend_from_slice(priority.name().as_bytes());
    out.push(b' ');
}

/// Escapes the control characters of `out[start..]` in place, so attacker-chosen event text cannot end a
/// text alert line early, start a fake one, or drive a terminal: `\n`, `\r`, `\t`, and `\u00XX` for
/// the other C0 controls, DEL and the C1 controls (U+0080-U+009F, which some terminals obey), `\u2028` and
/// `\u2029` (line breaks to some readers). Backslashes are left alone: the goal is one alert per line,
/// not a reversible encoding (JSON output is that).
pub fn escape_controls(out: &mut Vec<u8>, start: usize) {
    use std::fmt::Write as _;
    let needs = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    let Some(tail) = out.get(start..) else { return };
    let clean = |t: &[u8]| std::str::from_utf8(t).is_ok_and(|t| !t.chars().any(needs));
    if clean(tail) {
        return;
    }
    let mut esc = String::with_capacity(tail.len() + 16);
    for chunk in tail.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => esc.push_str("\\n"),
                '\r' => esc.push_str("\\r"),
                '\t' => esc.push_str("\\t"),
                c if needs(c) => {
                    let _ = write!(esc, "\\u{:04x}", c as u32);
                }
                c => esc.push(c),
            }
        }
        // Bytes that are not UTF-8 (a value cut inside a character by a width): shown, never sent raw.
        for b in chunk.invalid() {
            let _ = write!(esc, "\\x{b:02x}");
        }
    }
    out.truncate(start);
    out.extend_from_slice(esc.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    fn esc(s: &str) -> String {
        let mut out = b"keep\n".to_vec();
        let start = out.len();
        out.extend_from_slice(s.as_bytes());
        escape_controls(&mut out, start);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_in_hex() {
        let mut out = b"x".to_vec();
        out.extend_from_slice(&[b'a', 0xc3, b'\n']);
        escape_controls(&mut out, 1);
        assert_eq!(out, b"xa\\xc3\\n");
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(esc("plain café ✓"), "keep\nplain café ✓");
        assert_eq!(
            esc("a\nb\rc\td\u{1b}[31me\0f\u{7f}g\u{85}h\u{2028}i\\j"),
            "keep\na\\nb\\rc\\td\\u001b[31me\\u0000f\\u007fg\\u0085h\\u2028i\\j"
        );
    }
}
