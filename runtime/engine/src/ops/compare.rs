//! Single-value comparisons: strings byte-wise (C `strcmp` order), numbers numerically, booleans by equality.

use kaudit_frontend::ast::CmpOp;
use std::cmp::Ordering;

/// `<`, `<=`, `>`, `>=`, `=`, `!=` from an ordering.
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

/// The string up to its first NUL, as C string functions see it.
pub fn c_str(s: &str) -> &str {
    match memchr::memchr(0, s.as_bytes()) {
        Some(i) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// Byte-wise ordering of C strings (`"1000" < "400"`).
pub fn str_cmp(a: &str, b: &str) -> Ordering {
    c_str(a).as_bytes().cmp(c_str(b).as_bytes())
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
        assert!(ordering_holds(CmpOp::Lt, str_cmp("1000", "400")));
        assert!(ordering_holds(CmpOp::Gt, str_cmp("201", "1000")));
        assert!(ordering_holds(CmpOp::Ge, str_cmp("abc", "abc")));
        assert!(ordering_holds(CmpOp::Le, str_cmp("ab", "abc")));
        assert!(
            !ordering_holds(CmpOp::Ne, str_cmp("a\0x", "a")),
            "C strings end at NUL"
        );
        assert!(ordering_holds(CmpOp::Lt, str_cmp("Z", "a")));
    }

    #[test]
    fn icontains_folds_ascii() {
        assert!(icontains("Hello World", "lo wo"));
        assert!(icontains("x", ""));
        assert!(!icontains("abc", "abcd"));
    }
}
