//! Mutation testing of rule tests: each rule's condition is changed one way at a time — one clause of
//! an `and`/`or` dropped, one check or macro reference negated, one `not` removed — and every test runs
//! on the changed rules (interpreted). A mutant no test notices ("survives") marks behaviour the tests
//! do not pin down. Mutations edit the rule's own condition tree; macro bodies are not mutated (a macro
//! reference is mutated as a whole), so each mutant changes exactly one rule.

use crate::run::{run_with_engine, RuleBase};
use crate::spec::TestFile;
use kaudit_engine::coverage::Coverage;
use kaudit_engine::interp::Interpreter;
use kaudit_frontend::ir::{Cond, Ruleset};
use kaudit_frontend::load::load_sources;
use std::collections::HashMap;

/// One change to a rule's condition: at the node reached by `path` (child indices from the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Drop child `k` of the `and`/`or` at `path`.
    Drop { path: Vec<usize>, k: usize },
    /// Wrap the node at `path` in `not` (or unwrap it, if it is a `not`).
    Negate { path: Vec<usize> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutant {
    pub rule: String,
    pub edit: Edit,
    /// What changed, for people: `drop macro kcreate from the and`, `negate check at file:line:col`.
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MutantReport {
    pub total: usize,
    pub killed: usize,
    pub survivors: Vec<Mutant>,
    /// Mutants that could not be applied to some test's rule set (a test redefines the rule).
    pub skipped: usize,
}

fn children(c: &Cond) -> Vec<&Cond> {
    match c {
        Cond::And(v) | Cond::Or(v) => v.iter().collect(),
        Cond::Not(inner) => vec![inner],
        _ => Vec::new(),
    }
}

fn node_text(c: &Cond, rs: &Ruleset, files: &[(String, String)]) -> String {
    match c {
        Cond::And(_) => "an `and` group".into(),
        Cond::Or(_) => "an `or` group".into(),
        Cond::Not(inner) => format!("`not` over {}", node_text(inner, rs, files)),
        Cond::Macro(id) => format!(
            "macro {}",
            rs.macros.get(*id as usize).map_or("?", |m| m.name.as_str())
        ),
        Cond::Check(chk) => {
            let file = files
                .get(chk.span.file as usize)
                .map_or("?", |f| f.0.as_str());
            format!("the check at {file}:{}:{}", chk.span.line, chk.span.col)
        }
    }
}

/// Every mutant of every enabled k8s_audit rule of `rs`.
pub fn mutants(rs: &Ruleset, files: &[(String, String)]) -> Vec<Mutant> {
    let mut out = Vec::new();
    for r in rs.active_rules() {
        let Some(cond) = &r.cond else { continue };
        let mut stack: Vec<(Vec<usize>, &Cond)> = vec![(Vec::new(), cond)];
        while let Some((path, node)) = stack.pop() {
            let kids = children(node);
            if matches!(node, Cond::And(_) | Cond::Or(_)) && kids.len() >= 2 {
                let group = if matches!(node, Cond::And(_)) {
                    "and"
                } else {
                    "or"
                };
                for (k, kid) in kids.iter().enumerate() {
                    out.push(Mutant {
                        rule: r.name.clone(),
                        edit: Edit::Drop {
                            path: path.clone(),
                            k,
                        },
                        description: format!(
                            "drop {} from its `{group}`",
                            node_text(kid, rs, files)
                        ),
                    });
                }
            }
            if !matches!(node, Cond::And(_) | Cond::Or(_)) {
                let what = match node {
                    Cond::Not(inner) => {
                        format!("remove the `not` before {}", node_text(inner, rs, files))
                    }
                    _ => format!("negate {}", node_text(node, rs, files)),
                };
                out.push(Mutant {
                    rule: r.name.clone(),
                    edit: Edit::Negate { path: path.clone() },
                    description: what,
                });
            }
            for (k, kid) in kids.iter().enumerate().rev() {
                // Below a `not`, only the `not` itself is flipped (negating its operand is the same).
                if matches!(node, Cond::Not(_)) {
                    break;
                }
                let mut p = path.clone();
                p.push(k);
                stack.push((p, kid));
            }
        }
    }
    out
}

fn node_at<'a>(c: &'a mut Cond, path: &[usize]) -> Option<&'a mut Cond> {
    let Some((first, rest)) = path.split_first() else {
        return Some(c);
    };
    let next = match c {
        Cond::And(v) | Cond::Or(v) => v.get_mut(*first)?,
        Cond::Not(inner) if *first == 0 => inner,
        _ => return None,
    };
    node_at(next, rest)
}

