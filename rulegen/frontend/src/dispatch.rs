//! Dispatch: before any rule runs, a few cheap single-valued fields (typically `ka.verb`,
//! `ka.target.resource`, `ka.stage`) select the rules that can still match the event. Both engines use
//! this one plan: the code generator turns it into constant bitmasks, the interpreter into tables.
//!
//! A rule "requires" `f ∈ S` when its condition is an `and` (possibly through macros and `or`s whose every
//! branch requires the same field) with a conjunct `f = v`, `f in (...)`, `f intersects (...)` or
//! `f = anyof (...)`. Such a conjunct is false when `f` is missing or outside `S`, and then so is the rule,
//! so skipping it changes nothing but the time spent.
//!
//! How an engine reads a dispatch field's values: exactly one string value selects `by_value` (or
//! `others` when no rule requires that value), no value selects `others`, and anything else (several
//! values, a value that is not a string) keeps every runnable rule.

use crate::ast::{CmpOp, Modifier};
use crate::catalog::FieldType;
use crate::ir::{Cond, FieldArg, FieldRef, Macro, Rhs, Ruleset, ValueExpr};
use std::collections::{BTreeMap, BTreeSet};

/// How many fields the dispatch looks at, at most.
const MAX_DISPATCH_FIELDS: usize = 3;
/// Macro nesting followed when looking for requirements (the IR has no cycles; this only bounds work).
const MAX_DEPTH: usize = 64;

/// A field as rule text (`ka.verb`, `jevt.value[/stage]`): the key requirements are grouped by.
pub fn field_text(f: &FieldRef) -> String {
    let name = f.id.info().name;
    match &f.arg {
        FieldArg::None => name.to_string(),
        FieldArg::Index(n) => format!("{name}[{n}]"),
        FieldArg::Key(k) => format!("{name}[{k}]"),
    }
}

/// Per field (keyed by its text), the values a rule requires it to have.
pub type Requirements = BTreeMap<String, (FieldRef, BTreeSet<String>)>;

/// What a condition requires of single-valued string fields.
pub fn requirements(cond: &Cond, macros: &[Macro]) -> Requirements {
    walk(cond, macros, 0)
}

fn walk(cond: &Cond, macros: &[Macro], depth: usize) -> Requirements {
    if depth > MAX_DEPTH {
        return Requirements::new();
    }
    match cond {
        Cond::Check(check) => {
            let ValueExpr::Field(f) = &check.lhs else {
                return Requirements::new();
            };
            let info = f.id.info();
            if info.list || info.ty != FieldType::String {
                return Requirements::new();
            }
            let Rhs::Strings(items) = &check.rhs else {
                return Requirements::new();
            };
            let ok = match (check.op, check.modifier) {
                (CmpOp::Eq | CmpOp::EqEq, None) => items.len() == 1,
                (CmpOp::Eq | CmpOp::EqEq, Some(Modifier::AnyOf)) => true,
                (CmpOp::In | CmpOp::Intersects, None) => true,
                _ => false,
            };
            if !ok {
                return Requirements::new();
            }
            let mut r = Requirements::new();
            r.insert(field_text(f), (f.clone(), items.iter().cloned().collect()));
            r
        }
        Cond::Macro(id) => match macros.get(*id as usize) {
            Some(m) => walk(&m.cond, macros, depth + 1),
            None => Requirements::new(),
        },
        Cond::And(items) => {
            let mut acc = Requirements::new();
            for item in items {
                for (key, (f, values)) in walk(item, macros, depth + 1) {
                    match acc.get_mut(&key) {
                        Some((_, have)) => *have = have.intersection(&values).cloned().collect(),
                        None => {
                            acc.insert(key, (f, values));
                        }
                    }
                }
            }
            acc
        }
        Cond::Or(items) => {
            let mut branches = items.iter().map(|item| walk(item, macros, depth + 1));
            let Some(mut acc) = branches.next() else {
                return Requirements::new();
            };
            for branch in branches {
                acc.retain(|key, _| branch.contains_key(key));
                for (key, (_, values)) in acc.iter_mut() {
                    if let Some((_, more)) = branch.get(key) {
                        values.extend(more.iter().cloned());
                    }
                }
            }
            acc
        }
        Cond::Not(_) => Requirements::new(),
    }
}

/// One field the dispatch reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchField {
    /// The field as rule text.
    pub key: String,
    pub field: FieldRef,
    /// For each value some rule requires: the rules that can match when the field has it (the rules
    /// requiring it and the rules requiring nothing of this field), sorted.
    pub by_value: BTreeMap<String, Vec<usize>>,
    /// The rules that require nothing of this field (all that can match when its value is missing or
    /// one no rule requires).
    pub others: Vec<usize>,
}

/// The dispatch of a rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// The rules with a condition (rules of other sources never match), sorted.
    pub runnable: Vec<usize>,
    /// The fields read, most required first.
    pub fields: Vec<DispatchField>,
}

/// Chooses the dispatch fields (those most rules require, at most three) and the rules each value
/// keeps.
pub fn plan(ruleset: &Ruleset) -> Dispatch {
    let n = ruleset.rules.len();
    let runnable: Vec<usize> = (0..n)
        .filter(|&i| {
            ruleset
                .rules
                .get(i)
                .is_some_and(|r| r.cond.is_some() && r.source == "k8s_audit")
        })
        .collect();
    let reqs: Vec<Requirements> = ruleset
        .rules
        .iter()
        .map(|r| {
            r.cond
                .as_ref()
                .map(|c| requirements(c, &ruleset.macros))
                .unwrap_or_default()
        })
        .collect();

    let mut counts: BTreeMap<String, (FieldRef, usize)> = BTreeMap::new();
    for r in &reqs {
        for (key, (f, _)) in r {
            counts
                .entry(key.clone())
                .or_insert_with(|| (f.clone(), 0))
                .1 += 1;
        }
    }
    let mut chosen: Vec<(String, FieldRef, usize)> =
        counts.into_iter().map(|(k, (f, c))| (k, f, c)).collect();
    chosen.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    chosen.truncate(MAX_DISPATCH_FIELDS);

    let fields = chosen
        .into_iter()
        .map(|(key, field, _)| {
            let others: Vec<usize> = runnable
                .iter()
                .copied()
                .filter(|&i| reqs.get(i).is_some_and(|r| !r.contains_key(&key)))
                .collect();
            let mut by_value: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for &i in &runnable {
                if let Some((_, values)) = reqs.get(i).and_then(|r| r.get(&key)) {
                    for v in values {
                        by_value.entry(v.clone()).or_default().push(i);
                    }
                }
            }
            for rules in by_value.values_mut() {
                rules.extend(&others);
                rules.sort_unstable();
                rules.dedup();
            }
            DispatchField {
                key,
                field,
                by_value,
                others,
            }
        })
        .collect();
    Dispatch { runnable, fields }
}
