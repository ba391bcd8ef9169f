//! The accumulated definitions of every file loaded so far (Falco's rule-loader "collector"):
//! definitions, appends, selective replaces, standalone `enabled`, with Falco's index/visibility
//! counters (docs/semantics.md#loading-order-and-visibility) and messages. A redefinition keeps the position of the
//! first definition.

// Diagnostics are the (cold) error path; their size does not matter.
#![allow(clippy::result_large_err)]

use crate::diag::{code, item as it, Diagnostic};
use crate::exceptions;
use crate::items::{
    Item, ListItem, MacroItem, PluginRequirement, RuleAttrs, RuleDef, RuleItem, RuleUpdate, Text,
};
use crate::span::Span;
use std::collections::{BTreeSet, HashMap};

/// The engine version kaudit emulates (Falco 0.44.1's rules engine).
pub const ENGINE_VERSION: [u64; 3] = [0, 62, 0];

pub const SOURCE_K8S_AUDIT: &str = "k8s_audit";
pub const SOURCE_SYSCALL: &str = "syscall";

const ERROR_NO_PREVIOUS_MACRO: &str =
    "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists";
const ERROR_NO_PREVIOUS_LIST: &str =
    "List uses 'append' or 'override.items: append' but no list by that name already exists";
const ERROR_NO_PREVIOUS_RULE_APPEND: &str =
    "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists";
const ERROR_NO_PREVIOUS_RULE_REPLACE: &str =
    "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists";

#[derive(Debug, Clone)]
pub struct ListInfo {
    pub name: String,
    pub items: Vec<String>,
    pub index: u32,
    pub visibility: u32,
    /// The latest defining item.
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct MacroInfo {
    pub name: String,
    /// Condition text after appends.
    pub cond: String,
    /// The defining item's condition value (appended text follows it in `cond`).
    pub cond_src: Text,
    pub index: u32,
    pub visibility: u32,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub name: String,
    pub cond: String,
    /// Where `cond` (or its first part) was written; replaced by `override: replace`.
    pub cond_src: Text,
    /// Falco keeps reporting condition positions against the defining item's condition.
    pub falco_cond_span: Span,
    pub output: String,
    pub output_src: Text,
    pub falco_output_span: Span,
    pub attrs: RuleAttrs,
    pub unknown_source: bool,
    pub index: u32,
    pub visibility: u32,
    pub span: Span,
}

/// Whether a source is known to the engine (Falco always knows `syscall`; kaudit loads k8saudit).
pub fn is_known_source(s: &str) -> bool {
    s == SOURCE_K8S_AUDIT || s == SOURCE_SYSCALL
}

/// Validates a field expression (exception `fields`) for a source; None = no catalog for it.
pub type FieldValidator<'a> = &'a dyn Fn(&str) -> bool;

#[derive(Debug, Clone, Default)]
pub struct Collector {
    counter: u32,
    pub lists: Vec<ListInfo>,
    pub macros: Vec<MacroInfo>,
    pub rules: Vec<RuleInfo>,
    list_pos: HashMap<String, usize>,
    macro_pos: HashMap<String, usize>,
    rule_pos: HashMap<String, usize>,
    pub required_engine_version: Option<[u64; 3]>,
    pub plugin_requirements: Vec<PluginRequirement>,
}

fn version_text(v: [u64; 3]) -> String {
    format!("{}.{}.{}", v[0], v[1], v[2])
}

fn err_at(
    span: Span,
    item_type: &'static str,
    name: &str,
    message: impl Into<String>,
) -> Diagnostic {
    Diagnostic::error(code::VALIDATE, message)
        .at(span)
        .item(item_type, name)
}

impl Collector {
    fn next(&mut self) -> u32 {
        let id = self.counter;
        self.counter += 1;
        id
    }

