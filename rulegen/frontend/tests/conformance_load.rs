//! Every combination of rule files used by the conformance manifest loads without error, and every
//! micro validate case gives Falco's (or kaudit's documented) ok/error outcome and error code.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use kaudit_frontend::load::load_files;

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn every_conformance_rule_combination_loads() {
    let dir = kaudit_testkit::conformance_dir();
    let cases = common::manifest(&dir.join("cases.yaml"));
    let mut combos: Vec<Vec<String>> = Vec::new();
    for case in cases.get("cases").and_then(|c| c.as_seq()).expect("cases") {
        let rules = common::str_list(case.get("rules"));
        if !combos.contains(&rules) {
            combos.push(rules);
        }
    }
    assert!(
        combos.len() > 5,
        "found only {} rule combinations",
        combos.len()
    );
    let mut failures = Vec::new();
    for combo in &combos {
        let paths: Vec<_> = combo.iter().map(|r| dir.join(r)).collect();
        let res = load_files(&paths);
        if !res.is_ok() {
            failures.push(format!("{combo:?}:\n{}", res.render()));
            continue;
        }
        let rs = res.ruleset.as_ref().expect("ruleset");
        assert!(
            rs.active_rules().count() > 0,
            "{combo:?} has no active k8s_audit rule"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} combinations failed:\n{}",
        failures.len(),
        combos.len(),
        failures.join("\n")
    );
}

/// One micro validate case's expectation (kaudit_expect keys replace expect's).
struct Expect {
    ok: bool,
    fatal: bool,
    file: Option<String>,
    code: Option<String>,
    message: Option<String>,
    item_type: Option<String>,
    pos: Option<(u32, u32)>,
    expr_pos: Option<(u32, u32)>,
    warnings: Vec<ExpectedWarning>,
    /// kaudit_expect's free-text `warning` (the deliberate list-field leniency).
    kaudit_warning: bool,
}

struct ExpectedWarning {
    code: String,
    message: String,
    item_type: String,
    pos: Option<(u32, u32)>,
    expr_pos: Option<(u32, u32)>,
}

fn scalar(n: &kaudit_frontend::yaml::Node, k: &str) -> Option<String> {
    n.get(k).and_then(|v| v.as_scalar()).map(str::to_string)
}

fn num(n: &kaudit_frontend::yaml::Node, k: &str) -> Option<u32> {
    scalar(n, k).and_then(|s| s.parse().ok())
}

fn expectation(case: &kaudit_frontend::yaml::Node) -> Option<Expect> {
    let v = case.get("expect")?.get("validate")?;
    let kv = case.get("kaudit_expect").and_then(|k| k.get("validate"));
    let pick = |k: &str| {
        kv.and_then(|x| scalar(x, k))
            .or_else(|| if kv.is_some() { None } else { scalar(v, k) })
    };
    let ok = pick("ok").or_else(|| scalar(v, "ok")).as_deref() == Some("true");
    let src = kv.unwrap_or(v);
    Some(Expect {
        ok,
        fatal: scalar(src, "fatal").as_deref() == Some("true"),
        file: pick("file"),
        code: pick("error_code"),
        message: pick("message_contains"),
        item_type: pick("item_type"),
        pos: num(src, "line0").zip(num(src, "column0")),
        expr_pos: src
            .get("expr_position")
            .and_then(|p| num(p, "line").zip(num(p, "column"))),
        kaudit_warning: kv.is_some_and(|k| k.get("warning").is_some()),
        warnings: src
            .get("warnings")
            .and_then(|w| w.as_seq())
            .map(|w| {
                w.iter()
                    .map(|x| ExpectedWarning {
                        code: scalar(x, "code").unwrap_or_default(),
                        message: scalar(x, "message_contains").unwrap_or_default(),
                        item_type: scalar(x, "item_type").unwrap_or_default(),
                        pos: num(x, "line0").zip(num(x, "column0")),
                        expr_pos: x
                            .get("expr_position")
                            .and_then(|p| num(p, "line").zip(num(p, "column"))),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn micro_validate_cases_match_falco() {
    let dir = kaudit_testkit::conformance_dir();
    let micro = dir.join("micro");
    let cases = common::manifest(&micro.join("cases.yaml"));
    let mut checked = 0;
    let mut problems = Vec::new();
    for case in cases.get("cases").and_then(|c| c.as_seq()).expect("cases") {
        let Some(exp) = expectation(case) else {
            continue;
        };
        let name = scalar(case, "name").unwrap_or_default();
        let rules = common::str_list(case.get("rules"));
        let paths: Vec<_> = rules.iter().map(|r| micro.join(r)).collect();
        let res = load_files(&paths);
        checked += 1;
        if res.is_ok() != exp.ok {
            problems.push(format!(
                "{name}: expected ok={} got ok={}\n{}",
                exp.ok,
                res.is_ok(),
                res.render()
            ));
            continue;
        }
        if exp.kaudit_warning
            && !res
                .warnings()
                .any(|w| w.code == "LOAD_DEPRECATED_ITEM" && w.message.contains("list field"))
        {
            problems.push(format!(
                "{name}: missing the list-field deprecation warning\n{}",
                res.render()
            ));
        }
        for w in &exp.warnings {
            let found = res.warnings().any(|d| {
                d.code == w.code
                    && d.message.contains(w.message.as_str())
                    && d.item_type == w.item_type
                    && d.falco_pos == w.pos
                    && (w.expr_pos.is_none() || d.expr_pos == w.expr_pos)
            });
            if !found {
                problems.push(format!(
                    "{name}: missing warning {} {:?} at {} {:?} {:?}; got {:?}",
                    w.code,
                    w.message,
                    w.item_type,
                    w.pos,
                    w.expr_pos,
                    res.warnings()
                        .map(|d| (d.code, d.item_type, d.falco_pos, d.expr_pos))
                        .collect::<Vec<_>>()
                ));
            }
        }
        if exp.ok {
            continue;
        }
        let Some(err) = res.errors().next() else {
            continue;
        };
        if exp.fatal {
            if let Some(m) = &exp.message {
                if !err.message.contains(m.as_str()) {
                    problems.push(format!(
                        "{name}: fatal message {:?} lacks {m:?}",
                        err.message
                    ));
                }
            }
            continue;
        }
        let file = err.span.and_then(|s| rules.get(s.file as usize)).cloned();
        let want = (exp.file.clone(), exp.code.clone(), exp.message.clone());
        let got_ok = file == want.0
            && Some(err.code.to_string()) == want.1
            // yaml-cpp's own syntax-error wording is not reproduced (the position is).
            && (err.code == "LOAD_ERR_YAML_PARSE" || want.2.as_ref().is_none_or(|m| err.message.contains(m.as_str())));
        if !got_ok {
            problems.push(format!(
                "{name}: expected {want:?}, got ({file:?}, {}, {:?})",
                err.code, err.message
            ));
        }
        if exp.item_type.as_deref().is_some_and(|t| t != err.item_type)
            || exp.pos.is_some_and(|p| Some(p) != err.falco_pos)
            || exp.expr_pos != err.expr_pos
        {
            problems.push(format!(
                "{name}: location expected {:?} {:?} {:?}, got {:?} {:?} {:?}",
                exp.item_type, exp.pos, exp.expr_pos, err.item_type, err.falco_pos, err.expr_pos
            ));
        }
    }
    assert!(checked >= 40, "only {checked} validate cases found");
    assert!(
        problems.is_empty(),
        "{} problem(s) in {checked} cases:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
