//! The bundled rule tests (`rules/tests/*.yaml`) inside `cargo test`: they run on the compiled engine
//! built from the same rule files as the binary (`compile_rules!()` reads `KAUDIT_RULE_FILES`, set by
//! build.rs), so "edit rules, `cargo test`" checks the code that ships. Also: every bundled rule has a
//! test that fires it and a near miss that must not, and breaking a list or a rule makes tests fail
//! with a diff that points at the expectation.

mod common;

use kaudit_engine::engine::Engine;
use kaudit_ruletest::report::{self, Totals};
use kaudit_ruletest::run::{run_file, FileResult, RuleBase};
use kaudit_ruletest::spec;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod compiled {
    kaudit_macros::compile_rules!();
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/tests")
}

fn test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(tests_dir())
        .expect("rules/tests exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn builtin_sources() -> Vec<(String, String)> {
    compiled::RULE_SOURCES
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

fn run_all(base: &RuleBase) -> Vec<FileResult> {
    test_files().iter().map(|f| run_file(base, f)).collect()
}

#[test]
fn bundled_rule_tests_pass_on_the_compiled_engine() {
    let base = RuleBase::new(
        "the compiled engine",
        Arc::new(compiled::CompiledRules),
        builtin_sources(),
    );
    let results = run_all(&base);
    let totals = Totals::of(&results);
    assert!(totals.ok(), "{}", report::text(&results, &base.label));
    assert!(
        totals.passed >= 96,
        "only {} bundled rule tests",
        totals.passed
    );
}

#[test]
fn bundled_rule_tests_pass_on_the_interpreter_too() {
    let base =
        RuleBase::interpreted("the interpreter", builtin_sources()).expect("bundled rules load");
    let results = run_all(&base);
    assert!(
        Totals::of(&results).ok(),
        "{}",
        report::text(&results, &base.label)
    );
}

/// Every rule is named under `alerts` by some test and under `no_alerts` by another.
#[test]
fn every_bundled_rule_has_a_firing_test_and_a_near_miss() {
    let engine = compiled::CompiledRules;
    let (mut fired, mut missed) = (Vec::new(), Vec::new());
    for f in test_files() {
        let file =
            spec::load(&f).unwrap_or_else(|e| panic!("{}:{}: {}", f.display(), e.line, e.message));
        for t in &file.tests {
            fired.extend(t.expect.alerts.iter().map(|a| a.rule.clone()));
            missed.extend(t.expect.no_alerts.iter().map(|n| n.value.clone()));
        }
    }
    let names: Vec<&str> = engine.rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 48);
    let no_fire: Vec<&&str> = names
        .iter()
        .filter(|n| !fired.iter().any(|f| f == *n))
        .collect();
    let no_miss: Vec<&&str> = names
        .iter()
        .filter(|n| !missed.iter().any(|f| f == *n))
        .collect();
    assert!(
        no_fire.is_empty(),
        "rules no test expects to fire: {no_fire:?}"
    );
    assert!(
        no_miss.is_empty(),
        "rules without a near-miss test: {no_miss:?}"
    );
}

/// The bundled rule text with one edit (the edit must apply exactly once).
fn broken(from: &str, to: &str) -> RuleBase {
    let mut sources = builtin_sources();
    let text = &mut sources[0].1;
    assert_eq!(
        text.matches(from).count(),
        1,
        "edit target `{from}` not unique"
    );
    *text = text.replacen(from, to, 1);
    RuleBase::interpreted("broken rules", sources).expect("broken rules still load")
}

/// The failing tests' names and the rendered report.
fn failures(base: &RuleBase) -> (Vec<String>, String) {
    let results = run_all(base);
    let names = results
        .iter()
        .flat_map(|f| {
            f.tests
                .iter()
                .filter(|t| !t.passed())
                .map(|t| t.name.clone())
        })
        .collect();
    (names, report::text(&results, &base.label))
}

