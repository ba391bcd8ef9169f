//! Compiling the accumulated definitions into an `ir::Ruleset` (Falco's rule-loader "compiler",
//! docs/semantics.md#loading-order-and-visibility, #condition-pipeline, #list-expansion, #macros): list compilation
//! (one-level expansion), textual list expansion, parsing, macro resolution with Falco's visibility rules,
//! exception text, output and condition type checking, and the unused-macro/list warnings.
//!
//! Rules of sources other than `k8s_audit` are kept (with `cond: None`) but never type-checked; their
//! conditions are still expanded and parsed leniently so that the macros and lists they use count as
//! used (a parse failure there is ignored: kaudit never evaluates them).

use crate::ast::{self, Expr};
use crate::diag::{code, falco_mark, item as it, Diagnostic};
use crate::exceptions;
use crate::ir::{self, Cond, MacroId, Ruleset};
use crate::items::Text;
use crate::merge::{Collector, SOURCE_K8S_AUDIT};
use crate::output;
use crate::span::{FileId, Span};
use crate::typeck;
use std::collections::{HashMap, HashSet};

const CONTAINER_INFO: &str = "%container.info";
const CONTAINER_INFO_DEPRECATED: &str = "%container.info is deprecated and no more useful, and will be dropped by Falco 1.0.0. The container plugin will automatically add required fields to the output message.";

/// The text of one condition as parsed, with what is needed to map offsets back to the file.
#[derive(Debug, Clone)]
struct CondSrc {
    /// The list-expanded text that was parsed.
    parsed: String,
    /// The text before list expansion.
    pre: String,
    /// Bytes of `pre` that precede the item's own text (1 when exceptions wrapped it in "(").
    lead: usize,
    /// The item's own condition value.
    own: Text,
    /// Falco's 0-based mark of the condition context.
    falco_mark: (u32, u32),
}

/// Line starts of every file, to turn byte offsets into spans quickly.
pub struct FileLines<'a> {
    files: &'a [(String, String)],
    starts: Vec<Vec<u32>>,
}

impl<'a> FileLines<'a> {
    pub fn new(files: &'a [(String, String)]) -> Self {
        let starts = files
            .iter()
            .map(|(_, t)| {
                std::iter::once(0)
                    .chain(t.match_indices('\n').map(|(i, _)| i as u32 + 1))
                    .collect()
            })
            .collect();
        FileLines { files, starts }
    }

    /// The span of `len` bytes at byte `offset` of `file` (1-based line, 1-based char column).
    pub fn span(&self, file: FileId, offset: u32, len: u32) -> Span {
        let text = self.files.get(file as usize).map_or("", |f| f.1.as_str());
        let offset = offset.min(text.len() as u32);
        let starts = self
            .starts
            .get(file as usize)
            .map_or(&[][..], |v| v.as_slice());
        let idx = starts.partition_point(|&s| s <= offset).max(1) - 1;
        let line_start = starts.get(idx).copied().unwrap_or(0);
        let col = text
            .get(line_start as usize..offset as usize)
            .map_or(0, |s| s.chars().count()) as u32
            + 1;
        Span {
            file,
            offset,
            len,
            line: idx as u32 + 1,
            col,
        }
    }
}

impl CondSrc {
    /// Our precise span for `[at, at+len)` of the parsed text, or the condition value.
    fn span(&self, lines: &FileLines, at: u32, len: u32) -> Span {
        let at = at as usize;
        // Offsets are exact where list expansion left the text unchanged.
        let exact = self.parsed == self.pre || {
            let common = self
                .parsed
                .bytes()
                .zip(self.pre.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            at + (len as usize) <= common
        };
        if exact && at >= self.lead {
            // An error at the very end (e.g. a missing `)`) points at the last character.
            let rel = (at - self.lead).min(self.own.text.len().saturating_sub(1));
            let end = (rel + len as usize).min(self.own.text.len());
            if let (Some(a), Some(b)) = (self.own.file_offset(rel), self.own.file_offset(end)) {
                if rel < self.own.text.len() || len == 0 {
                    return lines.span(self.own.span.file, a, b.saturating_sub(a).max(len.min(1)));
                }
            }
        }
        self.own.span
    }

    /// Falco's "condition expression" position: the context mark plus the parser's 1-based
    /// line/column of `at` in the parsed text.
    fn falco_expr(&self, at: u32) -> (u32, u32) {
        let (l, c) = crate::cond::line_col(&self.parsed, at);
        (self.falco_mark.0 + l, self.falco_mark.1 + c)
    }
}

/// Walks every macro reference in tree order.
fn macro_refs<'e>(e: &'e Expr, out: &mut Vec<(&'e str, u32)>) {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|c| macro_refs(c, out)),
        Expr::Not(c) => macro_refs(c, out),
        Expr::Macro { name, at } => out.push((name, *at)),
        Expr::Check(_) => {}
    }
}

