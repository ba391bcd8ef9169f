//! Every alerts case of the Falco-verified micro manifest (`conformance/micro/cases.yaml`) through the
//! interpreter, in-process. Expected alerts are a real Falco's JSON output; they are compared as
//! multisets of whole alerts minus `hostname`, with the text time prefix in UTC. `kaudit_expect`
//! (deliberate kaudit differences) replaces the matching `expect` keys; `rule_matching` and
//! `config_overrides` become `-o`-style settings.

mod common;

use common::{
    alert_multiset, conformance_dir, manifest_cases, multiset_diff, read_jsonl, run, strings,
};
use kaudit_runtime::settings::Settings;
use serde_json::Value;

/// Cases where kaudit knowingly differs from Falco and the manifest has no `kaudit_expect` for it yet:
/// (case, reason). They still run and their difference is printed; the test fails if one starts to pass,
/// so this list cannot go stale.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "miss_nonstring_text",
    "Falco's json plugin caches the parsed event, and reading a string through jevt.value unescapes it in \
     place, so a later jevt.value of the enclosing object re-quotes that string (\\u00e9 -> é); kaudit \
     keeps the original escapes, independent of access order",
)];

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
fn micro_alert_cases() {
    common::force_utc();
    let Some(conf) = conformance_dir() else {
        return;
    };
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
    let mut known = Vec::new();
    for case in &alert_cases {
        let name = case["name"].as_str().unwrap_or("?");
        let known_reason = KNOWN_DIFFERENCES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| *r);
        match (check_case(&micro, case), known_reason) {
            (Ok(()), None) => {}
            (Err(e), None) => failures.push(format!("FAIL {name}: {e}")),
            (Err(e), Some(reason)) => {
                known.push(format!("known difference {name} ({reason}): {e}"))
            }
            (Ok(()), Some(_)) => failures.push(format!(
                "FAIL {name}: passes now; remove it from KNOWN_DIFFERENCES"
            )),
        }
    }
    let passed = alert_cases.len() - failures.len() - known.len();
    let summary = format!(
        "micro: {passed}/{} alert cases pass, {} known differences",
        alert_cases.len(),
        known.len()
    );
    eprintln!("{}\n{}\n{summary}", known.join("\n"), failures.join("\n"));
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
}
