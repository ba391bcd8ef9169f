//! Evaluation of value expressions (a field, or transformers over fields and literals) for one event.
//! Shared by condition checks and alert rendering.

use crate::event::Event;
use crate::fields;
use crate::ops::transform;
use crate::value::{Val, Values};
use kaudit_frontend::ast::Transformer;
use kaudit_frontend::ir::{TArg, ValueExpr};
use std::borrow::Cow;

/// Sets `out` to the values of `expr` for `ev` (empty = missing).
pub fn eval_value<'e>(ev: &'e Event<'e>, expr: &ValueExpr, out: &mut Values<'e>) {
    out.clear();
    match expr {
        ValueExpr::Field(f) => fields::extract(ev, f, out),
        ValueExpr::Transform { func, args, arg } => {
            eval_transform(ev, *func, args, arg.as_deref(), out)
        }
    }
}

fn eval_targ<'e>(ev: &'e Event<'e>, arg: &TArg, out: &mut Values<'e>) {
    out.clear();
    match arg {
        TArg::Value(v) => eval_value(ev, v, out),
        TArg::Literal(s) => out.push(Val::Str(Cow::Owned(s.clone()))),
        TArg::List(items) => {
            let mut item = Values::new();
            for i in items {
                eval_targ(ev, i, &mut item);
                if item.is_empty() {
                    out.clear();
                    return;
                }
                transform::extend_list(out, &mut item);
            }
        }
    }
}

fn targ_is_list(arg: &TArg) -> bool {
    match arg {
        TArg::Value(v) => v.is_list(),
        TArg::Literal(_) => false,
        TArg::List(_) => true,
    }
}

fn eval_transform<'e>(
    ev: &'e Event<'e>,
    func: Transformer,
    args: &[TArg],
    selector: Option<&str>,
    out: &mut Values<'e>,
) {
    match func {
        Transformer::ToLower
        | Transformer::ToUpper
        | Transformer::B64
        | Transformer::Basename
        | Transformer::Val
        | Transformer::Len => {
            let Some(arg) = args.first() else { return };
            eval_targ(ev, arg, out);
            if out.is_empty() {
                return;
            }
            match func {
                Transformer::ToLower => transform::tolower(out),
                Transformer::ToUpper => transform::toupper(out),
                Transformer::B64 => transform::b64(out),
                Transformer::Basename => transform::basename(out),
                Transformer::Len => transform::len(out, targ_is_list(arg)),
                _ => {}
            }
        }
        Transformer::Join => {
            // join(separator, list)
            let (Some(sep_arg), Some(list_arg)) = (args.first(), args.get(1)) else {
                return;
            };
            let mut sep_vals = Values::new();
            eval_targ(ev, sep_arg, &mut sep_vals);
            let Some(sep) = sep_vals.first().and_then(Val::as_str).map(str::to_owned) else {
                return;
            };
            eval_targ(ev, list_arg, out);
            if !out.is_empty() {
                transform::join(&sep, out);
            }
        }
        Transformer::Concat => {
            let mut parts: Vec<Values<'e>> = Vec::with_capacity(args.len());
            for a in args {
                let mut v = Values::new();
                eval_targ(ev, a, &mut v);
                if v.is_empty() {
                    return;
                }
                parts.push(v);
            }
            *out = transform::concat(&parts);
        }
        Transformer::Getopt => {
            // getopt(args, optstring)[c]: a missing optstring makes the result missing.
            let (Some(list_arg), Some(opt_arg)) = (args.first(), args.get(1)) else {
                return;
            };
            let mut opt_vals = Values::new();
            eval_targ(ev, opt_arg, &mut opt_vals);
            let Some(optstring) = opt_vals.first().and_then(Val::as_str).map(str::to_owned) else {
                return;
            };
            eval_targ(ev, list_arg, out);
            let selector = selector.and_then(|s| s.bytes().next());
            transform::getopt(&optstring, selector, out);
        }
    }
}
