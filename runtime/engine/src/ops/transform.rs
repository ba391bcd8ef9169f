//! Transformers (docs/semantics.md#transformers) applied to extracted values. They run only on present values: a
//! missing (empty) input stays missing.
//!
//! [`apply`] is the one entry point both engines use: the interpreter evaluates a transformer's
//! arguments and calls it, and generated code calls it directly with the same
//! arguments, so the glue (which argument is the separator, what a missing one does) exists once.

use crate::value::{Val, Values};
use kaudit_frontend::ast::Transformer;
use std::borrow::Cow;

/// `func(args...)[selector]` on evaluated arguments (each a value list; empty = missing).
/// `first_is_list` says whether the first argument is a list (`len` counts elements then); `selector`
/// is the `[c]` of `getopt`. Missing arguments make the result missing.
pub fn apply<'e>(
    func: Transformer,
    args: &[&Values<'e>],
    first_is_list: bool,
    selector: Option<u8>,
) -> Values<'e> {
    let arg = |i: usize| args.get(i).copied().filter(|v| !v.is_empty());
    // The first string value of a single-valued argument (a separator, an optstring).
    let text = |i: usize| arg(i).and_then(|v| v.first()).and_then(Val::as_str);
    let mut out = Values::new();
    match func {
        Transformer::ToLower
        | Transformer::ToUpper
        | Transformer::B64
        | Transformer::Basename
        | Transformer::Len
        | Transformer::Val => {
            let Some(first) = arg(0) else { return out };
            out.clone_from(first);
            match func {
                Transformer::ToLower => tolower(&mut out),
                Transformer::ToUpper => toupper(&mut out),
                Transformer::B64 => b64(&mut out),
                Transformer::Basename => basename(&mut out),
                Transformer::Len => len(&mut out, first_is_list),
                _ => {}
            }
        }
        Transformer::Join => {
            let (Some(sep), Some(items)) = (text(0), arg(1)) else {
                return out;
            };
            out.clone_from(items);
            join(sep, &mut out);
        }
        Transformer::Concat => {
            if args.iter().all(|a| !a.is_empty()) {
                out = concat(args);
            }
        }
        Transformer::Getopt => {
            let (Some(items), Some(optstring)) = (arg(0), text(1)) else {
                return out;
            };
            out.clone_from(items);
            getopt(optstring, selector, &mut out);
        }
    }
    out
}

/// A `(...)` transformer list argument from its items' values: flattened (`extend_list`), missing when
/// any item is missing.
pub fn list<'e>(items: &[&Values<'e>]) -> Values<'e> {
    let mut out = Values::new();
    for item in items {
        if item.is_empty() {
            return Values::new();
        }
        extend_list(&mut out, &mut (*item).clone());
    }
    out
}

fn map_str<'e>(v: &mut Values<'e>, f: impl Fn(&str) -> Option<String>) {
    for x in v.iter_mut() {
        if let Val::Str(s) = x {
            if let Some(n) = f(s) {
                *s = Cow::Owned(n);
            }
        }
    }
}

/// ASCII lower-casing of every value (borrowed values without upper-case letters are kept as they are).
pub fn tolower(v: &mut Values<'_>) {
    map_str(v, |s| {
        s.bytes()
            .any(|b| b.is_ascii_uppercase())
            .then(|| s.to_ascii_lowercase())
    });
}

/// ASCII upper-casing of every value.
pub fn toupper(v: &mut Values<'_>) {
    map_str(v, |s| {
        s.bytes()
            .any(|b| b.is_ascii_lowercase())
            .then(|| s.to_ascii_uppercase())
    });
}

/// Base64 decoding of every value (standard alphabet, padding optional); any failure makes the whole
/// result missing. The decoded text ends at its first NUL, like every string operators see
/// (`compare::cut_at_nul`); decoded bytes that are not UTF-8 are replaced (values are text).
pub fn b64(v: &mut Values<'_>) {
    for x in v.iter_mut() {
        if let Val::Str(s) = x {
            match b64_decode(s) {
                Some(mut bytes) => {
                    if let Some(end) = memchr::memchr(0, &bytes) {
                        bytes.truncate(end);
                    }
                    *s = Cow::Owned(String::from_utf8_lossy(&bytes).into_owned());
                }
                None => {
                    v.clear();
                    return;
                }
            }
        }
    }
}

