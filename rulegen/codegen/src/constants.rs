//! Constants shared by generated conditions: literal sets as `match` functions and operators that need a
//! compiled form (globs, regexes, path prefixes, modifiers) as statics built once on first use.

use super::names::ident;
use kaudit_frontend::ast::{CmpOp, Modifier};
use kaudit_frontend::catalog::FieldType;
use kaudit_frontend::ir::Rhs;
use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;
use std::collections::HashMap;

/// Items shown in a set's doc comment before "...".
const DOC_ITEMS: usize = 8;

#[derive(Default)]
pub struct Constants {
    str_sets: Vec<(Ident, Vec<String>)>,
    str_index: HashMap<Vec<String>, usize>,
    matchers: Vec<TokenStream>,
}

impl Constants {
    /// A `fn(&str) -> bool` telling membership in `items` (deduplicated: equal sets share one function).
    pub fn str_set(&mut self, items: &[String]) -> Ident {
        let mut key = items.to_vec();
        key.sort();
        key.dedup();
        if let Some(&i) = self.str_index.get(&key) {
            if let Some((name, _)) = self.str_sets.get(i) {
                return name.clone();
            }
        }
        let name = ident(&format!("set_{}", self.str_sets.len()));
        self.str_index.insert(key.clone(), self.str_sets.len());
        self.str_sets.push((name.clone(), key));
        name
    }

    /// A static `Matcher` for one check, built on first use by `compiled::matcher` (the interpreter's
    /// constructor); `doc` says which check.
    pub fn matcher(
        &mut self,
        rt: &TokenStream,
        op: CmpOp,
        modifier: Option<Modifier>,
        rhs: &Rhs,
        lhs_ty: FieldType,
        doc: &str,
    ) -> Ident {
        let name = ident(&format!("MATCHER_{}", self.matchers.len()));
        let op = ident(&format!("{op:?}"));
        let modifier = match modifier {
            Some(m) => {
                let m = ident(&format!("{m:?}"));
                quote! { Some(#rt::frontend::ast::Modifier::#m) }
            }
            None => quote! { None },
        };
        let ty = ident(&format!("{lhs_ty:?}"));
        let rhs = rhs_tokens(rt, rhs);
        let doc = format!(" `{doc}`");
        self.matchers.push(quote! {
            #[doc = #doc]
            static #name: LazyLock<#rt::ops::Matcher> = LazyLock::new(|| {
                #rt::compiled::matcher(
                    CmpOp::#op,
                    #modifier,
                    &#rhs,
                    #rt::frontend::catalog::FieldType::#ty,
                )
            });
        });
        name
    }

    pub fn emit(&self) -> TokenStream {
        let sets = self.str_sets.iter().map(|(name, items)| {
            let shown: Vec<&str> = items.iter().take(DOC_ITEMS).map(String::as_str).collect();
            let more = if items.len() > DOC_ITEMS { ", ..." } else { "" };
            let doc = format!(" Is `s` one of ({}{more})?", shown.join(", "));
            let body = if items.is_empty() {
                quote! { let _ = s; false }
            } else {
                quote! { matches!(s, #(#items)|*) }
            };
            quote! {
                #[doc = #doc]
                fn #name(s: &str) -> bool {
                    #body
                }
            }
        });
        let matchers = &self.matchers;
        quote! {
            #(#sets)*
            #(#matchers)*
        }
    }
}

/// An `ir::Rhs` value as an expression building it.
pub fn rhs_tokens(rt: &TokenStream, rhs: &Rhs) -> TokenStream {
    let ir = quote! { #rt::frontend::ir };
    match rhs {
        Rhs::None => quote! { #ir::Rhs::None },
        Rhs::Strings(v) => quote! { #ir::Rhs::Strings(Vec::from([#(#v.to_owned()),*])) },
        Rhs::Numbers(v) => {
            let v = v.iter().map(|n| Literal::u64_unsuffixed(*n));
            quote! { #ir::Rhs::Numbers(Vec::from([#(#v),*])) }
        }
        Rhs::Bools(v) => quote! { #ir::Rhs::Bools(Vec::from([#(#v),*])) },
        // Field-to-field checks never use a `Matcher`; keep the expression total anyway.
        Rhs::Value(_) => quote! { #ir::Rhs::None },
    }
}
