//! Diagnostics: Falco's error/warning codes and messages, our own precise spans, and a plain-text,
//! rustc-style renderer (no colours, so output is stable for snapshots and logs).

use crate::span::Span;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// Falco's error codes (`falco_load_result`), used as `Diagnostic::code`.
pub mod code {
    pub const YAML_PARSE: &str = "LOAD_ERR_YAML_PARSE";
    pub const YAML_VALIDATE: &str = "LOAD_ERR_YAML_VALIDATE";
    pub const COMPILE_CONDITION: &str = "LOAD_ERR_COMPILE_CONDITION";
    pub const COMPILE_OUTPUT: &str = "LOAD_ERR_COMPILE_OUTPUT";
    pub const VALIDATE: &str = "LOAD_ERR_VALIDATE";
    pub const FILE_READ: &str = "LOAD_ERR_FILE_READ";
    /// Not a Falco load-result code: Falco aborts with a plain "Error: ..." line for an unsatisfied
    /// `required_plugin_versions` entry (FINDINGS: `val_plugin_version_unsatisfied`).
    pub const PLUGIN_REQUIREMENT: &str = "PLUGIN_REQUIREMENT";

    pub const W_UNKNOWN_SOURCE: &str = "LOAD_UNKNOWN_SOURCE";
    pub const W_UNSAFE_NA_CHECK: &str = "LOAD_UNSAFE_NA_CHECK";
    pub const W_UNKNOWN_FILTER: &str = "LOAD_UNKNOWN_FILTER";
    pub const W_UNUSED_MACRO: &str = "LOAD_UNUSED_MACRO";
    pub const W_UNUSED_LIST: &str = "LOAD_UNUSED_LIST";
    pub const W_UNKNOWN_ITEM: &str = "LOAD_UNKNOWN_ITEM";
    pub const W_DEPRECATED_ITEM: &str = "LOAD_DEPRECATED_ITEM";
    pub const W_APPEND_NO_VALUES: &str = "LOAD_APPEND_NO_VALUES";
    pub const W_EXCEPTION_NAME_NOT_UNIQUE: &str = "LOAD_EXCEPTION_NAME_NOT_UNIQUE";
    pub const W_INVALID_MACRO_NAME: &str = "LOAD_INVALID_MACRO_NAME";
    pub const W_INVALID_LIST_NAME: &str = "LOAD_INVALID_LIST_NAME";
    pub const W_COMPILE_CONDITION: &str = "LOAD_COMPILE_CONDITION";
    pub const W_UNKNOWN_KEY: &str = "LOAD_UNKNOWN_KEY";
}

/// Falco's `item_type` words for locations.
pub mod item {
    pub const RULES_CONTENT: &str = "rules content";
    pub const RULES_CONTENT_ITEM: &str = "rules content item";
    pub const LIST: &str = "list";
    pub const MACRO: &str = "macro";
    pub const RULE: &str = "rule";
    pub const RULE_CONDITION: &str = "rule condition";
    pub const MACRO_CONDITION: &str = "macro condition";
    pub const RULE_OUTPUT: &str = "rule output";
    pub const RULE_PRIORITY: &str = "rule priority";
    pub const EXCEPTIONS: &str = "exceptions";
    pub const EXCEPTION: &str = "exception";
    pub const EXCEPTION_VALUES: &str = "exception values";
    pub const EXCEPTION_VALUE: &str = "exception value";
    pub const OVERRIDE: &str = "overrides";
    pub const REQUIRED_ENGINE_VERSION: &str = "required_engine_version";
    pub const REQUIRED_PLUGIN_VERSIONS: &str = "required plugin versions";
    pub const REQUIRED_PLUGIN_VERSIONS_ENTRY: &str = "required plugin versions entry";
    pub const VALUE_FOR: &str = "value for";
    pub const LIST_ITEM: &str = "list item";
}

