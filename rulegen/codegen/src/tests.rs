//! Code generation over hand-built IR: the output parses as Rust, and has the promised shape.

use super::*;
use kaudit_frontend::ast::{CmpOp, Modifier, Transformer};
use kaudit_frontend::catalog::FieldId;
use kaudit_frontend::dispatch::requirements;
use kaudit_frontend::ir::{
    Check, Cond, FieldArg, FieldRef, Macro, Output, Priority, Rhs, Rule, TArg, ValueExpr,
};
use kaudit_frontend::span::Span;

fn field(id: FieldId) -> ValueExpr {
    ValueExpr::Field(FieldRef {
        id,
        arg: FieldArg::None,
    })
}

fn check(lhs: ValueExpr, op: CmpOp, rhs: Rhs) -> Cond {
    Cond::Check(Box::new(Check {
        lhs,
        op,
        modifier: None,
        rhs,
        span: Span::default(),
    }))
}

fn strs(items: &[&str]) -> Rhs {
    Rhs::Strings(items.iter().map(|s| s.to_string()).collect())
}

fn rule(name: &str, cond: Cond) -> Rule {
    Rule {
        name: name.into(),
        desc: String::new(),
        cond: Some(cond),
        condition_text: "text".into(),
        output: Output::default(),
        priority: Priority::Warning,
        source: "k8s_audit".into(),
        enabled: true,
        tags: vec![],
        span: Span::default(),
    }
}

fn sample() -> Ruleset {
    let verb_create = check(field(FieldId::KaVerb), CmpOp::Eq, strs(&["create"]));
    let pod = check(
        field(FieldId::KaTargetResource),
        CmpOp::In,
        strs(&["pods", "deployments"]),
    );
    let stage = Cond::Check(Box::new(Check {
        lhs: ValueExpr::Field(FieldRef {
            id: FieldId::JevtValue,
            arg: FieldArg::Key("/stage".into()),
        }),
        op: CmpOp::In,
        modifier: None,
        rhs: strs(&["ResponseComplete"]),
        span: Span::default(),
    }));
    let user_glob = check(field(FieldId::KaUserName), CmpOp::Glob, strs(&["system:*"]));
    let groups = check(
        field(FieldId::KaUserGroups),
        CmpOp::Intersects,
        strs(&["system:masters"]),
    );
    let lower = check(
        ValueExpr::Transform {
            func: Transformer::ToLower,
            args: vec![TArg::Value(field(FieldId::KaUserName))],
            arg: None,
        },
        CmpOp::Eq,
        strs(&["admin"]),
    );
    let len = check(
        ValueExpr::Transform {
            func: Transformer::Len,
            args: vec![TArg::Value(field(FieldId::KaUserGroups))],
            arg: None,
        },
        CmpOp::Gt,
        Rhs::Numbers(vec![2]),
    );
    let starts_any = Cond::Check(Box::new(Check {
        lhs: field(FieldId::KaUserName),
        op: CmpOp::StartsWith,
        modifier: Some(Modifier::AnyOf),
        rhs: strs(&["system:", "eks:"]),
        span: Span::default(),
    }));
    let same = check(
        field(FieldId::KaTargetNamespace),
        CmpOp::Eq,
        Rhs::Value(ValueExpr::Transform {
            func: Transformer::Val,
            args: vec![TArg::Value(field(FieldId::KaUserName))],
            arg: None,
        }),
    );
    Ruleset {
        files: vec!["sample.yaml".into()],
        macros: vec![
            Macro {
                name: "create".into(),
                cond: verb_create,
                span: Span::default(),
            },
            Macro {
                name: "kevt".into(),
                cond: stage,
                span: Span::default(),
            },
        ],
        rules: vec![
            rule(
                "Pod Created",
                Cond::And(vec![Cond::Macro(1), Cond::Macro(0), pod.clone()]),
            ),
            rule(
                "System user",
                Cond::And(vec![
                    Cond::Macro(1),
                    Cond::Or(vec![user_glob, groups]),
                    Cond::Not(Box::new(lower)),
                ]),
            ),
            rule("Many groups", Cond::Or(vec![len, starts_any, same])),
            Rule {
                cond: None,
                source: "syscall".into(),
                ..rule("Other source", Cond::And(vec![]))
            },
        ],
        required_engine_version: None,
    }
}

/// Whether `code` contains `needle`, ignoring whitespace (the printer wraps long lines).
fn has(code: &str, needle: &str) -> bool {
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    squash(code).contains(&squash(needle))
}

fn generated(rs: &Ruleset) -> String {
    let tokens = generate(rs);
    let file: syn::File = match syn::parse2(tokens.to_string().parse().expect("tokens re-lex")) {
        Ok(f) => f,
        Err(e) => panic!("generated code does not parse: {e}\n{tokens}"),
    };
    prettyplease::unparse(&file)
}

#[test]
fn output_parses_as_rust_items() {
    let code = generated(&sample());
    assert!(
        has(&code, "impl rt::engine::Engine for CompiledRules"),
        "{code}"
    );
    assert!(has(&code, "pub const RULE_COUNT: usize = 4;"), "{code}");
}

