//! Rule items: definitions, legacy appends, overrides and the standalone `enabled`, with their
//! exceptions.

use super::context::{Ctx, ERROR_OVERRIDE_APPEND, WARNING_APPEND, WARNING_ENABLED};
use super::decode::Reader;
use super::model::{RuleAttrs, RuleDef, RuleItem, RuleUpdate};
use crate::diag::{code, item as it, Diagnostic};
use crate::exceptions::{Entry, ExceptionInfo};
use crate::ir::Priority;
use crate::yaml::{Node, NodeKind};

/// The keys a rule item may have.
pub(super) const RULE_KEYS: &[&str] = &[
    "rule",
    "condition",
    "output",
    "desc",
    "priority",
    "source",
    "enabled",
    "capture",
    "capture_duration",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "tags",
    "exceptions",
    "override",
    "append",
];

const RULE_APPENDABLE: &[&str] = &["condition", "output", "desc", "tags", "exceptions"];
const RULE_REPLACEABLE: &[&str] = &[
    "condition",
    "output",
    "desc",
    "priority",
    "capture",
    "capture_duration",
    "tags",
    "exceptions",
    "enabled",
    "warn_evttypes",
    "skip-if-unknown-filter",
];

pub(super) fn rule_name(item: &RuleItem) -> String {
    match item {
        RuleItem::Define(d) => d.name.clone(),
        RuleItem::Append(u) => u.name.clone(),
        RuleItem::Override { append, replace } => append
            .as_ref()
            .or(replace.as_ref())
            .map(|u| u.name.clone())
            .unwrap_or_default(),
        RuleItem::Enable { name, .. } => name.clone(),
    }
}

