//! Where an item is, as Falco's rule loader reports it, and the messages items share.

use crate::diag::{code, Diagnostic};
use crate::span::Span;
use crate::yaml::Node;

pub const WARNING_APPEND: &str =
    "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
pub const WARNING_ENABLED: &str = "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').";
pub const ERROR_OVERRIDE_APPEND: &str = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";

/// The location context of an item (Falco's `rule_loader::context`, innermost level).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub item_type: &'static str,
    pub name: String,
    pub span: Span,
}

impl Ctx {
    pub fn new(item_type: &'static str, name: impl Into<String>, span: Span) -> Self {
        Ctx {
            item_type,
            name: name.into(),
            span,
        }
    }
    pub fn err(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code::YAML_VALIDATE, message)
            .at(self.span)
            .item(self.item_type, self.name.clone())
    }
    pub fn warn(&self, code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(code, message)
            .at(self.span)
            .item(self.item_type, self.name.clone())
    }
}

/// Warns about each key of `node` that is not in `expected` (Falco ignores them).
pub(super) fn unknown_keys(node: &Node, expected: &[&str], ctx: &Ctx, out: &mut Vec<Diagnostic>) {
    for (k, _) in node.as_map().unwrap_or(&[]) {
        let key = k.key_text();
        if !expected.contains(&key.as_str()) {
            out.push(ctx.warn(
                code::W_UNKNOWN_KEY,
                format!("Unknown key '{key}'. The key will be ignored."),
            ));
        }
    }
}
