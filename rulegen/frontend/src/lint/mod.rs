//! `kaudit lint`: warnings about rules that load but cannot do what their author meant.
//!
//! Decided on the resolved IR (macros expanded, lists expanded), so they hold for whatever files and
//! overrides produced it:
//! * a rule that can never alert under `rule_matching: first` because an earlier rule's conditions are a
//!   subset of its own (every event it matches, the earlier rule matches first);
//! * a condition that is always false: one field required to equal values that do not overlap, or a
//!   value both required and excluded;
//! * a comparison of `ka.verb` with something that is not an audit verb, or of
//!   `ka.target.resource` / `ka.target.subresource` with a near miss of a built-in name;
//! * `in`/`intersects` on a list that is empty (after overrides) where that makes the check always false;
//! * a regex where a plain operator would do (and be faster), or a `.*` at an end of it.
//!
//! Checks that need events (shadowing seen on a corpus, output fields mostly missing) live with the
//! command, which has an engine.

mod k8s_names;

use crate::ast::CmpOp;
use crate::catalog;
use crate::diag::{item, Diagnostic};
use crate::ir::{Check, Cond, Rhs, Rule, Ruleset, ValueExpr};
use crate::typeck::edit_distance;
pub use k8s_names::{RESOURCES, SUBRESOURCES, VERBS};
use std::collections::{BTreeSet, HashSet};

pub mod code {
    pub const SHADOWED: &str = "LINT_SHADOWED_RULE";
    pub const ALWAYS_FALSE: &str = "LINT_ALWAYS_FALSE";
    pub const IMPOSSIBLE_VALUE: &str = "LINT_IMPOSSIBLE_VALUE";
    pub const EMPTY_LIST: &str = "LINT_EMPTY_LIST";
    pub const REGEX: &str = "LINT_REGEX";
    pub const SHADOWED_ON_CORPUS: &str = "LINT_SHADOWED_ON_CORPUS";
    pub const OUTPUT_FIELD_MISSING: &str = "LINT_OUTPUT_FIELD_MISSING";
}

/// Every static warning for the enabled `k8s_audit` rules of `rs`, in rule order.
pub fn lint(rs: &Ruleset) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let rules: Vec<(&Rule, Vec<&Cond>)> = rs
        .active_rules()
        .map(|r| {
            (
                r,
                r.cond.as_ref().map_or_else(Vec::new, |c| conjuncts(c, rs)),
            )
        })
        .collect();
    let mut seen_checks: HashSet<(u32, u32, u32)> = HashSet::new();
    for (j, (rule, conj)) in rules.iter().enumerate() {
        let Some(cond) = &rule.cond else { continue };
        let earlier = rules
            .iter()
            .take(j)
            .find(|(_, c)| !c.is_empty() && subset(c, conj, rs));
        if let Some((shadowing, _)) = earlier {
            out.push(
                Diagnostic::warning(
                    code::SHADOWED,
                    format!(
                        "rule `{}` never alerts under rule_matching: first: rule `{}` comes earlier and matches every event it matches",
                        rule.name, shadowing.name
                    ),
                )
                .with_span(rule.span)
                .item(item::RULE, rule.name.clone())
                .hint("move it before that rule, narrow that rule, or run with rule_matching: all"),
            );
        }
        if let Some(d) = always_false(rule, conj) {
            out.push(d);
        }
        walk(cond, rs, true, &mut |c, positive| {
            let key = (c.span.file, c.span.offset, c.span.len);
            let first_time = seen_checks.insert(key) || c.span.len > 0;
            if positive && is_empty_set(c) {
                out.push(
                    Diagnostic::warning(
                        code::EMPTY_LIST,
                        format!("`{}` is given an empty list here, so this check is always false", c.op.text()),
                    )
                    .with_span(c.span)
                    .item(item::RULE, rule.name.clone())
                    .hint("the list is empty after overrides; fill it, or the rule cannot alert through this check"),
                );
            }
            if first_time {
                out.extend(value_checks(c, rule));
                out.extend(regex_check(c, rule));
            }
        });
    }
    out
}