fn expr_checks<'e>(e: &'e Expr, out: &mut Vec<&'e ast::Check>) {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|c| expr_checks(c, out)),
        Expr::Not(c) => expr_checks(c, out),
        Expr::Macro { .. } => {}
        Expr::Check(c) => out.push(c),
    }
}

struct ParsedMacro {
    ast: Expr,
    src: CondSrc,
}

/// Compiles `col`; warnings are appended to `warnings`. Returns the first error.
pub fn compile(
    col: &Collector,
    files: &[(String, String)],
    warnings: &mut Vec<Diagnostic>,
) -> Result<Ruleset, Box<Diagnostic>> {
    let mut c = Compiler {
        col,
        lines: FileLines::new(files),
        lists: Vec::new(),
        used_lists: HashSet::new(),
        used_macros: HashSet::new(),
        macros: HashMap::new(),
        ir_macros: Vec::new(),
        macro_ids: HashMap::new(),
        warnings,
    };
    c.compile_lists();
    c.compile_macros()?;
    let rules = c.compile_rules()?;
    // Falco warns about every macro and list that no rule or macro refers to.
    let unused_macros = col
        .macros
        .iter()
        .filter(|m| !c.used_macros.contains(&m.name))
        .map(|m| (code::W_UNUSED_MACRO, it::MACRO, "Macro", &m.name, m.span));
    let unused_lists = col
        .lists
        .iter()
        .filter(|l| !c.used_lists.contains(&l.name))
        .map(|l| (code::W_UNUSED_LIST, it::LIST, "List", &l.name, l.span));
    for (warning_code, item_type, what, name, span) in unused_macros.chain(unused_lists) {
        c.warnings.push(
            Diagnostic::warning(
                warning_code,
                format!("{what} not referred to by any other rule/macro"),
            )
            .at(span)
            .item(item_type, name.clone()),
        );
    }
    Ok(Ruleset {
        files: files.iter().map(|f| f.0.clone()).collect(),
        rules,
        macros: c.ir_macros,
        required_engine_version: col
            .required_engine_version
            .map(|v| format!("{}.{}.{}", v[0], v[1], v[2])),
    })
}

struct Compiler<'a> {
    col: &'a Collector,
    lines: FileLines<'a>,
    /// Compiled lists in definition order: (name, items after one-level expansion).
    lists: Vec<(String, Vec<String>)>,
    used_lists: HashSet<String>,
    used_macros: HashSet<String>,
    macros: HashMap<String, ParsedMacro>,
    ir_macros: Vec<ir::Macro>,
    macro_ids: HashMap<String, MacroId>,
    warnings: &'a mut Vec<Diagnostic>,
}

