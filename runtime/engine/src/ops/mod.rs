//! Operator semantics on extracted `Values` (docs/semantics.md#transformers to #modifiers).
//!
//! API (used by the interpreter and by generated code alike):
//! * `Matcher::new(op, modifier, &ir::Rhs, lhs_ty)` compiles a check's operator and literal right-hand
//!   side once (hash sets for `in`/`intersects`, globs, pmatch sets, regexes); `Matcher::matches(&values)`
//!   then evaluates it on the extracted left-hand values. `Matcher` is `Send + Sync`, so generated code
//!   can keep one in a `static` `OnceLock`.
//! * `check_values(op, &lhs, &rhs)` evaluates a field-to-field comparison (`val()` / transformer
//!   right-hand side): `in`/`intersects` use every right-hand value as the set, other operators the
//!   first right-hand value.
//! * `transform::*` apply transformers to values in place (missing stays missing): `tolower`, `toupper`,
//!   `b64`, `basename`, `len`, `join`, `concat`, `getopt` (list mode, or selector mode for `[c]`).
//! * Building blocks generated code may construct once and reuse: `Glob`, `PMatchSet`, `StrSet`, and
//!   the free functions of `compare`.
//!
//! Semantics shared by everything here:
//! * Empty values = missing: every operator is false, `!=` and `exists` included (only an enclosing
//!   `not` flips that).
//! * `in` = every value is in the set (subset), `intersects` = some value is in the set.
//! * Other operators on a multi-valued left side (only list fields, which Falco rejects and kaudit
//!   accepts with a warning): true when some value satisfies the operator.
//! * Modifiers `anyof`/`allof`/`oneof`: at least one / every / exactly one listed literal satisfies the
//!   base operator for the value; an empty list is false.
//! * Strings compare byte-wise; numbers numerically; booleans by equality (`compare`, shared with the
//!   generated code). String values reach this module already cut at their first NUL
//!   (`compare::cut_at_nul`), as Falco's libs see them.
//! * Set membership (`in`, `intersects`, `= anyof`) is `=` against each listed literal: exact bytes. The
//!   generated code writes it as a `matches!` over the same literal list.

pub mod compare;
pub mod glob;
pub mod pmatch;
pub mod strset;
pub mod transform;

pub use glob::Glob;
pub use pmatch::PMatchSet;
pub use strset::StrSet;

use crate::value::{Val, Values};
use compare::{bool_test, icontains, is_plain_str_op, num_test, str_test};
use kaudit_frontend::ast::{CmpOp, Modifier};
use kaudit_frontend::catalog::FieldType;
use kaudit_frontend::ir::Rhs;
use regex::Regex;

/// One literal test on a single value.
#[derive(Debug, Clone)]
enum Test {
    /// `= != < <= > >= contains startswith endswith` on strings (`compare::str_test`).
    Str(CmpOp, String),
    /// Needle stored lower-cased.
    IContains(String),
    Glob(Glob),
    Regex(Regex),
    PMatch(PMatchSet),
    /// `= != < <= > >=` on numbers (`compare::num_test`).
    Num(CmpOp, u64),
    /// `= !=` on booleans (`compare::bool_test`).
    Bool(CmpOp, bool),
    /// An operator that can never hold for this value type (e.g. `bcontains` on text).
    Never,
}

impl Test {
    fn single(op: CmpOp, lit: Lit<'_>) -> Result<Test, String> {
        Ok(match (op, lit) {
            (op, Lit::Str(s)) if is_plain_str_op(op) => Test::Str(op, s.to_string()),
            (CmpOp::IContains, Lit::Str(s)) => Test::IContains(s.to_ascii_lowercase()),
            (CmpOp::Glob, Lit::Str(s)) => Test::Glob(Glob::new(s, false)),
            (CmpOp::IGlob, Lit::Str(s)) => Test::Glob(Glob::new(s, true)),
            (CmpOp::Regex, Lit::Str(s)) => Test::Regex(kaudit_frontend::regex::full_match(s)?),
            (
                CmpOp::Eq | CmpOp::EqEq | CmpOp::Ne | CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge,
                Lit::Num(n),
            ) => Test::Num(op, n),
            (CmpOp::Eq | CmpOp::EqEq | CmpOp::Ne, Lit::Bool(b)) => Test::Bool(op, b),
            _ => Test::Never,
        })
    }

    #[inline]
    fn holds(&self, v: &Val<'_>) -> bool {
        match (self, v) {
            (Test::Str(op, r), Val::Str(s)) => str_test(*op, s, r),
            (Test::IContains(r), Val::Str(s)) => icontains(s, r),
            (Test::Glob(g), Val::Str(s)) => g.matches(s),
            (Test::Regex(re), Val::Str(s)) => re.is_match(s),
            (Test::PMatch(p), Val::Str(s)) => p.matches(s),
            (Test::Num(op, r), Val::Num(n)) => num_test(*op, *n, *r),
            (Test::Bool(op, r), Val::Bool(b)) => bool_test(*op, *b, *r),
            _ => false,
        }
    }
}

#[derive(Clone, Copy)]
enum Lit<'r> {
    Str(&'r str),
    Num(u64),
    Bool(bool),
}

