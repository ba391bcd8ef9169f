//! Falco's JSON alert object (docs/semantics.md#json-alerts): compact, keys sorted, optional members per settings.

use super::json::{write_bytes_as_str, write_str, write_u64};
use super::render::write_field_json;
use super::time::json_time;
use super::AlertFormat;
use crate::engine::RuleMeta;
use crate::value::Values;
use kaudit_frontend::ir::ValueExpr;

/// Appends the `output_fields` object: one key per output field (sorted, first occurrence wins) plus the
/// time prefix field (`evt.time`, or `evt.time.iso8601` in ISO mode) as integer ns.
pub fn write_output_fields<'e>(
    out: &mut Vec<u8>,
    fields: &[(String, ValueExpr)],
    iso: bool,
    time_ns: u64,
    values: &mut dyn FnMut(&ValueExpr, &mut Values<'e>),
    scratch: &mut Values<'e>,
) {
    let time_key = if iso { "evt.time.iso8601" } else { "evt.time" };
    let mut entries: Vec<(&str, Vec<u8>)> = Vec::with_capacity(fields.len() + 1);
    let mut time_val = Vec::new();
    write_u64(&mut time_val, time_ns);
    entries.push((time_key, time_val));
    for (key, expr) in fields {
        if entries.iter().any(|(k, _)| k == key) {
            continue;
        }
        scratch.clear();
        values(expr, scratch);
        let mut v = Vec::new();
        write_field_json(&mut v, expr, scratch, time_ns);
        entries.push((key.as_str(), v));
    }
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        out.extend_from_slice(v);
    }
    out.push(b'}');
}

/// Appends the whole alert object (no newline). `message` is the rendered output, `line` the text line.
#[allow(clippy::too_many_arguments)]
pub fn write_alert_object<'e>(
    out: &mut Vec<u8>,
    fmt: &AlertFormat,
    rule: &RuleMeta,
    time_ns: u64,
    message: &[u8],
    line: &[u8],
    values: &mut dyn FnMut(&ValueExpr, &mut Values<'e>),
    scratch: &mut Values<'e>,
) {
    // Members in alphabetical order: hostname, message, output, output_fields, priority, rule, source,
    // tags, time.
    out.extend_from_slice(b"{\"hostname\":");
    write_str(out, &fmt.hostname);
    if fmt.include_message {
        out.extend_from_slice(b",\"message\":");
        write_bytes_as_str(out, message);
    }
    if fmt.include_output {
        out.extend_from_slice(b",\"output\":");
        write_bytes_as_str(out, line);
    }
    if fmt.include_output_fields {
        out.extend_from_slice(b",\"output_fields\":");
        write_output_fields(
            out,
            &rule.output.fields,
            fmt.time_iso8601,
            time_ns,
            values,
            scratch,
        );
    }
    out.extend_from_slice(b",\"priority\":");
    write_str(out, rule.priority.name());
    out.extend_from_slice(b",\"rule\":");
    write_str(out, &rule.name);
    out.extend_from_slice(b",\"source\":");
    write_str(out, &rule.source);
    if fmt.include_tags {
        out.extend_from_slice(b",\"tags\":[");
        let mut tags: Vec<&str> = rule.tags.iter().map(String::as_str).collect();
        tags.sort_unstable();
        tags.dedup();
        for (i, t) in tags.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, t);
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"time\":");
    write_str(out, &json_time(time_ns));
    out.push(b'}');
}