#[test]
fn one_function_per_rule_with_a_condition_and_one_method_per_macro() {
    let code = generated(&sample());
    assert!(
        has(&code, "fn rule_0_pod_created(c: &Ctx<'_>) -> bool"),
        "{code}"
    );
    assert!(has(&code, "fn rule_1_system_user("));
    assert!(has(&code, "fn rule_2_many_groups("));
    assert!(
        !has(&code, "fn rule_3_"),
        "rules of other sources get no function"
    );
    assert!(has(&code, "fn macro_create(&self) -> bool"));
    assert!(has(&code, "fn macro_kevt(&self) -> bool"));
    assert!(has(&code, "c.macro_kevt() && c.macro_create()"), "{code}");
}

#[test]
fn fields_are_read_through_named_extractors_once() {
    let code = generated(&sample());
    assert!(has(&code, "rt::fields::extract::ka_verb"), "{code}");
    assert!(has(&code, "rt::fields::extract::json_value"));
    // One slot per distinct field reference, however often conditions use it.
    assert_eq!(code.matches("ka_user_name: OnceCell<").count(), 1, "{code}");
    assert!(has(&code, "FieldArg::Key(\"/stage\".to_owned()"), "{code}");
}

#[test]
fn lists_become_match_sets_and_globs_compiled_matchers() {
    let code = generated(&sample());
    assert!(
        has(&code, "matches!(s, \"deployments\" | \"pods\")"),
        "{code}"
    );
    assert!(has(&code, "all_str(c.ka_target_resource(), set_"), "{code}");
    assert!(has(&code, "static MATCHER_0: LazyLock"), "{code}");
    assert!(has(&code, "CmpOp::Glob"));
    assert!(
        has(
            &code,
            "any_str(c.ka_verb(), |s| str_test(CmpOp::Eq, s, \"create\"),"
        ),
        "{code}"
    );
    assert!(
        has(
            &code,
            "!rt::compiled::any_str(&rt::ops::transform::apply(Transformer::ToLower,"
        ),
        "{code}"
    );
    assert!(
        has(
            &code,
            "any_num(&rt::ops::transform::apply(Transformer::Len, &[c.ka_user_groups()], true, None,), |n| num_test(CmpOp::Gt, n, 2),"
        ),
        "{code}"
    );
    assert!(has(&code, "check_values("), "{code}");
}

#[test]
fn dispatch_switches_on_required_fields() {
    let code = generated(&sample());
    // Rule 0 requires ka.verb = create (through a macro), ka.target.resource in (pods, deployments) and
    // jevt.value[/stage] = ResponseComplete; rule 1 requires the stage only.
    assert!(
        has(
            &code,
            "fn candidates_by_jevt_value_stage(c: &Ctx<'_>) -> &'static Mask"
        ),
        "{code}"
    );
    assert!(has(&code, "fn candidates_by_ka_target_resource("), "{code}");
    assert!(has(&code, "fn candidates_by_ka_verb("), "{code}");
    assert!(
        has(
            &code,
            "const IF_RESPONSECOMPLETE: Mask = rt::compiled::mask_of(&[0, 1, 2]);"
        ),
        "{code}"
    );
    assert!(
        has(
            &code,
            "const IF_PODS: Mask = rt::compiled::mask_of(&[0, 1, 2]);"
        ),
        "{code}"
    );
    assert!(
        has(
            &code,
            "const OTHERS: Mask = rt::compiled::mask_of(&[1, 2]);"
        ),
        "{code}"
    );
}

#[test]
fn requirements_follow_macros_and_or() {
    let rs = sample();
    let cond = |i: usize| rs.rules[i].cond.clone().unwrap_or(Cond::And(vec![]));
    let r0 = requirements(&cond(0), &rs.macros);
    let keys: Vec<&String> = r0.keys().collect();
    assert_eq!(
        keys,
        ["jevt.value[/stage]", "ka.target.resource", "ka.verb"]
    );
    let r2 = requirements(&cond(2), &rs.macros);
    assert!(
        r2.is_empty(),
        "an or without a common field requires nothing"
    );

    let either = Cond::Or(vec![
        check(field(FieldId::KaVerb), CmpOp::Eq, strs(&["get"])),
        check(field(FieldId::KaVerb), CmpOp::In, strs(&["list", "watch"])),
    ]);
    let r = requirements(&either, &[]);
    let verbs: Vec<&String> = r
        .get("ka.verb")
        .map(|(_, v)| v.iter().collect())
        .unwrap_or_default();
    assert_eq!(verbs, ["get", "list", "watch"]);

    let negated = Cond::Not(Box::new(check(
        field(FieldId::KaVerb),
        CmpOp::Eq,
        strs(&["get"]),
    )));
    assert!(requirements(&negated, &[]).is_empty());
    let both = Cond::And(vec![
        check(field(FieldId::KaVerb), CmpOp::In, strs(&["get", "list"])),
        check(field(FieldId::KaVerb), CmpOp::In, strs(&["list", "watch"])),
    ]);
    let r = requirements(&both, &[]);
    let verbs: Vec<&String> = r
        .get("ka.verb")
        .map(|(_, v)| v.iter().collect())
        .unwrap_or_default();
    assert_eq!(verbs, ["list"]);
    // List fields and `!=` say nothing about a single value.
    let list = check(field(FieldId::KaUserGroups), CmpOp::In, strs(&["a"]));
    assert!(requirements(&list, &[]).is_empty());
    let ne = check(field(FieldId::KaVerb), CmpOp::Ne, strs(&["get"]));
    assert!(requirements(&ne, &[]).is_empty());
}