/// Decodes standard base64 as libsinsp does: up to two trailing `=` are dropped whatever the length,
/// the rest must be a whole number of 6-bit groups forming whole bytes (length mod 4 ≠ 1) whose unused
/// trailing bits are zero. The empty string decodes to the empty string.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Some(Vec::new());
    }
    let body = b
        .strip_suffix(b"=")
        .map_or(b, |x| x.strip_suffix(b"=").unwrap_or(x));
    if body.is_empty() || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body {
        let d = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(d);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits of the last character must be zero.
    (acc == 0).then_some(out)
}

/// Text after the last `/` of every value (empty when it ends with `/`; the whole value without `/`).
pub fn basename(v: &mut Values<'_>) {
    for x in v.iter_mut() {
        if let Val::Str(s) = x {
            let cut = match s {
                Cow::Borrowed(b) => b
                    .rfind('/')
                    .map(|i| Cow::Borrowed(b.get(i + 1..).unwrap_or(""))),
                Cow::Owned(o) => o
                    .rfind('/')
                    .map(|i| Cow::Owned(o.get(i + 1..).unwrap_or("").to_string())),
            };
            if let Some(c) = cut {
                *s = c;
            }
        }
    }
}

/// `len`: the element count of a list, else the length of the single string (which ends at its first
/// NUL, as every string value does).
/// Missing stays missing (so `len(x) = 0` never holds for an empty list).
pub fn len(v: &mut Values<'_>, is_list: bool) {
    if v.is_empty() {
        return;
    }
    let n = if is_list {
        v.len() as u64
    } else {
        match v.first() {
            Some(Val::Str(s)) => s.len() as u64,
            _ => 1,
        }
    };
    v.clear();
    v.push(Val::Num(n));
}

/// `join(sep, list)`: the values joined with `sep`, as one value.
pub fn join(sep: &str, v: &mut Values<'_>) {
    if v.is_empty() {
        return;
    }
    let mut s = String::new();
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push_str(sep);
        }
        push_text(&mut s, x);
    }
    v.clear();
    v.push(Val::Str(Cow::Owned(s)));
}

/// `concat(a, b, ...)`: the first value of each part concatenated; a missing part makes it missing.
pub fn concat<'e>(parts: &[&Values<'e>]) -> Values<'e> {
    let mut s = String::new();
    for p in parts {
        match p.first() {
            Some(x) => push_text(&mut s, x),
            None => return Values::new(),
        }
    }
    let mut out = Values::new();
    out.push(Val::Str(Cow::Owned(s)));
    out
}

/// Appends the values of one item of a `(...)` transformer list argument to `list` (taking them from
/// `item`). As in libs, a numeric item contributes the decimal text of its first value only; string items
/// contribute every value. (libs passes the raw bytes of other non-string types; kaudit uses their text.)
pub fn extend_list<'e>(list: &mut Values<'e>, item: &mut Values<'e>) {
    match item.first() {
        Some(Val::Str(_)) => list.extend(item.drain(..)),
        Some(first) => {
            let text = text_of(first);
            list.push(Val::Str(Cow::Owned(text)));
            item.clear();
        }
        None => {}
    }
}

/// A set of bytes, one bit each (getopt's option table).
#[derive(Default)]
struct ByteSet {
    low: u128,
    high: u128,
}

impl ByteSet {
    fn set(&mut self, b: u8) {
        match b.checked_sub(128) {
            None => self.low |= 1 << b,
            Some(h) => self.high |= 1 << h,
        }
    }
    fn has(&self, b: u8) -> bool {
        match b.checked_sub(128) {
            None => self.low >> b & 1 == 1,
            Some(h) => self.high >> h & 1 == 1,
        }
    }
}

