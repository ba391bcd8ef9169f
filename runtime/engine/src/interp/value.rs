//! Evaluation of value expressions (a field, or transformers over fields and literals) for one event.
//! Shared by condition checks and alert rendering.

use crate::event::Event;
use crate::fields;
use crate::ops::{compare, transform};
use crate::value::{Val, Values};
use kaudit_frontend::ir::{TArg, ValueExpr};
use std::borrow::Cow;

/// Sets `out` to the values of `expr` for `ev` (empty = missing). Extracted strings end at their first
/// NUL (`compare::cut_at_nul`), as in the compiled engine and in Falco.
pub fn eval_value<'e>(ev: &'e Event<'e>, expr: &ValueExpr, out: &mut Values<'e>) {
    out.clear();
    match expr {
        ValueExpr::Field(f) => {
            fields::extract(ev, f, out);
            compare::cut_at_nul(out);
        }
        ValueExpr::Transform { func, args, arg } => {
            let values: Vec<Values<'e>> = args.iter().map(|a| eval_targ(ev, a)).collect();
            let refs: Vec<&Values<'e>> = values.iter().collect();
            let first_is_list = args.first().is_some_and(targ_is_list);
            let selector = arg.as_deref().and_then(|s| s.bytes().next());
            *out = transform::apply(*func, &refs, first_is_list, selector);
        }
    }
}

fn eval_targ<'e>(ev: &'e Event<'e>, arg: &TArg) -> Values<'e> {
    let mut out = Values::new();
    match arg {
        TArg::Value(v) => eval_value(ev, v, &mut out),
        TArg::Literal(s) => out.push(Val::Str(Cow::Owned(s.clone()))),
        TArg::List(items) => {
            let values: Vec<Values<'e>> = items.iter().map(|i| eval_targ(ev, i)).collect();
            let refs: Vec<&Values<'e>> = values.iter().collect();
            out = transform::list(&refs);
        }
    }
    out
}

/// Whether a transformer argument is a list (`len` counts elements then).
pub fn targ_is_list(arg: &TArg) -> bool {
    match arg {
        TArg::Value(v) => v.is_list(),
        TArg::Literal(_) => false,
        TArg::List(_) => true,
    }
}
