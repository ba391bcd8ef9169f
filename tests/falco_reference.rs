//! Differential test against a real Falco: 20,000 generated audit events replayed with the k8saudit 0.18.0
//! rules under `rule_matching: first` and `all`; every alert must equal one of Falco's (multiset of
//! whole alerts minus `hostname`).

mod common;

use common::{alert_multiset, load_interpreter, multiset_diff, read_jsonl, run_engine};
use kaudit_engine::settings::Settings;

fn check_mode(mode: &str) {
    common::force_utc();
    let conf = kaudit_testkit::conformance_dir();
    let reference = conf.join("falco-reference");
    let rules = [conf.join("rules/current/k8s_audit_rules.k8saudit-0.18.0.yaml")];
    let engine = load_interpreter(&rules).unwrap_or_else(|e| panic!("rules do not load:\n{e}"));
    let mut settings = Settings {
        json_output: true,
        ..Settings::default()
    };
    settings
        .apply_override(&format!("rule_matching={mode}"))
        .expect("valid override");
    let r = run_engine(&engine, &reference.join("corpus-20k.jsonl.gz"), &settings);
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

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn falco_reference_first() {
    check_mode("first");
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn falco_reference_all() {
    check_mode("all");
}