    pub fn list(&self, name: &str) -> Option<&ListInfo> {
        self.list_pos.get(name).and_then(|&i| self.lists.get(i))
    }
    pub fn macro_info(&self, name: &str) -> Option<&MacroInfo> {
        self.macro_pos.get(name).and_then(|&i| self.macros.get(i))
    }
    pub fn rule(&self, name: &str) -> Option<&RuleInfo> {
        self.rule_pos.get(name).and_then(|&i| self.rules.get(i))
    }

    /// Applies one item. `k8s_fields` validates exception fields of `k8s_audit` rules.
    pub fn apply(
        &mut self,
        item: Item,
        k8s_fields: FieldValidator<'_>,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<(), Diagnostic> {
        match item {
            Item::Unknown => Ok(()),
            Item::EngineVersion { version, span } => {
                let e = ENGINE_VERSION;
                if !(e[0] == version[0] && e >= version) {
                    return Err(err_at(
                        span,
                        it::REQUIRED_ENGINE_VERSION,
                        "",
                        format!(
                            "Rules require engine version {}, but engine version is {}",
                            version_text(version),
                            version_text(e)
                        ),
                    ));
                }
                if self.required_engine_version.is_none_or(|v| v < version) {
                    self.required_engine_version = Some(version);
                }
                Ok(())
            }
            Item::PluginVersions(reqs) => {
                for r in reqs {
                    let mut seen = BTreeSet::new();
                    for (name, ver) in &r.alternatives {
                        if crate::items::parse_semver(ver).is_none() {
                            return Err(err_at(
                                r.span,
                                it::REQUIRED_PLUGIN_VERSIONS_ENTRY,
                                &r.name,
                                format!("Invalid required version '{ver}' for plugin '{name}'"),
                            ));
                        }
                        if !seen.insert(name.clone()) {
                            return Err(err_at(
                                r.span,
                                it::REQUIRED_PLUGIN_VERSIONS_ENTRY,
                                &r.name,
                                format!("Defined multiple alternative version requirements for plugin '{name}'"),
                            ));
                        }
                    }
                    self.plugin_requirements.push(r);
                }
                Ok(())
            }
            Item::List(l) => self.apply_list(l),
            Item::Macro(m) => self.apply_macro(m),
            Item::Rule(r) => self.apply_rule(r, k8s_fields, warnings),
        }
    }

    fn apply_list(&mut self, l: ListItem) -> Result<(), Diagnostic> {
        if l.append {
            let Some(&i) = self.list_pos.get(&l.name) else {
                return Err(err_at(l.span, it::LIST, &l.name, ERROR_NO_PREVIOUS_LIST));
            };
            let id = self.next();
            if let Some(prev) = self.lists.get_mut(i) {
                prev.items.extend(l.items);
                prev.visibility = id;
            }
            return Ok(());
        }
        let id = self.next();
        let info = ListInfo {
            name: l.name.clone(),
            items: l.items,
            index: id,
            visibility: id,
            span: l.span,
        };
        match self.list_pos.get(&l.name).copied() {
            Some(i) => {
                if let Some(prev) = self.lists.get_mut(i) {
                    *prev = ListInfo {
                        index: prev.index,
                        ..info
                    };
                }
            }
            None => {
                self.list_pos.insert(l.name, self.lists.len());
                self.lists.push(info);
            }
        }
        Ok(())
    }

    fn apply_macro(&mut self, m: MacroItem) -> Result<(), Diagnostic> {
        if m.append {
            let Some(&i) = self.macro_pos.get(&m.name) else {
                return Err(err_at(m.span, it::MACRO, &m.name, ERROR_NO_PREVIOUS_MACRO));
            };
            let id = self.next();
            if let Some(prev) = self.macros.get_mut(i) {
                prev.cond.push(' ');
                prev.cond.push_str(&m.cond.text);
                prev.visibility = id;
            }
            return Ok(());
        }
        let id = self.next();
        let info = MacroInfo {
            name: m.name.clone(),
            cond: m.cond.text.clone(),
            cond_src: m.cond,
            index: id,
            visibility: id,
            span: m.span,
        };
        match self.macro_pos.get(&m.name).copied() {
            Some(i) => {
                if let Some(prev) = self.macros.get_mut(i) {
                    *prev = MacroInfo {
                        index: prev.index,
                        ..info
                    };
                }
            }
            None => {
                self.macro_pos.insert(m.name, self.macros.len());
                self.macros.push(info);
            }
        }
        Ok(())
    }

