//! Field extraction: one extractor per catalog row, index-aligned with `rulegen::catalog::FieldId`.

pub mod extract;
pub mod generic;
pub mod json_plugin;
pub mod pod;
pub mod rbac;
#[cfg(test)]
pub(crate) mod testing;
pub mod time;
pub mod uri;
pub mod walk;

use crate::event::Event;
use crate::value::Values;
use rulegen::ir::{FieldArg, FieldRef};

/// An extractor: appends the field's values for `ev` to `out` (appending nothing = missing).
pub type ExtractFn = for<'e> fn(&'e Event<'e>, &FieldArg, &mut Values<'e>);

macro_rules! extractor_table {
    ($($variant:ident : $name:literal, $ty:ident, $list:ident, $arg:ident, $extractor:ident, $doc:literal;)*) => {
        /// Every extractor, indexed by `FieldId as usize`.
        pub static EXTRACTORS: &[ExtractFn] = &[$(extract::$extractor),*];
    };
}
rulegen::field_catalog!(extractor_table);

/// Extracts `field` from `ev` into `out` (cleared first). Empty `out` afterwards means missing.
pub fn extract<'e>(ev: &'e Event<'e>, field: &FieldRef, out: &mut Values<'e>) {
    out.clear();
    if let Some(f) = EXTRACTORS.get(field.id as usize) {
        f(ev, &field.arg, out);
    }
}
