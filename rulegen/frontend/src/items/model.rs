//! What a rules-file item asks for: the types `merge` applies to the accumulated rule set.

use super::text::Text;
use crate::exceptions::ExceptionInfo;
use crate::ir::Priority;
use crate::span::Span;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    EngineVersion {
        version: [u64; 3],
        span: Span,
    },
    PluginVersions(Vec<PluginRequirement>),
    List(ListItem),
    Macro(MacroItem),
    Rule(RuleItem),
    /// A mapping with none of the known keys (already warned about).
    Unknown,
}

/// One `required_plugin_versions` entry: the primary requirement first, then its alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRequirement {
    pub alternatives: Vec<(String, String)>,
    pub span: Span,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListItem {
    pub name: String,
    pub items: Vec<String>,
    pub append: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MacroItem {
    pub name: String,
    pub cond: Text,
    pub append: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleItem {
    Define(RuleDef),
    /// Legacy `append: true`.
    Append(RuleUpdate),
    /// `override:`; the append part is applied before the replace part.
    Override {
        append: Option<RuleUpdate>,
        replace: Option<RuleUpdate>,
    },
    /// Deprecated standalone `enabled:`.
    Enable {
        name: String,
        enabled: bool,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub name: String,
    pub cond: Text,
    pub output: Text,
    pub attrs: RuleAttrs,
    pub span: Span,
}

/// What a rule definition sets besides its name, condition and output. The merged rule
/// (`merge::RuleInfo`) carries the same, as appends and overrides leave it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAttrs {
    pub desc: String,
    pub priority: Priority,
    pub source: String,
    pub enabled: bool,
    pub warn_evttypes: bool,
    pub skip_if_unknown_filter: bool,
    pub capture: bool,
    pub capture_duration: u64,
    pub tags: BTreeSet<String>,
    pub exceptions: Vec<ExceptionInfo>,
}

/// The keys an append/override item sets (None = not given).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleUpdate {
    pub name: String,
    pub source: String,
    pub cond: Option<Text>,
    pub output: Option<Text>,
    pub desc: Option<String>,
    pub tags: Option<BTreeSet<String>>,
    pub exceptions: Option<Vec<ExceptionInfo>>,
    pub priority: Option<Priority>,
    pub enabled: Option<bool>,
    pub warn_evttypes: Option<bool>,
    pub skip_if_unknown_filter: Option<bool>,
    pub capture: Option<bool>,
    pub capture_duration: Option<u64>,
    pub span: Span,
}

impl RuleUpdate {
    pub fn has_any_value(&self) -> bool {
        self.cond.is_some()
            || self.output.is_some()
            || self.desc.is_some()
            || self.tags.is_some()
            || self.exceptions.is_some()
            || self.priority.is_some()
            || self.enabled.is_some()
            || self.warn_evttypes.is_some()
            || self.skip_if_unknown_filter.is_some()
            || self.capture.is_some()
            || self.capture_duration.is_some()
    }
}