/// `rs` with the mutant applied (None when the rule or the node is not there).
pub fn apply(rs: &Ruleset, m: &Mutant) -> Option<Ruleset> {
    let mut rs = rs.clone();
    let rule = rs
        .rules
        .iter_mut()
        .find(|r| r.name == m.rule && r.source == "k8s_audit")?;
    let cond = rule.cond.as_mut()?;
    match &m.edit {
        Edit::Drop { path, k } => match node_at(cond, path)? {
            Cond::And(v) | Cond::Or(v) if *k < v.len() => {
                v.remove(*k);
            }
            _ => return None,
        },
        Edit::Negate { path } => {
            let node = node_at(cond, path)?;
            let old = std::mem::replace(node, Cond::And(Vec::new()));
            *node = match old {
                Cond::Not(inner) => *inner,
                other => Cond::Not(Box::new(other)),
            };
        }
    }
    Some(rs)
}

/// Runs every test of `files` on every mutant of the base rules.
pub fn run_mutants(base: &RuleBase, files: &[TestFile]) -> Result<MutantReport, String> {
    // The rule set of each distinct test setup (base, or base plus the test's extras), loaded once.
    let mut sets: HashMap<Vec<(String, String)>, Ruleset> = HashMap::new();
    let mut setups = Vec::new();
    for f in files {
        for t in &f.tests {
            let sources = base.sources_for(t)?;
            if !sets.contains_key(&sources) {
                let res = load_sources(&sources);
                let Some(rs) = res.ruleset.clone() else {
                    return Err(format!(
                        "test `{}`: rules fail to load:\n{}",
                        t.name,
                        res.render()
                    ));
                };
                sets.insert(sources.clone(), rs);
            }
            setups.push((t, sources));
        }
    }
    let base_sources = base.sources_for_base();
    let res = load_sources(&base_sources);
    let base_rs = res.ruleset.ok_or("the rules under test fail to load")?;
    let mut report = MutantReport::default();
    for m in mutants(&base_rs, &res.files) {
        report.total += 1;
        let mut killed = false;
        let mut skipped = false;
        for (t, sources) in &setups {
            let Some(mutated) = sets.get(sources).and_then(|rs| apply(rs, &m)) else {
                skipped = true;
                continue;
            };
            let engine = Interpreter::new(&mutated).map_err(|e| e.to_string())?;
            if !run_with_engine(&engine, t, &mut Coverage::default()).passed() {
                killed = true;
                break;
            }
        }
        if killed {
            report.killed += 1;
        } else {
            report.skipped += usize::from(skipped);
            report.survivors.push(m);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_clause_is_dropped_and_each_leaf_negated_once() {
        let src = "- macro: m\n  condition: ka.verb=get\n- rule: r\n  desc: d\n  condition: m and not ka.user.name=a and (ka.uri=/x or ka.uri=/y)\n  output: o\n  priority: INFO\n  source: k8s_audit\n";
        let res = load_sources(&[("r.yaml", src)]);
        let rs = res.ruleset.clone().unwrap();
        let ms = mutants(&rs, &res.files);
        let d: Vec<&str> = ms.iter().map(|m| m.description.as_str()).collect();
        assert_eq!(
            d,
            [
                "drop macro m from its `and`",
                "drop `not` over the check at r.yaml:5:24 from its `and`",
                "drop an `or` group from its `and`",
                "negate macro m",
                "remove the `not` before the check at r.yaml:5:24",
                "drop the check at r.yaml:5:44 from its `or`",
                "drop the check at r.yaml:5:57 from its `or`",
                "negate the check at r.yaml:5:44",
                "negate the check at r.yaml:5:57",
            ]
        );
        // Dropping the `not` clause leaves `m and (...)`; removing the `not` flips it.
        let dropped = apply(&rs, &ms[1]).unwrap();
        assert!(matches!(&dropped.rules[0].cond, Some(Cond::And(v)) if v.len() == 2));
        let flipped = apply(&rs, &ms[4]).unwrap();
        assert!(
            matches!(&flipped.rules[0].cond, Some(Cond::And(v)) if matches!(v[1], Cond::Check(_)))
        );
    }
}
