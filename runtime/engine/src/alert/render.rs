//! Rendering extracted values as alert text and as `output_fields` JSON values (docs/semantics.md#output-format,
//! #value-rendering, #json-alerts).

use super::json;
use crate::value::{Val, Values};
use kaudit_frontend::catalog::FieldId;
use kaudit_frontend::ir::ValueExpr;

/// Text of a missing value.
pub const NA: &str = "<NA>";

/// Falco renders list fields into a 1024-byte buffer, so their text is cut at 1023 bytes (closing paren
/// included in the count, so a cut list has none).
pub const LIST_TEXT_MAX: usize = 1023;

/// Appends the text of one value.
pub fn write_val(out: &mut Vec<u8>, v: &Val<'_>) {
    match v {
        Val::Str(s) => out.extend_from_slice(s.as_bytes()),
        Val::Num(n) => json::write_u64(out, *n),
        Val::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
    }
}

/// Appends the text of a token's values: `<NA>` when missing; for list-valued expressions `(a,b)` —
/// the comma is written only once something follows the `(`, so empty strings vanish (`["","a",""]` →
/// `(a,)`) — cut at `LIST_TEXT_MAX` bytes; otherwise the first value.
pub fn write_token_text(out: &mut Vec<u8>, expr: &ValueExpr, vals: &Values<'_>) {
    let Some(first) = vals.first() else {
        out.extend_from_slice(NA.as_bytes());
        return;
    };
    if !expr.is_list() {
        if is_zero_padded_field(expr) {
            if let Val::Num(n) = first {
                out.extend_from_slice(format!("{n:09}").as_bytes());
                return;
            }
        }
        write_val(out, first);
        return;
    }
    let start = out.len();
    out.push(b'(');
    for v in vals {
        if out.len() - start > 1 {
            out.push(b',');
        }
        write_val(out, v);
    }
    out.push(b')');
    out.truncate(start + (out.len() - start).min(LIST_TEXT_MAX));
}

/// Pads with spaces or cuts `out[start..]` to exactly `width` bytes (`%Nfield`).
pub fn apply_width(out: &mut Vec<u8>, start: usize, width: usize) {
    let len = out.len() - start;
    if len > width {
        out.truncate(start + width);
    } else {
        out.resize(start + width, b' ');
    }
}

/// Whether `expr` is exactly the plain field `id` (any argument).
pub fn is_field(expr: &ValueExpr, id: FieldId) -> bool {
    matches!(expr, ValueExpr::Field(f) if f.id == id)
}

/// Fields libs prints with `%09` (print format `PF_10_PADDED_DEC`): `evt.rawtime.ns`, `evt.reltime` and
/// `evt.reltime.ns` render as at least 9 zero-padded digits in text (their JSON value stays a number).
pub fn is_zero_padded_field(expr: &ValueExpr) -> bool {
    [
        FieldId::EvtRawtimeNs,
        FieldId::EvtReltime,
        FieldId::EvtReltimeNs,
    ]
    .into_iter()
    .any(|id| is_field(expr, id))
}

/// Fields whose `output_fields` value is the event time as integer ns, whatever their text
/// (docs/semantics.md#json-alerts: `evt.time`, `evt.time.s`, `evt.time.iso8601`, `evt.datetime`, `evt.datetime.s`).
pub fn is_time_text_field(expr: &ValueExpr) -> bool {
    [
        FieldId::EvtTime,
        FieldId::EvtTimeS,
        FieldId::EvtTimeIso8601,
        FieldId::EvtDatetime,
        FieldId::EvtDatetimeS,
    ]
    .into_iter()
    .any(|id| is_field(expr, id))
}

/// Appends one value as JSON: strings as strings, numbers as numbers, bools as bools.
pub fn write_val_json(out: &mut Vec<u8>, v: &Val<'_>) {
    match v {
        Val::Str(s) => json::write_str(out, s),
        Val::Num(n) => json::write_u64(out, *n),
        Val::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
    }
}

