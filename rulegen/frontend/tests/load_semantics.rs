//! What loading produces: order, overrides, appends, exceptions and list expansion in the final
//! condition text, macro ids, other-source rules, tags, outputs (docs/semantics.md#rule-files to #output-format).

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kaudit_frontend::ast::CmpOp;
use kaudit_frontend::ir::{Cond, OutputPart, Priority, Rhs, Rule, Ruleset};
use kaudit_frontend::load::load_sources;

fn load(files: &[&str]) -> Ruleset {
    let named: Vec<(String, &str)> = files
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("f{i}.yaml"), *t))
        .collect();
    let res = load_sources(&named);
    match res.ruleset {
        Some(rs) => rs,
        None => panic!("load failed:\n{}", res.render()),
    }
}

fn rule<'a>(rs: &'a Ruleset, name: &str) -> &'a Rule {
    rs.rules
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no rule {name}"))
}

fn k8s(name: &str, cond: &str) -> String {
    format!("- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o\n  priority: WARNING\n  source: k8s_audit\n")
}

#[test]
fn redefinition_keeps_first_position_and_replaces_everything() {
    let rs = load(&[
        &format!("{}{}", k8s("A", "ka.verb = get"), k8s("B", "ka.verb = create")),
        "- rule: A\n  desc: d2\n  condition: ka.verb = delete\n  output: o2\n  priority: ERROR\n  source: k8s_audit\n  enabled: false\n",
    ]);
    let names: Vec<_> = rs.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["A", "B"]);
    let a = rule(&rs, "A");
    assert_eq!(
        (a.condition_text.as_str(), a.priority, a.enabled),
        ("ka.verb = delete", Priority::Error, false)
    );
    assert_eq!(
        rs.active_rules()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["B"]
    );
}

#[test]
fn appends_and_overrides() {
    let base = format!(
        "{}  tags: [z, a, a]\n",
        k8s("R", "ka.verb = get or ka.verb = create")
    );
    let rs = load(&[
        &base,
        "- rule: R\n  condition: and ka.user.name = bob\n  output: ignored\n  append: true\n- rule: R\n  output: \"more\"\n  tags: [m]\n  priority: critical\n  override:\n    output: append\n    tags: append\n    priority: replace\n",
    ]);
    let r = rule(&rs, "R");
    assert_eq!(
        r.condition_text,
        "ka.verb = get or ka.verb = create and ka.user.name = bob"
    );
    assert_eq!(r.output.text, "o more");
    assert_eq!(r.tags, ["a", "m", "z"]);
    assert_eq!(r.priority, Priority::Critical);
    // Precedence follows the raw text: a or (b and c).
    assert!(matches!(r.cond.as_ref().expect("typed"), Cond::Or(v) if v.len() == 2));
    let rs = load(&[
        &base,
        "- rule: R\n  enabled: false\n  override:\n    enabled: replace\n",
    ]);
    assert!(!rule(&rs, "R").enabled);
    let rs = load(&[&base, "- rule: R\n  enabled: false\n"]);
    assert!(!rule(&rs, "R").enabled);
}

#[test]
fn exceptions_and_lists_build_falco_text() {
    let src = format!(
        "- list: verbs\n  items: [get, \"list all\"]\n- list: empty\n  items: []\n{}  exceptions:\n  - name: users\n    fields: ka.user.name\n    values: [alice, \"bob smith\"]\n  - name: pairs\n    fields: [ka.user.name, ka.verb]\n    comps: [startswith, in]\n    values:\n    - [\"system:\", verbs]\n",
        k8s("R", "ka.verb in (verbs, empty)")
    );
    let rs = load(&[&src]);
    let r = rule(&rs, "R");
    assert_eq!(
        r.condition_text,
        "(ka.verb in ( get, \"list all\"   )) and not (ka.user.name in (alice, \"bob smith\")) and not (( ka.user.name startswith system: and  ka.verb in ( get, \"list all\" )))"
    );
    assert!(r.cond.is_some());
}

