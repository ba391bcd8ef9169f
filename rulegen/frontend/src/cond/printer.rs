//! Canonical condition text: `print(parse(t))` parses back to the same tree (offsets aside).
//!
//! Parentheses are added exactly where the tree nests an `and`/`or` inside one that would otherwise
//! absorb it, and around the operand of a double negation (Falco folds `not not x` into `x`). Values
//! are written bare when the bare-string token reads them back unchanged, quoted otherwise.

use super::escape;
use crate::ast::{Check, Expr, FieldRef, Modifier, Operand, Rhs, TArg};
use crate::ops::OpClass;

pub fn print_expr(expr: &Expr, out: &mut String) {
    match expr {
        Expr::Or(children) => join(children, " or ", out, |child, out| {
            print_grouped(child, matches!(child, Expr::Or(_)), out)
        }),
        Expr::And(children) => join(children, " and ", out, |child, out| {
            print_grouped(child, matches!(child, Expr::Or(_) | Expr::And(_)), out)
        }),
        Expr::Not(child) => {
            out.push_str("not ");
            let simple = matches!(**child, Expr::Check(_))
                || matches!(&**child, Expr::Macro { name, .. } if !is_keyword(name));
            print_grouped(child, !simple, out);
        }
        Expr::Macro { name, .. } => {
            // A macro spelled like a keyword only reads as a macro when nothing can follow it.
            if is_keyword(name) {
                out.push('(');
                out.push_str(name);
                out.push(')');
            } else {
                out.push_str(name);
            }
        }
        Expr::Check(check) => print_check(check, out),
    }
}

fn is_keyword(name: &str) -> bool {
    matches!(name, "and" | "or" | "not")
}

fn join<T>(items: &[T], sep: &str, out: &mut String, mut each: impl FnMut(&T, &mut String)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        each(item, out);
    }
}

fn print_grouped(expr: &Expr, parenthesise: bool, out: &mut String) {
    if parenthesise {
        out.push('(');
        print_expr(expr, out);
        out.push(')');
    } else {
        print_expr(expr, out);
    }
}

fn print_check(check: &Check, out: &mut String) {
    print_operand(&check.lhs, out);
    out.push(' ');
    out.push_str(check.op.text());
    if let Some(m) = check.modifier {
        out.push(' ');
        out.push_str(modifier_text(m));
    }
    let numeric = check.op.info().class == OpClass::Numeric;
    match &check.rhs {
        Rhs::None => {}
        Rhs::Value { text, quoted, .. } => {
            out.push(' ');
            if numeric && !quoted {
                out.push_str(text);
            } else {
                push_value(text, *quoted, out);
            }
        }
        Rhs::List { items, .. } => {
            out.push_str(" (");
            join(items, ", ", out, |item, out| push_value(item, false, out));
            out.push(')');
        }
        Rhs::Operand(op) => {
            out.push(' ');
            print_operand(op, out);
        }
    }
}

pub fn modifier_text(m: Modifier) -> &'static str {
    match m {
        Modifier::OneOf => "oneof",
        Modifier::AnyOf => "anyof",
        Modifier::AllOf => "allof",
    }
}

/// A value bare if it may be and reads back unchanged, else quoted.
fn push_value(text: &str, quoted: bool, out: &mut String) {
    if !quoted && is_bare_string(text) {
        out.push_str(text);
    } else {
        out.push_str(&escape::quote(text));
    }
}

/// Whether the bare-string token (`[^()"'[:space:]=,]+`) covers all of `text`.
pub fn is_bare_string(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| !matches!(b, b'(' | b')' | b'"' | b'\'' | b'=' | b',') && !is_space(b))
}

/// Whether the bare field-argument token (`[^]["'[:space:]]+`) covers all of `text`.
pub fn is_bare_field_arg(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| !matches!(b, b'[' | b']' | b'"' | b'\'') && !is_space(b))
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

pub fn print_operand(op: &Operand, out: &mut String) {
    match op {
        Operand::Field(f) => print_field(f, out),
        Operand::Transform {
            func, args, arg, ..
        } => {
            out.push_str(func.name());
            out.push('(');
            join(args, ", ", out, print_targ);
            out.push(')');
            print_field_arg(arg.as_deref(), out);
        }
    }
}

fn print_field(f: &FieldRef, out: &mut String) {
    out.push_str(&f.name);
    print_field_arg(f.arg.as_deref(), out);
}

fn print_field_arg(arg: Option<&str>, out: &mut String) {
    if let Some(arg) = arg {
        out.push('[');
        if is_bare_field_arg(arg) {
            out.push_str(arg);
        } else {
            out.push_str(&escape::quote(arg));
        }
        out.push(']');
    }
}

fn print_targ(arg: &TArg, out: &mut String) {
    match arg {
        TArg::Operand(op) => print_operand(op, out),
        TArg::Literal(text) => out.push_str(&escape::quote(text)),
        TArg::List(items) => {
            out.push('(');
            join(items, ", ", out, print_targ);
            out.push(')');
        }
    }
}