/// Appends the `output_fields` value of a token: `null` when missing, an array for list-valued
/// expressions, else the first value; time-text fields give `time_ns`.
pub fn write_field_json(out: &mut Vec<u8>, expr: &ValueExpr, vals: &Values<'_>, time_ns: u64) {
    if is_time_text_field(expr) {
        json::write_u64(out, time_ns);
        return;
    }
    let Some(first) = vals.first() else {
        out.extend_from_slice(b"null");
        return;
    };
    if !expr.is_list() {
        write_val_json(out, first);
        return;
    }
    out.push(b'[');
    for (i, v) in vals.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_val_json(out, v);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_frontend::ir::{FieldArg, FieldRef};
    use std::borrow::Cow;

    fn field(id: FieldId) -> ValueExpr {
        ValueExpr::Field(FieldRef {
            id,
            arg: FieldArg::None,
        })
    }

    fn strs(items: &[&'static str]) -> Values<'static> {
        items.iter().map(|s| Val::Str(Cow::Borrowed(*s))).collect()
    }

    fn text(expr: &ValueExpr, vals: &Values<'_>) -> String {
        let mut out = Vec::new();
        write_token_text(&mut out, expr, vals);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn missing_single_and_list_text() {
        let groups = field(FieldId::KaUserGroups);
        let verb = field(FieldId::KaVerb);
        assert_eq!(text(&verb, &Values::new()), "<NA>");
        assert_eq!(text(&groups, &Values::new()), "<NA>");
        assert_eq!(text(&verb, &strs(&["create"])), "create");
        assert_eq!(text(&groups, &strs(&["a", "b"])), "(a,b)");
        assert_eq!(text(&groups, &strs(&["", "a", ""])), "(a,)");
        assert_eq!(text(&groups, &strs(&["", "apps"])), "(apps)");
        assert_eq!(text(&groups, &strs(&["only"])), "(only)");
    }

    #[test]
    fn long_list_text_is_cut_at_1023_bytes() {
        let items: Vec<String> = (0..60)
            .map(|i| format!("group-{i:03}-abcdefghijklmnop"))
            .collect();
        let vals: Values<'_> = items
            .iter()
            .map(|s| Val::Str(Cow::Borrowed(s.as_str())))
            .collect();
        let t = text(&field(FieldId::KaUserGroups), &vals);
        assert_eq!(t.len(), LIST_TEXT_MAX);
        assert!(t.starts_with("(group-000-abcdefghijklmnop,group-001"));
        assert!(!t.ends_with(')'));
    }

    #[test]
    fn width_pads_and_cuts() {
        let mut out = b"[".to_vec();
        out.extend_from_slice(b"create");
        apply_width(&mut out, 1, 10);
        assert_eq!(out, b"[create    ");
        let mut out = b"alice".to_vec();
        apply_width(&mut out, 0, 3);
        assert_eq!(out, b"ali");
    }

    #[test]
    fn typed_json_values() {
        let mut out = Vec::new();
        write_field_json(
            &mut out,
            &field(FieldId::KaUserGroups),
            &strs(&["", "a"]),
            7,
        );
        assert_eq!(out, br#"["","a"]"#);
        out.clear();
        write_field_json(
            &mut out,
            &field(FieldId::KaTargetSubresource),
            &Values::new(),
            7,
        );
        assert_eq!(out, b"null");
        out.clear();
        let time_text = strs(&["03:04:05.123456789"]);
        write_field_json(&mut out, &field(FieldId::EvtTime), &time_text, 7);
        assert_eq!(out, b"7");
        out.clear();
        write_field_json(
            &mut out,
            &field(FieldId::EvtNum),
            &[Val::Num(1)].into_iter().collect(),
            7,
        );
        assert_eq!(out, b"1");
        out.clear();
        write_field_json(
            &mut out,
            &field(FieldId::EvtIsAsync),
            &[Val::Bool(false)].into_iter().collect(),
            7,
        );
        assert_eq!(out, b"false");
    }

    #[test]
    fn rawtime_ns_text_is_zero_padded() {
        let vals: Values<'_> = [Val::Num(5000)].into_iter().collect();
        assert_eq!(text(&field(FieldId::EvtRawtimeNs), &vals), "000005000");
        assert_eq!(text(&field(FieldId::EvtRawtime), &vals), "5000");
        assert_eq!(text(&field(FieldId::EvtRawtimeS), &vals), "5000");
        assert_eq!(text(&field(FieldId::EvtReltime), &vals), "000005000");
        assert_eq!(text(&field(FieldId::EvtReltimeNs), &vals), "000005000");
        assert_eq!(text(&field(FieldId::EvtReltimeS), &vals), "5000");
        // At least 9 digits: longer values are not cut.
        let long: Values<'_> = [Val::Num(12_345_678_901)].into_iter().collect();
        assert_eq!(text(&field(FieldId::EvtReltime), &long), "12345678901");
        let zero: Values<'_> = [Val::Num(0)].into_iter().collect();
        assert_eq!(text(&field(FieldId::EvtRawtimeNs), &zero), "000000000");
    }
}
