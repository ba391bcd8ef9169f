//! Conditions → Rust boolean expressions over the per-event context `c`.
//!
//! Both engines share one implementation of every operator (docs/semantics.md): common checks call the
//! interpreter's single-value comparisons directly with a constant operator
//! (`ops::compare::str_test(CmpOp::Eq, s, "create")`, which inlines to `s == "create"`); literal sets
//! become a `matches!` over the same literals the interpreter's sets hold (membership is exact equality);
//! everything that needs a compiled form (globs, regexes, pmatch, modifiers, ...) goes through a `Matcher`
//! built once by the interpreter's constructor; transformers call the interpreter's `transform::apply`.

use super::constants::Constants;
use super::slots::{field_text, Slots};
use kaudit_frontend::ast::{CmpOp, Modifier};
use kaudit_frontend::catalog::FieldType;
use kaudit_frontend::ir::{Check, Cond, Rhs, TArg, ValueExpr};
use kaudit_frontend::ops::is_plain_str_op;
use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

/// What conditions need while being generated.
pub struct CondGen<'a> {
    pub rt: &'a TokenStream,
    pub slots: &'a mut Slots,
    pub consts: &'a mut Constants,
    /// Method name of each macro, indexed by `MacroId`.
    pub macros: &'a [Ident],
}