impl Compiler<'_> {
    fn compile_lists(&mut self) {
        for l in &self.col.lists {
            let visible = |name: &str| -> Option<&[String]> {
                self.col
                    .list(name)
                    .filter(|r| r.index < l.visibility)
                    .map(|r| r.items.as_slice())
            };
            for item in &l.items {
                if visible(item).is_some() {
                    self.used_lists.insert(item.clone());
                }
            }
            let items = crate::expand::compile_list_items(&l.items, visible);
            self.lists.push((l.name.clone(), items));
        }
    }

    /// Textual list expansion, one list at a time in definition order, recording which were used.
    fn expand(&mut self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, items) in &self.lists {
            if name.is_empty() || !out.contains(name.as_str()) {
                continue;
            }
            let next = crate::expand::expand_lists(&out, &[(name.as_str(), items.as_slice())]);
            if next != out {
                self.used_lists.insert(name.clone());
                out = next;
            }
        }
        out
    }

    fn parse_error(
        &self,
        e: &crate::cond::ParseError,
        src: &CondSrc,
        item_type: &'static str,
        name: &str,
    ) -> Diagnostic {
        Diagnostic::error(code::COMPILE_CONDITION, e.message.clone())
            .with_span(src.span(&self.lines, e.offset, 1))
            .falco(src.falco_mark)
            .expr(src.falco_expr(e.offset))
            .item(item_type, name)
    }

    fn compile_macros(&mut self) -> Result<(), Box<Diagnostic>> {
        for m in &self.col.macros {
            let parsed = self.expand(&m.cond);
            let src = CondSrc {
                parsed,
                pre: m.cond.clone(),
                lead: 0,
                own: m.cond_src.clone(),
                falco_mark: falco_mark(m.cond_src.span),
            };
            let ast = crate::cond::parse(&src.parsed)
                .map_err(|e| Box::new(self.parse_error(&e, &src, it::MACRO_CONDITION, &m.name)))?;
            self.macros.insert(m.name.clone(), ParsedMacro { ast, src });
        }
        // Resolve every macro in definition order with its own visibility
        // (docs/semantics.md#loading-order-and-visibility).
        let mut resolved: HashSet<String> = HashSet::new();
        for m in &self.col.macros {
            let visible = |name: &str| {
                self.col
                    .macro_info(name)
                    .is_some_and(|x| x.index < m.visibility)
            };
            let mut loop_err: Option<(String, u32, String)> = None;
            let mut unknown: Option<(String, u32, String)> = None;
            let mut path: Vec<String> = Vec::new();
            self.resolve_walk(
                &m.name,
                &visible,
                &resolved,
                &mut path,
                &mut loop_err,
                &mut unknown,
            );
            if let Some((msg, at, in_macro)) = loop_err
                .or(unknown
                    .map(|(n, a, i)| (format!("Undefined macro '{n}' used in filter."), a, i)))
            {
                return Err(Box::new(self.resolution_error(
                    msg,
                    at,
                    &in_macro,
                    m.span,
                    it::MACRO,
                    &m.name,
                )));
            }
            resolved.insert(m.name.clone());
        }
        Ok(())
    }

    /// Falco's macro resolver over the body of `name` (whose references are checked against
    /// `visible`); records the first loop and the first unknown reference.
    fn resolve_walk(
        &mut self,
        name: &str,
        visible: &dyn Fn(&str) -> bool,
        resolved: &HashSet<String>,
        path: &mut Vec<String>,
        loop_err: &mut Option<(String, u32, String)>,
        unknown: &mut Option<(String, u32, String)>,
    ) {
        let refs: Vec<(String, u32)> = match self.macros.get(name) {
            Some(pm) => {
                let mut v = Vec::new();
                macro_refs(&pm.ast, &mut v);
                v.into_iter().map(|(n, a)| (n.to_string(), a)).collect()
            }
            None => return,
        };
        for (r, at) in refs {
            if !visible(&r) {
                if unknown.is_none() {
                    *unknown = Some((r, at, name.to_string()));
                }
                continue;
            }
            if path.contains(&r) {
                if loop_err.is_none() {
                    *loop_err = Some((
                        format!("reference loop in macro '{r}'"),
                        at,
                        name.to_string(),
                    ));
                }
                continue;
            }
            self.used_macros.insert(r.clone());
            if resolved.contains(&r) {
                continue;
            }
            path.push(r.clone());
            self.resolve_walk(&r, visible, resolved, path, loop_err, unknown);
            path.pop();
        }
    }

    /// Macro-resolution errors: Falco places them at the item, plus the parser position.
    fn resolution_error(
        &self,
        msg: String,
        at: u32,
        in_macro: &str,
        item_span: Span,
        item_type: &'static str,
        item_name: &str,
    ) -> Diagnostic {
        let (span, rel) = match self.macros.get(in_macro) {
            Some(pm) => (
                pm.src.span(&self.lines, at, 0),
                crate::cond::line_col(&pm.src.parsed, at),
            ),
            None => (item_span, (1, 1)),
        };
        let mark = falco_mark(item_span);
        Diagnostic::error(code::VALIDATE, msg)
            .with_span(span)
            .falco(mark)
            .expr((mark.0 + rel.0, mark.1 + rel.1))
            .item(item_type, item_name)
    }

    fn compile_rules(&mut self) -> Result<Vec<ir::Rule>, Box<Diagnostic>> {
        let mut out = Vec::with_capacity(self.col.rules.len());
        for r in &self.col.rules {
            let base = ir::Rule {
                name: r.name.clone(),
                desc: r.attrs.desc.clone(),
                cond: None,
                condition_text: String::new(),
                output: ir::Output {
                    text: r.output.clone(),
                    parts: Vec::new(),
                    fields: Vec::new(),
                },
                priority: r.attrs.priority,
                source: r.attrs.source.clone(),
                enabled: r.attrs.enabled,
                tags: r.attrs.tags.iter().cloned().collect(),
                span: r.span,
            };
            if r.unknown_source {
                out.push(base);
                continue;
            }
            let k8s = r.attrs.source == SOURCE_K8S_AUDIT;
            let with_exceptions =
                exceptions::build_condition(&r.cond, &r.attrs.exceptions).map_err(Box::new)?;
            let lead = usize::from(!r.attrs.exceptions.is_empty());
            let parsed = self.expand(&with_exceptions);
            let src = CondSrc {
                parsed,
                pre: with_exceptions,
                lead,
                own: r.cond_src.clone(),
                falco_mark: falco_mark(r.falco_cond_span),
            };
            if !k8s {
                if let Ok(ast) = crate::cond::parse(&src.parsed) {
                    let mut refs = Vec::new();
                    macro_refs(&ast, &mut refs);
                    for (n, _) in refs {
                        if self.macros.contains_key(n) {
                            self.used_macros.insert(n.to_string());
                        }
                    }
                }
                out.push(ir::Rule {
                    condition_text: src.parsed,
                    ..base
                });
                continue;
            }
            // `%container.info` is dropped with a deprecation warning (docs/semantics.md#output-format).
            let out_text = if r.output.contains(CONTAINER_INFO) {
                self.warnings.push(
                    Diagnostic::warning(code::W_DEPRECATED_ITEM, CONTAINER_INFO_DEPRECATED)
                        .at(r.span)
                        .item(it::RULE, r.name.clone()),
                );
                r.output.replace(CONTAINER_INFO, "")
            } else {
                r.output.clone()
            };
            // Falco validates the output before the condition.
            let output = match output::parse(&out_text) {
                Ok(o) => o,
                Err(e) => {
                    let span = match r.output_src.file_offset(e.at as usize) {
                        Some(b) if out_text == r.output_src.text => {
                            self.lines.span(r.output_src.span.file, b, e.len.max(1))
                        }
                        _ => r.output_src.span,
                    };
                    let mut d = Diagnostic::error(code::COMPILE_OUTPUT, e.message.clone())
                        .with_span(span)
                        .falco(falco_mark(r.falco_output_span))
                        .item(it::RULE_OUTPUT, r.name.clone());
                    if let Some(h) = &e.hint {
                        d = d.hint(h.clone());
                    }
                    if r.attrs.skip_if_unknown_filter && typeck::is_unknown_field_error(&e.message)
                    {
                        self.warnings.push(Diagnostic {
                            severity: crate::diag::Severity::Warning,
                            code: code::W_UNKNOWN_FILTER,
                            ..d
                        });
                        continue;
                    }
                    return Err(Box::new(d));
                }
            };
            let ast = crate::cond::parse(&src.parsed)
                .map_err(|e| Box::new(self.parse_error(&e, &src, it::RULE_CONDITION, &r.name)))?;
            let mut refs = Vec::new();
            macro_refs(&ast, &mut refs);
            for (n, at) in &refs {
                if self.macros.contains_key(*n) {
                    self.used_macros.insert(n.to_string());
                } else {
                    let mark = falco_mark(r.span);
                    let (l, c) = crate::cond::line_col(&src.parsed, *at);
                    return Err(Box::new(
                        Diagnostic::error(
                            code::VALIDATE,
                            format!("Undefined macro '{n}' used in filter."),
                        )
                        .with_span(src.span(&self.lines, *at, n.len() as u32))
                        .falco(mark)
                        .expr((mark.0 + l, mark.1 + c))
                        .item(it::RULE, r.name.clone()),
                    ));
                }
            }
            if self.has_unsafe_na_check(&ast) {
                self.warnings.push(
                    Diagnostic::warning(code::W_UNSAFE_NA_CHECK, "")
                        .with_span(src.own.span)
                        .falco(src.falco_mark)
                        .expr(src.falco_mark)
                        .item(it::RULE_CONDITION, r.name.clone())
                        .hint("a missing field never compares equal to anything; use 'exists' / 'not ... exists'"),
                );
            }
            let cond = match self.lower(&ast, &src, &r.name) {
                Ok(c) => c,
                Err(d) => {
                    if r.attrs.skip_if_unknown_filter && typeck::is_unknown_field_error(&d.message)
                    {
                        self.warnings.push(Diagnostic {
                            severity: crate::diag::Severity::Warning,
                            code: code::W_UNKNOWN_FILTER,
                            ..*d
                        });
                        continue;
                    }
                    return Err(d);
                }
            };
            out.push(ir::Rule {
                cond: Some(cond),
                condition_text: src.parsed,
                output,
                ..base
            });
        }
        Ok(out)
    }

    /// Whether the condition, or any macro it uses (transitively), has an unsafe `<NA>` check.
    /// Iterative, so long macro chains cannot exhaust the stack.
    fn has_unsafe_na_check(&self, e: &Expr) -> bool {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut todo: Vec<&Expr> = vec![e];
        while let Some(e) = todo.pop() {
            let mut checks = Vec::new();
            expr_checks(e, &mut checks);
            if checks.iter().any(|c| typeck::is_unsafe_na_check(c)) {
                return true;
            }
            let mut refs = Vec::new();
            macro_refs(e, &mut refs);
            for (n, _) in refs {
                if let Some((name, m)) = self.macros.get_key_value(n) {
                    if seen.insert(name.as_str()) {
                        todo.push(&m.ast);
                    }
                }
            }
        }
        false
    }

    /// Lowers a parsed condition into the IR, type-checking checks and macros (each macro once).
    fn lower(&mut self, e: &Expr, src: &CondSrc, rule: &str) -> Result<Cond, Box<Diagnostic>> {
        Ok(match e {
            Expr::And(v) => Cond::And(
                v.iter()
                    .map(|c| self.lower(c, src, rule))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Or(v) => Cond::Or(
                v.iter()
                    .map(|c| self.lower(c, src, rule))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Not(c) => Cond::Not(Box::new(self.lower(c, src, rule)?)),
            Expr::Macro { name, .. } => Cond::Macro(self.macro_id(name, rule, src.falco_mark)?),
            Expr::Check(c) => {
                let mut hints = Vec::new();
                let res = typeck::check(c, &mut hints);
                for h in hints {
                    let mut d = Diagnostic::warning(h.code, h.message)
                        .with_span(src.span(&self.lines, h.at, h.len))
                        .falco(src.falco_mark)
                        .expr(src.falco_expr(h.at))
                        .item(it::RULE_CONDITION, rule);
                    if let Some(help) = h.help {
                        d = d.hint(help);
                    }
                    self.warnings.push(d);
                }
                match res {
                    Ok(mut chk) => {
                        chk.span = src.span(&self.lines, c.at, 0);
                        Cond::Check(Box::new(chk))
                    }
                    Err(p) => {
                        // Falco reports compile errors at the start of the check.
                        let mut d = Diagnostic::error(code::COMPILE_CONDITION, p.message)
                            .with_span(src.span(&self.lines, p.at, p.len))
                            .falco(src.falco_mark)
                            .expr(src.falco_expr(c.at))
                            .item(it::RULE_CONDITION, rule);
                        if let Some(h) = p.hint {
                            d = d.hint(h);
                        }
                        return Err(Box::new(d));
                    }
                }
            }
        })
    }

    /// The id of macro `name`, lowering it first if needed. The macros it uses are lowered before it
    /// (post-order, with an explicit stack so that long macro chains cannot exhaust the stack), so
    /// a macro's dependencies always have smaller ids. `rule_mark` is the using rule's condition
    /// mark, where Falco reports problems found inside macros.
    fn macro_id(
        &mut self,
        name: &str,
        rule: &str,
        rule_mark: (u32, u32),
    ) -> Result<MacroId, Box<Diagnostic>> {
        let mut stack: Vec<(String, bool)> = vec![(name.to_string(), false)];
        let mut entered: HashSet<String> = HashSet::new();
        while let Some((m, deps_done)) = stack.pop() {
            if self.macro_ids.contains_key(&m) {
                continue;
            }
            let Some(pm) = self.macros.get(&m) else {
                continue;
            };
            if !deps_done {
                if !entered.insert(m.clone()) {
                    continue; // a cycle (rejected earlier by resolution); never loop
                }
                let mut refs = Vec::new();
                macro_refs(&pm.ast, &mut refs);
                stack.push((m, true));
                for (r, _) in refs.into_iter().rev() {
                    if !self.macro_ids.contains_key(r) {
                        stack.push((r.to_string(), false));
                    }
                }
                continue;
            }
            let ast = pm.ast.clone();
            // Falco reports problems inside a macro against the using rule's condition.
            let src = CondSrc {
                falco_mark: rule_mark,
                ..pm.src.clone()
            };
            let span = self.col.macro_info(&m).map_or(Span::default(), |i| i.span);
            let cond = self.lower(&ast, &src, rule)?;
            let id = self.ir_macros.len() as MacroId;
            self.ir_macros.push(ir::Macro {
                name: m.clone(),
                cond,
                span,
            });
            self.macro_ids.insert(m, id);
        }
        self.macro_ids.get(name).copied().ok_or_else(|| {
            Box::new(Diagnostic::error(
                code::VALIDATE,
                format!("Undefined macro '{name}' used in filter."),
            ))
        })
    }
}