/// The conjuncts of a condition, with `and` flattened and macros expanded.
fn conjuncts<'a>(c: &'a Cond, rs: &'a Ruleset) -> Vec<&'a Cond> {
    match c {
        Cond::And(items) => items.iter().flat_map(|i| conjuncts(i, rs)).collect(),
        Cond::Macro(id) => match rs.macros.get(*id as usize) {
            Some(m) => conjuncts(&m.cond, rs),
            None => vec![c],
        },
        _ => vec![c],
    }
}

/// Structural equality with macros expanded and positions ignored.
fn same(a: &Cond, b: &Cond, rs: &Ruleset) -> bool {
    let expand = |c: &Cond| -> Option<usize> {
        match c {
            Cond::Macro(id) => Some(*id as usize),
            _ => None,
        }
    };
    if let Some(id) = expand(a) {
        return rs.macros.get(id).is_some_and(|m| same(&m.cond, b, rs));
    }
    if let Some(id) = expand(b) {
        return rs.macros.get(id).is_some_and(|m| same(a, &m.cond, rs));
    }
    match (a, b) {
        (Cond::And(x), Cond::And(y)) | (Cond::Or(x), Cond::Or(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q, rs))
        }
        (Cond::Not(x), Cond::Not(y)) => same(x, y, rs),
        (Cond::Check(x), Cond::Check(y)) => {
            x.lhs == y.lhs && x.op == y.op && x.modifier == y.modifier && x.rhs == y.rhs
        }
        _ => false,
    }
}

/// Whether every conjunct of `small` is a conjunct of `big` (then `big` implies `small`).
fn subset(small: &[&Cond], big: &[&Cond], rs: &Ruleset) -> bool {
    small.iter().all(|s| big.iter().any(|b| same(s, b, rs)))
}

/// The single-valued field and value set of an `=`/`in` check on literal strings.
fn value_set(c: &Cond) -> Option<(&ValueExpr, BTreeSet<&str>, &Check)> {
    let Cond::Check(chk) = c else { return None };
    if chk.lhs.is_list() || chk.modifier.is_some() {
        return None;
    }
    let Rhs::Strings(vals) = &chk.rhs else {
        return None;
    };
    // An empty set is reported as such (EMPTY_LIST), not as a contradiction.
    (!vals.is_empty() && matches!(chk.op, CmpOp::Eq | CmpOp::EqEq | CmpOp::In))
        .then(|| (&chk.lhs, vals.iter().map(String::as_str).collect(), &**chk))
}

/// A conjunction that requires one field to take values from sets that do not overlap, or that
/// requires a value it also excludes.
fn always_false(rule: &Rule, conj: &[&Cond]) -> Option<Diagnostic> {
    let required: Vec<_> = conj.iter().filter_map(|c| value_set(c)).collect();
    let excluded: Vec<_> = conj
        .iter()
        .filter_map(|c| match c {
            Cond::Not(inner) => value_set(inner),
            _ => None,
        })
        .collect();
    for (n, (lhs, vals, chk)) in required.iter().enumerate() {
        let mut allowed = vals.clone();
        for (_, vals2, _) in required.iter().skip(n + 1).filter(|r| r.0 == *lhs) {
            allowed = allowed.intersection(vals2).copied().collect();
        }
        for (_, vals2, _) in excluded.iter().filter(|r| r.0 == *lhs) {
            allowed.retain(|v| !vals2.contains(v));
        }
        if allowed.is_empty() {
            return Some(
                Diagnostic::warning(
                    code::ALWAYS_FALSE,
                    format!("the condition of rule `{}` is always false: no value satisfies every check on this field", rule.name),
                )
                .with_span(chk.span)
                .item(item::RULE, rule.name.clone())
                .hint("a single-valued field cannot equal two different values; did you mean `or` (or `in (...)`)?"),
            );
        }
    }
    None
}

