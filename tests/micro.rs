//! Every alerts case of the Falco-verified micro manifest (`conformance/micro/cases.yaml`) through the
//! interpreter, in-process. Expected alerts are a real Falco's JSON output; they are compared as
//! multisets of whole alerts minus `hostname`, with the text time prefix in UTC. `kaudit_expect`
//! (kaudit's decided differences, agreed in the manifest) replaces the matching `expect` keys; there
//! is no list of tolerated differences here: every case must pass; `rule_matching` and
//! `config_overrides` become `-o`-style settings.

mod common;

use common::{check_micro_alert_cases, run};

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn micro_alert_cases() {
    let conf = kaudit_testkit::conformance_dir();
    check_micro_alert_cases(&conf.join("micro"), &run);
}
