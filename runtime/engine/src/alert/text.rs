//! The rendered rule output (`message`) and Falco's text alert line (docs/semantics.md#output-format,
//! #text-alert-line).

use super::render::{apply_width, write_token_text};
use super::time::{iso8601, local_clock, LocalZone};
use crate::value::Values;
use kaudit_frontend::ir::{Output, OutputPart, Priority, ValueExpr};

/// Appends the rule output rendered for one event: literal text as is, each token's value text (padded or
/// cut to its width). The result is raw bytes, exactly as Falco 0.44 writes it (no escaping).
pub fn write_message<'e>(
    out: &mut Vec<u8>,
    output: &Output,
    values: &mut dyn FnMut(&ValueExpr, &mut Values<'e>),
    scratch: &mut Values<'e>,
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
    out.extend_from_slice(time_prefix(time_ns, iso, zone).as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(priority.name().as_bytes());
    out.push(b' ');
    out.extend_from_slice(message);
}
