//! The resolved, type-checked rule set: the one input of both back ends (`runtime::interp` and
//! `crate::codegen`). Everything here is already validated: field ids exist, arguments fit, operators fit
//! the field types, regexes compile. A difference between the back ends is therefore a back-end bug.

use crate::ast::{CmpOp, Modifier, Transformer};
use crate::catalog::{FieldId, FieldType};
use crate::span::Span;

/// Index into `Ruleset::macros`.
pub type MacroId = u32;

#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    /// The rule files in load order (as given; used for diagnostics and `list-rules`).
    pub files: Vec<String>,
    /// Every rule of every source, in evaluation order (position of the first definition; see
    /// docs/semantics.md#selection-and-evaluation-order).
    pub rules: Vec<Rule>,
    /// Macros referenced by `k8s_audit` rules, resolved. Conditions refer to them by `MacroId` so that a
    /// back end can evaluate each at most once per event.
    /// A macro's own macros always come before it (smaller ids).
    pub macros: Vec<Macro>,
    /// `required_engine_version`, highest seen (informational).
    pub required_engine_version: Option<String>,
}

impl Ruleset {
    /// The rules an engine evaluates: enabled, of the `k8s_audit` source.
    pub fn active_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules
            .iter()
            .filter(|r| r.enabled && r.source == "k8s_audit")
    }
}

#[derive(Debug, Clone)]
pub struct Macro {
    pub name: String,
    pub cond: Cond,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub desc: String,
    /// `None` for rules of other sources (they are loaded and skipped, never type-checked).
    pub cond: Option<Cond>,
    /// The final condition text Falco would compile (after appends, exceptions and list expansion).
    pub condition_text: String,
    pub output: Output,
    pub priority: Priority,
    pub source: String,
    pub enabled: bool,
    /// Sorted, deduplicated (as Falco emits them).
    pub tags: Vec<String>,
    pub span: Span,
}

/// A resolved condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Macro(MacroId),
    Check(Box<Check>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub lhs: ValueExpr,
    pub op: CmpOp,
    pub modifier: Option<Modifier>,
    pub rhs: Rhs,
    pub span: Span,
}

/// Something that yields values for an event: a field, or a transformer over fields/literals.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ValueExpr {
    Field(FieldRef),
    Transform {
        func: Transformer,
        args: Vec<TArg>,
        /// `func(...)[arg]`: only `getopt` takes one (a single option character, validated), which makes
        /// the result the value of that option instead of the whole option list.
        arg: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub id: FieldId,
    pub arg: FieldArg,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TArg {
    Value(ValueExpr),
    Literal(String),
    /// `(a, "b", f(x))`: the values of the items in order, flattened; each item is a `Value` or a
    /// `Literal` (never a nested list). Missing when any item is missing; a numeric item contributes the
    /// decimal text of its first value (libs' list argument semantics).
    List(Vec<TArg>),
}

/// A field argument, already validated against the field's argument kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldArg {
    None,
    Index(u64),
    Key(String),
}

/// Right-hand side, already converted to the left side's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    None,
    /// Literal values (one for scalar operators, the set for `in`/`intersects`/`pmatch`/modifiers).
    Strings(Vec<String>),
    /// For numeric left-hand sides (`len()`, `evt.rawtime`, ...).
    Numbers(Vec<u64>),
    Bools(Vec<bool>),
    /// `val(field)` / transformer on the right.
    Value(ValueExpr),
}

impl ValueExpr {
    /// The type this expression yields (after transformers).
    pub fn ty(&self) -> FieldType {
        match self {
            ValueExpr::Field(f) => f.id.info().ty,
            ValueExpr::Transform {
                func: Transformer::Len,
                ..
            } => FieldType::U64,
            ValueExpr::Transform {
                func: Transformer::Getopt | Transformer::Join | Transformer::Concat,
                ..
            } => FieldType::String,
            ValueExpr::Transform { args, .. } => match args.first() {
                Some(TArg::Value(v)) => v.ty(),
                _ => FieldType::String,
            },
        }
    }

    /// Whether this expression yields a list (multi-valued) result.
    pub fn is_list(&self) -> bool {
        match self {
            ValueExpr::Field(f) => f.id.info().list,
            ValueExpr::Transform {
                func: Transformer::Len | Transformer::Join | Transformer::Concat,
                ..
            } => false,
            ValueExpr::Transform {
                func: Transformer::Getopt,
                arg,
                ..
            } => arg.is_none(),
            ValueExpr::Transform { args, .. } => match args.first() {
                Some(TArg::Value(v)) => v.is_list(),
                _ => false,
            },
        }
    }
}

/// Falco priorities, most severe first (the numeric order Falco uses for `priority:` filtering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

impl Priority {
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// Canonical name as Falco prints it in alerts.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }

    /// Parses a priority as Falco does everywhere (rule `priority:`, the `priority` config key):
    /// a case-insensitive canonical name, or `info` for `Informational`. Nothing else: no trimming,
    /// no other aliases (`warn` is invalid).
    pub fn parse(s: &str) -> Option<Priority> {
        if s.eq_ignore_ascii_case("info") {
            return Some(Priority::Informational);
        }
        Priority::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(s))
    }
}

/// A rule's output, pre-split into literal text and field tokens (docs/semantics.md#output-format).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// The format text after Falco's load-time processing (leading `*` dropped, trimmed).
    pub text: String,
    pub parts: Vec<OutputPart>,
    /// `output_fields` keys in output order, deduplicated, each with the expression that fills it
    /// (transformer tokens contribute their inner plain fields instead).
    pub fields: Vec<(String, ValueExpr)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputPart {
    Literal(String),
    Value {
        expr: ValueExpr,
        width: Option<usize>,
    },
}

#[cfg(test)]
mod tests {
    use super::Priority;

    #[test]
    fn priorities_parse_as_falco() {
        assert_eq!(Priority::parse("info"), Some(Priority::Informational));
        assert_eq!(Priority::parse("INFO"), Some(Priority::Informational));
        assert_eq!(
            Priority::parse("INFORMATIONAL"),
            Some(Priority::Informational)
        );
        assert_eq!(Priority::parse("Critical"), Some(Priority::Critical));
        assert_eq!(Priority::parse("eMeRgEnCy"), Some(Priority::Emergency));
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.name()), Some(p));
            assert_eq!(Priority::parse(&p.name().to_ascii_lowercase()), Some(p));
        }
        for bad in [
            "warn",
            " warning",
            "warning ",
            "",
            "inf",
            "err",
            "Informationa",
        ] {
            assert_eq!(Priority::parse(bad), None, "{bad:?}");
        }
    }
}
