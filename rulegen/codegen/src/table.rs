//! The rule table (`RuleMeta` per rule: name, priority, tags, source, enabled, pre-split output), written
//! out as code that builds it once on first use.

use super::names::ident;
use kaudit_frontend::ir::{FieldArg, FieldRef, Output, OutputPart, Rule, TArg, ValueExpr};
use proc_macro2::{Literal, TokenStream};
use quote::quote;

pub fn emit(rt: &TokenStream, rules: &[Rule]) -> TokenStream {
    let metas = rules.iter().map(rule_meta);
    quote! {
        /// Every rule, in load order (indices are rule indices), built once.
        static RULE_TABLE: LazyLock<Vec<rt::engine::RuleMeta>> = LazyLock::new(rule_table);

        #[allow(unused_imports)]
        fn rule_table() -> Vec<rt::engine::RuleMeta> {
            use #rt::compiled::{field, out_text, out_value};
            use #rt::engine::RuleMeta;
            use #rt::frontend::catalog::FieldId;
            use #rt::frontend::ir::{FieldArg, Output, Priority, TArg, ValueExpr};
            Vec::from([#(#metas),*])
        }
    }
}

fn rule_meta(r: &Rule) -> TokenStream {
    let name = &r.name;
    let priority = ident(&format!("{:?}", r.priority));
    let source = &r.source;
    let tags = &r.tags;
    let enabled = r.enabled;
    let output = output(&r.output);
    quote! {
        RuleMeta {
            name: #name.to_owned(),
            priority: Priority::#priority,
            source: #source.to_owned(),
            tags: Vec::from([#(#tags.to_owned()),*]),
            output: #output,
            enabled: #enabled,
        }
    }
}

fn output(o: &Output) -> TokenStream {
    let text = &o.text;
    let parts = o.parts.iter().map(|p| match p {
        OutputPart::Literal(s) => quote! { out_text(#s) },
        OutputPart::Value { expr, width } => {
            let expr = value_expr(expr);
            let width = match width {
                Some(w) => {
                    let w = Literal::usize_unsuffixed(*w);
                    quote! { Some(#w) }
                }
                None => quote! { None },
            };
            quote! { out_value(#expr, #width) }
        }
    });
    let fields = o.fields.iter().map(|(key, expr)| {
        let expr = value_expr(expr);
        quote! { (#key.to_owned(), #expr) }
    });
    quote! {
        Output {
            text: #text.to_owned(),
            parts: Vec::from([#(#parts),*]),
            fields: Vec::from([#(#fields),*]),
        }
    }
}

/// An `ir::ValueExpr` as an expression building it (names imported by `rule_table`).
fn value_expr(e: &ValueExpr) -> TokenStream {
    match e {
        ValueExpr::Field(f) => field_ref(f),
        ValueExpr::Transform { func, args, arg } => {
            let func = ident(&format!("{func:?}"));
            let args = args.iter().map(targ);
            let arg = match arg {
                Some(a) => quote! { Some(#a.to_owned()) },
                None => quote! { None },
            };
            quote! { ValueExpr::Transform { func: Transformer::#func, args: Vec::from([#(#args),*]), arg: #arg } }
        }
    }
}

fn targ(a: &TArg) -> TokenStream {
    match a {
        TArg::Value(v) => {
            let v = value_expr(v);
            quote! { TArg::Value(#v) }
        }
        TArg::Literal(s) => quote! { TArg::Literal(#s.to_owned()) },
        TArg::List(items) => {
            let items = items.iter().map(targ);
            quote! { TArg::List(Vec::from([#(#items),*])) }
        }
    }
}

fn field_ref(f: &FieldRef) -> TokenStream {
    let id = ident(f.id.info().variant);
    let arg = match &f.arg {
        FieldArg::None => quote! { FieldArg::None },
        FieldArg::Index(n) => {
            let n = Literal::u64_unsuffixed(*n);
            quote! { FieldArg::Index(#n) }
        }
        FieldArg::Key(k) => quote! { FieldArg::Key(#k.to_owned()) },
    };
    quote! { field(FieldId::#id, #arg) }
}
