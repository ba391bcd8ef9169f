//! One top-level mapping of a rules file → the item it is: required engine and plugin versions,
//! lists and macros here; rules in `rule`.

use super::context::{unknown_keys, Ctx, ERROR_OVERRIDE_APPEND, WARNING_APPEND};
use super::decode::Reader;
use super::model::{Item, ListItem, MacroItem, PluginRequirement};
use super::names::{is_bare_string, is_identifier, parse_engine_version};
use super::rule::{rule_name, RULE_KEYS};
use crate::diag::{code, item as it, Diagnostic};
use crate::yaml::Node;

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
        let append = appends(&r, node, "items", &ctx, warnings)?;
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
        let append = appends(&r, node, "condition", &ctx, warnings)?;
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

/// Whether a list or macro item appends to the earlier definition of its `key` (`items`, `condition`):
/// the deprecated `append: true` (warned about) or `override: {key: append}`. Both together are an error;
/// `override: {key: replace}` is a plain definition.
fn appends(
    r: &Reader<'_>,
    node: &Node,
    key: &str,
    ctx: &Ctx,
    warnings: &mut Vec<Diagnostic>,
) -> Result<bool, Diagnostic> {
    let legacy = r.opt_bool(node, "append", ctx)?.unwrap_or(false);
    if legacy {
        warnings.push(ctx.warn(code::W_DEPRECATED_ITEM, WARNING_APPEND));
    }
    let (ov_append, ov_replace) = r.overrides(node, &[key], &[key])?;
    if legacy && !(ov_append.is_empty() && ov_replace.is_empty()) {
        return Err(ctx.err(ERROR_OVERRIDE_APPEND));
    }
    Ok(legacy || ov_append.iter().any(|k| k == key))
}
