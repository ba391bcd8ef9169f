//! Values extracted from an event. Strings borrow from the event buffer when no unescaping was needed.

use std::borrow::Cow;

/// One extracted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val<'e> {
    Str(Cow<'e, str>),
    Num(u64),
    Bool(bool),
}

/// The values of one extraction. Empty means *missing* (docs/semantics.md#missing-values-and-list-fields: zero
/// values are treated as missing).
pub type Values<'e> = smallvec::SmallVec<[Val<'e>; 2]>;

impl<'e> Val<'e> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}