#[test]
fn dropping_an_item_from_a_list_fails_the_near_miss_with_a_diff() {
    let base = broken(
        "items: [kube-system, kube-public, default]",
        "items: [kube-system, default]",
    );
    let (failed, text) = failures(&base);
    assert_eq!(
        failed,
        ["near miss - re-creating an allowed namespace (kube-public)"],
        "{text}"
    );
    // The failure names the expectation's line, says what alerted, and shows expected vs got.
    let file = tests_dir().join("objects.yaml");
    let src = std::fs::read_to_string(&file).unwrap();
    let line = src
        .lines()
        .position(|l| l.contains("no_alerts: [Create Disallowed Namespace]"))
        .map(|i| i + 1)
        .unwrap();
    let want = format!(
        "{}:{line}: rule `Create Disallowed Namespace` alerted but must not",
        file.display()
    );
    assert!(text.contains(&want), "{text}");
    assert!(
        text.contains("expected: no alert from `Create Disallowed Namespace`"),
        "{text}"
    );
    assert!(
        text.contains("got: 1 × Create Disallowed Namespace, 1 × K8s Namespace Created"),
        "{text}"
    );
    assert!(text.contains("test result: FAILED. "), "{text}");
}

#[test]
fn weakening_a_rule_condition_fails_its_firing_tests() {
    // HostNetwork pods would no longer be caught.
    let base = broken(
        "and ka.req.pod.host_network intersects (true)\n",
        "and ka.req.pod.host_network intersects (yes)\n",
    );
    let (failed, text) = failures(&base);
    assert_eq!(
        failed,
        ["hostNetwork fires Create HostNetwork Pod"],
        "{text}"
    );
    assert!(
        text.contains("rule `Create HostNetwork Pod` alerted 0 time(s), expected at least 1"),
        "{text}"
    );
    assert!(
        text.contains("expected: at least 1 × Create HostNetwork Pod"),
        "{text}"
    );
    assert!(text.contains("got: no alerts"), "{text}");
}

fn kaudit(args: &[&str]) -> (i32, String, String) {
    common::kaudit_in(Some(Path::new(env!("CARGO_MANIFEST_DIR"))), args)
}

#[test]
fn cli_passes_on_the_bundled_tests_and_reports_coverage() {
    let (code, out, err) = kaudit(&["test", "--coverage"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("running rule tests on the compiled-in rules\n"),
        "{out}"
    );
    assert!(out.contains("test result: ok. "), "{out}");
    assert!(out.contains("(48 of 48 rules matched)"), "{out}");
    assert!(!out.contains("never fired"), "{out}");
}

#[test]
fn cli_fails_with_exit_1_and_a_diff_on_broken_rules_in_every_format() {
    let dir = std::env::temp_dir().join(format!("kaudit-rule-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("broken.yaml");
    let text = compiled::RULE_SOURCES[0].1.replacen(
        "items: [kube-system, kube-public, default]",
        "items: [kube-system, default]",
        1,
    );
    std::fs::write(&rules, text).unwrap();
    let r = rules.display().to_string();
    let (code, out, err) = kaudit(&["test", "-r", &r, "rules/tests"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("(interpreted)"), "{out}");
    assert!(out.contains("... FAILED"), "{out}");
    assert!(out.contains("rules/tests/objects.yaml:"), "{out}");
    assert!(
        out.contains("expected: no alert from `Create Disallowed Namespace`"),
        "{out}"
    );

    let (code, out, _) = kaudit(&["test", "-r", &r, "--format", "json", "rules/tests"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("--format json prints JSON");
    assert_eq!(v["ok"], false);
    assert_eq!(v["failed"], 1);
    let failing: Vec<&serde_json::Value> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["tests"].as_array().unwrap())
        .filter(|t| t["passed"] == false)
        .collect();
    assert_eq!(failing.len(), 1);
    assert_eq!(
        failing[0]["failures"][0]["expected"],
        "no alert from `Create Disallowed Namespace`"
    );

    let (code, out, _) = kaudit(&["test", "-r", &r, "--format", "junit", "rules/tests"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("<?xml"), "{out}");
    assert_eq!(out.matches("<failure ").count(), 1, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_malformed_test_file_is_reported_with_its_line() {
    let dir = std::env::temp_dir().join(format!("kaudit-rule-tests-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.yaml");
    std::fs::write(
        &f,
        "tests:\n  - name: x\n    events: [{kind: Event}]\n    expect:\n      no_alert: [A]\n",
    )
    .unwrap();
    let (code, out, _) = kaudit(&["test", &f.display().to_string()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad.yaml:5: unknown key `no_alert`"), "{out}");
    assert!(out.contains("1 file(s) failed to load"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
