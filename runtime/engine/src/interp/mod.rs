//! The rule interpreter: evaluates the resolved IR directly. It runs rules loaded at run time (`replay -r`)
//! and is the oracle the compiled engine is tested against, so it favours plain, obviously-correct
//! evaluation: n-ary `and`/`or` with short-circuit, macros memoised per event, operators from `ops`.
//! Its one shortcut is the dispatch both engines share (`dispatch`): rules whose required verb,
//! resource, ... the event lacks are not run. `without_dispatch` turns it off for the oracle.

pub mod compile;
pub mod dispatch;
pub mod value;

use crate::engine::{Engine, Plan, RuleMatching, RuleMeta};
use crate::event::Event;
use crate::ops::check_values;
use crate::value::Values;
use compile::{Node, Test};
use kaudit_frontend::ir::Ruleset;
use smallvec::SmallVec;
use std::fmt;

/// A rule (or macro) whose condition could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpError {
    /// `rule 'name'` or `macro 'name'`.
    pub item: String,
    pub msg: String,
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.item, self.msg)
    }
}

impl std::error::Error for InterpError {}

/// Per-event memo of macro results: 0 = not evaluated yet, 1 = false, 2 = true.
type Memo = SmallVec<[u8; 256]>;

/// Per-event working state: the macro memo, and value buffers reused by every check (so a list that
/// spills to the heap allocates once per event, not once per check).
struct Scratch<'e> {
    memo: Memo,
    lhs: Values<'e>,
    rhs: Values<'e>,
}

impl Scratch<'_> {
    fn new(macros: usize) -> Self {
        Scratch {
            memo: Memo::from_elem(0, macros),
            lhs: Values::new(),
            rhs: Values::new(),
        }
    }
}

/// Rules compiled for interpretation.
#[derive(Debug)]
pub struct Interpreter {
    rules: Vec<RuleMeta>,
    /// Condition per rule (same index as `rules`); `None` for rules of other sources.
    conds: Vec<Option<Node>>,
    macros: Vec<Node>,
    /// `None`: every rule of the plan is evaluated.
    dispatch: Option<dispatch::Candidates>,
}

impl Interpreter {
    /// Compiles every rule of `ruleset` (all sources are listed; only `k8s_audit` ones have conditions).
    pub fn new(ruleset: &Ruleset) -> Result<Interpreter, InterpError> {
        let macros = ruleset
            .macros
            .iter()
            .map(|m| {
                compile::compile(&m.cond).map_err(|msg| InterpError {
                    item: format!("macro '{}'", m.name),
                    msg,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut rules = Vec::with_capacity(ruleset.rules.len());
        let mut conds = Vec::with_capacity(ruleset.rules.len());
        for r in &ruleset.rules {
            let cond = match (&r.cond, r.source == "k8s_audit") {
                (Some(c), true) => Some(compile::compile(c).map_err(|msg| InterpError {
                    item: format!("rule '{}'", r.name),
                    msg,
                })?),
                _ => None,
            };
            conds.push(cond);
            rules.push(RuleMeta {
                name: r.name.clone(),
                priority: r.priority,
                source: r.source.clone(),
                tags: r.tags.clone(),
                output: r.output.clone(),
                enabled: r.enabled,
            });
        }
        Ok(Interpreter {
            rules,
            conds,
            macros,
            dispatch: Some(dispatch::Candidates::new(ruleset)),
        })
    }

    /// The same interpreter evaluating every rule of a plan, skipping none: the plain oracle the
    /// dispatch is tested against (it must never change a result, only the time spent).
    pub fn without_dispatch(mut self) -> Interpreter {
        self.dispatch = None;
        self
    }

    /// Whether rule `idx` matches `ev` (false for unknown indices and rules without a condition).
    pub fn matches_rule(&self, idx: usize, ev: &Event<'_>) -> bool {
        let mut sc = Scratch::new(self.macros.len());
        match self.conds.get(idx) {
            Some(Some(node)) => self.eval_node(node, ev, &mut sc),
            _ => false,
        }
    }

    fn eval_node<'e>(&self, node: &Node, ev: &'e Event<'e>, sc: &mut Scratch<'e>) -> bool {
        match node {
            Node::And(items) => items.iter().all(|n| self.eval_node(n, ev, sc)),
            Node::Or(items) => items.iter().any(|n| self.eval_node(n, ev, sc)),
            Node::Not(inner) => !self.eval_node(inner, ev, sc),
            Node::Macro(id) => {
                let i = *id as usize;
                match sc.memo.get(i).copied() {
                    Some(1) => false,
                    Some(2) => true,
                    _ => {
                        let r = self
                            .macros
                            .get(i)
                            .is_some_and(|m| self.eval_node(m, ev, sc));
                        if let Some(slot) = sc.memo.get_mut(i) {
                            *slot = 1 + u8::from(r);
                        }
                        r
                    }
                }
            }
            Node::Check(check) => {
                value::eval_value(ev, &check.lhs, &mut sc.lhs);
                match &check.test {
                    Test::Literal(m) => m.matches(&sc.lhs),
                    Test::Field { op, rhs } => {
                        if sc.lhs.is_empty() {
                            return false;
                        }
                        value::eval_value(ev, rhs, &mut sc.rhs);
                        check_values(*op, &sc.lhs, &sc.rhs)
                    }
                }
            }
        }
    }
}

impl Engine for Interpreter {
    fn rules(&self) -> &[RuleMeta] {
        &self.rules
    }

    fn eval(&self, ev: &Event<'_>, plan: &Plan, on_match: &mut dyn FnMut(usize)) {
        let mut sc = Scratch::new(self.macros.len());
        let candidates = self.dispatch.as_ref().map(|d| d.of(ev, &mut sc.lhs));
        for &i in &plan.order {
            let Some(Some(node)) = self.conds.get(i) else {
                continue;
            };
            if candidates.as_ref().is_some_and(|c| !dispatch::has(c, i)) {
                continue;
            }
            if self.eval_node(node, ev, &mut sc) {
                on_match(i);
                if plan.matching == RuleMatching::First {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
