//! `kaudit explain` agrees with `replay`: on every conformance case (its rule files, its events) the
//! rules explain finds true are exactly the rules `replay -o rule_matching=all` alerts for, event by
//! event, and the first of them is `replay`'s alert under `first`. The compiled engine is checked the same
//! way on every conformance event. Snapshots pin the rendered trees for a few events.

mod common;

use common::{manifest_cases, strings};
use kaudit_engine::alert::{AlertFormat, LocalZone};
use kaudit_engine::engine::{Engine, RuleMatching};
use kaudit_engine::explain::{explain_event, Explainer};
use kaudit_engine::ingest;
use kaudit_engine::interp::Interpreter;
use kaudit_engine::settings::Settings;
use kaudit_frontend::load::load_files;
use kaudit_service::replay::Replayer;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Per line of `events`: the rule names replay alerts for (JSON alerts, `rule` member).
fn replay_per_line(engine: &dyn Engine, events: &Path, matching: RuleMatching) -> Vec<Vec<String>> {
    let settings = Settings {
        rule_matching: matching,
        json_output: true,
        ..Settings::default()
    };
    let plan = settings.plan(engine.rules());
    let mut format = AlertFormat::new(&settings);
    format.zone = LocalZone::Utc;
    let mut replayer = Replayer::new(engine, &plan, &format);
    let text = std::fs::read(events).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        let mut alerts = Vec::new();
        replayer
            .feed_line("e", i as u64 + 1, line, &mut alerts, &mut std::io::sink())
            .unwrap();
        let names = String::from_utf8(alerts)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["rule"].as_str().unwrap().to_string()
            })
            .collect();
        out.push(names);
    }
    out
}

/// Per line of `events`: the rule names explain finds true, in plan order (and whether the engine agreed).
fn explain_per_line(
    explainer: &Explainer,
    engine: &dyn Engine,
    events: &Path,
) -> Vec<(Vec<String>, bool)> {
    let plan = Settings::default().plan(engine.rules());
    let text = std::fs::read(events).unwrap();
    let (mut num, mut first) = (1, None);
    let mut out = Vec::new();
    for line in text.split(|b| *b == b'\n') {
        let (mut names, mut agrees) = (Vec::new(), true);
        if let Ok(split) = ingest::split_document(line, ingest::DEFAULT_MAX_EVENT_SIZE) {
            for mut ev in split.events {
                let Some(t) = ev.time_ns() else { continue };
                ev.set_num(num);
                num += 1;
                ev.set_first_time_ns(*first.get_or_insert(t));
                let x = explain_event(explainer, engine, &plan, &ev, &|_| false);
                agrees &= x.agrees();
                names.extend(x.matched.iter().map(|&i| engine.rules()[i].name.clone()));
            }
        }
        out.push((names, agrees));
    }
    out
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn explain_matches_replay_on_every_conformance_case() {
    let conf = kaudit_testkit::conformance_dir();
    let (mut cases_checked, mut events_checked, mut matches_seen) = (0, 0, 0);
    let mut engines: HashMap<Vec<PathBuf>, Option<(Interpreter, Explainer)>> = HashMap::new();
    for case in manifest_cases(&conf.join("cases.yaml")) {
        let rules: Vec<PathBuf> = strings(&case["rules"])
            .iter()
            .map(|r| conf.join(r))
            .collect();
        let events = conf.join(case["events"].as_str().unwrap());
        // Many cases share their rule files: load each set once.
        let loaded = engines.entry(rules.clone()).or_insert_with(|| {
            let res = load_files(&rules);
            let ruleset = res.ruleset.as_ref()?;
            Some((
                Interpreter::new(ruleset).unwrap(),
                Explainer::new(ruleset, &res.files).unwrap(),
            ))
        });
        let Some((interp, explainer)) = loaded else {
            continue; // cases whose rules must fail to load
        };
        let explained = explain_per_line(explainer, interp, &events);
        let all = replay_per_line(interp, &events, RuleMatching::All);
        let first = replay_per_line(interp, &events, RuleMatching::First);
        let name = case["name"].as_str().unwrap();
        for (line, ((names, agrees), (all, first))) in
            explained.iter().zip(all.iter().zip(&first)).enumerate()
        {
            assert!(
                agrees,
                "{name}: line {}: the interpreter disagrees with explain",
                line + 1
            );
            assert_eq!(
                names,
                all,
                "{name}: line {}: explain vs replay (all)",
                line + 1
            );
            assert_eq!(
                names.first(),
                first.first(),
                "{name}: line {}: first match vs replay (first)",
                line + 1
            );
            events_checked += 1;
            matches_seen += names.len();
        }
        cases_checked += 1;
    }
    // Guard against a vacuous pass: most cases load, and their events match rules.
    assert!(cases_checked >= 100, "{cases_checked} cases checked");
    assert!(
        events_checked >= 100 && matches_seen >= 100,
        "{events_checked} events, {matches_seen} matches"
    );
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn the_compiled_engine_agrees_with_explain_on_every_conformance_event() {
    let out = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["explain", "--rule", "Disallowed K8s User"])
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let conf = kaudit_testkit::conformance_dir();
            let mut stdin = child.stdin.take().unwrap();
            let mut files: Vec<PathBuf> = std::fs::read_dir(conf.join("events"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            files.sort();
            for f in files {
                stdin.write_all(&std::fs::read(f)?)?;
                stdin.write_all(b"\n")?;
            }
            drop(stdin);
            child.wait_with_output()
        })
        .expect("run kaudit explain");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let events = text.lines().filter(|l| l.starts_with("event ")).count();
    let agree = text
        .lines()
        .filter(|l| *l == "  compiled engine: agrees")
        .count();
    assert!(events >= 45, "{events} events explained");
    assert_eq!(agree, events, "{text}");
}

/// `kaudit explain` run in the conformance folder (so paths in the output are relative).
fn explain(args: &[&str]) -> String {
    let conf = kaudit_testkit::conformance_dir();
    let (code, out, err) = common::kaudit_in(Some(&conf), &[&["explain"], args].concat());
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn snapshot_privileged_pod() {
    insta::assert_snapshot!(explain(&[
        "--rule",
        "Create Privileged Pod",
        "events/create_nginx_pod_privileged.json"
    ]));
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn snapshot_anonymous_namespace_under_first() {
    insta::assert_snapshot!(explain(&[
        "--rule",
        "Anonymous Request Allowed",
        "--rule",
        "Create Disallowed Namespace",
        "events/anonymous_creates_namespace_foo.json"
    ]));
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn snapshot_configmap_credentials() {
    insta::assert_snapshot!(explain(&[
        "--rule",
        "Create/Modify Configmap With Private Credentials",
        "events/create_configmap_sensitive_values.json"
    ]));
}
