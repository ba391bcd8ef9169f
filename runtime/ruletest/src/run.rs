//! Runs the tests of a file on a rule base and checks their expectations.
//!
//! A test without extra rules runs on the base engine (the compiled-in one for `kaudit test` and
//! `cargo test`); a test with `rules`/`rules_text` runs on the interpreter over the base rule files plus
//! its extras, because compiled rules cannot change at run time. Events go through the same ingest
//! path as `replay` (event numbers count from 1 per test; the first event's time anchors relative times).

use crate::spec::{self, AlertExpect, At, TestCase, TestFile};
use kaudit_engine::alert::object::write_output_fields;
use kaudit_engine::alert::text::write_message;
use kaudit_engine::coverage::{Coverage, CoverageEngine};
use kaudit_engine::engine::{Engine, RuleMatching, RuleMeta};
use kaudit_engine::event::Event;
use kaudit_engine::ingest;
use kaudit_engine::interp::value::eval_value;
use kaudit_engine::interp::Interpreter;
use kaudit_engine::settings::Settings;
use kaudit_engine::value::Values;
use kaudit_frontend::ir::{Priority, ValueExpr};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// The rules tests run against: an engine plus the rule files it was built from (the base that tests
/// with extra rules extend).
pub struct RuleBase {
    /// Says which engine this is in reports ("compiled-in rules", "interpreted: a.yaml").
    pub label: String,
    engine: Arc<dyn Engine>,
    sources: Vec<(String, String)>,
}

impl RuleBase {
    /// An engine and the sources it was built from (for the compiled engine: its embedded files).
    pub fn new(
        label: impl Into<String>,
        engine: Arc<dyn Engine>,
        sources: Vec<(String, String)>,
    ) -> RuleBase {
        RuleBase {
            label: label.into(),
            engine,
            sources,
        }
    }

    /// Rule files loaded and interpreted; `Err` holds the rendered diagnostics.
    pub fn interpreted(
        label: impl Into<String>,
        sources: Vec<(String, String)>,
    ) -> Result<RuleBase, String> {
        let engine = interpret(&sources)?;
        Ok(RuleBase::new(label, engine, sources))
    }

    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The engine for a test: the base one, or the interpreter over base + extra rules.
    fn engine_for(&self, t: &TestCase) -> Result<Arc<dyn Engine>, String> {
        if !t.settings.has_extra_rules() {
            return Ok(self.engine.clone());
        }
        interpret(&self.sources_for(t)?)
    }

    /// The base rule files (name, text).
    pub fn sources_for_base(&self) -> Vec<(String, String)> {
        self.sources.clone()
    }

    /// The rule files a test runs on: the base files plus its `rules` and `rules_text`.
    pub fn sources_for(&self, t: &TestCase) -> Result<Vec<(String, String)>, String> {
        let mut sources = self.sources.clone();
        for r in &t.settings.rules {
            let text = std::fs::read_to_string(&r.value)
                .map_err(|e| format!("line {}: {}: {e}", r.line, r.value.display()))?;
            sources.push((r.value.display().to_string(), text));
        }
        for (i, r) in t.settings.rules_text.iter().enumerate() {
            sources.push((
                format!("{} rules_text#{} (line {})", t.name, i + 1, r.line),
                r.value.clone(),
            ));
        }
        Ok(sources)
    }
}

pub fn interpret(sources: &[(String, String)]) -> Result<Arc<dyn Engine>, String> {
    let res = kaudit_frontend::load::load_sources(sources);
    let Some(ruleset) = &res.ruleset else {
        return Err(format!("rules failed to load:\n{}", res.render()));
    };
    let interp = Interpreter::new(ruleset).map_err(|e| e.to_string())?;
    Ok(Arc::new(interp))
}

/// One alert a test produced.
#[derive(Debug, Clone, PartialEq)]
pub struct GotAlert {
    pub rule: String,
    pub priority: Priority,
    /// The rendered output (no time, no priority).
    pub output: String,
    /// Falco's `output_fields` object.
    pub fields: Value,
    /// The event it came from (`file:line`).
    pub event: String,
}

/// A failed expectation: where it is written and what differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub line: u32,
    pub message: String,
    pub expected: Option<String>,
    pub got: Option<String>,
}