impl Reader<'_> {
    pub(super) fn rule(
        &self,
        node: &Node,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<RuleItem, Diagnostic> {
        let tmp = Ctx::new(it::RULE, "", node.span);
        let (name, _) = self.val(node, "rule", &tmp)?;
        let ctx = Ctx::new(it::RULE, name.clone(), node.span);
        let source = self
            .val_generic(node, "source", &ctx, true, true)?
            .map(|(t, _)| t)
            .unwrap_or_default();
        let has_append_flag = self.opt_bool(node, "append", &ctx)?.unwrap_or(false);
        if has_append_flag {
            warnings.push(ctx.warn(code::W_DEPRECATED_ITEM, WARNING_APPEND));
        }
        let (ov_append, ov_replace) = self.overrides(node, RULE_APPENDABLE, RULE_REPLACEABLE)?;
        let has_overrides = !ov_append.is_empty() || !ov_replace.is_empty();
        if has_append_flag && has_overrides {
            return Err(ctx.err(ERROR_OVERRIDE_APPEND));
        }
        if has_overrides {
            // The overridable keys present in the item; each must be named under `override`.
            let mut expected: Vec<&str> = RULE_APPENDABLE
                .iter()
                .chain(RULE_REPLACEABLE)
                .copied()
                .filter(|k| node.get(k).is_some())
                .collect();
            expected.sort_unstable();
            expected.dedup();
            let mut take = |ov: &[String], kind: &str, key: &str| -> Result<bool, Diagnostic> {
                if !ov.iter().any(|k| k == key) {
                    return Ok(false);
                }
                match expected.iter().position(|k| *k == key) {
                    Some(i) => {
                        expected.remove(i);
                        Ok(true)
                    }
                    None => Err(ctx.err(format!(
                        "An {kind} override for '{key}' was specified but '{key}' is not defined"
                    ))),
                }
            };
            let mut append = None;
            if !ov_append.is_empty() {
                let mut u = RuleUpdate {
                    name: name.clone(),
                    span: node.span,
                    ..Default::default()
                };
                if take(&ov_append, "append", "condition")? {
                    u.source = source.clone();
                    u.cond = Some(self.text(node, "condition", &ctx)?);
                }
                if take(&ov_append, "append", "exceptions")? {
                    u.exceptions = Some(self.exceptions(node, true, warnings)?);
                }
                if take(&ov_append, "append", "output")? {
                    u.output = Some(self.text(node, "output", &ctx)?);
                }
                if take(&ov_append, "append", "desc")? {
                    u.desc = Some(self.val(node, "desc", &ctx)?.0);
                }
                if take(&ov_append, "append", "tags")? {
                    u.tags = self.tags(node, &ctx)?;
                }
                append = Some(u);
            }
            let mut replace = None;
            if !ov_replace.is_empty() {
                let mut u = RuleUpdate {
                    name: name.clone(),
                    span: node.span,
                    ..Default::default()
                };
                if take(&ov_replace, "replace", "condition")? {
                    u.source = source.clone();
                    u.cond = Some(self.text(node, "condition", &ctx)?);
                }
                if take(&ov_replace, "replace", "exceptions")? {
                    u.exceptions = Some(self.exceptions(node, false, warnings)?);
                }
                if take(&ov_replace, "replace", "output")? {
                    u.output = Some(self.text(node, "output", &ctx)?);
                }
                if take(&ov_replace, "replace", "desc")? {
                    u.desc = Some(self.val(node, "desc", &ctx)?.0);
                }
                if take(&ov_replace, "replace", "tags")? {
                    u.tags = self.tags(node, &ctx)?;
                }
                if take(&ov_replace, "replace", "priority")? {
                    u.priority = Some(self.priority(node, &ctx)?);
                }
                if take(&ov_replace, "replace", "capture")? {
                    u.capture = Some(self.req_bool(node, "capture", &ctx)?);
                }
                if take(&ov_replace, "replace", "capture_duration")? {
                    u.capture_duration = self.u64_val(node, "capture_duration", &ctx, false)?;
                }
                if take(&ov_replace, "replace", "enabled")? {
                    u.enabled = Some(self.req_bool(node, "enabled", &ctx)?);
                }
                if take(&ov_replace, "replace", "warn_evttypes")? {
                    u.warn_evttypes = Some(self.req_bool(node, "warn_evttypes", &ctx)?);
                }
                if take(&ov_replace, "replace", "skip-if-unknown-filter")? {
                    u.skip_if_unknown_filter =
                        Some(self.req_bool(node, "skip-if-unknown-filter", &ctx)?);
                }
                replace = Some(u);
            }
            if let Some(key) = expected.first() {
                let span = node.get(key).map_or(node.span, |n| n.span);
                return Err(Ctx::new(it::OVERRIDE, *key, span).err(format!(
                    "Unexpected key '{key}': no corresponding entry under 'override' is defined."
                )));
            }
            return Ok(RuleItem::Override { append, replace });
        }
        if has_append_flag {
            let mut u = RuleUpdate {
                name,
                source,
                span: node.span,
                ..Default::default()
            };
            if node.get("condition").is_some() {
                u.cond = Some(self.text(node, "condition", &ctx)?);
            }
            if node.get("exceptions").is_some() {
                u.exceptions = Some(self.exceptions(node, true, warnings)?);
            }
            return Ok(RuleItem::Append(u));
        }
        if ["condition", "output", "desc", "priority"]
            .iter()
            .all(|k| node.get(k).is_none())
        {
            let enabled = self.req_bool(node, "enabled", &ctx)?;
            warnings.push(ctx.warn(code::W_DEPRECATED_ITEM, WARNING_ENABLED));
            return Ok(RuleItem::Enable {
                name,
                enabled,
                span: node.span,
            });
        }
        let cond = self.text(node, "condition", &ctx)?;
        let mut output = self.text(node, "output", &ctx)?;
        let desc = self.val(node, "desc", &ctx)?.0;
        let priority = self.priority(node, &ctx)?;
        // Only a full definition trims its output (isspace); appended text is kept raw.
        let trimmed = output
            .text
            .trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
        if trimmed.len() != output.text.len() {
            let lead = output.text.len()
                - output
                    .text
                    .trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b')
                    .len();
            output.trim_to(lead, trimmed.len());
        }
        let source = self
            .opt_val(node, "source", &ctx)?
            .unwrap_or_else(|| "syscall".to_string());
        let enabled = self.opt_bool(node, "enabled", &ctx)?.unwrap_or(true);
        let capture = self.opt_bool(node, "capture", &ctx)?.unwrap_or(false);
        let capture_duration = self
            .u64_val(node, "capture_duration", &ctx, true)?
            .unwrap_or(0);
        let warn_evttypes = self.opt_bool(node, "warn_evttypes", &ctx)?.unwrap_or(true);
        let skip_if_unknown_filter = self
            .opt_bool(node, "skip-if-unknown-filter", &ctx)?
            .unwrap_or(false);
        let tags = self.tags(node, &ctx)?.unwrap_or_default();
        let exceptions = self.exceptions(node, false, warnings)?;
        Ok(RuleItem::Define(RuleDef {
            name,
            cond,
            output,
            attrs: RuleAttrs {
                desc,
                priority,
                source,
                enabled,
                warn_evttypes,
                skip_if_unknown_filter,
                capture,
                capture_duration,
                tags,
                exceptions,
            },
            span: node.span,
        }))
    }

    fn priority(&self, node: &Node, ctx: &Ctx) -> Result<Priority, Diagnostic> {
        let (text, val) = self.val(node, "priority", ctx)?;
        Priority::parse(&text)
            .ok_or_else(|| Ctx::new(it::RULE_PRIORITY, "", val.span).err("Invalid priority"))
    }

    /// Falco's `read_rule_exceptions` (docs/semantics.md#exceptions).
    fn exceptions(
        &self,
        node: &Node,
        append: bool,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<Vec<ExceptionInfo>, Diagnostic> {
        let mut out: Vec<ExceptionInfo> = Vec::new();
        let Some(exs) = node.get("exceptions") else {
            return Ok(out);
        };
        if exs.is_null() {
            return Ok(out);
        }
        let exes_ctx = Ctx::new(it::EXCEPTIONS, "", exs.span);
        let seq = exs
            .as_seq()
            .ok_or_else(|| exes_ctx.err("Rule exceptions must be a sequence"))?;
        for ex in seq {
            let tmp = Ctx::new(it::EXCEPTION, "", ex.span);
            if ex.as_map().is_none() {
                return Err(tmp.err("Rule exception must be a mapping"));
            }
            let (name, _) = self.val(ex, "name", &tmp)?;
            let ex_ctx = Ctx::new(it::EXCEPTION, name.clone(), ex.span);
            if out.iter().any(|e| e.name == name) {
                warnings.push(ex_ctx.warn(
                    code::W_EXCEPTION_NAME_NOT_UNIQUE,
                    format!("Multiple definitions of exception '{name}' in the same rule"),
                ));
            }
            let fields = entry_for_key(ex, "fields", &ex_ctx, append)?;
            let comps = entry_for_key(ex, "comps", &ex_ctx, true)?;
            let mut values = Vec::new();
            let has_values = ex.get("values").is_some();
            if let Some(vals) = ex.get("values") {
                let vals_ctx = Ctx::new(it::EXCEPTION_VALUES, "", vals.span);
                let seq = vals
                    .as_seq()
                    .ok_or_else(|| vals_ctx.err("Rule exception values must be a sequence"))?;
                for v in seq {
                    values.push(entry_of(v)?);
                }
            } else if append {
                warnings.push(ex_ctx.warn(
                    code::W_APPEND_NO_VALUES,
                    "Overriding/appending exception with no values",
                ));
            }
            out.push(ExceptionInfo {
                name,
                fields,
                comps,
                values,
                has_values,
                span: ex.span,
            });
        }
        Ok(out)
    }
}

/// Falco's `decode_exception_info_entry` for a keyed entry (`fields`, `comps`).
fn entry_for_key(item: &Node, key: &str, ctx: &Ctx, optional: bool) -> Result<Entry, Diagnostic> {
    match item.get(key) {
        None if optional => Ok(Entry::default()),
        None => Err(ctx.err(format!("Item has no mapping for key '{key}'"))),
        Some(v) => entry_of(v),
    }
}

/// An entry from any node: scalar → item, sequence → items (recursively), others → empty.
fn entry_of(v: &Node) -> Result<Entry, Diagnostic> {
    match &v.kind {
        NodeKind::Scalar { text, .. } => {
            if text.is_empty() {
                return Err(Ctx::new(it::VALUE_FOR, "", v.span).err("Value must be non-empty"));
            }
            Ok(Entry {
                is_list: false,
                item: text.clone(),
                items: Vec::new(),
            })
        }
        NodeKind::Seq(items) => {
            let mut e = Entry {
                is_list: true,
                item: String::new(),
                items: Vec::new(),
            };
            for i in items {
                e.items.push(entry_of(i)?);
            }
            Ok(e)
        }
        NodeKind::Null | NodeKind::Map(_) => Ok(Entry::default()),
    }
}
