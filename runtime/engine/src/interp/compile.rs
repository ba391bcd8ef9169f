//! Turns IR conditions into interpreter nodes: literal right-hand sides become precompiled `ops::Matcher`s
//! (hash sets, globs, pmatch sets, regexes), built once at load.

use crate::ops::Matcher;
use kaudit_frontend::ast::CmpOp;
use kaudit_frontend::ir::{Check, Cond, MacroId, Rhs, ValueExpr};

/// A compiled condition.
#[derive(Debug)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// Index into the interpreter's macros; evaluated at most once per event.
    Macro(MacroId),
    Check(Box<CheckNode>),
}

#[derive(Debug)]
pub struct CheckNode {
    pub lhs: ValueExpr,
    pub test: Test,
}

#[derive(Debug)]
pub enum Test {
    /// Operator against literal values.
    Literal(Matcher),
    /// Field-to-field comparison (`val()` or a transformer on the right).
    Field { op: CmpOp, rhs: ValueExpr },
}

/// Compiles `cond`; the error names the failing check (only invalid regexes fail).
pub fn compile(cond: &Cond) -> Result<Node, String> {
    Ok(match cond {
        Cond::And(items) => Node::And(items.iter().map(compile).collect::<Result<_, _>>()?),
        Cond::Or(items) => Node::Or(items.iter().map(compile).collect::<Result<_, _>>()?),
        Cond::Not(inner) => Node::Not(Box::new(compile(inner)?)),
        Cond::Macro(id) => Node::Macro(*id),
        Cond::Check(check) => Node::Check(Box::new(compile_check(check)?)),
    })
}

fn compile_check(check: &Check) -> Result<CheckNode, String> {
    let test = match &check.rhs {
        Rhs::Value(rhs) => Test::Field {
            op: check.op,
            rhs: rhs.clone(),
        },
        rhs => Test::Literal(
            Matcher::new(check.op, check.modifier, rhs, check.lhs.ty())
                .map_err(|e| format!("line {} col {}: {e}", check.span.line, check.span.col))?,
        ),
    };
    Ok(CheckNode {
        lhs: check.lhs.clone(),
        test,
    })
}
