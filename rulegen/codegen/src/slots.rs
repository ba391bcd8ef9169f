//! The per-event context of generated code: one lazily filled slot per field reference and per macro,
//! so that each is extracted or evaluated at most once per event whichever rules need it.

use super::names::{camel_to_snake, ident, snake, Namer};
pub use kaudit_frontend::dispatch::field_text;
use kaudit_frontend::ir::{FieldArg, FieldRef};
use proc_macro2::{Ident, TokenStream};
use quote::quote;
use std::collections::HashMap;

struct FieldSlot {
    field: FieldRef,
    name: Ident,
}

/// A macro's cached result and the method that fills it.
pub struct MacroSlot {
    pub name: Ident,
    pub doc: String,
    pub body: TokenStream,
}

/// Collects the field slots conditions use and emits the `Ctx` type.
#[derive(Default)]
pub struct Slots {
    fields: Vec<FieldSlot>,
    index: HashMap<FieldRef, usize>,
    namer: Namer,
}

impl Slots {
    /// The accessor for `field` (`c.<name>()` yields `&Values`), created on first use.
    pub fn field(&mut self, field: &FieldRef) -> Ident {
        if let Some(&i) = self.index.get(field) {
            if let Some(slot) = self.fields.get(i) {
                return slot.name.clone();
            }
        }
        let info = field.id.info();
        let mut wanted = camel_to_snake(info.variant);
        match &field.arg {
            FieldArg::None => {}
            FieldArg::Index(n) => wanted.push_str(&format!("_{n}")),
            FieldArg::Key(k) => {
                wanted.push('_');
                wanted.push_str(&snake(k));
            }
        }
        let name = self.namer.unique(&wanted);
        self.index.insert(field.clone(), self.fields.len());
        self.fields.push(FieldSlot {
            field: field.clone(),
            name: name.clone(),
        });
        name
    }

    /// A unique method name for a macro.
    pub fn macro_name(&mut self, macro_name: &str) -> Ident {
        self.namer.unique(&format!("macro_{}", snake(macro_name)))
    }

    /// The `Ctx` struct, its constructor, one accessor per field and one method per macro.
    pub fn emit(&self, rt: &TokenStream, macros: &[MacroSlot]) -> TokenStream {
        let field_names: Vec<&Ident> = self.fields.iter().map(|f| &f.name).collect();
        let macro_names: Vec<&Ident> = macros.iter().map(|m| &m.name).collect();
        let field_docs = self
            .fields
            .iter()
            .map(|f| format!(" `{}`", field_text(&f.field)));
        let accessors = self.fields.iter().map(|f| accessor(rt, f));
        let macro_methods = macros.iter().map(|m| {
            let (name, doc, body) = (&m.name, &m.doc, &m.body);
            quote! {
                #[doc = #doc]
                fn #name(&self) -> bool {
                    let c = self;
                    #rt::compiled::memo(&self.#name, || #body)
                }
            }
        });
        quote! {
            /// What one event has already computed: each field is extracted and each macro evaluated at
            /// most once, on first use.
            #[allow(dead_code)]
            struct Ctx<'e> {
                ev: &'e #rt::event::Event<'e>,
                #(#[doc = #field_docs] #field_names: OnceCell<#rt::value::Values<'e>>,)*
                #(#macro_names: Cell<Option<bool>>,)*
            }

            impl<'e> Ctx<'e> {
                fn new(ev: &'e #rt::event::Event<'e>) -> Self {
                    Ctx {
                        ev,
                        #(#field_names: OnceCell::new(),)*
                        #(#macro_names: Cell::new(None),)*
                    }
                }

                #(#accessors)*

                #(#macro_methods)*
            }
        }
    }
}

fn accessor(rt: &TokenStream, slot: &FieldSlot) -> TokenStream {
    let name = &slot.name;
    let extractor = ident(slot.field.id.info().extractor);
    let doc = format!(" `{}`", field_text(&slot.field));
    let arg = match &slot.field.arg {
        FieldArg::None => quote! { &#rt::compiled::NO_ARG },
        FieldArg::Index(n) => {
            let n = proc_macro2::Literal::u64_unsuffixed(*n);
            quote! {{
                static ARG: #rt::frontend::ir::FieldArg = #rt::frontend::ir::FieldArg::Index(#n);
                &ARG
            }}
        }
        FieldArg::Key(k) => quote! {{
            static ARG: LazyLock<#rt::frontend::ir::FieldArg> =
                LazyLock::new(|| #rt::frontend::ir::FieldArg::Key(#k.to_owned()));
            &ARG
        }},
    };
    quote! {
        #[doc = #doc]
        fn #name(&self) -> &#rt::value::Values<'e> {
            self.#name.get_or_init(|| #rt::compiled::extract(#rt::fields::extract::#extractor, self.ev, #arg))
        }
    }
}
