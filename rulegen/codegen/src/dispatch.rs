//! Dispatch: before any rule runs, a few cheap single-valued fields (typically `ka.verb`,
//! `ka.target.resource`, `ka.stage`) select the rules that can still match the event.
//!
//! A rule "requires" `f ∈ S` when its condition is an `and` (possibly through macros and `or`s whose every
//! branch requires the same field) with a conjunct `f = v`, `f in (...)`, `f intersects (...)` or
//! `f = anyof (...)`. Such a conjunct is false when `f` is missing or outside `S`, and then so is the rule,
//! so skipping it changes nothing but the time spent.

use super::names::{ident, snake, Namer};
use super::slots::{field_text, Slots};
use kaudit_frontend::ast::{CmpOp, Modifier};
use kaudit_frontend::catalog::FieldType;
use kaudit_frontend::ir::{Cond, FieldRef, Macro, Rhs, Ruleset, ValueExpr};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;
use std::collections::{BTreeMap, BTreeSet};

/// How many fields the dispatch looks at, at most.
const MAX_DISPATCH_FIELDS: usize = 3;
/// Macro nesting followed when looking for requirements (the IR has no cycles; this only bounds work).
const MAX_DEPTH: usize = 64;

/// Per field (keyed by its text), the values a rule requires it to have.
type Requirements = BTreeMap<String, (FieldRef, BTreeSet<String>)>;

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

/// The generated dispatch: `Mask` type, one `candidates_by_*` function per chosen field, and the
/// statements computing `candidates` for an event.
pub struct Dispatch {
    pub items: TokenStream,
    pub compute: TokenStream,
}

/// Chooses the dispatch fields (those most rules require) and emits the masks.
pub fn emit(rt: &TokenStream, ruleset: &Ruleset, slots: &mut Slots) -> Dispatch {
    let n = ruleset.rules.len();
    let words = Literal::usize_unsuffixed(n.div_ceil(64).max(1));
    // Rules with a condition; the others (other sources) can never match.
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

    let mask_list = |rules: &[usize]| {
        let rules = rules.iter().map(|&i| Literal::usize_unsuffixed(i));
        quote! { #rt::compiled::mask_of(&[#(#rules),*]) }
    };
    let all = mask_list(&runnable);
    let mut items = quote! {
        /// One bit per rule (bit `i` = rule index `i`).
        type Mask = [u64; #words];

        /// Every rule that has a condition.
        const ALL_RULES: Mask = #all;
    };
    let mut calls = Vec::new();
    for (key, field, _) in &chosen {
        let accessor = slots.field(field);
        let fn_name = ident(&format!("candidates_by_{accessor}"));
        let unconstrained: Vec<usize> = runnable
            .iter()
            .copied()
            .filter(|&i| reqs.get(i).is_some_and(|r| !r.contains_key(key)))
            .collect();
        let mut by_value: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in &runnable {
            if let Some((_, values)) = reqs.get(i).and_then(|r| r.get(key)) {
                for v in values {
                    by_value.entry(v.as_str()).or_default().push(i);
                }
            }
        }
        let mut namer = Namer::default();
        let mut consts = Vec::new();
        let mut arms = Vec::new();
        for (value, rules) in &by_value {
            let mut rules: Vec<usize> = rules.iter().chain(unconstrained.iter()).copied().collect();
            rules.sort_unstable();
            rules.dedup();
            let name: Ident = namer.unique(&format!("IF_{}", snake(value).to_uppercase()));
            let mask = mask_list(&rules);
            let doc = format!(" `{key}` is {value:?}");
            consts.push(quote! { #[doc = #doc] const #name: Mask = #mask; });
            arms.push(quote! { #rt::compiled::Key::One(#value) => &#name, });
        }
        let others = mask_list(&unconstrained);
        let doc = format!(" The rules that can match, given `{key}`.");
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
