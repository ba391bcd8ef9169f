//! Support for the code `kaudit_frontend::codegen` generates (the compiled engine): small, inlinable helpers
//! with the same semantics the interpreter gets from `ops`. Not meant for hand-written callers.
//!
//! Value conventions (docs/semantics.md#missing-values-and-list-fields): an empty `Values` is a missing field; a
//! check on a missing field is false; a single-value operator on a list field is true when some element satisfies
//! it.

use crate::event::Event;
use crate::ops::{compare, Matcher};
use crate::value::{Val, Values};
use kaudit_frontend::ast::{CmpOp, Modifier};
use kaudit_frontend::catalog::{FieldId, FieldType};
use kaudit_frontend::ir::{FieldArg, FieldRef, OutputPart, Rhs, ValueExpr};
use std::borrow::Cow;
use std::cell::Cell;

/// The argument of fields written without brackets.
pub static NO_ARG: FieldArg = FieldArg::None;

/// Runs one extractor into fresh values, cut at NUL as the interpreter's are (`compare::cut_at_nul`).
#[inline]
pub fn extract<'e, F>(extractor: F, ev: &'e Event<'e>, arg: &FieldArg) -> Values<'e>
where
    F: FnOnce(&'e Event<'e>, &FieldArg, &mut Values<'e>),
{
    let mut out = Values::new();
    extractor(ev, arg, &mut out);
    compare::cut_at_nul(&mut out);
    out
}

/// Returns the cached result in `slot`, computing and storing it on first use (macros: once per event).
#[inline]
pub fn memo(slot: &Cell<Option<bool>>, compute: impl FnOnce() -> bool) -> bool {
    if let Some(v) = slot.get() {
        return v;
    }
    let v = compute();
    slot.set(Some(v));
    v
}

/// `exists`: at least one value was extracted.
#[inline]
pub fn exists(vals: &[Val<'_>]) -> bool {
    !vals.is_empty()
}

/// Some string value satisfies `pred` (false when missing).
#[inline]
pub fn any_str(vals: &[Val<'_>], pred: impl Fn(&str) -> bool) -> bool {
    vals.iter().any(|v| v.as_str().is_some_and(&pred))
}

/// There is a value and every value is a string satisfying `pred` (`in`: subset test).
#[inline]
pub fn all_str(vals: &[Val<'_>], pred: impl Fn(&str) -> bool) -> bool {
    !vals.is_empty() && vals.iter().all(|v| v.as_str().is_some_and(&pred))
}

/// Some numeric value satisfies `pred`.
#[inline]
pub fn any_num(vals: &[Val<'_>], pred: impl Fn(u64) -> bool) -> bool {
    vals.iter().any(|v| matches!(v, Val::Num(n) if pred(*n)))
}

/// There is a value and every value is a number satisfying `pred`.
#[inline]
pub fn all_num(vals: &[Val<'_>], pred: impl Fn(u64) -> bool) -> bool {
    !vals.is_empty() && vals.iter().all(|v| matches!(v, Val::Num(n) if pred(*n)))
}

/// Some bool value satisfies `pred`.
#[inline]
pub fn any_bool(vals: &[Val<'_>], pred: impl Fn(bool) -> bool) -> bool {
    vals.iter().any(|v| matches!(v, Val::Bool(b) if pred(*b)))
}

/// There is a value and every value is a bool satisfying `pred`.
#[inline]
pub fn all_bool(vals: &[Val<'_>], pred: impl Fn(bool) -> bool) -> bool {
    !vals.is_empty() && vals.iter().all(|v| matches!(v, Val::Bool(b) if pred(*b)))
}

/// A check through a compiled `Matcher`.
#[inline]
pub fn check(matcher: &Matcher, vals: &Values<'_>) -> bool {
    matcher.matches(vals)
}

/// Builds the `Matcher` of a check of generated code (on first use).
///
/// The only way `Matcher::new` fails is an invalid regex, and the front end rejects those when the
/// rules load with the very function the matcher uses (`kaudit_frontend::regex::full_match`), so
/// `compile_rules!` stops the build before code that could fail here is generated. A failure here
/// therefore means that invariant was broken; it is not turned into a silent `false`.
#[allow(clippy::panic)]
pub fn matcher(op: CmpOp, modifier: Option<Modifier>, rhs: &Rhs, lhs_ty: FieldType) -> Matcher {
    match Matcher::new(op, modifier, rhs, lhs_ty) {
        Ok(m) => m,
        Err(e) => panic!("compiled rules hold a check the front end should have rejected: {e}"),
    }
}

/// The value of a dispatch field, as the generated dispatch `match`es on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// Exactly one string value.
    One(&'a str),
    Missing,
    /// Several values, or a value that is not a string: dispatch keeps every rule.
    Many,
}

#[inline]
pub fn key<'a>(vals: &'a [Val<'_>]) -> Key<'a> {
    match vals {
        [] => Key::Missing,
        [one] => one.as_str().map_or(Key::Many, Key::One),
        _ => Key::Many,
    }
}

/// A rule bitset with the given rule indices (indices past the end are ignored).
pub const fn mask_of<const W: usize>(rules: &[usize]) -> [u64; W] {
    let mut mask = [0u64; W];
    let mut rest = rules;
    while let [r, tail @ ..] = rest {
        // `get_mut` is not `const`; the index is checked against `W` on the line above it.
        #[allow(clippy::indexing_slicing)]
        if *r / 64 < W {
            mask[*r / 64] |= 1 << (*r % 64);
        }
        rest = tail;
    }
    mask
}

/// Whether rule `rule` is in `mask` (false past the end).
#[inline]
pub fn mask_has<const W: usize>(mask: &[u64; W], rule: usize) -> bool {
    mask.get(rule / 64)
        .is_some_and(|w| (w >> (rule % 64)) & 1 == 1)
}

/// `mask &= other`.
#[inline]
pub fn mask_and<const W: usize>(mask: &mut [u64; W], other: &[u64; W]) {
    for (m, o) in mask.iter_mut().zip(other) {
        *m &= o;
    }
}

/// No values (a transformer with a missing argument).
pub fn missing<'e>() -> Values<'e> {
    Values::new()
}

/// One literal value (transformer arguments such as `concat(x, "-")`). Generic over the lifetime because
/// `Values` is invariant: literals must mix with event values in one argument list.
pub fn literal<'e>(s: &'static str) -> Values<'e> {
    let mut v = Values::new();
    v.push(Val::Str(Cow::Borrowed(s)));
    v
}

/// Literal values (a parenthesised list as a transformer argument).
pub fn literals<'e>(items: &[&'static str]) -> Values<'e> {
    items.iter().map(|s| Val::Str(Cow::Borrowed(*s))).collect()
}

/// A field reference (rule tables of generated code).
pub fn field(id: FieldId, arg: FieldArg) -> ValueExpr {
    ValueExpr::Field(FieldRef { id, arg })
}

/// Literal text of an output (rule tables of generated code).
pub fn out_text(s: &str) -> OutputPart {
    OutputPart::Literal(s.to_owned())
}

/// A value token of an output (rule tables of generated code).
pub fn out_value(expr: ValueExpr, width: Option<usize>) -> OutputPart {
    OutputPart::Value { expr, width }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::transform;
    use kaudit_frontend::ast::Transformer;

    fn strs(items: &[&'static str]) -> Values<'static> {
        literals(items)
    }

    #[test]
    fn missing_values_fail_every_check() {
        let none = Values::new();
        assert!(!exists(&none));
        assert!(!any_str(&none, |_| true));
        assert!(!all_str(&none, |_| true));
        assert!(!any_num(&none, |_| true));
        assert!(!all_bool(&none, |_| true));
    }

    #[test]
    fn list_semantics() {
        let v = strs(&["a", "b"]);
        assert!(all_str(&v, |s| s == "a" || s == "b"));
        assert!(!all_str(&v, |s| s == "a"));
        assert!(any_str(&v, |s| s == "b"));
        assert!(!any_str(&v, |s| s == "c"));
    }

    #[test]
    fn keys_for_dispatch() {
        assert_eq!(key(&strs(&["get"])), Key::One("get"));
        assert_eq!(key(&Values::new()), Key::Missing);
        assert_eq!(key(&strs(&["a", "b"])), Key::Many);
        let mut num = Values::new();
        num.push(Val::Num(3));
        assert_eq!(key(&num), Key::Many);
    }

    #[test]
    fn masks() {
        const M: [u64; 2] = mask_of(&[0, 3, 64, 127, 500]);
        assert!(mask_has(&M, 0) && mask_has(&M, 3) && mask_has(&M, 64) && mask_has(&M, 127));
        assert!(!mask_has(&M, 1) && !mask_has(&M, 500) && !mask_has(&M, usize::MAX));
        let mut m = M;
        mask_and(&mut m, &mask_of(&[3, 127]));
        assert_eq!(m, mask_of::<2>(&[3, 127]));
    }

    #[test]
    fn list_arguments_and_getopt() {
        let owned = String::from("alice");
        let user: Values<'_> = [Val::Str(Cow::Borrowed(owned.as_str()))]
            .into_iter()
            .collect();
        // Literals and event values mix in one list; a missing item makes it missing.
        let l = transform::list(&[&literal("-u"), &user]);
        assert_eq!(
            l.iter().filter_map(Val::as_str).collect::<Vec<_>>(),
            ["-u", "alice"]
        );
        assert!(transform::list(&[&literal("-u"), &Values::new()]).is_empty());
        fn getopt<'e>(args: &Values<'e>, opts: &Values<'e>, sel: Option<u8>) -> Values<'e> {
            transform::apply(Transformer::Getopt, &[args, opts], true, sel)
        }
        let u = getopt(&l, &literal("u:"), Some(b'u'));
        assert_eq!(
            u.iter().filter_map(Val::as_str).collect::<Vec<_>>(),
            ["alice"]
        );
        let all = getopt(&l, &literal("u:"), None);
        assert_eq!(
            all.iter().filter_map(Val::as_str).collect::<Vec<_>>(),
            ["u", "alice"]
        );
        assert!(
            getopt(&l, &Values::new(), None).is_empty(),
            "missing optstring"
        );
        assert!(
            getopt(&l, &literal("u:x"), Some(b'x')).is_empty(),
            "absent option"
        );
    }

    #[test]
    fn memo_computes_once() {
        let slot = Cell::new(None);
        let calls = Cell::new(0);
        let f = || {
            calls.set(calls.get() + 1);
            true
        };
        assert!(memo(&slot, f));
        assert!(memo(&slot, f));
        assert_eq!(calls.get(), 1);
    }
}
