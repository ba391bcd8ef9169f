//! The differential test bed: the same rule files compiled to native code (`compile_rules!`) and loaded
//! into the interpreter, so tests can compare the two engines event by event.
//!
//! Rule sets (chosen by `build.rs`): the two upstream rule sets the conformance cases use most
//! (`current`, `legacy`) and a bundled one that exercises every construct the generator handles.

#![forbid(unsafe_code)]

pub mod gen;

use kaudit_engine::engine::{Engine, Plan, RuleMatching};
use kaudit_engine::event::Event;
use kaudit_engine::interp::Interpreter;
use kaudit_frontend::ir::Ruleset;
use std::path::PathBuf;

pub mod current {
    //! `falco_rules` (testing variant) + `k8s_audit_rules` 0.18.0, or the bundled set without conformance data.
    kaudit_macros::compile_rules!(from_env = "KAUDIT_DIFF_CURRENT_RULES");
}

pub mod legacy {
    //! `falco_rules` 1.0.1 + `k8s_audit_rules` 0.6.0, or the bundled set without conformance data.
    kaudit_macros::compile_rules!(from_env = "KAUDIT_DIFF_LEGACY_RULES");
}

pub mod bundled {
    //! `rules/bundled.yaml`.
    kaudit_macros::compile_rules!("rules/bundled.yaml");
}

/// One rule set in both forms.
pub struct Pair {
    pub name: &'static str,
    pub compiled: &'static dyn Engine,
    pub ruleset: Ruleset,
    pub interp: Interpreter,
}

/// Whether the conformance data was found at build time.
pub fn have_conformance() -> bool {
    env!("KAUDIT_DIFF_HAVE_CONFORMANCE") == "1"
}

/// The conformance folder the build looked at.
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("KAUDIT_DIFF_CONFORMANCE_DIR"))
}

/// Every rule set, compiled and interpreted (the interpreter loads the very texts that were compiled);
/// panics (test set-up) when a rule set does not load.
pub fn pairs() -> Vec<Pair> {
    type Sources = &'static [(&'static str, &'static str)];
    let sets: [(&str, &'static dyn Engine, Sources); 3] = [
        ("current", &current::ENGINE, current::RULE_SOURCES),
        ("legacy", &legacy::ENGINE, legacy::RULE_SOURCES),
        ("bundled", &bundled::ENGINE, bundled::RULE_SOURCES),
    ];
    sets.into_iter()
        .map(|(name, compiled, sources)| {
            let res = kaudit_frontend::load::load_sources(sources);
            let ruleset = match res.ruleset {
                Some(r) => r,
                None => panic!(
                    "rule set {name} does not load at test time:\n{}",
                    res.render()
                ),
            };
            let interp = match Interpreter::new(&ruleset) {
                Ok(i) => i,
                Err(e) => panic!("rule set {name}: interpreter: {e}"),
            };
            Pair {
                name,
                compiled,
                ruleset,
                interp,
            }
        })
        .collect()
}

/// The plans a comparison runs: both matching modes over the default order, over the reversed order, and
/// over every `k8s_audit` rule including the disabled ones (as `rules:` selections can enable them); the
/// last plan is that one with `all` matching.
pub fn plans(engine: &dyn Engine) -> Vec<Plan> {
    let rules = engine.rules();
    let mut out = Vec::new();
    for matching in [RuleMatching::First, RuleMatching::All] {
        let default = Plan::new(rules, matching, kaudit_frontend::ir::Priority::Debug);
        let mut reversed = default.clone();
        reversed.order.reverse();
        let every: Vec<usize> = (0..rules.len())
            .filter(|&i| rules[i].source == "k8s_audit")
            .collect();
        out.push(default);
        out.push(reversed);
        out.push(Plan {
            order: every,
            matching,
        });
    }
    out
}

/// The rule indices `engine` reports for `ev` under `plan`.
pub fn matches(engine: &dyn Engine, ev: &Event<'_>, plan: &Plan) -> Vec<usize> {
    let mut hits = Vec::new();
    engine.eval(ev, plan, &mut |i| hits.push(i));
    hits
}

/// Compares both engines of `pair` on one event under every plan; `Err` describes the first difference.
pub fn compare(pair: &Pair, plans: &[Plan], ev: &Event<'_>) -> Result<usize, String> {
    let mut alerts = 0;
    for plan in plans {
        let a = matches(pair.compiled, ev, plan);
        let b = matches(&pair.interp, ev, plan);
        if a != b {
            let names = |v: &[usize]| -> Vec<String> {
                v.iter()
                    .map(|&i| {
                        pair.interp
                            .rules()
                            .get(i)
                            .map_or("?".into(), |r| r.name.clone())
                    })
                    .collect()
            };
            return Err(format!(
                "rule set {}: {:?} plan: compiled {:?} {:?} != interpreted {:?} {:?}",
                pair.name,
                plan.matching,
                a,
                names(&a),
                b,
                names(&b)
            ));
        }
        alerts += a.len();
    }
    Ok(alerts)
}
