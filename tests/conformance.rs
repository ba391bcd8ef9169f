//! Every case of the Falco regression manifest (`conformance/cases.yaml`, 132 cases) through the
//! interpreter, in-process: rule files loaded in order, `run_defaults` settings, events replayed, alerts
//! counted per rule and priority and compared with the upstream expectations.

mod common;

use common::{load_interpreter, manifest_cases, run_engine, strings, Run};
use kaudit_engine::interp::Interpreter;
use kaudit_engine::settings::Settings;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// Loaded rule sets by file list: many cases share theirs, and loading is the slow part.
type Engines = HashMap<Vec<PathBuf>, Result<Interpreter, String>>;

fn norm_priority(p: &str) -> String {
    let l = p.to_ascii_lowercase();
    if l == "info" {
        "informational".into()
    } else {
        l
    }
}

/// Checks one case; returns the list of problems (empty = pass).
fn check_case(conf: &std::path::Path, case: &Value, engines: &mut Engines) -> Vec<String> {
    let rules: Vec<_> = strings(&case["rules"])
        .iter()
        .map(|r| conf.join(r))
        .collect();
    let events = conf.join(case["events"].as_str().unwrap_or_default());
    let settings = Settings {
        json_output: true,
        ..Settings::default()
    };
    let r = match engines
        .entry(rules.clone())
        .or_insert_with(|| load_interpreter(&rules))
    {
        Ok(engine) => run_engine(engine, &events, &settings),
        Err(stderr) => Run {
            exit_code: 1,
            stdout: String::new(),
            stderr: stderr.clone(),
        },
    };
    let exp = &case["expect"];
    let mut errs = Vec::new();
    if let Some(code) = exp.get("exit_code").and_then(Value::as_i64) {
        if i64::from(r.exit_code) != code {
            errs.push(format!(
                "exit code {} (expected {code}); stderr: {}",
                r.exit_code,
                first_lines(&r.stderr, 8)
            ));
        }
    }
    if r.exit_code != 0 {
        return errs;
    }
    let alerts = r.alerts();
    let mut by_rule: BTreeMap<String, i64> = BTreeMap::new();
    let mut prios = std::collections::BTreeSet::new();
    for a in &alerts {
        *by_rule
            .entry(a["rule"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
        prios.insert(norm_priority(a["priority"].as_str().unwrap_or_default()));
    }
    match exp.get("detect").and_then(Value::as_bool) {
        Some(true) if alerts.is_empty() => errs.push("expected alerts, got none".into()),
        Some(false) if !alerts.is_empty() => {
            errs.push(format!("expected no alert, got {by_rule:?}"))
        }
        _ => {}
    }
    for p in strings(&exp["priorities_seen"]) {
        if !prios.contains(&norm_priority(&p)) {
            errs.push(format!("no alert with priority {p} (saw {prios:?})"));
        }
    }
    for p in strings(&exp["priorities_absent"]) {
        if prios.contains(&norm_priority(&p)) {
            errs.push(format!("an alert has priority {p}"));
        }
    }
    if let Some(counts) = exp.get("counts").and_then(Value::as_object) {
        for (rule, n) in counts {
            let got = by_rule.get(rule).copied().unwrap_or(0);
            if Some(got) != n.as_i64() {
                errs.push(format!("rule {rule:?}: {got} alerts, expected {n}"));
            }
        }
    }
    for rx in strings(&exp["stderr_contains"]) {
        match regex::Regex::new(&rx) {
            Ok(re) if re.is_match(&r.stderr) => {}
            Ok(_) => errs.push(format!(
                "stderr lacks /{rx}/; stderr: {}",
                first_lines(&r.stderr, 5)
            )),
            Err(e) => errs.push(format!("bad regex {rx:?} in manifest: {e}")),
        }
    }
    errs
}

fn first_lines(s: &str, n: usize) -> String {
    s.lines().take(n).collect::<Vec<_>>().join(" | ")
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn falco_regression_cases() {
    common::force_utc();
    let conf = kaudit_testkit::conformance_dir();
    let cases = manifest_cases(&conf.join("cases.yaml"));
    assert_eq!(cases.len(), 132, "the manifest should hold 132 cases");
    let mut engines = Engines::new();
    let mut failures = Vec::new();
    let mut per_suite: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let suite = case["suite"].as_str().unwrap_or("?").to_string();
        let errs = check_case(&conf, case, &mut engines);
        let entry = per_suite.entry(suite).or_default();
        entry.1 += 1;
        if errs.is_empty() {
            entry.0 += 1;
        } else {
            failures.push(format!("FAIL {name}:\n    {}", errs.join("\n    ")));
        }
    }
    let passed = cases.len() - failures.len();
    let suites: Vec<String> = per_suite
        .iter()
        .map(|(s, (p, n))| format!("{s} {p}/{n}"))
        .collect();
    let summary = format!(
        "conformance: {passed}/{} cases pass ({})",
        cases.len(),
        suites.join(", ")
    );
    eprintln!("{}\n{summary}", failures.join("\n"));
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
}
