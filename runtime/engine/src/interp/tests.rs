//! Interpreter behaviour on small rule sets (the conformance suites cover the full rule files).

use super::Interpreter;
use crate::engine::{Engine, Plan, RuleMatching};
use crate::event::Event;
use kaudit_frontend::ir::Priority;

fn interp(rules: &str) -> Interpreter {
    let res = kaudit_frontend::load::load_sources(&[("rules.yaml", rules)]);
    match &res.ruleset {
        Some(ruleset) => Interpreter::new(ruleset).expect("rules compile"),
        None => panic!("rules do not load:\n{}", res.render()),
    }
}

fn rule(name: &str, cond: &str) -> String {
    format!(
        "- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o\n  priority: WARNING\n  source: k8s_audit\n"
    )
}

const EV: &str = r#"{"kind":"Event","auditID":"a1","stage":"ResponseComplete","verb":"create","user":{"username":"Alice","groups":["dev","ops"]},"objectRef":{"resource":"pods","namespace":"default","name":"Alice"},"stageTimestamp":"2024-01-02T03:04:05.000000001Z"}"#;

/// Names of the rules matching `EV` under `matching`, in plan order.
fn matches(i: &Interpreter, matching: RuleMatching) -> Vec<String> {
    let ev = Event::parse(EV.as_bytes()).expect("valid event");
    let plan = Plan::new(i.rules(), matching, Priority::Debug);
    let mut hits = Vec::new();
    i.eval(&ev, &plan, &mut |idx| {
        hits.push(i.rules()[idx].name.clone())
    });
    hits
}

#[test]
fn boolean_logic_and_missing_fields() {
    let rules = [
        rule("and_true", "ka.verb = create and ka.target.resource = pods"),
        rule(
            "and_false",
            "ka.verb = create and ka.target.resource = secrets",
        ),
        rule("or_true", "ka.verb = delete or ka.target.resource = pods"),
        rule("not_true", "not ka.verb = delete"),
        // A missing field makes every comparison false, `!=` included; only `not` flips it.
        rule("ne_missing", "ka.target.subresource != exec"),
        rule("not_eq_missing", "not ka.target.subresource = exec"),
        rule("exists_missing", "ka.target.subresource exists"),
        rule("in_list", "ka.user.groups in (dev, ops, admin)"),
        rule("intersects_list", "ka.user.groups intersects (ops)"),
        rule("in_list_partial", "ka.user.groups in (dev)"),
    ]
    .concat();
    let i = interp(&rules);
    assert_eq!(
        matches(&i, RuleMatching::All),
        [
            "and_true",
            "or_true",
            "not_true",
            "not_eq_missing",
            "in_list",
            "intersects_list"
        ]
    );
}

#[test]
fn first_match_only_under_first() {
    let rules = [
        rule("r1", "ka.verb = delete"),
        rule("r2", "ka.verb = create"),
        rule("r3", "ka.verb exists"),
    ]
    .concat();
    let i = interp(&rules);
    assert_eq!(matches(&i, RuleMatching::First), ["r2"]);
    assert_eq!(matches(&i, RuleMatching::All), ["r2", "r3"]);
    // Plan order, not load order, decides who is first.
    let ev = Event::parse(EV.as_bytes()).unwrap();
    let plan = Plan {
        order: vec![2, 1],
        matching: RuleMatching::First,
    };
    let mut hits = Vec::new();
    i.eval(&ev, &plan, &mut |idx| hits.push(idx));
    assert_eq!(hits, [2]);
}

#[test]
fn macros_shared_between_rules() {
    let rules = format!(
        "- macro: is_create\n  condition: ka.verb = create\n- macro: is_pod\n  condition: ka.target.resource = pods\n{}{}{}",
        rule("both", "is_create and is_pod"),
        rule("negated", "not is_create"),
        rule("again", "is_pod and not (is_create and ka.user.name = bob)"),
    );
    let i = interp(&rules);
    assert_eq!(matches(&i, RuleMatching::All), ["both", "again"]);
}

#[test]
fn transformers_and_field_comparisons() {
    let rules = [
        rule("lower", "tolower(ka.user.name) = alice"),
        rule("upper_wrong", "toupper(ka.user.name) = alice"),
        rule("len_groups", "len(ka.user.groups) = 2"),
        rule("field_eq", "ka.user.name = val(ka.target.name)"),
        rule(
            "field_ne_missing",
            "ka.user.name != val(ka.target.subresource)",
        ),
    ]
    .concat();
    let i = interp(&rules);
    assert_eq!(
        matches(&i, RuleMatching::All),
        ["lower", "len_groups", "field_eq"]
    );
}

#[test]
fn other_sources_are_listed_but_never_evaluated() {
    let rules = format!(
        "- rule: sys\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: WARNING\n  source: syscall\n{}",
        rule("k8s", "ka.verb = create")
    );
    let res = kaudit_frontend::load::load_sources(&[("rules.yaml", rules.as_str())]);
    let Some(ruleset) = res.ruleset else {
        // A loader that rejects unknown-source rules outright has nothing for this test to check.
        return;
    };
    let i = Interpreter::new(&ruleset).unwrap();
    assert_eq!(i.rules().len(), 2);
    assert!(!i.matches_rule(0, &Event::parse(EV.as_bytes()).unwrap()));
    let ev = Event::parse(EV.as_bytes()).unwrap();
    let plan = Plan {
        order: vec![0, 1],
        matching: RuleMatching::All,
    };
    let mut hits = Vec::new();
    i.eval(&ev, &plan, &mut |idx| hits.push(idx));
    assert_eq!(hits, [1]);
}