/// A literal set for `in`/`intersects`.
#[derive(Debug, Clone)]
enum Set {
    Str(StrSet),
    Num(Vec<u64>),
    Bool(Vec<bool>),
}

impl Set {
    #[inline]
    fn contains(&self, v: &Val<'_>) -> bool {
        match (self, v) {
            (Set::Str(s), Val::Str(x)) => s.contains(x),
            (Set::Num(s), Val::Num(x)) => s.contains(x),
            (Set::Bool(s), Val::Bool(x)) => s.contains(x),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Exists,
    /// Every value in the set.
    In(Set),
    /// Some value in the set.
    Intersects(Set),
    /// Some value passes the test.
    Test(Test),
    /// Some value passes `anyof`/`allof`/`oneof` of the tests.
    Modified(Modifier, Vec<Test>),
}

/// A compiled check: operator, optional modifier and literal right-hand side.
#[derive(Debug, Clone)]
pub struct Matcher {
    kind: Kind,
}

impl Matcher {
    /// Compiles `op [modifier] rhs` for a left-hand side of type `lhs_ty`. Errors on invalid regexes and
    /// on a field right-hand side (use `check_values`).
    pub fn new(
        op: CmpOp,
        modifier: Option<Modifier>,
        rhs: &Rhs,
        lhs_ty: FieldType,
    ) -> Result<Matcher, String> {
        let lits: Vec<Lit<'_>> = match rhs {
            Rhs::None => Vec::new(),
            Rhs::Strings(v) => v.iter().map(|s| Lit::Str(s)).collect(),
            Rhs::Numbers(v) => v.iter().map(|n| Lit::Num(*n)).collect(),
            Rhs::Bools(v) => v.iter().map(|b| Lit::Bool(*b)).collect(),
            Rhs::Value(_) => {
                return Err("a field right-hand side is evaluated with ops::check_values".into())
            }
        };
        let _ = lhs_ty; // literals already carry the left-hand type (the resolver converted them)
        let kind = match op {
            CmpOp::Exists => Kind::Exists,
            CmpOp::In => Kind::In(make_set(rhs)),
            CmpOp::Intersects => Kind::Intersects(make_set(rhs)),
            CmpOp::PMatch => {
                let paths: Vec<&str> = lits
                    .iter()
                    .filter_map(|l| if let Lit::Str(s) = l { Some(*s) } else { None })
                    .collect();
                Kind::Test(Test::PMatch(PMatchSet::new(&paths)))
            }
            _ => match modifier {
                Some(m) => Kind::Modified(
                    m,
                    lits.iter()
                        .map(|l| Test::single(op, *l))
                        .collect::<Result<_, _>>()?,
                ),
                None => match lits.first() {
                    Some(l) => Kind::Test(Test::single(op, *l)?),
                    None => Kind::Test(Test::Never),
                },
            },
        };
        Ok(Matcher { kind })
    }

    /// Evaluates the check on the extracted left-hand values.
    #[inline]
    pub fn matches(&self, lhs: &Values<'_>) -> bool {
        if lhs.is_empty() {
            return false;
        }
        match &self.kind {
            Kind::Exists => true,
            Kind::In(set) => lhs.iter().all(|v| set.contains(v)),
            Kind::Intersects(set) => lhs.iter().any(|v| set.contains(v)),
            Kind::Test(t) => lhs.iter().any(|v| t.holds(v)),
            Kind::Modified(m, tests) => lhs.iter().any(|v| modified(*m, tests, v)),
        }
    }
}

fn make_set(rhs: &Rhs) -> Set {
    match rhs {
        Rhs::Numbers(v) => Set::Num(v.clone()),
        Rhs::Bools(v) => Set::Bool(v.clone()),
        Rhs::Strings(v) => Set::Str(StrSet::new(v)),
        _ => Set::Str(StrSet::new::<&str>(&[])),
    }
}

fn modified(m: Modifier, tests: &[Test], v: &Val<'_>) -> bool {
    match m {
        Modifier::AnyOf => tests.iter().any(|t| t.holds(v)),
        Modifier::AllOf => !tests.is_empty() && tests.iter().all(|t| t.holds(v)),
        Modifier::OneOf => tests.iter().filter(|t| t.holds(v)).count() == 1,
    }
}

/// Field-to-field comparison (`f1 op val(f2)`, `f1 op tolower(f2)`): false when either side is missing;
/// `in`/`intersects` use every right-hand value as the set, the others the first right-hand value.
pub fn check_values(op: CmpOp, lhs: &Values<'_>, rhs: &Values<'_>) -> bool {
    if lhs.is_empty() {
        return false;
    }
    let Some(first) = rhs.first() else {
        return false;
    };
    match op {
        CmpOp::Exists => true,
        CmpOp::In => lhs.iter().all(|v| rhs.contains(v)),
        CmpOp::Intersects => lhs.iter().any(|v| rhs.contains(v)),
        _ => {
            let lit = match first {
                Val::Str(s) => Lit::Str(s),
                Val::Num(n) => Lit::Num(*n),
                Val::Bool(b) => Lit::Bool(*b),
            };
            match Test::single(op, lit) {
                Ok(t) => lhs.iter().any(|v| t.holds(v)),
                Err(_) => false,
            }
        }
    }
}

#[cfg(test)]
mod tests;