    fn find_prev_rule(
        &self,
        name: &str,
        source: &str,
        span: Span,
    ) -> Result<Option<usize>, Diagnostic> {
        let prev = self.rule_pos.get(name).copied();
        if let Some(p) = prev.and_then(|i| self.rules.get(i)) {
            if !p.attrs.source.is_empty() && !source.is_empty() && p.attrs.source != source {
                return Err(err_at(
                    span,
                    it::RULE,
                    name,
                    "Rule has been re-defined with a different source",
                ));
            }
        }
        Ok(prev)
    }

    fn apply_rule(
        &mut self,
        r: RuleItem,
        k8s_fields: FieldValidator<'_>,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<(), Diagnostic> {
        match r {
            RuleItem::Define(d) => self.define_rule(d, k8s_fields, warnings),
            RuleItem::Append(u) => self.append_rule(u, k8s_fields),
            RuleItem::Override { append, replace } => {
                if let Some(u) = append {
                    self.append_rule(u, k8s_fields)?;
                }
                if let Some(u) = replace {
                    self.replace_rule(u)?;
                }
                Ok(())
            }
            RuleItem::Enable {
                name,
                enabled,
                span,
            } => {
                let Some(prev) = self
                    .rule_pos
                    .get(&name)
                    .and_then(|&i| self.rules.get_mut(i))
                else {
                    return Err(err_at(
                        span,
                        it::RULE,
                        &name,
                        "Rule has 'enabled' key but no rule by that name already exists",
                    ));
                };
                prev.attrs.enabled = enabled;
                Ok(())
            }
        }
    }

    fn define_rule(
        &mut self,
        mut d: RuleDef,
        k8s_fields: FieldValidator<'_>,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<(), Diagnostic> {
        let prev = self.find_prev_rule(&d.name, &d.attrs.source, d.span)?;
        let unknown_source = !is_known_source(&d.attrs.source);
        if unknown_source {
            warnings.push(
                Diagnostic::warning(
                    code::W_UNKNOWN_SOURCE,
                    format!("Unknown source {}, skipping", d.attrs.source),
                )
                .at(d.span)
                .item(it::RULE, d.name.clone()),
            );
        }
        let validator = (d.attrs.source == SOURCE_K8S_AUDIT).then_some(k8s_fields);
        for ex in &mut d.attrs.exceptions {
            if !ex.fields.is_valid() {
                return Err(
                    ex.err("Rule exception item must have fields property with a list of fields")
                );
            }
            exceptions::validate(ex, validator)?;
        }
        let id = self.next();
        let info = RuleInfo {
            name: d.name.clone(),
            cond: d.cond.text.clone(),
            falco_cond_span: d.cond.span,
            cond_src: d.cond,
            output: d.output.text.clone(),
            falco_output_span: d.output.span,
            output_src: d.output,
            attrs: d.attrs,
            unknown_source,
            index: id,
            visibility: id,
            span: d.span,
        };
        match prev.and_then(|i| self.rules.get_mut(i)) {
            Some(p) => {
                *p = RuleInfo {
                    index: p.index,
                    ..info
                }
            }
            None => {
                self.rule_pos.insert(d.name, self.rules.len());
                self.rules.push(info);
            }
        }
        Ok(())
    }