impl CondGen<'_> {
    /// A boolean expression for `cond`; `c` is the `&Ctx` in scope.
    pub fn cond(&mut self, cond: &Cond) -> TokenStream {
        match cond {
            Cond::And(items) => self.join(items, true),
            Cond::Or(items) => self.join(items, false),
            Cond::Not(inner) => {
                let e = self.cond(inner);
                if matches!(**inner, Cond::And(ref v) | Cond::Or(ref v) if v.len() > 1) {
                    quote! { !(#e) }
                } else {
                    quote! { !#e }
                }
            }
            Cond::Macro(id) => match self.macros.get(*id as usize) {
                Some(name) => quote! { c.#name() },
                // The IR guarantees macro ids are valid; an unknown one can never match.
                None => quote! { false },
            },
            Cond::Check(check) => self.check(check),
        }
    }

    fn join(&mut self, items: &[Cond], is_and: bool) -> TokenStream {
        match items {
            [] if is_and => quote! { true },
            [] => quote! { false },
            [one] => self.cond(one),
            _ => {
                let parts = items.iter().map(|item| {
                    let e = self.cond(item);
                    // `&&` binds tighter than `||`: only an `or` inside an `and` needs parentheses.
                    if is_and && matches!(item, Cond::Or(v) if v.len() > 1) {
                        quote! { (#e) }
                    } else {
                        e
                    }
                });
                let parts: Vec<TokenStream> = parts.collect();
                if is_and {
                    quote! { #(#parts)&&* }
                } else {
                    quote! { #(#parts)||* }
                }
            }
        }
    }

    fn check(&mut self, check: &Check) -> TokenStream {
        let rt = self.rt;
        let vals = self.values(&check.lhs);
        let ty = check.lhs.ty();
        if check.op == CmpOp::Exists {
            return quote! { #rt::compiled::exists(#vals) };
        }
        if let Rhs::Value(rhs) = &check.rhs {
            let rhs = self.values(rhs);
            let op = op_tokens(check.op);
            return quote! { #rt::ops::check_values(#op, #vals, #rhs) };
        }
        let direct = match (&check.rhs, ty) {
            (Rhs::Strings(items), FieldType::String) => {
                self.string_check(check.op, check.modifier, items, &vals)
            }
            (Rhs::Numbers(items), t) if t.is_numeric() && check.modifier.is_none() => {
                // Deduplicated: a repeated pattern would be an unreachable `match` arm.
                let mut items = items.clone();
                items.sort_unstable();
                items.dedup();
                let items: Vec<Literal> =
                    items.iter().map(|n| Literal::u64_unsuffixed(*n)).collect();
                scalar_check(
                    rt,
                    check.op,
                    &items,
                    &vals,
                    quote! { any_num },
                    quote! { all_num },
                    quote! { num_test },
                    quote! { n },
                )
            }
            (Rhs::Bools(items), FieldType::Bool) if check.modifier.is_none() => scalar_check(
                rt,
                check.op,
                &[false, true]
                    .into_iter()
                    .filter(|b| items.contains(b))
                    .collect::<Vec<bool>>(),
                &vals,
                quote! { any_bool },
                quote! { all_bool },
                quote! { bool_test },
                quote! { b },
            ),
            _ => None,
        };
        if let Some(code) = direct {
            return code;
        }
        let doc = check_text(check);
        let matcher = self
            .consts
            .matcher(rt, check.op, check.modifier, &check.rhs, ty, &doc);
        quote! { #rt::compiled::check(&#matcher, #vals) }
    }

    /// Plain code for the string checks that need no compiled form; `None` for the others.
    fn string_check(
        &mut self,
        op: CmpOp,
        modifier: Option<Modifier>,
        items: &[String],
        vals: &TokenStream,
    ) -> Option<TokenStream> {
        let rt = self.rt;
        let set_or_false = |consts: &mut Constants, all: bool| {
            if items.is_empty() {
                return quote! { false };
            }
            let set = consts.str_set(items);
            if all {
                quote! { #rt::compiled::all_str(#vals, #set) }
            } else {
                quote! { #rt::compiled::any_str(#vals, #set) }
            }
        };
        match (op, modifier) {
            (CmpOp::In, None) => return Some(set_or_false(self.consts, true)),
            (CmpOp::Intersects, None) => return Some(set_or_false(self.consts, false)),
            (CmpOp::Eq | CmpOp::EqEq, Some(Modifier::AnyOf)) => {
                return Some(set_or_false(self.consts, false))
            }
            (_, Some(_)) => return None,
            _ => {}
        }
        let [r] = items else { return None };
        if !is_plain_str_op(op) {
            return None;
        }
        let op = op_tokens(op);
        Some(quote! { #rt::compiled::any_str(#vals, |s| str_test(#op, s, #r)) })
    }

    /// An expression of type `&Values` for `expr`: a cached field, or a transformer applied to one.
    pub fn values(&mut self, expr: &ValueExpr) -> TokenStream {
        let rt = self.rt;
        match expr {
            ValueExpr::Field(f) => {
                let name = self.slots.field(f);
                quote! { c.#name() }
            }
            ValueExpr::Transform { func, args, arg } => {
                let parts: Vec<TokenStream> = args.iter().map(|a| self.targ(a)).collect();
                let func = super::names::ident(&format!("{func:?}"));
                let first_is_list = match args.first() {
                    Some(TArg::Value(v)) => v.is_list(),
                    Some(TArg::List(_)) => true,
                    _ => false,
                };
                // Type checking guarantees a one-character `getopt` selector.
                let selector = match arg.as_deref().and_then(|a| a.bytes().next()) {
                    Some(c) => {
                        let c = Literal::u8_suffixed(c);
                        quote! { Some(#c) }
                    }
                    None => quote! { None },
                };
                quote! {
                    &#rt::ops::transform::apply(
                        Transformer::#func,
                        &[#(#parts),*],
                        #first_is_list,
                        #selector,
                    )
                }
            }
        }
    }

    fn targ(&mut self, arg: &TArg) -> TokenStream {
        let rt = self.rt;
        match arg {
            TArg::Value(v) => self.values(v),
            TArg::Literal(s) => quote! { &#rt::compiled::literal(#s) },
            TArg::List(items) => {
                let literals: Option<Vec<&String>> = items
                    .iter()
                    .map(|i| match i {
                        TArg::Literal(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                match literals {
                    Some(l) => quote! { &#rt::compiled::literals(&[#(#l),*]) },
                    None => {
                        let parts: Vec<TokenStream> = items.iter().map(|i| self.targ(i)).collect();
                        quote! { &#rt::ops::transform::list(&[#(#parts),*]) }
                    }
                }
            }
        }
    }
}

/// Numeric and bool checks: comparisons with one literal (through `ops::compare::<test>`),
/// `in`/`intersects` with a literal set.
#[allow(clippy::too_many_arguments)]
fn scalar_check<T: quote::ToTokens>(
    rt: &TokenStream,
    op: CmpOp,
    items: &[T],
    vals: &TokenStream,
    any: TokenStream,
    all: TokenStream,
    test: TokenStream,
    var: TokenStream,
) -> Option<TokenStream> {
    match op {
        CmpOp::In | CmpOp::Intersects if items.is_empty() => Some(quote! { false }),
        CmpOp::In => {
            Some(quote! { #rt::compiled::#all(#vals, |#var| matches!(#var, #(#items)|*)) })
        }
        CmpOp::Intersects => {
            Some(quote! { #rt::compiled::#any(#vals, |#var| matches!(#var, #(#items)|*)) })
        }
        CmpOp::Eq | CmpOp::EqEq | CmpOp::Ne | CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
            let [r] = items else { return None };
            let op = op_tokens(op);
            Some(quote! { #rt::compiled::#any(#vals, |#var| #test(#op, #var, #r)) })
        }
        _ => None,
    }
}

fn op_tokens(op: CmpOp) -> TokenStream {
    let name = super::names::ident(&format!("{op:?}"));
    quote! { CmpOp::#name }
}

/// A check as text, for doc comments (`ka.user.name glob ("sys*")`).
pub fn check_text(check: &Check) -> String {
    let mut out = format!("{} {}", expr_text(&check.lhs), check.op.text());
    if let Some(m) = check.modifier {
        out.push_str(match m {
            Modifier::AnyOf => " anyof",
            Modifier::AllOf => " allof",
            Modifier::OneOf => " oneof",
        });
    }
    match &check.rhs {
        Rhs::None => {}
        Rhs::Strings(v) => out.push_str(&format!(" ({})", v.join(", "))),
        Rhs::Numbers(v) => out.push_str(&format!(
            " ({})",
            v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        )),
        Rhs::Bools(v) => out.push_str(&format!(
            " ({})",
            v.iter().map(bool::to_string).collect::<Vec<_>>().join(", ")
        )),
        Rhs::Value(v) => out.push_str(&format!(" {}", expr_text(v))),
    }
    out
}

/// A value expression as rule authors write it.
pub fn expr_text(expr: &ValueExpr) -> String {
    match expr {
        ValueExpr::Field(f) => field_text(f),
        ValueExpr::Transform { func, args, arg } => {
            let args: Vec<String> = args.iter().map(targ_text).collect();
            let arg = arg.as_ref().map(|a| format!("[{a}]")).unwrap_or_default();
            format!("{}({}){arg}", func.name(), args.join(", "))
        }
    }
}

fn targ_text(arg: &TArg) -> String {
    match arg {
        TArg::Value(v) => expr_text(v),
        TArg::Literal(s) => format!("{s:?}"),
        TArg::List(items) => format!(
            "({})",
            items.iter().map(targ_text).collect::<Vec<_>>().join(", ")
        ),
    }
}
