//! The bundled rule set (`rules/k8s_audit_rules.yaml`, kaudit's own text) must alert exactly like upstream's
//! `k8s_audit_rules.yaml` (k8saudit 0.18.0): same rule, priority, tags, output text (time prefix included)
//! and output fields, in the same order, for every event of the conformance data, under
//! `rule_matching: first` and `all`. Also checked with the bundled file swapped into every Falco regression
//! case that loads the upstream file together with other rule files (overrides, appends, exceptions).

mod common;

use common::{canonical, load_interpreter, manifest_cases, strings};
use kaudit_engine::alert::{AlertFormat, LocalZone};
use kaudit_engine::engine::Engine;
use kaudit_engine::ingest;
use kaudit_engine::interp::Interpreter;
use kaudit_engine::settings::Settings;
use kaudit_service::replay::open_input;
use serde_json::Value;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Upstream's file, relative to the conformance folder.
const UPSTREAM: &str = "rules/current/k8s_audit_rules.k8saudit-0.18.0.yaml";

/// Files (or cases) with differences shown in a failure message, and differing events shown per file.
const SHOWN: usize = 4;
const SHOWN_EVENTS: usize = 2;

fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/k8s_audit_rules.yaml")
}

fn settings(mode: &str) -> Settings {
    let mut s = Settings {
        json_output: true,
        ..Settings::default()
    };
    s.apply_override(&format!("rule_matching={mode}"))
        .expect("valid rule_matching override");
    s
}

/// The alerts of one event: where it came from and its alert objects (canonical JSON, no `hostname`).
#[derive(Debug, PartialEq, Eq)]
struct EventAlerts {
    origin: String,
    alerts: Vec<String>,
}

/// Replays `events` through `engine` as `kaudit replay` does (event numbers and the first event time
/// per input), grouping the JSON alerts by event.
fn alerts_per_event(engine: &dyn Engine, events: &Path, settings: &Settings) -> Vec<EventAlerts> {
    let plan = settings.plan(engine.rules());
    let mut format = AlertFormat::new(settings);
    format.hostname = "test".into();
    format.zone = LocalZone::Utc;
    let name = events.display().to_string();
    let input = open_input(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (mut num, mut first_time) = (1u64, None);
    let mut out = Vec::new();
    let mut matches = Vec::new();
    let mut buf = Vec::new();
    for (i, line) in input.reader.split(b'\n').enumerate() {
        let line = line.unwrap_or_else(|e| panic!("{name}: {e}"));
        let Ok(split) = ingest::split_document(&line, ingest::DEFAULT_MAX_EVENT_SIZE) else {
            continue; // not audit data: skipped alike whatever the rules
        };
        for (k, mut ev) in split.events.into_iter().enumerate() {
            let Some(time_ns) = ev.time_ns() else {
                continue;
            };
            ev.set_num(num);
            num += 1;
            ev.set_first_time_ns(*first_time.get_or_insert(time_ns));
            matches.clear();
            engine.eval(&ev, &plan, &mut |r| matches.push(r));
            buf.clear();
            for &r in &matches {
                format.format_event(&mut buf, &engine.rules()[r], &ev);
            }
            let alerts = String::from_utf8_lossy(&buf)
                .lines()
                .map(|l| {
                    let mut v: Value = serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("alert is not JSON ({e}): {l}"));
                    if let Value::Object(o) = &mut v {
                        o.remove("hostname");
                    }
                    canonical(&v)
                })
                .collect();
            out.push(EventAlerts {
                origin: format!("{name}:{} event {}", i + 1, k + 1),
                alerts,
            });
        }
    }
    out
}

/// A readable account of where two per-event alert sequences differ (empty when equal).
fn diff(bundled: &[EventAlerts], upstream: &[EventAlerts]) -> String {
    if bundled.len() != upstream.len() {
        return format!(
            "different event counts: bundled {} / upstream {}\n",
            bundled.len(),
            upstream.len()
        );
    }
    let differing: Vec<(&EventAlerts, &EventAlerts)> = bundled
        .iter()
        .zip(upstream)
        .filter(|(b, u)| b != u)
        .collect();
    let mut text = String::new();
    for (b, u) in differing.iter().take(SHOWN_EVENTS) {
        text.push_str(&format!("  {}:\n", b.origin));
        for a in u.alerts.iter().filter(|a| !b.alerts.contains(a)) {
            text.push_str(&format!("    - upstream: {a}\n"));
        }
        for a in b.alerts.iter().filter(|a| !u.alerts.contains(a)) {
            text.push_str(&format!("    + bundled:  {a}\n"));
        }
        if b.alerts.len() == u.alerts.len() && b.alerts.iter().all(|a| u.alerts.contains(a)) {
            text.push_str(&format!(
                "    same alerts, different order: upstream {:?} / bundled {:?}\n",
                u.alerts, b.alerts
            ));
        }
    }
    if differing.len() > SHOWN_EVENTS {
        text.push_str(&format!(
            "  ... and {} more events\n",
            differing.len() - SHOWN_EVENTS
        ));
    }
    if !differing.is_empty() {
        text.insert_str(
            0,
            &format!("{} of {} events differ:\n", differing.len(), bundled.len()),
        );
    }
    text
}

