//! The differential test bed: the same rule files compiled to native code (`compile_rules!`) and loaded
//! into the interpreter, so tests can compare the two engines event by event, and so the compiled
//! engine itself can be held against Falco's recorded answers.
//!
//! Rule sets (chosen by `build.rs`): `bundled` (always; it exercises every construct the generator
//! handles) and, when the conformance data is present, the upstream sets `current`, `legacy` and
//! `reference` and one set per rule-file list of the micro cases (`micro`). Without the data those are
//! absent (`cfg(kaudit_no_conformance)`), never replaced by something weaker.

#![forbid(unsafe_code)]

pub mod gen;

use kaudit_engine::engine::{Engine, Plan, RuleMatching};
use kaudit_engine::event::Event;
use kaudit_engine::ingest::split_events;
use kaudit_engine::interp::Interpreter;
use kaudit_frontend::ir::Ruleset;
use std::path::PathBuf;

pub mod bundled {
    //! `rules/bundled.yaml`.
    kaudit_macros::compile_rules!("rules/bundled.yaml");
}

pub mod nul_case {
    //! `rules/nul_case.yaml`: the case of docs/semantics.md ("String values and NUL").
    kaudit_macros::compile_rules!("rules/nul_case.yaml");
}

#[cfg(not(kaudit_no_conformance))]
mod conformance_sets {
    include!(concat!(env!("OUT_DIR"), "/conformance_sets.rs"));
}

#[cfg(not(kaudit_no_conformance))]
pub use conformance_sets::{current, legacy, micro, reference};

/// One rule set in both forms.
pub struct Pair {
    pub name: &'static str,
    pub compiled: &'static dyn Engine,
    pub ruleset: Ruleset,
    pub interp: Interpreter,
    /// The interpreter without the dispatch both engines share: every rule of a plan evaluated, so a
    /// wrong dispatch plan cannot hide behind both engines agreeing.
    pub plain: Interpreter,
}

/// The conformance folder the build looked at.
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("KAUDIT_DIFF_CONFORMANCE_DIR"))
}

type Sources = &'static [(&'static str, &'static str)];

/// A compiled rule set and the interpreter loaded from the very texts that were compiled; panics (test
/// set-up) when the rule set does not load.
pub fn pair(name: &'static str, compiled: &'static dyn Engine, sources: Sources) -> Pair {
    let res = kaudit_frontend::load::load_sources(sources);
    let ruleset = match res.ruleset {
        Some(r) => r,
        None => panic!(
            "rule set {name} does not load at test time:\n{}",
            res.render()
        ),
    };
    let interpreter = || match Interpreter::new(&ruleset) {
        Ok(i) => i,
        Err(e) => panic!("rule set {name}: interpreter: {e}"),
    };
    let (interp, plain) = (interpreter(), interpreter().without_dispatch());
    Pair {
        name,
        compiled,
        ruleset,
        interp,
        plain,
    }
}

/// The bundled rule set, compiled and interpreted.
pub fn bundled_pair() -> Pair {
    pair("bundled", &bundled::ENGINE, bundled::RULE_SOURCES)
}

/// The upstream rule sets (`current`, `legacy`), compiled and interpreted.
#[cfg(not(kaudit_no_conformance))]
pub fn upstream_pairs() -> Vec<Pair> {
    vec![
        pair("current", &current::ENGINE, current::RULE_SOURCES),
        pair("legacy", &legacy::ENGINE, legacy::RULE_SOURCES),
    ]
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

/// Compares both engines of `pair` on one event under every plan, and each with the plain interpreter;
/// `Err` describes the first difference.
pub fn compare(pair: &Pair, plans: &[Plan], ev: &Event<'_>) -> Result<usize, String> {
    let mut alerts = 0;
    for plan in plans {
        let a = matches(pair.compiled, ev, plan);
        let b = matches(&pair.interp, ev, plan);
        let plain = matches(&pair.plain, ev, plan);
        if b != plain {
            return Err(format!(
                "rule set {}: {:?} plan: the interpreter's dispatch changed the result: {b:?} != {plain:?} without it",
                pair.name, plan.matching
            ));
        }
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

/// Every event of a JSON Lines document (Event, EventList or array per line); unusable lines are skipped.
pub fn events_of(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Ok(evs) = split_events(line) {
            out.extend(evs.into_iter().map(<[u8]>::to_vec));
        }
    }
    out
}