    fn append_rule(
        &mut self,
        u: RuleUpdate,
        k8s_fields: FieldValidator<'_>,
    ) -> Result<(), Diagnostic> {
        let Some(i) = self.find_prev_rule(&u.name, &u.source, u.span)? else {
            return Err(err_at(
                u.span,
                it::RULE,
                &u.name,
                ERROR_NO_PREVIOUS_RULE_APPEND,
            ));
        };
        if !u.has_any_value() {
            return Err(err_at(
                u.span,
                it::RULE,
                &u.name,
                "Appended rule must have exceptions or condition property",
            ));
        }
        let id = self.next();
        let Some(prev) = self.rules.get_mut(i) else {
            return Ok(());
        };
        let validator =
            (prev.attrs.source == SOURCE_K8S_AUDIT && !prev.unknown_source).then_some(k8s_fields);
        if let Some(c) = u.cond.as_ref().filter(|c| !c.text.is_empty()) {
            prev.cond.push(' ');
            prev.cond.push_str(&c.text);
        }
        if let Some(o) = u.output.as_ref().filter(|o| !o.text.is_empty()) {
            prev.output.push(' ');
            prev.output.push_str(&o.text);
        }
        if let Some(d) = u.desc.as_ref().filter(|d| !d.is_empty()) {
            prev.attrs.desc.push(' ');
            prev.attrs.desc.push_str(d);
        }
        if let Some(tags) = u.tags {
            prev.attrs.tags.extend(tags);
        }
        for mut ex in u.exceptions.unwrap_or_default() {
            match prev.attrs.exceptions.iter_mut().find(|e| e.name == ex.name) {
                None => {
                    if !ex.fields.is_valid() {
                        return Err(ex.err(
                            "Rule exception must have fields property with a list of fields",
                        ));
                    }
                    if ex.values.is_empty() {
                        return Err(ex.err(
                            "Rule exception must have values property with a list of values",
                        ));
                    }
                    exceptions::validate(&mut ex, validator)?;
                    prev.attrs.exceptions.push(ex);
                }
                Some(p) => {
                    if ex.fields.is_valid() {
                        return Err(ex.err(
                            "Can not append exception fields to existing exception, only values",
                        ));
                    }
                    if ex.comps.is_valid() {
                        return Err(ex.err(
                            "Can not append exception comps to existing exception, only values",
                        ));
                    }
                    p.values.extend(ex.values);
                }
            }
        }
        prev.visibility = id;
        Ok(())
    }

    fn replace_rule(&mut self, u: RuleUpdate) -> Result<(), Diagnostic> {
        let Some(i) = self.find_prev_rule(&u.name, &u.source, u.span)? else {
            return Err(err_at(
                u.span,
                it::RULE,
                &u.name,
                ERROR_NO_PREVIOUS_RULE_REPLACE,
            ));
        };
        if !u.has_any_value() {
            return Err(err_at(
                u.span,
                it::RULE,
                &u.name,
                "The rule must have at least one field that can be replaced",
            ));
        }
        let id = self.next();
        let Some(prev) = self.rules.get_mut(i) else {
            return Ok(());
        };
        if let Some(c) = u.cond {
            prev.cond = c.text.clone();
            prev.cond_src = c;
        }
        if let Some(o) = u.output {
            prev.output = o.text.clone();
            prev.output_src = o;
        }
        if let Some(d) = u.desc {
            prev.attrs.desc = d;
        }
        if let Some(t) = u.tags {
            prev.attrs.tags = t;
        }
        // Falco does not default or validate replaced exceptions (docs/semantics.md#exceptions).
        if let Some(e) = u.exceptions {
            prev.attrs.exceptions = e;
        }
        if let Some(p) = u.priority {
            prev.attrs.priority = p;
        }
        if let Some(v) = u.capture {
            prev.attrs.capture = v;
        }
        if let Some(v) = u.capture_duration {
            prev.attrs.capture_duration = v;
        }
        if let Some(v) = u.enabled {
            prev.attrs.enabled = v;
        }
        if let Some(v) = u.warn_evttypes {
            prev.attrs.warn_evttypes = v;
        }
        if let Some(v) = u.skip_if_unknown_filter {
            prev.attrs.skip_if_unknown_filter = v;
        }
        prev.visibility = id;
        Ok(())
    }
}