/// Every events file of the conformance folder, in a stable order.
fn event_files(conf: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["events", "micro/events"] {
        let rd = std::fs::read_dir(conf.join(dir))
            .unwrap_or_else(|e| panic!("{}: {e}", conf.join(dir).display()));
        let mut these: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        these.sort();
        files.extend(these);
    }
    files.push(conf.join("falco-reference/corpus-20k.jsonl.gz"));
    files
}

fn check_all_events(mode: &str) {
    common::force_utc();
    let conf = kaudit_testkit::conformance_dir();
    let ours = load_interpreter(&[bundled()])
        .unwrap_or_else(|e| panic!("bundled rules do not load:\n{e}"));
    let theirs = load_interpreter(&[conf.join(UPSTREAM)])
        .unwrap_or_else(|e| panic!("upstream rules do not load:\n{e}"));
    let settings = settings(mode);
    let (mut events, mut alerts, mut failures) = (0, 0, Vec::new());
    for file in event_files(&conf) {
        let b = alerts_per_event(&ours, &file, &settings);
        let u = alerts_per_event(&theirs, &file, &settings);
        events += u.len();
        alerts += u.iter().map(|e| e.alerts.len()).sum::<usize>();
        let d = diff(&b, &u);
        if !d.is_empty() {
            failures.push(format!("{}: {d}", file.display()));
        }
    }
    eprintln!(
        "bundled vs upstream, rule_matching={mode}: {events} events, {alerts} upstream alerts"
    );
    assert!(events > 20_000, "too few events replayed: {events}");
    assert!(
        alerts > 1_000,
        "too few alerts to be a real check: {alerts}"
    );
    assert!(
        failures.is_empty(),
        "rule_matching={mode}: the bundled rules alert differently from upstream's in {} files\n{}",
        failures.len(),
        failures
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn bundled_rules_match_upstream_first() {
    check_all_events("first");
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn bundled_rules_match_upstream_all() {
    check_all_events("all");
}

/// Both rule lists of a case: as the manifest has it, and with the bundled file in upstream's place.
fn case_rule_lists(conf: &Path, case: &Value) -> Option<(Vec<PathBuf>, Vec<PathBuf>)> {
    let files = strings(&case["rules"]);
    if !files.iter().any(|f| f == UPSTREAM) {
        return None;
    }
    let upstream = files.iter().map(|f| conf.join(f)).collect();
    let swapped = files
        .iter()
        .map(|f| {
            if f == UPSTREAM {
                bundled()
            } else {
                conf.join(f)
            }
        })
        .collect();
    Some((upstream, swapped))
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn bundled_rules_match_upstream_in_regression_cases() {
    common::force_utc();
    let conf = kaudit_testkit::conformance_dir();
    let cases = manifest_cases(&conf.join("cases.yaml"));
    // Loading is the slow part and many cases share their rule files.
    let mut engines: HashMap<Vec<PathBuf>, Result<Interpreter, String>> = HashMap::new();
    let (mut checked, mut failures) = (0, Vec::new());
    for case in &cases {
        let Some((upstream, swapped)) = case_rule_lists(&conf, case) else {
            continue;
        };
        let name = case["name"].as_str().unwrap_or("?");
        let events = conf.join(case["events"].as_str().unwrap_or_default());
        for list in [&upstream, &swapped] {
            engines
                .entry(list.clone())
                .or_insert_with(|| load_interpreter(list));
        }
        checked += 1;
        match (&engines[&swapped], &engines[&upstream]) {
            (Ok(ours), Ok(theirs)) => {
                for mode in ["first", "all"] {
                    let s = settings(mode);
                    let d = diff(
                        &alerts_per_event(ours, &events, &s),
                        &alerts_per_event(theirs, &events, &s),
                    );
                    if !d.is_empty() {
                        failures.push(format!("{name} (rule_matching={mode}): {d}"));
                    }
                }
            }
            (Err(_), Err(_)) => {} // both fail to load: the case expects a load error
            (ours, theirs) => failures.push(format!(
                "{name}: loads differently: bundled {}, upstream {}",
                ours.as_ref().map_or_else(|e| e.as_str(), |_| "ok"),
                theirs.as_ref().map_or_else(|e| e.as_str(), |_| "ok"),
            )),
        }
    }
    eprintln!("bundled vs upstream: {checked} regression cases checked");
    assert!(
        checked >= 60,
        "expected the current suite's cases, found {checked}"
    );
    assert!(
        failures.is_empty(),
        "{} cases differ with the bundled rules:\n{}",
        failures.len(),
        failures
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
