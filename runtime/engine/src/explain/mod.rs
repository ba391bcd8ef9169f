//! `kaudit explain`: why each rule did or did not match an event.
//!
//! Every rule's condition is evaluated as a tree, node by node (no short-circuit, so every node has a
//! result), with the interpreter's own operators (`interp::compile` builds each check's matcher), macros
//! expanded in place, and each check labelled as written in the rule file (list names kept) with its
//! span. `render` prints the trees; the caller compares the matched set with an engine's answer.

mod labels;
pub mod render;

use crate::event::Event;
use crate::interp::compile::{self, CheckNode, Node, Test};
use crate::interp::value::eval_value;
use crate::ops::check_values;
use crate::value::{Val, Values};
use kaudit_frontend::ast::CmpOp;
use kaudit_frontend::ir::{Check, Cond, FieldArg, Rhs, Ruleset, TArg, ValueExpr};
use kaudit_frontend::span::Span;
pub use labels::{check_labels, Labels};

/// A condition prepared for explaining.
enum XNode {
    And(Vec<XNode>),
    Or(Vec<XNode>),
    Not(Box<XNode>),
    Macro(usize),
    Check {
        node: CheckNode,
        span: Span,
        label: String,
    },
}

/// One node of an explained condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    pub what: What,
    pub result: bool,
    pub children: Vec<Explained>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    And,
    Or,
    Not,
    Macro {
        name: String,
    },
    Check {
        /// As written in the rule file when known, else rebuilt from the IR.
        label: String,
        span: Span,
        /// The left side's rendered values; empty when the field is missing.
        values: Vec<String>,
    },
}

/// The explanation of one rule on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleExplained {
    /// Index into `Ruleset::rules` (same as the engines' rule indices).
    pub index: usize,
    pub name: String,
    pub span: Span,
    pub tree: Explained,
}

/// Rules and macros ready to explain.
pub struct Explainer {
    rules: Vec<Option<XNode>>,
    macros: Vec<(String, XNode)>,
    names: Vec<(String, Span)>,
}

