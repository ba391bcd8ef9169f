//! The public entry point: load rule files in order into one `ir::Ruleset`, as Falco does with
//! repeated `-r` (docs/semantics.md#loading-order-and-visibility).
//!
//! ```no_run
//! let res = kaudit_frontend::load::load_files(&["rules.yaml".into()]);
//! eprint!("{}", res.render());
//! if let Some(ruleset) = res.ruleset { /* hand to a back end */ let _ = ruleset; }
//! ```
//!
//! * `load_files(paths)` reads files (invalid UTF-8 or an unreadable file is an error).
//! * `load_sources(&[(name, text)])` does the same from memory (tests, proc-macro, fuzzing).
//!
//! Both are deterministic and never panic. Loading follows Falco: items of a file are applied in
//! order and the file stops at its first error; after each file the whole accumulated set is
//! compiled again (so a rule may use a macro defined later in the same file but not in a later
//! file, and unused-macro/list warnings are per file); the first failing file stops loading. After
//! the last file, `required_plugin_versions` are checked against the emulated plugins (k8saudit
//! 0.18.0, json 0.7.4); an unsatisfied requirement is fatal. `ruleset` is `None` iff there is an
//! error. Warnings repeated by the per-file recompiles are reported once.

// Diagnostics are the (cold) error path; their size does not matter.
#![allow(clippy::result_large_err)]

use crate::diag::{code, item as it, Diagnostic, Severity};
use crate::ir::Ruleset;
use crate::items::{self, parse_semver};
use crate::merge::Collector;
use crate::resolve;
use crate::span::{FileId, Span};
use crate::yaml::{self, NodeKind};
use std::path::PathBuf;

/// Largest rule file accepted (positions are 32-bit; real rule files are well under 1 MiB).
pub const MAX_FILE_BYTES: usize = 64 << 20;

/// The plugins kaudit emulates, for `required_plugin_versions`.
pub const PLUGINS: &[(&str, &str)] = &[("k8saudit", "0.18.0"), ("json", "0.7.4")];

#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// The compiled rule set; `None` when there was an error.
    pub ruleset: Option<Ruleset>,
    /// Errors and warnings in the order they were found.
    pub diagnostics: Vec<Diagnostic>,
    /// (name, text) of every file, indexed by `Span::file` (text empty if unreadable).
    pub files: Vec<(String, String)>,
    /// Counts of what was defined (for summaries).
    pub stats: LoadStats,
}

/// How many definitions the loaded files hold (after merging).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub lists: usize,
    pub macros: usize,
    /// Rules dropped by `skip-if-unknown-filter`.
    pub skipped_unknown_filter: usize,
}

impl LoadResult {
    pub fn is_ok(&self) -> bool {
        self.ruleset.is_some()
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }
    /// Renders one diagnostic with its source snippet.
    pub fn render_one(&self, d: &Diagnostic) -> String {
        d.render(|f| {
            self.files
                .get(f as usize)
                .map(|(n, t)| (n.as_str(), t.as_str()))
        })
    }
    /// Renders every diagnostic, separated by blank lines.
    pub fn render(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| self.render_one(d))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Loads rule files in order. A directory stands for the `*.yaml`/`*.yml` regular files directly
/// inside it, sorted by path (as Falco expands rule directories); files named explicitly are loaded
/// whatever their extension.
pub fn load_files(paths: &[PathBuf]) -> LoadResult {
    let mut expanded = Vec::new();
    for p in paths {
        match rules_dir_entries(p) {
            Some(entries) => expanded.extend(entries),
            None => expanded.push(p.clone()),
        }
    }
    let inputs = expanded
        .iter()
        .map(|p| {
            let name = p.display().to_string();
            let text = match std::fs::read(p) {
                Err(e) => Err(Diagnostic::error(
                    code::FILE_READ,
                    format!("Could not open file {name} for reading: {e}"),
                )),
                Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
                    Diagnostic::error(
                        code::YAML_PARSE,
                        format!(
                            "invalid UTF-8 at byte {}: rule files must be UTF-8",
                            e.utf8_error().valid_up_to()
                        ),
                    )
                }),
            };
            (name, text)
        })
        .collect();
    load_inputs(inputs)
}

/// The rule files of a directory (None if `p` is not a readable directory).
fn rules_dir_entries(p: &std::path::Path) -> Option<Vec<PathBuf>> {
    if !p.is_dir() {
        return None;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(p)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.is_file())
        .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Some(files)
}

/// Loads rule files given as (name, text) pairs, in order.
pub fn load_sources<N: AsRef<str>, T: AsRef<str>>(sources: &[(N, T)]) -> LoadResult {
    load_inputs(
        sources
            .iter()
            .map(|(n, t)| (n.as_ref().to_string(), Ok(t.as_ref().to_string())))
            .collect(),
    )
}

fn push_unique(out: &mut Vec<Diagnostic>, d: Diagnostic) {
    if !out
        .iter()
        .any(|x| x.code == d.code && x.message == d.message && x.span == d.span)
    {
        out.push(d);
    }
}