impl Failure {
    fn new(line: u32, message: impl Into<String>) -> Failure {
        Failure {
            line,
            message: message.into(),
            expected: None,
            got: None,
        }
    }
    fn diff(mut self, expected: impl Into<String>, got: impl Into<String>) -> Failure {
        self.expected = Some(expected.into());
        self.got = Some(got.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub name: String,
    pub line: u32,
    pub failures: Vec<Failure>,
    pub alerts: Vec<GotAlert>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The outcome of one test file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileResult {
    pub path: String,
    /// The file could not be read or parsed (then `tests` is empty).
    pub error: Option<Failure>,
    pub tests: Vec<TestResult>,
    pub coverage: Coverage,
}

/// Loads and runs one test file.
pub fn run_file(base: &RuleBase, path: &Path) -> FileResult {
    match spec::load(path) {
        Ok(file) => run_tests(base, &file),
        Err(e) => FileResult {
            path: path.display().to_string(),
            error: Some(Failure::new(e.line, e.message)),
            tests: Vec::new(),
            coverage: Coverage::default(),
        },
    }
}

/// Runs parsed tests.
pub fn run_tests(base: &RuleBase, file: &TestFile) -> FileResult {
    let mut coverage = Coverage::default();
    let tests = file
        .tests
        .iter()
        .map(|t| run_test(base, t, &mut coverage))
        .collect();
    FileResult {
        path: file.path.clone(),
        error: None,
        tests,
        coverage,
    }
}

fn run_test(base: &RuleBase, t: &TestCase, coverage: &mut Coverage) -> TestResult {
    match base.engine_for(t) {
        Ok(engine) => run_with_engine(engine.as_ref(), t, coverage),
        Err(e) => TestResult {
            name: t.name.clone(),
            line: t.line,
            failures: vec![Failure::new(t.line, e)],
            alerts: Vec::new(),
        },
    }
}

/// Runs one test on a given engine (which must hold the test's extra rules, if any).
pub fn run_with_engine(engine: &dyn Engine, t: &TestCase, coverage: &mut Coverage) -> TestResult {
    let mut result = TestResult {
        name: t.name.clone(),
        line: t.line,
        failures: Vec::new(),
        alerts: Vec::new(),
    };
    let mut settings = Settings::default();
    if let Some(m) = &t.settings.rule_matching {
        settings.rule_matching = m.value;
    }
    for o in &t.settings.options {
        if let Err(e) = settings.apply_override(&o.value) {
            result.failures.push(Failure::new(o.line, e.to_string()));
        }
    }
    if !result.failures.is_empty() {
        return result;
    }
    let counting = CoverageEngine::new(engine);
    let plan = settings.plan(engine.rules());
    let (mut num, mut first_time) = (1u64, None);
    for e in &t.events {
        let split = match ingest::split_document(e.json.as_bytes(), ingest::DEFAULT_MAX_EVENT_SIZE)
        {
            Ok(s) => s,
            Err(err) => {
                result
                    .failures
                    .push(Failure::new(t.line, format!("event {}: {err}", e.origin)));
                continue;
            }
        };
        for d in &split.dropped {
            result.failures.push(Failure::new(
                t.line,
                format!("event {} was not evaluated: {d}", e.origin),
            ));
        }
        for mut ev in split.events {
            let Some(time) = ev.time_ns() else { continue };
            ev.set_num(num);
            num += 1;
            ev.set_first_time_ns(*first_time.get_or_insert(time));
            let mut matched = Vec::new();
            counting.eval(&ev, &plan, &mut |i| matched.push(i));
            for i in matched {
                let Some(rule) = engine.rules().get(i) else {
                    continue;
                };
                let (output, fields) = render(&ev, rule, time);
                result.alerts.push(GotAlert {
                    rule: rule.name.clone(),
                    priority: rule.priority,
                    output,
                    fields,
                    event: e.origin.clone(),
                });
            }
        }
    }
    coverage.merge(&counting.coverage(&plan));
    let names: Vec<&str> = engine.rules().iter().map(|r| r.name.as_str()).collect();
    check(t, &names, settings.rule_matching, &mut result);
    result
}

/// The rendered output and the `output_fields` object of `rule` for `ev`, as alerts carry them.
fn render<'e>(ev: &'e Event<'e>, rule: &RuleMeta, time: u64) -> (String, Value) {
    let mut scratch = Values::new();
    let mut values = |expr: &ValueExpr, vals: &mut Values<'e>| eval_value(ev, expr, vals);
    let mut output = Vec::new();
    write_message(&mut output, &rule.output, &mut values, &mut scratch);
    let mut fields = Vec::new();
    write_output_fields(
        &mut fields,
        &rule.output.fields,
        false,
        time,
        &mut values,
        &mut scratch,
    );
    (
        String::from_utf8_lossy(&output).into_owned(),
        serde_json::from_slice(&fields).unwrap_or(Value::Null),
    )
}

/// `3 × Rule A, 1 × Rule B` (or `no alerts`), in first-alert order.
pub fn alert_summary(alerts: &[GotAlert]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for a in alerts {
        match counts.iter_mut().find(|(n, _)| *n == a.rule) {
            Some((_, c)) => *c += 1,
            None => counts.push((&a.rule, 1)),
        }
    }
    if counts.is_empty() {
        return "no alerts".into();
    }
    counts
        .iter()
        .map(|(n, c)| format!("{c} × {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_rule(name: &str, known: &[&str], line: u32) -> Option<Failure> {
    if known.contains(&name) {
        return None;
    }
    let close = known
        .iter()
        .map(|k| {
            (
                kaudit_frontend::typeck::edit_distance(&name.to_lowercase(), &k.to_lowercase()),
                *k,
            )
        })
        .filter(|(d, _)| *d <= 3)
        .min();
    let hint = close.map_or(String::new(), |(_, k)| format!(" (did you mean `{k}`?)"));
    Some(Failure::new(
        line,
        format!("no rule named `{name}` is loaded{hint}"),
    ))
}

fn check(t: &TestCase, known: &[&str], matching: RuleMatching, r: &mut TestResult) {
    let got = alert_summary(&r.alerts);
    let mode = match matching {
        RuleMatching::First => "first",
        RuleMatching::All => "all",
    };
    for a in &t.expect.alerts {
        if let Some(f) = unknown_rule(&a.rule, known, a.line) {
            r.failures.push(f);
            continue;
        }
        let mine: Vec<&GotAlert> = r.alerts.iter().filter(|g| g.rule == a.rule).collect();
        let count_ok = match &a.count {
            Some(c) => mine.len() as u64 == c.value,
            None => !mine.is_empty(),
        };
        if !count_ok {
            let want = a
                .count
                .as_ref()
                .map_or("at least 1".to_string(), |c| c.value.to_string());
            let line = a.count.as_ref().map_or(a.line, |c| c.line);
            r.failures.push(
                Failure::new(
                    line,
                    format!(
                        "rule `{}` alerted {} time(s), expected {want} (rule_matching: {mode})",
                        a.rule,
                        mine.len()
                    ),
                )
                .diff(format!("{want} × {}", a.rule), got.clone()),
            );
        }
        let found: Vec<Failure> = mine.iter().flat_map(|g| check_alert(a, g)).collect();
        r.failures.extend(found);
    }
    for n in &t.expect.no_alerts {
        if let Some(f) = unknown_rule(&n.value, known, n.line) {
            r.failures.push(f);
            continue;
        }
        let hits: Vec<&GotAlert> = r.alerts.iter().filter(|g| g.rule == n.value).collect();
        if let Some(first) = hits.first() {
            r.failures.push(
                Failure::new(
                    n.line,
                    format!(
                        "rule `{}` alerted but must not (first on event {})",
                        n.value, first.event
                    ),
                )
                .diff(format!("no alert from `{}`", n.value), got.clone()),
            );
        }
    }
    if let Some(At { line, value: true }) = &t.expect.only {
        let extra: Vec<&GotAlert> = r
            .alerts
            .iter()
            .filter(|g| !t.expect.alerts.iter().any(|a| a.rule == g.rule))
            .collect();
        if !extra.is_empty() {
            let wanted: Vec<&str> = t.expect.alerts.iter().map(|a| a.rule.as_str()).collect();
            let want = if wanted.is_empty() {
                "no alerts".to_string()
            } else {
                format!("only {}", wanted.join(", "))
            };
            r.failures.push(
                Failure::new(
                    *line,
                    format!(
                        "other rules alerted: {}",
                        alert_summary(&extra.into_iter().cloned().collect::<Vec<_>>())
                    ),
                )
                .diff(want, got.clone()),
            );
        }
    }
}

fn check_alert(a: &AlertExpect, g: &GotAlert) -> Vec<Failure> {
    let mut failures = Vec::new();
    if let Some(p) = &a.priority {
        match Priority::parse(&p.value) {
            None => failures.push(Failure::new(
                p.line,
                format!("`{}` is not a priority", p.value),
            )),
            Some(want) if want != g.priority => failures.push(
                Failure::new(
                    p.line,
                    format!("rule `{}` alerted with another priority", a.rule),
                )
                .diff(want.name(), g.priority.name()),
            ),
            Some(_) => {}
        }
    }
    if let Some(o) = &a.output {
        if o.value != g.output {
            failures.push(
                Failure::new(
                    o.line,
                    format!("output of `{}` differs (event {})", a.rule, g.event),
                )
                .diff(o.value.clone(), g.output.clone()),
            );
        }
    }
    for c in &a.output_contains {
        if !g.output.contains(&c.value) {
            failures.push(
                Failure::new(
                    c.line,
                    format!(
                        "output of `{}` does not contain the text (event {})",
                        a.rule, g.event
                    ),
                )
                .diff(format!("… {} …", c.value), g.output.clone()),
            );
        }
    }
    for f in &a.fields {
        let (key, want) = &f.value;
        let have = g.fields.get(key);
        // A scalar expected value also matches its string rendering (YAML `code: 201` vs "201").
        let same = have.is_some_and(|h| {
            h == want || (h.as_str().is_some() && h.as_str() == scalar_text(want).as_deref())
        });
        if !same {
            let have_text = have.map_or("(no such output field)".to_string(), Value::to_string);
            failures.push(
                Failure::new(
                    f.line,
                    format!(
                        "output field `{key}` of `{}` differs (event {})",
                        a.rule, g.event
                    ),
                )
                .diff(want.to_string(), have_text),
            );
        }
    }
    failures
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("<NA>".into()),
        _ => None,
    }
}