/// Calls `f` on every check of `c` (macros expanded) with its polarity (false under an odd number of `not`).
fn walk<'a>(c: &'a Cond, rs: &'a Ruleset, positive: bool, f: &mut dyn FnMut(&'a Check, bool)) {
    match c {
        Cond::And(items) | Cond::Or(items) => items.iter().for_each(|i| walk(i, rs, positive, f)),
        Cond::Not(inner) => walk(inner, rs, !positive, f),
        Cond::Macro(id) => {
            if let Some(m) = rs.macros.get(*id as usize) {
                walk(&m.cond, rs, positive, f);
            }
        }
        Cond::Check(chk) => f(chk, positive),
    }
}

fn is_empty_set(c: &Check) -> bool {
    matches!(c.op, CmpOp::In | CmpOp::Intersects | CmpOp::PMatch)
        && match &c.rhs {
            Rhs::Strings(v) => v.is_empty(),
            Rhs::Numbers(v) => v.is_empty(),
            Rhs::Bools(v) => v.is_empty(),
            _ => false,
        }
}

fn field_is(e: &ValueExpr, name: &str) -> bool {
    matches!(e, ValueExpr::Field(f) if catalog::lookup(name).is_some_and(|i| i.id == f.id))
}

fn closest<'a>(v: &str, names: &[&'a str]) -> Option<(usize, &'a str)> {
    names.iter().map(|n| (edit_distance(v, n), *n)).min()
}

/// `ka.verb = crate`, `ka.target.resource = deployment`, ...
fn value_checks(c: &Check, rule: &Rule) -> Vec<Diagnostic> {
    if !matches!(c.op, CmpOp::Eq | CmpOp::EqEq | CmpOp::Ne | CmpOp::In) || c.modifier.is_some() {
        return Vec::new();
    }
    let Rhs::Strings(vals) = &c.rhs else {
        return Vec::new();
    };
    let (what, names, closed) = if field_is(&c.lhs, "ka.verb") {
        ("an audit verb", VERBS, true)
    } else if field_is(&c.lhs, "ka.target.resource") {
        ("a built-in resource", RESOURCES, false)
    } else if field_is(&c.lhs, "ka.target.subresource") {
        ("a built-in subresource", SUBRESOURCES, false)
    } else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for v in vals.iter().filter(|v| !names.contains(&v.as_str())) {
        let near = closest(v, names).filter(|(d, _)| *d <= 2 && *d < v.len());
        if !closed && near.is_none() {
            continue; // a custom resource, probably
        }
        let hint = match near {
            Some((_, n)) => format!("did you mean `{n}`?"),
            None => format!("audit events carry one of: {}", names.join(", ")),
        };
        out.push(
            Diagnostic::warning(
                code::IMPOSSIBLE_VALUE,
                format!("`{v}` is not {what}, so this comparison never holds for it"),
            )
            .with_span(c.span)
            .item(item::RULE, rule.name.clone())
            .hint(hint),
        );
    }
    out
}

/// A regex that is a plain string test, or has a `.*` at an end.
fn regex_check(c: &Check, rule: &Rule) -> Option<Diagnostic> {
    if c.op != CmpOp::Regex {
        return None;
    }
    let Rhs::Strings(vals) = &c.rhs else {
        return None;
    };
    let pat = vals.first()?;
    let meta = |s: &str| {
        s.contains([
            '.', '^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\',
        ])
    };
    let core = pat.strip_prefix('^').unwrap_or(pat);
    let core = core.strip_suffix('$').unwrap_or(core);
    let suggestion = if !meta(core) {
        match (pat.starts_with('^'), pat.ends_with('$')) {
            (true, true) => Some("`=`"),
            (true, false) => Some("`startswith`"),
            (false, true) => Some("`endswith`"),
            (false, false) => Some("`contains`"),
        }
    } else {
        None
    };
    let msg = match suggestion {
        Some(op) => {
            format!("regex `{pat}` is a plain string test: {op} does the same without a regex")
        }
        None if pat.starts_with(".*") || (pat.ends_with(".*") && !pat.ends_with("\\.*")) => {
            format!("regex `{pat}`: a leading or trailing `.*` is implied (the regex is not anchored) and only costs time")
        }
        None => return None,
    };
    Some(
        Diagnostic::warning(code::REGEX, msg)
            .with_span(c.span)
            .item(item::RULE, rule.name.clone()),
    )
}

#[cfg(test)]
mod tests;
