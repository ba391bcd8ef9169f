//! `kaudit lint` finds nothing to complain about in the bundled rules and in every rule-file set of the
//! Falco conformance cases (the warnings it does give there are listed and explained below), and it
//! does find planted mistakes, through the CLI, with file:line:col.

mod common;

use common::{manifest_cases, strings};
use kaudit_frontend::lint::lint;
use kaudit_frontend::load::load_files;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn kaudit(args: &[&str]) -> (i32, String) {
    let (code, out, _) = common::kaudit_in(None, args);
    (code, out)
}

#[test]
fn the_bundled_rules_lint_clean() {
    let (code, out) = kaudit(&["lint"]);
    assert_eq!((code, out.as_str()), (0, "kaudit lint: 0 warnings\n"));
}

/// Warnings expected on the conformance rule files: (case rule file, warning code, rule) with the reason.
const EXPLAINED: &[(&str, &str, &str, &str)] = &[
    // An old engine-v4 test file loaded after upstream's k8s_audit_rules.yaml repeats two activity
    // rules under new names with the very same conditions; upstream's come first, so under `first`
    // these copies can never alert. True positives.
    (
        "rules/current/test/engine_v4_k8s_audit_rules.yaml",
        "LINT_SHADOWED_RULE",
        "K8s Role/Clusterrolebinding Created",
        "same condition as upstream's earlier K8s ClusterRoleBinding Created",
    ),
    (
        "rules/current/test/engine_v4_k8s_audit_rules.yaml",
        "LINT_SHADOWED_RULE",
        "K8s Role/Clusterrolebinding Deleted",
        "same condition as upstream's earlier K8s ClusterRoleBinding Deleted",
    ),
];

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn the_conformance_rule_files_lint_clean_or_explained() {
    let conf = kaudit_testkit::conformance_dir();
    let mut seen = BTreeSet::new();
    let mut unexplained = Vec::new();
    let mut sets = 0;
    for case in manifest_cases(&conf.join("cases.yaml")) {
        let rules: Vec<String> = strings(&case["rules"]);
        if !seen.insert(rules.clone()) {
            continue;
        }
        let paths: Vec<PathBuf> = rules.iter().map(|r| conf.join(r)).collect();
        let res = load_files(&paths);
        let Some(rs) = &res.ruleset else { continue };
        sets += 1;
        for d in lint(rs) {
            let explained = EXPLAINED.iter().any(|(file, code, rule, _)| {
                rules.iter().any(|r| r.ends_with(file)) && d.code == *code && d.item_name == *rule
            });
            if !explained {
                unexplained.push(format!("{rules:?}:\n{}", res.render_one(&d)));
            }
        }
    }
    assert!(sets >= 20, "only {sets} rule sets linted");
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
}

#[test]
fn planted_mistakes_are_found_with_their_location() {
    let dir = std::env::temp_dir().join(format!("kaudit-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("r.yaml");
    let rule = |n: &str, c: &str| {
        format!("- rule: {n}\n  desc: d\n  condition: {c}\n  output: o\n  priority: WARNING\n  source: k8s_audit\n")
    };
    let text = [
        rule("Deletes", "ka.verb=delete and ka.target.resource=pods"),
        rule(
            "Pod deletes by alice",
            "ka.target.resource=pods and ka.verb=delete and ka.user.name=alice",
        ),
        rule("Never", "ka.verb=create and ka.verb=delete"),
        rule("Typo", "ka.verb=creat"),
    ]
    .concat();
    std::fs::write(&f, text).unwrap();
    let (code, out) = kaudit(&["lint", "-r", &f.display().to_string()]);
    assert_eq!(code, 1, "{out}");
    let name = f.display().to_string();
    for want in [
        "warning[LINT_SHADOWED_RULE]: rule `Pod deletes by alice` never alerts under rule_matching: first: rule `Deletes` comes earlier",
        &format!("--> {name}:7:3"),
        "warning[LINT_ALWAYS_FALSE]: the condition of rule `Never` is always false",
        "warning[LINT_IMPOSSIBLE_VALUE]: `creat` is not an audit verb",
        "= help: did you mean `create`?",
        &format!("--> {name}:21:14"),
        "kaudit lint: 3 warnings",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_corpus_checks_find_shadowing_and_missing_output_fields() {
    let dir = std::env::temp_dir().join(format!("kaudit-lint-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("r.yaml");
    std::fs::write(
        &rules,
        "- rule: Creates\n  desc: d\n  condition: ka.verb=create\n  output: created %ka.target.name by %ka.user.name\n  priority: WARNING\n  source: k8s_audit\n\
         - rule: Alice\n  desc: d\n  condition: ka.user.name=alice\n  output: alice\n  priority: WARNING\n  source: k8s_audit\n",
    )
    .unwrap();
    // Alice only ever creates, so `Creates` always alerts first; no event names its target object.
    let ev = |user: &str| {
        format!(
            r#"{{"kind":"Event","auditID":"a","stage":"ResponseComplete","verb":"create","user":{{"username":"{user}"}},"objectRef":{{"resource":"pods"}},"stageTimestamp":"2024-01-02T03:04:05Z"}}"#
        )
    };
    let corpus = dir.join("events.jsonl");
    std::fs::write(&corpus, [ev("alice"), ev("bob"), ev("alice")].join("\n")).unwrap();
    let (code, out) = kaudit(&[
        "lint",
        "-r",
        &rules.display().to_string(),
        "--corpus",
        &corpus.display().to_string(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("warning[LINT_SHADOWED_ON_CORPUS]: rule `Alice` matched 2 event(s) of the corpus but never first"), "{out}");
    assert!(out.contains("warning[LINT_OUTPUT_FIELD_MISSING]: output field `%ka.target.name` of rule `Creates` is missing (<NA>) in 3 of the 3 corpus events"), "{out}");
    assert!(!out.contains("`%ka.user.name`"), "{out}");
    assert!(out.contains("kaudit lint: 2 warnings"), "{out}");
    // Without the corpus, nothing can be proven statically here.
    let (code, out) = kaudit(&["lint", "-r", &rules.display().to_string()]);
    assert_eq!((code, out.as_str()), (0, "kaudit lint: 0 warnings\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
