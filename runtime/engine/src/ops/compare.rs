//! Single-value comparisons, written once for both engines: the interpreter's `Matcher` and the code
//! `kaudit-codegen` generates call these very functions (`str_test`, `num_test`, `bool_test`), so an
//! operator means the same thing on both (docs/semantics.md).
//!
//! Strings are C strings (docs/semantics.md, "String values and NUL"): Falco's libs see every string a
//! plugin extracts up to its first NUL byte, whatever the operator. kaudit makes that true where values
//! enter the engines ([`cut_at_nul`], applied to every extraction by both engines and to decoded `b64`
//! output), so the comparisons below work on plain bytes: `"1000" < "400"`, as `strcmp` orders them.

use crate::value::{Val, Values};
use kaudit_frontend::ast::CmpOp;
pub use kaudit_frontend::ops::is_plain_str_op;
use std::borrow::Cow;
use std::cmp::Ordering;

/// `<`, `<=`, `>`, `>=`, `=`, `!=` from an ordering.
#[inline]
pub fn ordering_holds(op: CmpOp, ord: Ordering) -> bool {
    match op {
        CmpOp::Eq | CmpOp::EqEq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
        _ => false,
    }
}

/// `s op lit` for the plain string operators (`is_plain_str_op`); false for any other operator.
/// Byte-wise: equality, `strcmp` order, substring, prefix, suffix.
#[inline]
pub fn str_test(op: CmpOp, s: &str, lit: &str) -> bool {
    match op {
        CmpOp::Eq | CmpOp::EqEq => s == lit,
        CmpOp::Ne => s != lit,
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
            ordering_holds(op, s.as_bytes().cmp(lit.as_bytes()))
        }
        CmpOp::Contains => memchr::memmem::find(s.as_bytes(), lit.as_bytes()).is_some(),
        CmpOp::StartsWith => s.starts_with(lit),
        CmpOp::EndsWith => s.ends_with(lit),
        _ => false,
    }
}

/// `n op lit` on numbers (`= != < <= > >=`); false for any other operator.
#[inline]
pub fn num_test(op: CmpOp, n: u64, lit: u64) -> bool {
    ordering_holds(op, n.cmp(&lit))
}

/// `b op lit` on booleans (`=`, `!=`); false for any other operator.
#[inline]
pub fn bool_test(op: CmpOp, b: bool, lit: bool) -> bool {
    match op {
        CmpOp::Eq | CmpOp::EqEq => b == lit,
        CmpOp::Ne => b != lit,
        _ => false,
    }
}

/// The string up to its first NUL, as C string functions see it.
#[inline]
pub fn c_str(s: &str) -> &str {
    match memchr::memchr(0, s.as_bytes()) {
        Some(i) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// Cuts every string value at its first NUL byte: what Falco's libs see of a plugin's string field
/// (the plugin hands it over as a C string and libs take its length with `strlen`). Both engines call
/// this on every extracted value list, so conditions and output text agree.
#[inline]
pub fn cut_at_nul(values: &mut Values<'_>) {
    for v in values.iter_mut() {
        if let Val::Str(s) = v {
            let Some(i) = memchr::memchr(0, s.as_bytes()) else {
                continue;
            };
            match s {
                Cow::Borrowed(b) => *b = b.get(..i).unwrap_or(b),
                Cow::Owned(o) => o.truncate(i),
            }
        }
    }
}

/// ASCII case-insensitive substring test; `needle_lower` must already be lower-case.
pub fn icontains(hay: &str, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    h.windows(n.len())
        .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_compare_byte_wise() {
        assert!(str_test(CmpOp::Lt, "1000", "400"));
        assert!(str_test(CmpOp::Gt, "201", "1000"));
        assert!(str_test(CmpOp::Ge, "abc", "abc"));
        assert!(str_test(CmpOp::Le, "ab", "abc"));
        assert!(str_test(CmpOp::Lt, "Z", "a"));
        assert!(str_test(CmpOp::Ne, "a", "b") && !str_test(CmpOp::Ne, "a", "a"));
        assert!(str_test(CmpOp::Contains, "xabcx", "abc") && str_test(CmpOp::Contains, "x", ""));
        assert!(
            str_test(CmpOp::StartsWith, "abc", "ab") && !str_test(CmpOp::StartsWith, "abc", "b")
        );
        assert!(str_test(CmpOp::EndsWith, "abc", "bc") && !str_test(CmpOp::EndsWith, "abc", "ab"));
        assert!(!str_test(CmpOp::Glob, "abc", "abc"), "not a plain operator");
    }

    #[test]
    fn numbers_and_booleans() {
        assert!(num_test(CmpOp::Lt, 5, 400) && !num_test(CmpOp::Gt, 5, 400));
        assert!(num_test(CmpOp::Le, 5, 5) && num_test(CmpOp::Ne, 5, 6));
        assert!(!num_test(CmpOp::Contains, 5, 5));
        assert!(bool_test(CmpOp::Eq, true, true) && bool_test(CmpOp::Ne, true, false));
        assert!(!bool_test(CmpOp::Lt, false, true));
    }

    #[test]
    fn values_are_cut_at_the_first_nul() {
        let owned = String::from("adm\0in");
        let mut v: Values<'_> = [
            Val::Str(Cow::Borrowed("admin\0x")),
            Val::Str(Cow::Owned(owned)),
            Val::Str(Cow::Borrowed("\0")),
            Val::Str(Cow::Borrowed("plain")),
            Val::Num(0),
        ]
        .into_iter()
        .collect();
        cut_at_nul(&mut v);
        let texts: Vec<Option<&str>> = v.iter().map(Val::as_str).collect();
        assert_eq!(
            texts,
            [Some("admin"), Some("adm"), Some(""), Some("plain"), None]
        );
        assert_eq!(c_str("a\0b\0"), "a");
    }

    #[test]
    fn icontains_folds_ascii() {
        assert!(icontains("Hello World", "lo wo"));
        assert!(icontains("x", ""));
        assert!(!icontains("abc", "abcd"));
    }
}