#[test]
fn getopt_transformer() {
    const ARGV: &str = r#"{"kind":"Event","auditID":"a2","stage":"ResponseComplete","verb":"create","user":{"username":"Alice","groups":["-n","-t","web","-x","rest"]},"stageTimestamp":"2024-01-02T03:04:05Z"}"#;
    let rules = [
        rule("selected_value", "getopt(ka.user.groups, \"nt:\")[t] = web"),
        rule("selected_flag", "getopt(ka.user.groups, \"nt:\")[n] = n"),
        rule(
            "whole_list",
            "getopt(ka.user.groups, \"nt:\") intersects (\"?\")",
        ),
        rule("list_len", "len(getopt(ka.user.groups, \"nt:\")) = 4"),
        rule(
            "absent_option",
            "getopt(ka.user.groups, \"nt:z\")[z] exists",
        ),
        // The optstring can come from the event: "create" declares 't' without a value.
        rule("field_optstring", "getopt(ka.user.groups, ka.verb)[t] = t"),
        rule(
            "missing_optstring",
            "getopt(ka.user.groups, ka.target.name)[n] exists",
        ),
        // List arguments mix literals and fields; a missing item makes the whole list missing.
        rule(
            "list_arg",
            "getopt((\"-u\", ka.user.name), \"u:\")[u] = Alice",
        ),
        rule(
            "list_arg_missing",
            "getopt((\"-u\", ka.target.name), \"u:\")[u] exists",
        ),
        rule(
            "join_list",
            "join(\"+\", (ka.verb, ka.user.name)) = \"create+Alice\"",
        ),
    ]
    .concat();
    let i = interp(&rules);
    let ev = Event::parse(ARGV.as_bytes()).expect("valid event");
    let plan = Plan::new(i.rules(), RuleMatching::All, Priority::Debug);
    let mut hits = Vec::new();
    i.eval(&ev, &plan, &mut |idx| {
        hits.push(i.rules()[idx].name.clone())
    });
    assert_eq!(
        hits,
        [
            "selected_value",
            "selected_flag",
            "whole_list",
            "list_len",
            "field_optstring",
            "list_arg",
            "join_list"
        ]
    );
    // The whole-list form yields each option, its value and '?' for unknown options.
    let expr = kaudit_frontend::typeck::operand(
        &kaudit_frontend::cond::parse_operand("getopt(ka.user.groups, \"nt:\")").expect("parses"),
    )
    .expect("types");
    let mut out = crate::value::Values::new();
    super::value::eval_value(&ev, &expr, &mut out);
    let texts: Vec<&str> = out.iter().filter_map(crate::value::Val::as_str).collect();
    assert_eq!(texts, ["n", "t", "web", "?"]);
}

#[test]
fn dispatch_skips_only_rules_that_cannot_match() {
    let rules = [
        rule(
            "create_pods",
            "ka.verb = create and ka.target.resource = pods",
        ),
        rule("get_or_list", "ka.verb in (get, list)"),
        rule(
            "either",
            "(ka.verb = create and ka.user.name = Alice) or (ka.verb = create)",
        ),
        rule("no_requirement", "ka.user.name = Alice"),
        rule("negated", "not ka.verb = get"),
    ]
    .concat();
    let res = kaudit_frontend::load::load_sources(&[("rules.yaml", rules.as_str())]);
    let ruleset = res.ruleset.expect("rules load");
    let d = super::dispatch::Candidates::new(&ruleset);
    let with = Interpreter::new(&ruleset).unwrap();
    let plain = Interpreter::new(&ruleset).unwrap().without_dispatch();
    let plan = Plan::new(with.rules(), RuleMatching::All, Priority::Debug);
    let verbs = [
        r#""create""#,
        r#""get""#,
        r#""list""#,
        r#""patch""#,
        "null",
        r#"["get"]"#,
    ];
    for verb in verbs {
        let text = EV.replace(r#""create""#, verb);
        let ev = Event::parse(text.as_bytes()).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        with.eval(&ev, &plan, &mut |i| a.push(i));
        plain.eval(&ev, &plan, &mut |i| b.push(i));
        assert_eq!(a, b, "verb {verb}");
        let kept: Vec<usize> = (0..5)
            .filter(|&i| super::dispatch::has(&d.of(&ev, &mut Default::default()), i))
            .collect();
        // Every rule that matches was kept; the rules requiring nothing of the verb always are.
        assert!(b.iter().all(|i| kept.contains(i)), "verb {verb}: {kept:?}");
        assert!(
            kept.contains(&3) && kept.contains(&4),
            "verb {verb}: {kept:?}"
        );
        match verb {
            r#""create""# => assert_eq!(kept, [0, 2, 3, 4]),
            r#""patch""# | "null" => assert_eq!(kept, [3, 4], "no rule requires it"),
            _ => {}
        }
    }
    // A missing verb keeps only the rules requiring nothing of it.
    let text = EV.replace(r#""verb":"create","#, "");
    let ev = Event::parse(text.as_bytes()).unwrap();
    let kept: Vec<usize> = (0..5)
        .filter(|&i| super::dispatch::has(&d.of(&ev, &mut Default::default()), i))
        .collect();
    assert_eq!(kept, [3, 4]);
}
