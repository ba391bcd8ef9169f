//! The item model: one YAML mapping of a rules file decoded into what it asks for (a definition, an
//! append, an override, ...), with Falco's key checks, decoding rules and messages (spec §1.1-§1.9).
//!
//! Reading never changes the accumulated rule set; `merge` applies items. Warnings found while
//! reading (deprecated `append`, invalid names, duplicate exception names) are pushed to `warnings`
//! as Falco emits them, before the item is applied; unknown-key warnings are returned separately
//! because Falco emits them after applying the item.

// Diagnostics are the (cold) error path and items are transient; their size does not matter.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use crate::diag::{code, item as it, Diagnostic};
use crate::exceptions::{Entry, ExceptionInfo};
use crate::ir::Priority;
use crate::span::Span;
use crate::yaml::{decode_bool, Node, NodeKind};
use std::collections::BTreeSet;

/// A condition (or other text) value together with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub text: String,
    /// The value node's span (for quoted scalars: the opening quote).
    pub span: Span,
    /// File byte offset of every byte of `text` (plus one for its end), when the text could be
    /// aligned with what is written in the file (verbatim, folded or block scalars, simple escapes);
    /// lets condition offsets map to exact file positions.
    pub map: Option<Vec<u32>>,
}

impl Text {
    /// The file byte offset of byte `rel` of the text (`rel == len` is the end), if known.
    pub fn file_offset(&self, rel: usize) -> Option<u32> {
        self.map.as_ref()?.get(rel).copied()
    }

    /// Drops `lead` bytes from the start and keeps `len` bytes (trimming).
    pub fn trim_to(&mut self, lead: usize, len: usize) {
        self.text = self.text.get(lead..lead + len).unwrap_or("").to_string();
        self.map = self
            .map
            .take()
            .and_then(|m| m.get(lead..=lead + len).map(<[u32]>::to_vec));
    }
}

/// Aligns a scalar's decoded text with its source, starting at byte `start` of `src`: equal bytes
/// are matched; source blanks, line breaks and escape backslashes that the text lacks are skipped;
/// text blanks the source lacks (folding) map to the next source byte. None when they diverge.
pub fn align(src: &str, start: usize, text: &str) -> Option<Vec<u32>> {
    let s = src.as_bytes();
    let t = text.as_bytes();
    let mut map = Vec::with_capacity(t.len() + 1);
    let (mut i, mut j) = (0usize, start);
    while let Some(&tc) = t.get(i) {
        match s.get(j) {
            Some(&sc) if sc == tc => {
                map.push(j as u32);
                i += 1;
                j += 1;
            }
            Some(&sc) if sc == b' ' || sc == b'\t' || sc == b'\n' || sc == b'\r' || sc == b'\\' => {
                j += 1
            }
            _ if tc.is_ascii_whitespace() => {
                map.push(j.min(s.len()) as u32);
                i += 1;
            }
            _ => return None,
        }
    }
    map.push(j.min(s.len()) as u32);
    Some(map)
}

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