/// One error or warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Falco's code (`LOAD_ERR_*` for errors, `LOAD_*` for warnings).
    pub code: &'static str,
    /// Falco's message text (may be empty, as Falco's LOAD_UNSAFE_NA_CHECK is).
    pub message: String,
    /// Where in the rule file, as precisely as we know.
    pub span: Option<Span>,
    /// Extra explanation of our own (never part of Falco's message).
    pub hint: Option<String>,
    /// Falco's `item_type` of the innermost in-file location (e.g. "rule condition").
    pub item_type: &'static str,
    /// Name of the enclosing rule/macro/list ("" if none).
    pub item_name: String,
    /// Falco's 0-based (line, column) of that innermost in-file location.
    pub falco_pos: Option<(u32, u32)>,
    /// Falco's "condition expression" pseudo-location (line, column), when Falco emits one.
    pub expr_pos: Option<(u32, u32)>,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            span: None,
            hint: None,
            item_type: "",
            item_name: String::new(),
            falco_pos: None,
            expr_pos: None,
        }
    }
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }
    /// Sets the span and derives Falco's 0-based position from it.
    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self.falco_pos = Some(falco_mark(span));
        self
    }
    /// Sets only our precise span (Falco's position stays as set).
    pub fn with_span(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }
    pub fn item(mut self, item_type: &'static str, name: impl Into<String>) -> Self {
        self.item_type = item_type;
        self.item_name = name.into();
        self
    }
    pub fn falco(mut self, pos: (u32, u32)) -> Self {
        self.falco_pos = Some(pos);
        self
    }
    pub fn expr(mut self, pos: (u32, u32)) -> Self {
        self.expr_pos = Some(pos);
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders this diagnostic; `source(file)` returns (file name, file text).
    pub fn render<'a>(&self, source: impl Fn(u32) -> Option<(&'a str, &'a str)>) -> String {
        let mut out = String::new();
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let msg = if self.message.is_empty() {
            default_text(self.code)
        } else {
            &self.message
        };
        let _ = writeln!(out, "{sev}[{}]: {msg}", self.code);
        if let Some(span) = self.span {
            if let Some((name, text)) = source(span.file) {
                render_snippet(&mut out, name, text, span);
            }
        }
        if !self.item_name.is_empty() {
            let what = if self.item_type.is_empty() {
                "item"
            } else {
                self.item_type
            };
            let _ = writeln!(out, "  = in {what} '{}'", self.item_name);
        }
        if let Some(h) = &self.hint {
            let _ = writeln!(out, "  = help: {h}");
        }
        out
    }
}

/// Falco's 0-based mark for one of our spans.
pub fn falco_mark(span: Span) -> (u32, u32) {
    (span.line.saturating_sub(1), span.col.saturating_sub(1))
}

/// A readable text for codes whose Falco message is empty.
fn default_text(code: &str) -> &'static str {
    match code {
        code::W_UNSAFE_NA_CHECK => {
            "comparing a field with <NA> is unsafe: a missing field never equals anything; use 'exists'"
        }
        _ => "",
    }
}

fn render_snippet(out: &mut String, name: &str, text: &str, span: Span) {
    let offset = (span.offset as usize).min(text.len());
    let line_start = text
        .get(..offset)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line_end = text
        .get(offset..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| offset + i);
    let line_text = text
        .get(line_start..line_end)
        .unwrap_or("")
        .trim_end_matches('\r');
    let line_no = text
        .get(..line_start)
        .map_or(0, |t| t.matches('\n').count())
        + 1;
    let before = text.get(line_start..offset).unwrap_or("");
    let col = before.chars().count() + 1;
    let _ = writeln!(out, "  --> {name}:{line_no}:{col}");
    let gutter = line_no.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{line_no} | {line_text}");
    let indent: String = before
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let rest = line_end.saturating_sub(offset);
    let width = (span.len as usize).min(rest);
    let carets = text
        .get(offset..offset + width)
        .map_or(1, |s| s.chars().count())
        .max(1);
    let _ = writeln!(out, "{pad} | {indent}{}", "^".repeat(carets));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_snippet_with_caret() {
        let text = "- rule: r\n  condition: ka.nosuch = x\n";
        let d = Diagnostic::error(
            code::COMPILE_CONDITION,
            "filter_check called with nonexistent field ka.nosuch",
        )
        .at(Span {
            file: 0,
            offset: 23,
            len: 9,
            line: 2,
            col: 14,
        })
        .item(item::RULE_CONDITION, "r");
        let s = d.render(|_| Some(("f.yaml", text)));
        assert_eq!(
            s,
            "error[LOAD_ERR_COMPILE_CONDITION]: filter_check called with nonexistent field ka.nosuch\n  --> f.yaml:2:14\n  |\n2 |   condition: ka.nosuch = x\n  |              ^^^^^^^^^\n  = in rule condition 'r'\n"
        );
    }
}
