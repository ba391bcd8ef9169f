//! Shared helpers of the conformance tests: reading YAML manifests, running rule files + events through
//! the interpreter (or any engine, e.g. a compiled one) in-process, comparing alerts with Falco's, and
//! the micro and falco-reference checks themselves. Also used by `tests/differential`, which runs the
//! same checks on the compiled engine.
#![allow(dead_code)] // each test binary uses a different subset

pub mod process;

use kaudit_engine::alert::{AlertFormat, LocalZone};
use kaudit_engine::engine::Engine;
use kaudit_engine::interp::Interpreter;
use kaudit_engine::settings::Settings;
use kaudit_service::replay::{open_input, Replayer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Makes the process's local zone UTC, as the Falco runs that produced the expectations used. Event-time
/// fields (`%evt.time`, `%evt.datetime`, ...) render in the process zone; call this first in every test,
/// before anything formats a time.
pub fn force_utc() {
    if std::env::var("TZ").as_deref() != Ok("UTC") {
        std::env::set_var("TZ", "UTC");
    }
}

/// The `cases` list of a conformance manifest (`cases.yaml`).
pub fn manifest_cases(path: &Path) -> Vec<Value> {
    match read_yaml(path).get_mut("cases").map(Value::take) {
        Some(Value::Array(cases)) => cases,
        _ => panic!("{}: no cases list", path.display()),
    }
}

/// Parses a YAML document into JSON values (mappings with string keys; scalars typed as YAML 1.2 does).
pub fn read_yaml(path: &Path) -> Value {
    use saphyr::{LoadableYamlNode, Yaml};
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs = Yaml::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    fn conv(y: &Yaml<'_>) -> Value {
        if let Some(m) = y.as_mapping() {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k.as_str() {
                    Some(s) => s.to_string(),
                    None => conv(k).to_string(),
                };
                out.insert(key, conv(v));
            }
            return Value::Object(out);
        }
        if let Some(seq) = y.as_sequence() {
            return Value::Array(seq.iter().map(conv).collect());
        }
        if let Some(s) = y.as_str() {
            return Value::String(s.to_string());
        }
        if let Some(b) = y.as_bool() {
            return Value::Bool(b);
        }
        if let Some(i) = y.as_integer() {
            return Value::from(i);
        }
        if let Some(f) = y.as_floating_point() {
            return Value::from(f);
        }
        if let Some(inner) = y.get_tagged_node() {
            return conv(inner);
        }
        Value::Null
    }
    docs.first().map(conv).unwrap_or(Value::Null)
}

/// The result of one in-process run, shaped like a `kaudit replay` process.
#[derive(Debug)]
pub struct Run {
    pub exit_code: i32,
    /// Alert lines written to "stdout".
    pub stdout: String,
    /// Load diagnostics, reader messages and the summary ("stderr").
    pub stderr: String,
}

impl Run {
    /// Every stdout line parsed as JSON (panics on a non-JSON line: json_output runs only).
    pub fn alerts(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
            })
            .collect()
    }
}

/// Loads `rules` in order and builds the interpreter; `Err` carries the rendered diagnostics.
pub fn load_interpreter(rules: &[PathBuf]) -> Result<Interpreter, String> {
    let res = kaudit_frontend::load::load_files(rules);
    let msgs = res.render();
    let Some(ruleset) = res.ruleset else {
        return Err(msgs);
    };
    Interpreter::new(&ruleset).map_err(|e| format!("{msgs}{e}\n"))
}

/// Runs `events` through `rules` with `settings`, in-process, as `kaudit replay` would (local zone UTC,
/// host name "test"). Rule load errors give exit code 1.
pub fn run(rules: &[PathBuf], events: &Path, settings: &Settings) -> Run {
    let engine = match load_interpreter(rules) {
        Ok(e) => e,
        Err(stderr) => {
            return Run {
                exit_code: 1,
                stdout: String::new(),
                stderr,
            }
        }
    };
    run_engine(&engine, events, settings)
}

