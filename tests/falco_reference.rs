//! Differential test against a real Falco: 20,000 generated audit events replayed with the k8saudit 0.18.0
//! rules under `rule_matching: first` and `all`; every alert must equal one of Falco's (multiset of
//! whole alerts minus `hostname`).

mod common;

use common::{check_falco_reference, load_interpreter};

fn check_mode(mode: &str) {
    let conf = kaudit_testkit::conformance_dir();
    let rules = [conf.join("rules/current/k8s_audit_rules.k8saudit-0.18.0.yaml")];
    let engine = load_interpreter(&rules).unwrap_or_else(|e| panic!("rules do not load:\n{e}"));
    check_falco_reference(&conf, mode, &engine);
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