#[test]
fn macros_become_ids_and_are_typed_once() {
    let rs = load(&[&format!(
        "- macro: m\n  condition: ka.verb = get\n- macro: later_user\n  condition: m and ka.user.name = bob\n{}{}",
        k8s("A", "later_user or m"),
        k8s("B", "m")
    )]);
    let mut names: Vec<_> = rs.macros.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["later_user", "m"], "each used macro once");
    let id = |n: &str| rs.macros.iter().position(|m| m.name == n).expect("macro") as u32;
    assert_eq!(rule(&rs, "B").cond, Some(Cond::Macro(id("m"))));
    match &rs.macros[id("later_user") as usize].cond {
        Cond::And(v) => assert_eq!(v[0], Cond::Macro(id("m"))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rule_may_use_a_macro_defined_later_in_the_same_file() {
    let rs = load(&[&format!(
        "{}- macro: late\n  condition: ka.verb = get\n",
        k8s("R", "late")
    )]);
    assert!(rule(&rs, "R").cond.is_some());
}

#[test]
fn other_sources_are_loaded_but_not_checked() {
    let rs = load(&[
        "- list: shells\n  items: [bash]\n- rule: S\n  desc: d\n  condition: proc.name in (shells) and nosuch.field = 1\n  output: '%proc.name'\n  priority: NOTICE\n- rule: P\n  desc: d\n  condition: x\n  output: o\n  priority: INFO\n  source: aws_cloudtrail\n",
        &k8s("K", "ka.verb in (shells)"),
    ]);
    let s = rule(&rs, "S");
    assert_eq!(
        (s.source.as_str(), s.cond.is_none(), s.priority),
        ("syscall", true, Priority::Notice)
    );
    assert_eq!(
        s.condition_text,
        "proc.name in ( bash ) and nosuch.field = 1"
    );
    assert_eq!(rule(&rs, "P").priority, Priority::Informational);
    assert_eq!(rule(&rs, "K").condition_text, "ka.verb in ( bash )");
    assert_eq!(rs.active_rules().count(), 1);
}

#[test]
fn list_field_string_operator_is_kept_as_written() {
    let rs = load(&[&k8s("R", "ka.user.groups contains dev")]);
    let Some(Cond::Check(c)) = &rule(&rs, "R").cond else {
        panic!()
    };
    assert_eq!(
        (c.op, &c.rhs),
        (CmpOp::Contains, &Rhs::Strings(vec!["dev".into()]))
    );
    assert!(c.lhs.is_list());
}

#[test]
fn outputs_are_trimmed_and_tokenised() {
    let rs = load(&[
        "- rule: R\n  desc: d\n  condition: ka.verb = get\n  output: \"  *user=%ka.user.name verb=%10ka.verb %toupper(ka.verb)  \"\n  priority: WARNING\n  source: k8s_audit\n- rule: R\n  output: >\n    more\n  override:\n    output: append\n",
    ]);
    let o = &rule(&rs, "R").output;
    assert_eq!(
        o.text,
        "user=%ka.user.name verb=%10ka.verb %toupper(ka.verb) more\n"
    );
    let keys: Vec<_> = o.fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["ka.user.name", "ka.verb"]);
    assert!(matches!(
        o.parts[3],
        OutputPart::Value {
            width: Some(10),
            ..
        }
    ));
    assert_eq!(o.parts.last(), Some(&OutputPart::Literal(" more\n".into())));
}

#[test]
fn engine_version_and_numeric_literals() {
    let rs = load(&[
        "- required_engine_version: 15\n- required_engine_version: 0.26.0\n",
        &k8s("R", "evt.num > 5 and evt.num in (1, 2)"),
    ]);
    assert_eq!(rs.required_engine_version.as_deref(), Some("0.26.0"));
    let Some(Cond::And(v)) = &rule(&rs, "R").cond else {
        panic!()
    };
    let Cond::Check(c) = &v[1] else { panic!() };
    assert_eq!(c.rhs, Rhs::Numbers(vec![1, 2]));
}

#[test]
fn spans_point_at_items() {
    let rs = load(&["\n    - rule: R\n      desc: d\n      condition: ka.verb = get\n      output: o\n      priority: WARNING\n      source: k8s_audit\n"]);
    let r = rule(&rs, "R");
    assert_eq!((r.span.line, r.span.col), (2, 7));
}

#[test]
fn container_info_is_dropped_with_a_warning() {
    let src = "- rule: R\n  desc: d\n  condition: ka.verb = get\n  output: 'u=%ka.user.name %container.info'\n  priority: WARNING\n  source: k8s_audit\n";
    let res = load_sources(&[("f.yaml", src)]);
    assert!(res.warnings().any(|w| w.code == "LOAD_DEPRECATED_ITEM"
        && w.message.starts_with("%container.info is deprecated")));
    let rs = res.ruleset.expect("loads");
    assert_eq!(rs.rules[0].output.text, "u=%ka.user.name ");
}

#[test]
fn multiple_documents_and_empty_files() {
    let rs = load(&["- list: l\n  items: [get]\n---\n---\n- rule: R\n  desc: d\n  condition: ka.verb in (l)\n  output: o\n  priority: DEBUG\n  source: k8s_audit\n", ""]);
    assert_eq!(rule(&rs, "R").condition_text, "ka.verb in ( get )");
    assert_eq!(rs.files, ["f0.yaml", "f1.yaml"]);
}
