//! The item model: one YAML mapping of a rules file decoded into what it asks for (a definition, an
//! append, an override, ...), with Falco's key checks, decoding rules and messages
//! (docs/semantics.md#rule-files).
//!
//! Reading never changes the accumulated rule set; `merge` applies items. Warnings found while
//! reading (deprecated `append`, invalid names, duplicate exception names) are pushed to `warnings`
//! as Falco emits them, before the item is applied; unknown-key warnings are returned separately
//! because Falco emits them after applying the item.
//!
//! * `model`: what an item asks for (the types `merge` consumes);
//! * `read`: one top-level mapping → an item (engine and plugin versions, lists, macros; rules via `rule`);
//! * `rule`: rule items and their exceptions (definitions, appends, overrides, `enabled`);
//! * `decode`: Falco's decoding of scalar, boolean, number, sequence and override values;
//! * `context`: where an item is (Falco's loader context) and the messages it reports;
//! * `text`: condition and output texts with the file position of each byte;
//! * `names`: the syntax of names and of engine/plugin versions.

// Diagnostics are the (cold) error path and items are transient; their size does not matter.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

mod context;
mod decode;
mod model;
mod names;
mod read;
mod rule;
mod text;

pub use context::{Ctx, ERROR_OVERRIDE_APPEND, WARNING_APPEND, WARNING_ENABLED};
pub use model::{
    Item, ListItem, MacroItem, PluginRequirement, RuleAttrs, RuleDef, RuleItem, RuleUpdate,
};
pub use names::{is_bare_string, is_identifier, parse_engine_version, parse_semver};
pub use read::read_item;
pub use text::{align, Text};
