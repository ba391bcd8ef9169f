//! JSON text exactly as Go writes it, for events converted from other formats: Falco's plugins build a
//! Go struct and `json.Marshal` it, so rules that print raw JSON (`%jevt.value[...]`, `%ka.req...`) see
//! the same bytes in kaudit as in Falco.
//!
//! - Strings (`encoding/json`): `"` and `\` escaped; `\n`, `\r`, `\t`, `\b`, `\f` short (Go 1.22+);
//!   other control characters as `\u00xx` (lowercase hex); `<`, `>`, `&` as `\u003c`, `\u003e`,
//!   `\u0026`; U+2028 and U+2029 as `\u2028`, `\u2029`.
//! - A `google.protobuf.Struct` (protojson, then compacted by `json.Marshal`): object keys sorted
//!   bytewise, every number a float64 written in its shortest form (`%f` style for 1e-6 ≤ |n| < 1e21,
//!   else exponent form `1e+21`, `1.5e-7`), strings escaped as above.

use serde_json::Value;
use std::fmt::Write as _;

/// Appends `s` as a Go `encoding/json` string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a float64 the way protojson (and `encoding/json`) writes it.
pub fn push_f64(out: &mut String, n: f64) {
    if n.is_nan() {
        out.push_str("\"NaN\"");
        return;
    }
    if n.is_infinite() {
        out.push_str(if n > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
        return;
    }
    let abs = n.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1e21` / `1.5e-7`; Go writes `1e+21` / `1.5e-7` (one-digit negative exponents).
        let s = format!("{n:e}");
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mant}e+{exp}");
            }
            _ => out.push_str(&s),
        }
    } else {
        // Shortest round-trip digits without an exponent, as Go's 'f' format with precision -1.
        let _ = write!(out, "{n}");
    }
}

/// Appends a JSON value as protojson writes a `google.protobuf.Value` (so a `Struct` for objects).
pub fn push_struct_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => push_f64(out, n.as_f64().unwrap_or(0.0)),
        Value::String(s) => push_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_struct_value(out, item);
            }
            out.push(']');
        }
        // serde_json's map without `preserve_order` iterates keys in bytewise order, as protojson sorts.
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_str(out, k);
                out.push(':');
                push_struct_value(out, item);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        let mut o = String::new();
        push_str(&mut o, x);
        o
    }

    fn f(x: f64) -> String {
        let mut o = String::new();
        push_f64(&mut o, x);
        o
    }

    #[test]
    fn strings_escape_like_encoding_json() {
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(s("\u{1}\u{1f}"), r#""\u0001\u001f""#);
        assert_eq!(s("<a&b>"), r#""\u003ca\u0026b\u003e""#);
        assert_eq!(s("\u{2028}\u{2029}é"), "\"\\u2028\\u2029é\"");
    }

    #[test]
    fn floats_use_gos_shortest_forms() {
        // Expected strings from Go's strconv.FormatFloat rules as protojson applies them.
        assert_eq!(f(1.0), "1");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(0.0), "0");
        assert_eq!(f(80.0), "80");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(1e20), "100000000000000000000");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1.5e300), "1.5e+300");
        assert_eq!(f(1.5e-7), "1.5e-7");
        assert_eq!(f(1e-6), "0.000001");
        assert_eq!(f(1.2e-10), "1.2e-10");
        assert_eq!(f(12345678901234567890.0), "12345678901234567000");
    }

    #[test]
    fn structs_sort_keys_and_rewrite_numbers() {
        let v: Value =
            serde_json::from_str(r#"{"b": [1.0, 2e2, "x<"], "a": {"z": null, "y": true}, "A": 7}"#)
                .unwrap();
        let mut o = String::new();
        push_struct_value(&mut o, &v);
        assert_eq!(
            o,
            r#"{"A":7,"a":{"y":true,"z":null},"b":[1,200,"x\u003c"]}"#
        );
    }
}
