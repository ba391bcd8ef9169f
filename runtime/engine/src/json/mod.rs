//! A small borrowed JSON reader made for audit events: one validating pass builds a flat token tape
//! (`parse`), and `Node` navigates it without copying (`node`). Strings are unescaped only when they
//! contain a backslash; non-string values render as their compact original text (`text`).
//!
//! Why not `serde_json::Value`: building a tree of owned strings for every event costs several times
//! the validation itself, and most rules read a handful of top-level strings.

mod node;
mod parse;
pub(crate) mod swar;
mod text;

pub use node::{Members, Node, Text};
pub use parse::{parse_value, parse_value_fully, Kind, ParseError, Tok, UNTAPED_MEMBERS};
pub use text::{compact, unescape};

/// The text of a document: the parser admits only UTF-8 where it accepts a document, so for a document
/// `parse_value` accepted this is `Some`. Checked once per document (SIMD, tens of GB/s on ASCII) so that
/// `Node` can hand out token text as `str` slices with no check per value.
pub fn utf8(doc: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(doc).ok()
}