/// `getopt(args, optstring)` / `getopt(args, optstring)[c]`: POSIX-getopt-like scan of the argument
/// list (libs 0.25 behaviour). The scan stops at `--`, at the first non-option or at a lone `-`; long
/// options (`--x`) are skipped; clusters like `-nt` are expanded. List mode (`selector` `None`) yields,
/// in order, each known option character, followed by its value for options declared with `:` in
/// `optstring` (attached `-tV` or the next argument); an unknown option yields `?`; an option missing
/// its value yields `""` and ends the scan. Selector mode yields only the value (or the character, for
/// options without value) of the last occurrence of `selector`, and is missing when it never occurs.
pub fn getopt(optstring: &str, selector: Option<u8>, v: &mut Values<'_>) {
    if v.is_empty() {
        return;
    }
    let spec = optstring.as_bytes();
    let spec = spec.strip_prefix(b":").unwrap_or(spec);
    let mut known = ByteSet::default();
    let mut takes_value = ByteSet::default();
    let mut i = 0;
    while let Some(&c) = spec.get(i) {
        if c != b':' {
            known.set(c);
            if spec.get(i + 1) == Some(&b':') {
                takes_value.set(c);
                i += 1;
            }
        }
        i += 1;
    }
    let args: Vec<String> = v.iter().map(|x| text_of(x)).collect();
    let mut results: Vec<String> = Vec::new();
    let mut selected: Option<String> = None;
    let mut emit = |name: &str, value: Option<&str>, results: &mut Vec<String>| match selector {
        Some(_) => selected = Some(value.unwrap_or(name).to_string()),
        None => {
            results.push(name.to_string());
            if let Some(val) = value {
                results.push(val.to_string());
            }
        }
    };
    let mut idx = 0;
    'args: while let Some(arg) = args.get(idx) {
        let b = arg.as_bytes();
        if arg == "--" {
            break;
        }
        if b.len() > 2 && b.starts_with(b"--") {
            idx += 1;
            continue;
        }
        if b.len() < 2 || b.first() != Some(&b'-') {
            break;
        }
        for (pos, &opt) in b.iter().enumerate().skip(1) {
            if opt == b':' || !known.has(opt) {
                if selector.is_none() {
                    results.push("?".to_string());
                }
                continue;
            }
            let wanted = selector.is_none_or(|s| s == opt);
            let name = arg.get(pos..pos + 1).unwrap_or("?");
            if !takes_value.has(opt) {
                if wanted {
                    emit(name, None, &mut results);
                }
                continue;
            }
            let value = if pos + 1 < b.len() {
                arg.get(pos + 1..).map(str::to_string)
            } else {
                idx += 1;
                args.get(idx).cloned()
            };
            match value {
                Some(val) => {
                    if wanted {
                        emit(name, Some(&val), &mut results);
                    }
                }
                None => {
                    if wanted {
                        emit("", None, &mut results);
                    }
                    break 'args;
                }
            }
            break;
        }
        idx += 1;
    }
    v.clear();
    match selector {
        Some(_) => v.extend(selected.map(|s| Val::Str(Cow::Owned(s)))),
        None => v.extend(results.into_iter().map(|s| Val::Str(Cow::Owned(s)))),
    }
}

fn text_of(v: &Val<'_>) -> String {
    let mut s = String::new();
    push_text(&mut s, v);
    s
}