fn load_inputs(inputs: Vec<(String, Result<String, Diagnostic>)>) -> LoadResult {
    let mut res = LoadResult::default();
    let mut col = Collector::default();
    let mut ruleset = None;
    let mut failed: Option<(FileId, Diagnostic)> = None;
    let mut read_errors: Vec<(FileId, Diagnostic)> = Vec::new();
    for (i, (name, text)) in inputs.into_iter().enumerate() {
        let text = text.and_then(|t| {
            if t.len() > MAX_FILE_BYTES {
                Err(Diagnostic::error(
                    code::YAML_PARSE,
                    format!(
                        "rule file too large: {} bytes (limit {MAX_FILE_BYTES})",
                        t.len()
                    ),
                ))
            } else {
                Ok(t)
            }
        });
        match text {
            Ok(t) => res.files.push((name, t)),
            Err(d) => {
                read_errors.push((i as FileId, d));
                res.files.push((name, String::new()));
            }
        }
    }
    for fid in 0..res.files.len() as FileId {
        if let Some((_, d)) = read_errors.iter().find(|(f, _)| *f == fid) {
            failed = Some((
                fid,
                Diagnostic {
                    span: Some(Span::point(fid, 0, 1, 1)),
                    falco_pos: Some((0, 0)),
                    ..d.clone()
                },
            ));
            break;
        }
        let mut warnings = Vec::new();
        if let Err(d) = read_file(&mut col, &res.files, fid, &mut warnings) {
            res.diagnostics.extend(warnings);
            failed = Some((fid, d));
            break;
        }
        let mut cw = Vec::new();
        let compiled = resolve::compile(&col, &res.files, &mut cw);
        for w in warnings.into_iter().chain(cw) {
            push_unique(&mut res.diagnostics, w);
        }
        match compiled {
            Ok(rs) => ruleset = Some(rs),
            Err(d) => {
                failed = Some((fid, *d));
                break;
            }
        }
    }
    if let Some((_, d)) = failed {
        res.diagnostics.push(d);
        return res;
    }
    if let Err(d) = check_plugin_requirements(&col) {
        res.diagnostics.push(d);
        return res;
    }
    res.stats = LoadStats {
        lists: col.lists.len(),
        macros: col.macros.len(),
        skipped_unknown_filter: res
            .warnings()
            .filter(|w| w.code == code::W_UNKNOWN_FILTER)
            .count(),
    };
    res.ruleset = ruleset.or_else(|| Some(Ruleset::default()));
    res
}

/// Reads one file's documents and applies its items; stops at the first error.
fn read_file(
    col: &mut Collector,
    files: &[(String, String)],
    fid: FileId,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    let text = files.get(fid as usize).map_or("", |f| f.1.as_str());
    let docs = yaml::parse(text, fid).map_err(|e| {
        let (l0, c0) = crate::diag::falco_mark(e.span);
        Diagnostic::error(
            code::YAML_PARSE,
            format!(
                "yaml: error at line {}, column {}: {}",
                l0 + 1,
                c0 + 1,
                e.message
            ),
        )
        .at(e.span)
        .item(it::VALUE_FOR, "")
    })?;
    let whole = Span::point(fid, 0, 1, 1);
    let k8s_field_ok = |f: &str| -> bool {
        match crate::cond::parse(&format!("{f} exists")) {
            Ok(crate::ast::Expr::Check(c)) => crate::typeck::operand(&c.lhs).is_ok(),
            _ => false,
        }
    };
    for doc in docs {
        match &doc.kind {
            NodeKind::Null => continue,
            NodeKind::Scalar { .. } => {
                return Err(
                    Diagnostic::error(code::YAML_VALIDATE, "Rules content is not yaml")
                        .at(whole)
                        .item(it::RULES_CONTENT, ""),
                )
            }
            NodeKind::Map(_) => {
                return Err(Diagnostic::error(
                    code::YAML_VALIDATE,
                    "Rules content is not yaml array of objects",
                )
                .at(whole)
                .item(it::RULES_CONTENT, ""))
            }
            NodeKind::Seq(items) => {
                for node in items {
                    if node.is_null() {
                        continue;
                    }
                    let mut late = Vec::new();
                    let item = items::read_item(node, text, warnings, &mut late)?;
                    col.apply(item, &k8s_field_ok, warnings)?;
                    warnings.extend(late);
                }
            }
        }
    }
    Ok(())
}

/// Checks `required_plugin_versions` against the emulated plugins (docs/semantics.md#required-versions).
fn check_plugin_requirements(col: &Collector) -> Result<(), Diagnostic> {
    for req in &col.plugin_requirements {
        let loaded = req.alternatives.iter().find_map(|(name, ver)| {
            PLUGINS
                .iter()
                .find(|(p, _)| p == name)
                .map(|(p, pv)| (*p, *pv, name, ver))
        });
        match loaded {
            Some((p, pv, _, ver)) => {
                let (Some(have), Some(want)) = (parse_semver(pv), parse_semver(ver)) else {
                    continue;
                };
                if have[0] != want[0] || have < want {
                    return Err(Diagnostic::error(
                        code::PLUGIN_REQUIREMENT,
                        format!("Plugin '{p}' version '{pv}' is not compatible with required plugin version '{ver}'"),
                    )
                    .at(req.span)
                    .item(it::REQUIRED_PLUGIN_VERSIONS_ENTRY, req.name.clone()));
                }
            }
            None => {
                let alts: Vec<String> = req
                    .alternatives
                    .iter()
                    .map(|(n, v)| format!("{n} (>= {v})"))
                    .collect();
                return Err(Diagnostic::error(
                    code::PLUGIN_REQUIREMENT,
                    format!(
                        "Plugin requirement not satisfied, must load one of: {}",
                        alts.join(", ")
                    ),
                )
                .at(req.span)
                .item(it::REQUIRED_PLUGIN_VERSIONS_ENTRY, req.name.clone()));
            }
        }
    }
    Ok(())
}
