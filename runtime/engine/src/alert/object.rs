//! Falco's JSON alert object (docs/semantics.md#json-alerts): compact, keys sorted, optional members per settings.

use super::json::{escape_in_place, write_str, write_u64};
use super::render::write_field_json;
use super::text::{write_line_start, write_message};
use super::time::write_json_time;
use super::AlertFormat;
use crate::engine::RuleMeta;
use crate::value::Values;
use kaudit_frontend::ir::ValueExpr;

/// Output fields written without allocating: rules with more need the general path.
const STACK_FIELDS: usize = 32;

/// Appends the `output_fields` object: one key per output field (sorted, first occurrence wins) plus the
/// time prefix field (`evt.time`, or `evt.time.iso8601` in ISO mode) as integer ns.
pub fn write_output_fields<'r, 'e>(
    out: &mut Vec<u8>,
    fields: &'r [(String, ValueExpr)],
    iso: bool,
    time_ns: u64,
    values: &mut dyn FnMut(&'r ValueExpr, &mut Values<'e>),
    scratch: &mut Values<'e>,
) {
    let time_key = if iso { "evt.time.iso8601" } else { "evt.time" };
    // The keys in output order, as indexes into `fields` (`TIME` = the time key), sorted on the stack;
    // each value is then evaluated and written straight into `out`.
    const TIME: u16 = u16::MAX;
    let mut order = [TIME; STACK_FIELDS];
    let mut n = 1;
    for (i, (key, _)) in fields.iter().enumerate() {
        let seen = |j: &u16| match *j {
            TIME => time_key == key,
            j => fields.get(usize::from(j)).is_some_and(|(k, _)| k == key),
        };
        if order.get(..n).is_some_and(|o| o.iter().any(seen)) {
            continue;
        }
        match (order.get_mut(n), u16::try_from(i)) {
            (Some(slot), Ok(i)) if i != TIME => *slot = i,
            _ => {
                return write_output_fields_sorted(out, fields, time_key, time_ns, values, scratch)
            }
        }
        n += 1;
    }
    let key_of = |j: u16| match j {
        TIME => time_key,
        j => fields.get(usize::from(j)).map_or("", |(k, _)| k.as_str()),
    };
    let order = order.get_mut(..n).unwrap_or_default();
    order.sort_unstable_by(|&a, &b| key_of(a).cmp(key_of(b)));
    out.push(b'{');
    for (i, &j) in order.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key_of(j));
        out.push(b':');
        match fields.get(usize::from(j)) {
            Some((_, expr)) if j != TIME => {
                scratch.clear();
                values(expr, scratch);
                write_field_json(out, expr, scratch, time_ns);
            }
            _ => write_u64(out, time_ns),
        }
    }
    out.push(b'}');
}

/// `write_output_fields` for rules with more than `STACK_FIELDS` output fields.
fn write_output_fields_sorted<'r, 'e>(
    out: &mut Vec<u8>,
    fields: &'r [(String, ValueExpr)],
    time_key: &str,
    time_ns: u64,
    values: &mut dyn FnMut(&'r ValueExpr, &mut Values<'e>),
    scratch: &mut Values<'e>,
) {
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

/// Appends the whole alert object (no newline). The rule's output is rendered straight into `out`
/// (escaped in place when needed) for the `message` and `output` members.
pub fn write_alert_object<'r, 'e>(
    out: &mut Vec<u8>,
    fmt: &AlertFormat,
    rule: &'r RuleMeta,
    time_ns: u64,
    values: &mut dyn FnMut(&'r ValueExpr, &mut Values<'e>),
    scratch: &mut Values<'e>,
) {
    // Members in alphabetical order: hostname, message, output, output_fields, priority, rule, source,
    // tags, time.
    out.extend_from_slice(b"{\"hostname\":");
    write_str(out, &fmt.hostname);
    // Where the escaped message went, when `message` is written (`output` then copies it).
    let mut message = None;
    if fmt.include_message {
        out.extend_from_slice(b",\"message\":\"");
        let start = out.len();
        write_message(out, &rule.output, values, scratch, false);
        escape_in_place(out, start);
        message = Some(start..out.len());
        out.push(b'"');
    }
    if fmt.include_output {
        out.extend_from_slice(b",\"output\":\"");
        // The line start is ASCII without characters to escape: the escaped line is it followed by
        // the escaped message.
        write_line_start(out, time_ns, fmt.time_iso8601, fmt.zone, rule.priority);
        match message {
            Some(m) => out.extend_from_within(m),
            None => {
                let start = out.len();
                write_message(out, &rule.output, values, scratch, false);
                escape_in_place(out, start);
            }
        }
        out.push(b'"');
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
        write_tags(out, &rule.tags);
        out.push(b']');
    }
    out.extend_from_slice(b",\"time\":\"");
    write_json_time(out, time_ns);
    out.extend_from_slice(b"\"}");
}

/// The tags sorted and without duplicates (as `RuleMeta` keeps them; others are sorted here).
fn write_tags(out: &mut Vec<u8>, tags: &[String]) {
    let sorted = tags.windows(2).all(|w| matches!(w, [a, b] if a < b));
    let mut copy: Vec<&str>;
    let tags: &mut dyn Iterator<Item = &str> = if sorted {
        &mut tags.iter().map(String::as_str)
    } else {
        copy = tags.iter().map(String::as_str).collect();
        copy.sort_unstable();
        copy.dedup();
        &mut copy.iter().copied()
    };
    for (i, t) in tags.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, t);
    }
}