fn push_text(s: &mut String, v: &Val<'_>) {
    match v {
        Val::Str(x) => s.push_str(x),
        Val::Num(n) => s.push_str(&n.to_string()),
        Val::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&'static str]) -> Values<'static> {
        items.iter().map(|s| Val::Str(Cow::Borrowed(*s))).collect()
    }

    fn texts(v: &Values<'_>) -> Vec<String> {
        v.iter()
            .map(|x| match x {
                Val::Str(s) => s.to_string(),
                Val::Num(n) => format!("#{n}"),
                Val::Bool(b) => b.to_string(),
            })
            .collect()
    }

    #[test]
    fn case_mapping_is_ascii_only() {
        let mut x = v(&["AbC-É", "low"]);
        tolower(&mut x);
        assert_eq!(texts(&x), ["abc-É", "low"]);
        assert!(
            matches!(x[1], Val::Str(Cow::Borrowed(_))),
            "unchanged values stay borrowed"
        );
        toupper(&mut x);
        assert_eq!(texts(&x), ["ABC-É", "LOW"]);
    }

    #[test]
    fn b64_decodes_with_or_without_padding() {
        let mut x = v(&["aGVsbG8=", "aGVsbG8", "YQ", "YQ==", "aGVsbG8==", ""]);
        b64(&mut x);
        assert_eq!(texts(&x), ["hello", "hello", "a", "a", "hello", ""]);
        for bad in ["!!!", "a", "=", "a=b=", "YR", "aGVsbG9", "aGVsbG8==="] {
            let mut y = v(&["aGVsbG8=", bad]);
            b64(&mut y);
            assert!(y.is_empty(), "{bad}");
        }
    }

    #[test]
    fn basename_cases() {
        let mut x = v(&["/usr/bin/bash", "/x/", "plain", ""]);
        basename(&mut x);
        assert_eq!(texts(&x), ["bash", "", "plain", ""]);
    }

    #[test]
    fn len_of_strings_and_lists() {
        let mut s = v(&["system:masters"]);
        len(&mut s, false);
        assert_eq!(texts(&s), ["#14"]);
        let mut l = v(&["a", "b", "c"]);
        len(&mut l, true);
        assert_eq!(texts(&l), ["#3"]);
        let mut missing = Values::new();
        len(&mut missing, true);
        assert!(missing.is_empty(), "len of missing is missing");
        // A decoded NUL ends the string, as it ends every string value ("ab\0cd" encoded).
        let decoded = apply(Transformer::B64, &[&v(&["YWIAY2Q="])], false, None);
        assert_eq!(texts(&decoded), ["ab"]);
        let n = apply(Transformer::Len, &[&decoded], false, None);
        assert_eq!(texts(&n), ["#2"]);
    }

    #[test]
    fn apply_takes_separators_and_optstrings_from_the_right_argument() {
        let (sep, items) = (v(&["-"]), v(&["a", "b"]));
        assert_eq!(
            texts(&apply(Transformer::Join, &[&sep, &items], false, None)),
            ["a-b"]
        );
        let none = Values::new();
        assert!(apply(Transformer::Join, &[&none, &items], false, None).is_empty());
        assert!(apply(Transformer::Join, &[&sep, &none], false, None).is_empty());
        let args = v(&["-u", "alice"]);
        let u = apply(Transformer::Getopt, &[&args, &v(&["u:"])], true, Some(b'u'));
        assert_eq!(texts(&u), ["alice"]);
        assert!(apply(Transformer::Getopt, &[&args, &none], true, None).is_empty());
        assert_eq!(
            texts(&apply(Transformer::Len, &[&items], true, None)),
            ["#2"]
        );
        assert_eq!(
            texts(&apply(Transformer::Val, &[&items], true, None)),
            ["a", "b"]
        );
        assert!(apply(Transformer::ToUpper, &[&none], false, None).is_empty());
        assert_eq!(texts(&list(&[&v(&["-u"]), &items])), ["-u", "a", "b"]);
        assert!(list(&[&v(&["-u"]), &none]).is_empty());
    }

    #[test]
    fn getopt_list_mode() {
        let mut x = v(&["-n", "-tvalue", "-x", "-ab", "-c", "arg", "rest", "-n"]);
        getopt("nt:abc:", None, &mut x);
        assert_eq!(texts(&x), ["n", "t", "value", "?", "a", "b", "c", "arg"]);
        let mut stop = v(&["-n", "--", "-t", "x"]);
        getopt("nt:", None, &mut stop);
        assert_eq!(texts(&stop), ["n"]);
        let mut long = v(&["--exec", "-n", "-", "-t"]);
        getopt("nt:", None, &mut long);
        assert_eq!(texts(&long), ["n"], "a lone '-' ends the scan");
        let mut missing_value = v(&["-n", "-t"]);
        getopt(":nt:", None, &mut missing_value);
        assert_eq!(texts(&missing_value), ["n", ""]);
        let mut empty = Values::new();
        getopt("n", None, &mut empty);
        assert!(empty.is_empty());
    }

    #[test]
    fn getopt_selector_mode_keeps_the_last_match() {
        let args = ["-t", "first", "-n", "-tsecond"];
        let mut t = v(&args);
        getopt("nt:", Some(b't'), &mut t);
        assert_eq!(texts(&t), ["second"]);
        let mut n = v(&args);
        getopt("nt:", Some(b'n'), &mut n);
        assert_eq!(texts(&n), ["n"]);
        let mut absent = v(&args);
        getopt("nt:x", Some(b'x'), &mut absent);
        assert!(absent.is_empty());
        let mut no_value = v(&["-t"]);
        getopt("t:", Some(b't'), &mut no_value);
        assert_eq!(texts(&no_value), [""]);
    }

    #[test]
    fn list_items_flatten_strings_and_render_numbers() {
        let mut list = v(&["a"]);
        let mut strings = v(&["b", "c"]);
        extend_list(&mut list, &mut strings);
        let mut numbers: Values<'static> = [Val::Num(42), Val::Num(7)].into_iter().collect();
        extend_list(&mut list, &mut numbers);
        let mut bools: Values<'static> = [Val::Bool(false)].into_iter().collect();
        extend_list(&mut list, &mut bools);
        extend_list(&mut list, &mut Values::new());
        assert_eq!(texts(&list), ["a", "b", "c", "42", "false"]);
        assert!(list.iter().all(|x| matches!(x, Val::Str(_))));
    }

    #[test]
    fn join_and_concat() {
        let mut l = v(&["a", "b"]);
        join(",", &mut l);
        assert_eq!(texts(&l), ["a,b"]);
        let mut m = Values::new();
        join(",", &mut m);
        assert!(m.is_empty());
        assert_eq!(
            texts(&concat(&[&v(&["x"]), &v(&["-"]), &v(&["y"])])),
            ["x-y"]
        );
        assert!(concat(&[&v(&["x"]), &Values::new()]).is_empty());
    }
}