/// Like `run`, with an engine already built.
pub fn run_engine(engine: &dyn Engine, events: &Path, settings: &Settings) -> Run {
    let plan = settings.plan(engine.rules());
    let mut format = AlertFormat::new(settings);
    format.hostname = "test".into();
    format.zone = LocalZone::Utc;
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut replayer = Replayer::new(engine, &plan, &format);
    let exit_code = match open_input(&events.to_string_lossy()) {
        Ok(mut input) => match replayer.feed_input(&mut input, &mut out, &mut err) {
            Ok(()) => 0,
            Err(e) => {
                err.extend_from_slice(format!("{e}\n").as_bytes());
                1
            }
        },
        Err(e) => {
            err.extend_from_slice(format!("{e}\n").as_bytes());
            1
        }
    };
    let stats = replayer.finish();
    let _ = kaudit_service::replay::write_summary(&stats, &mut err);
    Run {
        exit_code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// Canonical text of a JSON value: object keys sorted at every level, compact.
pub fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String((*k).clone()),
                        canonical(&m[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// Alerts as a multiset of canonical texts, without `hostname`.
pub fn alert_multiset(alerts: &[Value]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for a in alerts {
        let mut a = a.clone();
        if let Value::Object(o) = &mut a {
            o.remove("hostname");
        }
        *m.entry(canonical(&a)).or_insert(0) += 1;
    }
    m
}

/// Readable difference of two alert multisets (empty when equal): up to `max` entries per side.
pub fn multiset_diff(
    got: &BTreeMap<String, i64>,
    want: &BTreeMap<String, i64>,
    max: usize,
) -> String {
    let mut extra = Vec::new();
    let mut missing = Vec::new();
    for (k, &n) in got {
        let w = want.get(k).copied().unwrap_or(0);
        if n > w {
            extra.push(format!("  +{} {k}", n - w));
        }
    }
    for (k, &n) in want {
        let g = got.get(k).copied().unwrap_or(0);
        if n > g {
            missing.push(format!("  -{} {k}", n - g));
        }
    }
    if extra.is_empty() && missing.is_empty() {
        return String::new();
    }
    let (ne, nm) = (extra.len(), missing.len());
    extra.truncate(max);
    missing.truncate(max);
    format!(
        "kaudit-only ({ne} distinct):\n{}\nfalco-only ({nm} distinct):\n{}\n",
        extra.join("\n"),
        missing.join("\n")
    )
}

/// Reads a JSON Lines file (plain or gzip) into values.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    use std::io::BufRead;
    let input =
        open_input(&path.to_string_lossy()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    input
        .reader
        .lines()
        .map(|l| l.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display()))
        })
        .collect()
}

/// String items of a JSON array (empty when absent).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the `kaudit` binary with `args` (in `dir` when given, local zone UTC) and returns its exit code,
/// stdout and stderr.
pub fn kaudit_in(dir: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    // `option_env!`: tests/differential includes this module too, and only this package builds the binary.
    let exe = option_env!("CARGO_BIN_EXE_kaudit").unwrap_or("kaudit");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args).env("TZ", "UTC");
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().expect("run kaudit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs one alerts case of the micro manifest with `run` (the interpreter's `run`, or a compiled engine)
/// and compares with Falco's alerts; `kaudit_expect` replaces the matching `expect` keys.
pub fn check_micro_case(
    micro: &Path,
    case: &Value,
    run: &dyn Fn(&[PathBuf], &Path, &Settings) -> Run,
) -> Result<(), String> {
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

/// Replays the falco-reference corpus through `engine` (built from
/// `rules/current/k8s_audit_rules.k8saudit-0.18.0.yaml`) with `rule_matching: <mode>`; every alert must
/// equal one of Falco's (multiset of whole alerts minus `hostname`).
pub fn check_falco_reference(conf: &Path, mode: &str, engine: &dyn Engine) {
    force_utc();
    let reference = conf.join("falco-reference");
    let mut settings = Settings {
        json_output: true,
        ..Settings::default()
    };
    settings
        .apply_override(&format!("rule_matching={mode}"))
        .expect("valid override");
    let r = run_engine(engine, &reference.join("corpus-20k.jsonl.gz"), &settings);
    assert_eq!(r.exit_code, 0, "{}", r.stderr);
    let got = alert_multiset(&r.alerts());
    let want = alert_multiset(&read_jsonl(
        &reference.join(format!("alerts-{mode}.jsonl.gz")),
    ));
    let (n_got, n_want) = (got.values().sum::<i64>(), want.values().sum::<i64>());
    let matched: i64 = got
        .iter()
        .map(|(k, n)| (*n).min(want.get(k).copied().unwrap_or(0)))
        .sum();
    eprintln!("falco-reference {mode}: {matched} of Falco's {n_want} alerts matched (kaudit wrote {n_got})");
    let diff = multiset_diff(&got, &want, 5);
    assert!(
        diff.is_empty(),
        "rule_matching={mode}: {matched}/{n_want} matched, kaudit {n_got}\n{diff}"
    );
}

/// Every alerts case of the micro manifest in `micro` through `run`; fails listing every failing case.
pub fn check_micro_alert_cases(micro: &Path, run: &dyn Fn(&[PathBuf], &Path, &Settings) -> Run) {
    force_utc();
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
        if let Err(e) = check_micro_case(micro, case, run) {
            failures.push(format!("FAIL {name}: {e}"));
        }
    }
    let passed = alert_cases.len() - failures.len();
    let summary = format!("micro: {passed}/{} alert cases pass", alert_cases.len());
    eprintln!("{}\n{summary}", failures.join("\n"));
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
}