impl Explainer {
    /// Prepares every `k8s_audit` rule of `ruleset`; `files` are its rule files (name, text) for labels.
    pub fn new(ruleset: &Ruleset, files: &[(String, String)]) -> Result<Explainer, String> {
        let labels = check_labels(files);
        let macros = ruleset
            .macros
            .iter()
            .map(|m| Ok((m.name.clone(), prepare(&m.cond, &labels)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let rules = ruleset
            .rules
            .iter()
            .map(|r| match (&r.cond, r.source == "k8s_audit") {
                (Some(c), true) => prepare(c, &labels).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>, String>>()?;
        let names = ruleset
            .rules
            .iter()
            .map(|r| (r.name.clone(), r.span))
            .collect();
        Ok(Explainer {
            rules,
            macros,
            names,
        })
    }

    /// Explains rule `index` on `ev` (None for rules without a k8s_audit condition).
    pub fn explain(&self, index: usize, ev: &Event<'_>) -> Option<RuleExplained> {
        let node = self.rules.get(index)?.as_ref()?;
        let (name, span) = self.names.get(index)?.clone();
        Some(RuleExplained {
            index,
            name,
            span,
            tree: self.eval(node, ev),
        })
    }

    fn eval<'e>(&self, node: &XNode, ev: &'e Event<'e>) -> Explained {
        let group = |what: What, items: &[XNode], any: bool| {
            let children: Vec<Explained> = items.iter().map(|n| self.eval(n, ev)).collect();
            let result = if any {
                children.iter().any(|c| c.result)
            } else {
                children.iter().all(|c| c.result)
            };
            Explained {
                what,
                result,
                children,
            }
        };
        match node {
            XNode::And(items) => group(What::And, items, false),
            XNode::Or(items) => group(What::Or, items, true),
            XNode::Not(inner) => {
                let child = self.eval(inner, ev);
                Explained {
                    what: What::Not,
                    result: !child.result,
                    children: vec![child],
                }
            }
            XNode::Macro(i) => match self.macros.get(*i) {
                Some((name, body)) => {
                    let child = self.eval(body, ev);
                    Explained {
                        what: What::Macro { name: name.clone() },
                        result: child.result,
                        children: vec![child],
                    }
                }
                None => Explained {
                    what: What::Macro {
                        name: format!("#{i}"),
                    },
                    result: false,
                    children: Vec::new(),
                },
            },
            XNode::Check { node, span, label } => {
                let mut lhs = Values::new();
                eval_value(ev, &node.lhs, &mut lhs);
                let result = match &node.test {
                    Test::Literal(m) => m.matches(&lhs),
                    Test::Field { op, rhs } => {
                        let mut r = Values::new();
                        if !lhs.is_empty() {
                            eval_value(ev, rhs, &mut r);
                        }
                        !lhs.is_empty() && check_values(*op, &lhs, &r)
                    }
                };
                Explained {
                    what: What::Check {
                        label: label.clone(),
                        span: *span,
                        values: lhs.iter().map(val_text).collect(),
                    },
                    result,
                    children: Vec::new(),
                }
            }
        }
    }
}

fn val_text(v: &Val<'_>) -> String {
    match v {
        Val::Str(s) => s.to_string(),
        Val::Num(n) => n.to_string(),
        Val::Bool(b) => b.to_string(),
    }
}

fn prepare(cond: &Cond, labels: &Labels) -> Result<XNode, String> {
    let all = |items: &[Cond]| {
        items
            .iter()
            .map(|c| prepare(c, labels))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match cond {
        Cond::And(items) => XNode::And(all(items)?),
        Cond::Or(items) => XNode::Or(all(items)?),
        Cond::Not(inner) => XNode::Not(Box::new(prepare(inner, labels)?)),
        Cond::Macro(id) => XNode::Macro(*id as usize),
        Cond::Check(check) => {
            let Node::Check(node) = compile::compile(cond)? else {
                return Err("a check did not compile to a check".into());
            };
            // An exact span is a point at the check; otherwise it covers the whole condition.
            let label = labels
                .get(&(check.span.file, check.span.offset))
                .filter(|_| check.span.len == 0)
                .cloned()
                .unwrap_or_else(|| ir_text(check));
            XNode::Check {
                node: *node,
                span: check.span,
                label,
            }
        }
    })
}

/// A check rebuilt from the IR (for checks whose source text is not known, e.g. from exceptions).
fn ir_text(c: &Check) -> String {
    let mut s = value_text(&c.lhs);
    s.push(' ');
    s.push_str(c.op.text());
    if let Some(m) = c.modifier {
        s.push(' ');
        s.push_str(kaudit_frontend::cond::modifier_text(m));
    }
    let list = |items: Vec<String>| {
        if matches!(c.op, CmpOp::In | CmpOp::Intersects | CmpOp::PMatch) || c.modifier.is_some() {
            format!(" ({})", items.join(", "))
        } else {
            format!(" {}", items.join(", "))
        }
    };
    match &c.rhs {
        Rhs::None => {}
        Rhs::Strings(v) => s.push_str(&list(v.clone())),
        Rhs::Numbers(v) => s.push_str(&list(v.iter().map(u64::to_string).collect())),
        Rhs::Bools(v) => s.push_str(&list(v.iter().map(bool::to_string).collect())),
        Rhs::Value(v) => {
            s.push(' ');
            s.push_str(&value_text(v));
        }
    }
    s
}

fn value_text(v: &ValueExpr) -> String {
    match v {
        ValueExpr::Field(f) => {
            let name = f.id.info().name;
            match &f.arg {
                FieldArg::None => name.to_string(),
                FieldArg::Index(i) => format!("{name}[{i}]"),
                FieldArg::Key(k) => format!("{name}[{k}]"),
            }
        }
        ValueExpr::Transform { func, args, arg } => {
            let inner: Vec<String> = args.iter().map(targ_text).collect();
            let tail = arg.as_ref().map_or(String::new(), |a| format!("[{a}]"));
            format!("{}({}){tail}", func.name(), inner.join(", "))
        }
    }
}

fn targ_text(a: &TArg) -> String {
    match a {
        TArg::Value(v) => value_text(v),
        TArg::Literal(l) => l.clone(),
        TArg::List(items) => format!(
            "({})",
            items.iter().map(targ_text).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// One event explained against a plan, with an engine's own answer to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventExplained {
    /// Rules of the plan whose explained condition is true, in plan order.
    pub matched: Vec<usize>,
    /// What the checking engine matched, evaluating every rule of the plan (as `rule_matching: all`).
    pub engine_matched: Vec<usize>,
    /// The explained rules (all of the plan, or those `wanted` selects), in plan order.
    pub rules: Vec<RuleExplained>,
}

impl EventExplained {
    pub fn agrees(&self) -> bool {
        self.matched == self.engine_matched
    }
}

/// Explains `ev` for every rule of `plan` (trees kept for the rules `wanted` accepts).
pub fn explain_event(
    explainer: &Explainer,
    engine: &dyn crate::engine::Engine,
    plan: &crate::engine::Plan,
    ev: &Event<'_>,
    wanted: &dyn Fn(usize) -> bool,
) -> EventExplained {
    let mut matched = Vec::new();
    let mut rules = Vec::new();
    for &i in &plan.order {
        let Some(r) = explainer.explain(i, ev) else {
            continue;
        };
        if r.tree.result {
            matched.push(i);
        }
        if wanted(i) {
            rules.push(r);
        }
    }
    let all = crate::engine::Plan {
        order: plan.order.clone(),
        matching: crate::engine::RuleMatching::All,
    };
    let mut engine_matched = Vec::new();
    engine.eval(ev, &all, &mut |i| engine_matched.push(i));
    EventExplained {
        matched,
        engine_matched,
        rules,
    }
}
