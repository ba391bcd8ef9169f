//! The dispatch in generated code: the plan both engines share (`kaudit_frontend::dispatch`) as a
//! `Mask` bitset type, one constant mask per required value and one `candidates_by_*` function per
//! dispatch field.

use super::names::{ident, snake, Namer};
use super::slots::Slots;
use kaudit_frontend::dispatch::plan;
use kaudit_frontend::ir::Ruleset;
use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

/// The generated dispatch: `Mask` type, one `candidates_by_*` function per chosen field, and the
/// statements computing `candidates` for an event.
pub struct Dispatch {
    pub items: TokenStream,
    pub compute: TokenStream,
}

/// Emits the masks of the rule set's dispatch plan.
pub fn emit(rt: &TokenStream, ruleset: &Ruleset, slots: &mut Slots) -> Dispatch {
    let words = Literal::usize_unsuffixed(ruleset.rules.len().div_ceil(64).max(1));
    let dispatch = plan(ruleset);
    let mask_list = |rules: &[usize]| {
        let rules = rules.iter().map(|&i| Literal::usize_unsuffixed(i));
        quote! { #rt::compiled::mask_of(&[#(#rules),*]) }
    };
    let all = mask_list(&dispatch.runnable);
    let mut items = quote! {
        /// One bit per rule (bit `i` = rule index `i`).
        type Mask = [u64; #words];

        /// Every rule that has a condition.
        const ALL_RULES: Mask = #all;
    };
    let mut calls = Vec::new();
    for f in &dispatch.fields {
        let accessor = slots.field(&f.field);
        let fn_name = ident(&format!("candidates_by_{accessor}"));
        let mut namer = Namer::default();
        let mut consts = Vec::new();
        let mut arms = Vec::new();
        for (value, rules) in &f.by_value {
            let name: Ident = namer.unique(&format!("IF_{}", snake(value).to_uppercase()));
            let mask = mask_list(rules);
            let doc = format!(" `{}` is {value:?}", f.key);
            consts.push(quote! { #[doc = #doc] const #name: Mask = #mask; });
            let value = value.as_str();
            arms.push(quote! { #rt::compiled::Key::One(#value) => &#name, });
        }
        let others = mask_list(&f.others);
        let doc = format!(" The rules that can match, given `{}`.", f.key);
        items.extend(quote! {
            #[doc = #doc]
            fn #fn_name(c: &Ctx<'_>) -> &'static Mask {
                /// Rules that do not require a value of this field.
                const OTHERS: Mask = #others;
                #(#consts)*
                match #rt::compiled::key(c.#accessor()) {
                    #(#arms)*
                    #rt::compiled::Key::One(_) | #rt::compiled::Key::Missing => &OTHERS,
                    // Several values: not expected of these fields; stay exact by running everything.
                    #rt::compiled::Key::Many => &ALL_RULES,
                }
            }
        });
        calls.push(fn_name);
    }
    let compute = match calls.split_first() {
        None => quote! { let candidates: Mask = ALL_RULES; },
        Some((first, [])) => quote! { let candidates: Mask = *#first(&c); },
        Some((first, rest)) => quote! {
            let mut candidates: Mask = *#first(&c);
            #(#rt::compiled::mask_and(&mut candidates, #rest(&c));)*
        },
    };
    Dispatch { items, compute }
}
