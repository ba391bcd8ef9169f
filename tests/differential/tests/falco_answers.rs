//! The compiled engine, the one users run, held against Falco's recorded answers directly (not only
//! through the interpreter): the micro cases' alerts (every rule-file list compiled by `build.rs`), the
//! falco-reference corpus in both `rule_matching` modes (alert for alert, byte for byte minus
//! `hostname`), and the conformance cases whose rule set is compiled here. The checks are the very
//! functions the interpreter's suites use (`tests/common`), with the compiled engine plugged in.
//!
//! Ignored without the conformance data (`cfg(kaudit_no_conformance)`); under `CI=true` the build fails.

#[cfg(not(kaudit_no_conformance))]
#[path = "../../common/mod.rs"]
mod common;

#[cfg(not(kaudit_no_conformance))]
use {
    common::{
        check_falco_reference, check_micro_alert_cases, manifest_cases, run_engine, strings, Run,
    },
    kaudit_difftest::{events_of, matches},
    kaudit_engine::engine::{Engine, Plan, RuleMatching},
    kaudit_engine::event::Event,
    kaudit_engine::settings::Settings,
    serde_json::Value,
    std::collections::BTreeMap,
    std::io::{BufRead, BufReader},
    std::path::{Path, PathBuf},
};

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn micro_alert_cases_on_the_compiled_engine() {
    #[cfg(not(kaudit_no_conformance))]
    micro_alert_cases();
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn falco_reference_first_on_the_compiled_engine() {
    #[cfg(not(kaudit_no_conformance))]
    falco_reference("first");
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn falco_reference_all_on_the_compiled_engine() {
    #[cfg(not(kaudit_no_conformance))]
    falco_reference("all");
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn conformance_cases_pass_on_the_compiled_engine() {
    #[cfg(not(kaudit_no_conformance))]
    conformance_cases();
}

/// The falco-reference corpus through the compiled `reference` rule set with `rule_matching: <mode>`.
#[cfg(not(kaudit_no_conformance))]
fn falco_reference(mode: &str) {
    let conf = kaudit_testkit::conformance_dir();
    check_falco_reference(&conf, mode, &kaudit_difftest::reference::ENGINE);
}

/// Every micro alerts case through the compiled engine of its rule-file list. A list `build.rs` did not
/// compile cannot happen (it compiles every list of an alerts case); it would fail the case.
#[cfg(not(kaudit_no_conformance))]
fn micro_alert_cases() {
    let micro = kaudit_testkit::conformance_dir().join("micro");
    let sets = kaudit_difftest::micro::sets();
    let run = |rules: &[PathBuf], events: &Path, settings: &Settings| -> Run {
        let compiled = sets.iter().find(|(files, _)| {
            files.len() == rules.len() && files.iter().zip(rules).all(|(f, r)| micro.join(f) == *r)
        });
        match compiled {
            Some((_, engine)) => run_engine(*engine, events, settings),
            None => Run {
                exit_code: 1,
                stdout: String::new(),
                stderr: format!("no compiled rule set for {rules:?}"),
            },
        }
    };
    check_micro_alert_cases(&micro, &run);
}

#[cfg(not(kaudit_no_conformance))]
/// The conformance cases (`cases.yaml`) whose rule files are one of the upstream sets compiled here.
fn conformance_cases() {
    let dir = kaudit_testkit::conformance_dir();
    let cases = manifest_cases(&dir.join("cases.yaml"));
    assert!(!cases.is_empty(), "no cases in cases.yaml");

    let sets: [(&'static dyn Engine, &[&str]); 2] = [
        (
            &kaudit_difftest::current::ENGINE,
            kaudit_difftest::current::RULE_FILES,
        ),
        (
            &kaudit_difftest::legacy::ENGINE,
            kaudit_difftest::legacy::RULE_FILES,
        ),
    ];
    let mut ran = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let rules: Vec<PathBuf> = case["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|r| dir.join(r))
            .collect();
        let Some((engine, _)) = sets.iter().find(|(_, files)| {
            files.len() == rules.len()
                && files
                    .iter()
                    .zip(&rules)
                    .all(|(f, r)| Path::new(f).ends_with(r.strip_prefix(&dir).unwrap_or(r)))
        }) else {
            continue;
        };
        let events_path = dir.join(case["events"].as_str().unwrap_or(""));
        let file = std::fs::File::open(&events_path)
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", events_path.display()));
        let plan = Plan::new(
            engine.rules(),
            RuleMatching::First,
            kaudit_frontend::ir::Priority::Debug,
        );
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut priorities: Vec<String> = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.unwrap_or_default();
            for bytes in events_of(line.as_bytes()) {
                let Ok(ev) = Event::parse(&bytes) else {
                    continue;
                };
                for r in matches(*engine, &ev, &plan) {
                    if let Some(meta) = engine.rules().get(r) {
                        *counts.entry(meta.name.clone()).or_default() += 1;
                        priorities.push(meta.priority.name().to_ascii_uppercase());
                    }
                }
            }
        }
        let expect = &case["expect"];
        let total: u64 = counts.values().sum();
        if let Some(detect) = expect["detect"].as_bool() {
            assert_eq!(total > 0, detect, "{name}: detect (alerts: {counts:?})");
        }
        let norm = |p: &str| match p.to_ascii_uppercase().as_str() {
            "INFO" => "INFORMATIONAL".to_string(),
            other => other.to_string(),
        };
        for p in strings(&expect["priorities_seen"]) {
            assert!(
                priorities.iter().any(|q| *q == norm(&p)),
                "{name}: priority {p} not seen ({priorities:?})"
            );
        }
        for p in strings(&expect["priorities_absent"]) {
            assert!(
                !priorities.iter().any(|q| *q == norm(&p)),
                "{name}: priority {p} seen"
            );
        }
        if let Some(expected) = expect["counts"].as_object() {
            for (rule, n) in expected {
                let got = counts.get(rule).copied().unwrap_or(0);
                assert_eq!(Some(got), n.as_u64(), "{name}: count of {rule:?}");
            }
        }
        ran += 1;
    }
    assert!(ran >= 80, "only {ran} cases use a compiled rule set");
    eprintln!("{ran} conformance cases pass on the compiled engine");
}