/// Reads one top-level element. `src` is the file text (for verbatim detection).
pub fn read_item(
    node: &Node,
    src: &str,
    warnings: &mut Vec<Diagnostic>,
    late_warnings: &mut Vec<Diagnostic>,
) -> Result<Item, Diagnostic> {
    let r = Reader { src };
    if node.as_map().is_none() {
        return Err(Ctx::new(it::RULES_CONTENT_ITEM, "", node.span)
            .err("Unexpected element type. Each element should be a yaml associative array."));
    }
    if node.get("required_engine_version").is_some() {
        let ctx = Ctx::new(it::REQUIRED_ENGINE_VERSION, "", node.span);
        let (text, _) = r.val(node, "required_engine_version", &ctx)?;
        let version = parse_engine_version(&text).ok_or_else(|| {
            ctx.err(format!(
                "Unable to parse engine version '{text}' as a semver string. Expected \"x.y.z\" semver format."
            ))
        })?;
        unknown_keys(node, &["required_engine_version"], &ctx, late_warnings);
        Ok(Item::EngineVersion {
            version,
            span: node.span,
        })
    } else if let Some(reqs) = node.get("required_plugin_versions") {
        let ctx = Ctx::new(it::REQUIRED_PLUGIN_VERSIONS, "", reqs.span);
        let seq = reqs
            .as_seq()
            .ok_or_else(|| ctx.err("Value of required_plugin_versions must be a sequence"))?;
        let mut out = Vec::new();
        for plugin in seq {
            let tmp = Ctx::new(it::REQUIRED_PLUGIN_VERSIONS_ENTRY, "", plugin.span);
            if plugin.as_map().is_none() {
                return Err(tmp.err("Plugin version must be a mapping"));
            }
            let (name, _) = r.val(plugin, "name", &tmp)?;
            let pctx = Ctx::new(
                it::REQUIRED_PLUGIN_VERSIONS_ENTRY,
                name.clone(),
                plugin.span,
            );
            let (version, _) = r.val(plugin, "version", &pctx)?;
            let mut alternatives = vec![(name.clone(), version)];
            if let Some(alts) = plugin.get("alternatives") {
                let alts = alts.as_seq().ok_or_else(|| {
                    pctx.err("Value of plugin version alternatives must be a sequence")
                })?;
                for alt in alts {
                    let tmp = Ctx::new("required plugin versions alternative", "", alt.span);
                    if alt.as_map().is_none() {
                        return Err(tmp.err("Plugin version alternative must be a mapping"));
                    }
                    let (aname, _) = r.val(alt, "name", &tmp)?;
                    let actx = Ctx::new(
                        "required plugin versions alternative",
                        aname.clone(),
                        alt.span,
                    );
                    let (aver, _) = r.val(alt, "version", &actx)?;
                    alternatives.push((aname, aver));
                }
            }
            out.push(PluginRequirement {
                alternatives,
                span: plugin.span,
                name,
            });
        }
        let ictx = Ctx::new(it::REQUIRED_PLUGIN_VERSIONS, "", node.span);
        unknown_keys(node, &["required_plugin_versions"], &ictx, late_warnings);
        Ok(Item::PluginVersions(out))
    } else if node.get("list").is_some() {
        let tmp = Ctx::new(it::LIST, "", node.span);
        let (name, _) = r.val(node, "list", &tmp)?;
        let ctx = Ctx::new(it::LIST, name.clone(), node.span);
        if !is_bare_string(&name) {
            warnings.push(ctx.warn(
                code::W_INVALID_LIST_NAME,
                "List has an invalid name. List names should match a regular expression: ([^()\"'[:space:]=,]+)",
            ));
        }
        let items = r.seq(node, "items", &ctx, false)?.unwrap_or_default();
        let mut append = r.opt_bool(node, "append", &ctx)?.unwrap_or(false);
        if append {
            warnings.push(ctx.warn(code::W_DEPRECATED_ITEM, WARNING_APPEND));
        }
        let (ov_append, ov_replace) = r.overrides(node, &["items"], &["items"])?;
        if append && !(ov_append.is_empty() && ov_replace.is_empty()) {
            return Err(ctx.err(ERROR_OVERRIDE_APPEND));
        }
        append |= ov_append.iter().any(|k| k == "items");
        unknown_keys(
            node,
            &["list", "items", "append", "override"],
            &ctx,
            late_warnings,
        );
        Ok(Item::List(ListItem {
            name,
            items,
            append,
            span: node.span,
        }))
    } else if node.get("macro").is_some() {
        let tmp = Ctx::new(it::MACRO, "", node.span);
        let (name, _) = r.val(node, "macro", &tmp)?;
        let ctx = Ctx::new(it::MACRO, name.clone(), node.span);
        if !is_identifier(&name) {
            warnings.push(ctx.warn(
                code::W_INVALID_MACRO_NAME,
                "Macro has an invalid name. Macro names should match a regular expression: ([a-zA-Z]+[a-zA-Z0-9_]*)",
            ));
        }
        let cond = r.text(node, "condition", &ctx)?;
        let mut append = r.opt_bool(node, "append", &ctx)?.unwrap_or(false);
        if append {
            warnings.push(ctx.warn(code::W_DEPRECATED_ITEM, WARNING_APPEND));
        }
        let (ov_append, ov_replace) = r.overrides(node, &["condition"], &["condition"])?;
        if append && !(ov_append.is_empty() && ov_replace.is_empty()) {
            return Err(ctx.err(ERROR_OVERRIDE_APPEND));
        }
        append |= ov_append.iter().any(|k| k == "condition");
        unknown_keys(
            node,
            &["macro", "condition", "append", "override"],
            &ctx,
            late_warnings,
        );
        Ok(Item::Macro(MacroItem {
            name,
            cond,
            append,
            span: node.span,
        }))
    } else if node.get("rule").is_some() {
        let item = r.rule(node, warnings)?;
        let ctx = Ctx::new(it::RULE, rule_name(&item), node.span);
        unknown_keys(node, RULE_KEYS, &ctx, late_warnings);
        Ok(Item::Rule(item))
    } else {
        warnings.push(
            Ctx::new(it::RULES_CONTENT_ITEM, "", node.span)
                .warn(code::W_UNKNOWN_ITEM, "Unknown top level item"),
        );
        Ok(Item::Unknown)
    }
}

