//! Every alerts case of the Falco-verified micro manifest (`conformance/micro/cases.yaml`) through the
//! interpreter, in-process. Expected alerts are a real Falco's JSON output; they are compared as
//! multisets of whole alerts minus `hostname`, with the text time prefix in UTC. `kaudit_expect`
//! (kaudit's decided differences, agreed in the manifest) replaces the matching `expect` keys; there
//! is no list of tolerated differences here: every case must pass; `rule_matching` and
//! `config_overrides` become `-o`-style settings.

mod common;

use common::{alert_multiset, manifest_cases, multiset_diff, read_jsonl, run, strings};
use kaudit_engine::settings::Settings;
use serde_json::Value;

fn check_case(micro: &std::path::Path, case: &Value) -> Result<(), String> {
    let mut exp = case["expect"].as_object().cloned().unwrap_or_default();
    let deliberate = case.get("kaudit_expect").and_then(Value::as_object);
    for (k, v) in deliberate.into_iter().flatten() {
        exp.insert(k.clone(), v.clone());
    }
    let rules: Vec<_> = strings(&case["rules"])
        .iter()
        .map(|r| micro.join(r))
        .collect();
    let events = micro.join(case["events"].as_str().ok_or("no events file")?);
    let mut settings = Settings {
        json_output: true,
        ..Settings::default()
    };
    if let Some(m) = case["rule_matching"].as_str() {
        settings
            .apply_override(&format!("rule_matching={m}"))
            .map_err(|e| e.to_string())?;
    }
    for o in strings(&case["config_overrides"]) {
        settings.apply_override(&o).map_err(|e| e.to_string())?;
    }
    let r = run(&rules, &events, &settings);
    let want_code = exp.get("exit_code").and_then(Value::as_i64).unwrap_or(0);
    let mut errs = Vec::new();
    if i64::from(r.exit_code) != want_code {
        errs.push(format!(
            "exit code {} (expected {want_code}); stderr: {}",
            r.exit_code, r.stderr
        ));
    }
    let want_file = micro.join(
        exp.get("alerts_file")
            .and_then(Value::as_str)
            .ok_or("no alerts_file")?,
    );
    let want = alert_multiset(&read_jsonl(&want_file));
    let got = alert_multiset(&r.alerts());
    let diff = multiset_diff(&got, &want, 3);
    if !diff.is_empty() {
        errs.push(format!(
            "{} alerts, Falco {}:\n{diff}",
            got.values().sum::<i64>(),
            want.values().sum::<i64>()
        ));
    }
    if deliberate.is_none() {
        for s in strings(exp.get("stderr_contains").unwrap_or(&Value::Null)) {
            if !r.stderr.contains(&s) {
                errs.push(format!("stderr lacks {s:?}"));
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n    "))
    }
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn micro_alert_cases() {
    common::force_utc();
    let conf = kaudit_testkit::conformance_dir();
    let micro = conf.join("micro");
    let cases = manifest_cases(&micro.join("cases.yaml"));
    let alert_cases: Vec<&Value> = cases
        .iter()
        .filter(|c| c["expect"].get("alerts_file").is_some())
        .collect();
    assert!(
        alert_cases.len() >= 100,
        "expected at least 100 alert cases, found {}",
        alert_cases.len()
    );
    let mut failures = Vec::new();
    for case in &alert_cases {
        let name = case["name"].as_str().unwrap_or("?");
        if let Err(e) = check_case(&micro, case) {
            failures.push(format!("FAIL {name}: {e}"));
        }
    }
    let passed = alert_cases.len() - failures.len();
    let summary = format!("micro: {passed}/{} alert cases pass", alert_cases.len());
    eprintln!("{}\n{summary}", failures.join("\n"));
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
}