#[test]
fn empty_ruleset_generates_an_engine_without_rules() {
    let code = generated(&Ruleset::default());
    assert!(has(&code, "pub const RULE_COUNT: usize = 0;"));
    assert!(
        has(&code, "const ALL_RULES: Mask = rt::compiled::mask_of(&[]);"),
        "{code}"
    );
    assert!(has(&code, "let candidates: Mask = ALL_RULES;"));
}

#[test]
fn runtime_path_is_configurable() {
    let opts = Options {
        runtime: quote! { crate::rt },
    };
    let code = generate_with(&sample(), &opts).to_string();
    assert!(has(&code, "use crate :: rt as rt ;"), "{code}");
    assert!(!has(&code, "kaudit_engine"));
}

#[test]
fn numeric_and_bool_literal_sets_are_deduplicated_and_comparisons_shared() {
    let len = ValueExpr::Transform {
        func: Transformer::Len,
        args: vec![TArg::Value(field(FieldId::KaUserGroups))],
        arg: None,
    };
    let rs = Ruleset {
        rules: vec![
            rule(
                "nums",
                check(len.clone(), CmpOp::In, Rhs::Numbers(vec![3, 1, 3])),
            ),
            rule("ge0", check(len.clone(), CmpOp::Ge, Rhs::Numbers(vec![0]))),
            rule("lt0", check(len, CmpOp::Lt, Rhs::Numbers(vec![0]))),
            rule(
                "bools",
                check(
                    field(FieldId::EvtIsAsync),
                    CmpOp::In,
                    Rhs::Bools(vec![true, false, true]),
                ),
            ),
        ],
        ..Ruleset::default()
    };
    let code = generated(&rs);
    assert!(has(&code, "|n| matches!(n, 1 | 3)"), "{code}");
    assert!(has(&code, "|b| matches!(b, false | true)"), "{code}");
    assert!(has(&code, "|n| num_test(CmpOp::Ge, n, 0)"), "{code}");
    assert!(has(&code, "|n| num_test(CmpOp::Lt, n, 0)"), "{code}");
}

#[test]
fn getopt_selector_field_optstring_and_mixed_lists() {
    let getopt = |args: Vec<TArg>, arg: Option<&str>| ValueExpr::Transform {
        func: Transformer::Getopt,
        args,
        arg: arg.map(str::to_string),
    };
    let groups = || TArg::Value(field(FieldId::KaUserGroups));
    let selected = getopt(vec![groups(), TArg::Literal("nt:".into())], Some("t"));
    let from_field = getopt(vec![groups(), TArg::Value(field(FieldId::KaVerb))], None);
    let mixed = getopt(
        vec![
            TArg::List(vec![
                TArg::Literal("-u".into()),
                TArg::Value(field(FieldId::KaUserName)),
            ]),
            TArg::Literal("u:".into()),
        ],
        Some("u"),
    );
    let literal_list = getopt(
        vec![
            TArg::List(vec![TArg::Literal("-n".into())]),
            TArg::Literal("n".into()),
        ],
        None,
    );
    let rs = Ruleset {
        rules: vec![
            rule("sel", check(selected.clone(), CmpOp::Eq, strs(&["web"]))),
            rule("fld", check(from_field, CmpOp::Intersects, strs(&["t"]))),
            rule("mix", check(mixed, CmpOp::Exists, Rhs::None)),
            rule("lit", check(literal_list, CmpOp::Exists, Rhs::None)),
        ],
        ..Ruleset::default()
    };
    let code = generated(&rs);
    assert!(
        has(
            &code,
            "rt::ops::transform::apply(Transformer::Getopt, &[c.ka_user_groups(), &rt::compiled::literal(\"nt:\")], true, Some(116u8),"
        ),
        "{code}"
    );
    assert!(
        has(
            &code,
            "rt::ops::transform::apply(Transformer::Getopt, &[c.ka_user_groups(), c.ka_verb()], true, None,"
        ),
        "{code}"
    );
    assert!(
        has(
            &code,
            "rt::ops::transform::list(&[&rt::compiled::literal(\"-u\"), c.ka_user_name()]"
        ),
        "{code}"
    );
    assert!(has(&code, "rt::compiled::literals(&[\"-n\"])"), "{code}");
    // The rule table keeps the selector for alert rendering.
    let mut with_output = rs.clone();
    with_output.rules[0].output.parts = vec![kaudit_frontend::ir::OutputPart::Value {
        expr: selected,
        width: None,
    }];
    let code = generated(&with_output);
    assert!(has(&code, "arg: Some(\"t\".to_owned())"), "{code}");
}