const RULE_KEYS: &[&str] = &[
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

fn rule_name(item: &RuleItem) -> String {
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

fn unknown_keys(node: &Node, expected: &[&str], ctx: &Ctx, out: &mut Vec<Diagnostic>) {
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

/// `x`, `x.y.z` → an engine version (a plain unsigned 32-bit number N means 0.N.0).
pub fn parse_engine_version(t: &str) -> Option<[u64; 3]> {
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let n: u32 = t.parse().ok()?;
        return Some([0, u64::from(n), 0]);
    }
    parse_semver(t)
}

/// A strict `x.y.z` semver (pre-release/build suffixes are not used by rule files).
pub fn parse_semver(t: &str) -> Option<[u64; 3]> {
    let mut parts = t.trim().split('.');
    let mut v = [0u64; 3];
    for slot in &mut v {
        let p = parts.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(v)
}

/// `[a-zA-Z]+[a-zA-Z0-9_]*`
pub fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `[^()"'[:space:]=,]+`
pub fn is_bare_string(s: &str) -> bool {
    !s.is_empty()
        && !s.chars().any(|c| {
            matches!(c, '(' | ')' | '"' | '\'' | '=' | ',')
                || c.is_ascii_whitespace()
                || c == '\x0b'
        })
}

struct Reader<'s> {
    src: &'s str,
}

impl Reader<'_> {
    /// Falco's `decode_val_generic` for strings: returns None when optional and absent, or when
    /// `can_be_empty` and the value is null/empty.
    fn val_generic<'n>(
        &self,
        item: &'n Node,
        key: &str,
        ctx: &Ctx,
        optional: bool,
        can_be_empty: bool,
    ) -> Result<Option<(String, &'n Node)>, Diagnostic> {
        let Some(val) = item.get(key) else {
            if optional {
                return Ok(None);
            }
            return Err(ctx.err(format!("Item has no mapping for key '{key}'")));
        };
        if val.is_null() {
            if can_be_empty {
                return Ok(None);
            }
            return Err(ctx.err(format!("Mapping for key '{key}' is empty")));
        }
        let valctx = Ctx::new(it::VALUE_FOR, key, val.span);
        let Some(text) = val.as_scalar() else {
            return Err(valctx.err("Value is not a scalar value"));
        };
        if text.is_empty() {
            if can_be_empty {
                return Ok(None);
            }
            return Err(valctx.err("Value must be non-empty"));
        }
        Ok(Some((text.to_string(), val)))
    }

    fn val<'n>(
        &self,
        item: &'n Node,
        key: &str,
        ctx: &Ctx,
    ) -> Result<(String, &'n Node), Diagnostic> {
        match self.val_generic(item, key, ctx, false, false)? {
            Some((t, n)) => Ok((t, n)),
            None => Err(ctx.err(format!("Item has no mapping for key '{key}'"))),
        }
    }

    fn opt_val(&self, item: &Node, key: &str, ctx: &Ctx) -> Result<Option<String>, Diagnostic> {
        Ok(self
            .val_generic(item, key, ctx, true, false)?
            .map(|(t, _)| t))
    }

    fn text(&self, item: &Node, key: &str, ctx: &Ctx) -> Result<Text, Diagnostic> {
        let (text, node) = self.val(item, key, ctx)?;
        let map = self.text_map(&text, node);
        Ok(Text {
            text,
            span: node.span,
            map,
        })
    }

    /// Where each byte of a scalar's text is written in the file (see `align`).
    fn text_map(&self, text: &str, node: &Node) -> Option<Vec<u32>> {
        let at = node.span.offset as usize;
        let start = match self.src.as_bytes().get(at) {
            Some(b'"') | Some(b'\'') => at + 1,
            // Block scalars: the content starts on the line after the indicator.
            Some(b'|') | Some(b'>') => at + self.src.get(at..)?.find('\n')? + 1,
            _ => at,
        };
        align(self.src, start, text)
    }

    fn decode<T>(
        &self,
        item: &Node,
        key: &str,
        ctx: &Ctx,
        optional: bool,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, Diagnostic> {
        match self.val_generic(item, key, ctx, optional, false)? {
            None => Ok(None),
            Some((t, node)) => {
                match f(&t) {
                    Some(v) => Ok(Some(v)),
                    None => Err(Ctx::new(it::VALUE_FOR, key, node.span)
                        .err("Can't decode YAML scalar value")),
                }
            }
        }
    }

    fn opt_bool(&self, item: &Node, key: &str, ctx: &Ctx) -> Result<Option<bool>, Diagnostic> {
        self.decode(item, key, ctx, true, decode_bool)
    }

    fn req_bool(&self, item: &Node, key: &str, ctx: &Ctx) -> Result<bool, Diagnostic> {
        Ok(self
            .decode(item, key, ctx, false, decode_bool)?
            .unwrap_or(false))
    }

    fn u64_val(
        &self,
        item: &Node,
        key: &str,
        ctx: &Ctx,
        optional: bool,
    ) -> Result<Option<u64>, Diagnostic> {
        self.decode(item, key, ctx, optional, |t| {
            let t = t.strip_prefix('+').unwrap_or(t);
            if t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse().ok()
            } else {
                None
            }
        })
    }

    /// Falco's `decode_seq`: a sequence of scalars.
    fn seq(
        &self,
        item: &Node,
        key: &str,
        ctx: &Ctx,
        optional: bool,
    ) -> Result<Option<Vec<String>>, Diagnostic> {
        let Some(val) = item.get(key) else {
            if optional {
                return Ok(None);
            }
            return Err(ctx.err(format!("Item has no mapping for key '{key}'")));
        };
        let valctx = Ctx::new(it::VALUE_FOR, key, val.span);
        let seq = val
            .as_seq()
            .ok_or_else(|| valctx.err("Value is not a sequence"))?;
        let mut out = Vec::with_capacity(seq.len());
        for v in seq {
            match v.as_scalar() {
                Some(t) => out.push(t.to_string()),
                None => {
                    return Err(
                        Ctx::new(it::LIST_ITEM, "", v.span).err("sequence value is not scalar")
                    )
                }
            }
        }
        Ok(Some(out))
    }

    fn tags(&self, item: &Node, ctx: &Ctx) -> Result<Option<BTreeSet<String>>, Diagnostic> {
        Ok(self
            .seq(item, "tags", ctx, true)?
            .map(|v| v.into_iter().collect()))
    }

    /// Falco's `decode_overrides`: (keys to append, keys to replace), in document order.
    fn overrides(
        &self,
        item: &Node,
        appendable: &[&str],
        replaceable: &[&str],
    ) -> Result<(Vec<String>, Vec<String>), Diagnostic> {
        let (mut app, mut rep) = (Vec::new(), Vec::new());
        let Some(val) = item.get("override") else {
            return Ok((app, rep));
        };
        for (k, v) in val.as_map().unwrap_or(&[]) {
            let key = k.key_text();
            let op = v.as_scalar().unwrap_or("");
            let can_append = appendable.contains(&key.as_str());
            let can_replace = replaceable.contains(&key.as_str());
            let keyctx = Ctx::new(it::OVERRIDE, key.clone(), k.span);
            match op {
                "append" => {
                    if !can_append {
                        return Err(keyctx.err(format!(
                            "Key '{key}' cannot be appended to, use 'replace' instead"
                        )));
                    }
                    app.push(key);
                }
                "replace" => {
                    if !can_replace {
                        return Err(keyctx.err(format!("Key '{key}' cannot be replaced")));
                    }
                    rep.push(key);
                }
                _ => {
                    let mut m = format!(
                        "Invalid override operation for key '{key}': '{op}'. Allowed values are: "
                    );
                    if can_append {
                        m.push_str("append ");
                    }
                    if can_replace {
                        m.push_str("replace ");
                    }
                    return Err(Ctx::new(it::VALUE_FOR, key, v.span).err(m));
                }
            }
        }
        Ok((app, rep))
    }

    fn rule(&self, node: &Node, warnings: &mut Vec<Diagnostic>) -> Result<RuleItem, Diagnostic> {
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

    /// Falco's `read_rule_exceptions` (§3.1).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_versions() {
        assert_eq!(parse_engine_version("15"), Some([0, 15, 0]));
        assert_eq!(parse_engine_version("0.26.1"), Some([0, 26, 1]));
        assert_eq!(parse_engine_version("1.2"), None);
        assert_eq!(parse_engine_version("v1.2.3"), None);
    }

    #[test]
    fn names() {
        assert!(is_identifier("a_1") && !is_identifier("1a") && !is_identifier("bad-name"));
        assert!(is_bare_string("k8s-users") && !is_bare_string("a,b") && !is_bare_string("a b"));
    }

    #[test]
    fn alignment_maps_folded_and_escaped_text() {
        let src = "x: >\n  a b\n  c\n";
        let m = align(src, 7, "a b c\n").unwrap();
        assert_eq!(&m[..5], &[7, 8, 9, 11, 13]);
        let src = r#"x: "a \"q\" b""#;
        let m = align(src, 4, "a \"q\" b").unwrap();
        assert_eq!(m[2], 7);
        assert_eq!(align("x: abc", 3, "abd"), None);
    }
}
