//! Operator semantics, pinned on single, multiple and missing values (docs/semantics.md#operators to #modifiers;
//! conformance FINDINGS).

use super::*;
use std::borrow::Cow;

fn s(items: &[&'static str]) -> Values<'static> {
    items.iter().map(|x| Val::Str(Cow::Borrowed(*x))).collect()
}

fn strs(items: &[&str]) -> Rhs {
    Rhs::Strings(items.iter().map(|x| x.to_string()).collect())
}

fn m(op: CmpOp, rhs: &[&str]) -> Matcher {
    Matcher::new(op, None, &strs(rhs), FieldType::String).unwrap()
}

fn modm(op: CmpOp, md: Modifier, rhs: &[&str]) -> Matcher {
    Matcher::new(op, Some(md), &strs(rhs), FieldType::String).unwrap()
}

const ALL_OPS: &[CmpOp] = &[
    CmpOp::Eq,
    CmpOp::EqEq,
    CmpOp::Ne,
    CmpOp::Lt,
    CmpOp::Le,
    CmpOp::Gt,
    CmpOp::Ge,
    CmpOp::Contains,
    CmpOp::IContains,
    CmpOp::StartsWith,
    CmpOp::EndsWith,
    CmpOp::Glob,
    CmpOp::IGlob,
    CmpOp::Regex,
    CmpOp::In,
    CmpOp::Intersects,
    CmpOp::PMatch,
    CmpOp::Exists,
];

#[test]
fn missing_makes_every_operator_false() {
    for &op in ALL_OPS {
        assert!(!m(op, &["x"]).matches(&Values::new()), "{op:?}");
        assert!(!check_values(op, &Values::new(), &s(&["x"])), "{op:?}");
    }
    assert!(!m(CmpOp::Ne, &["<NA>"]).matches(&Values::new()));
}

#[test]
fn equality_and_exists_on_single_values() {
    assert!(m(CmpOp::Eq, &["alice"]).matches(&s(&["alice"])));
    assert!(m(CmpOp::EqEq, &["alice"]).matches(&s(&["alice"])));
    assert!(!m(CmpOp::Eq, &["alice"]).matches(&s(&["Alice"])));
    assert!(m(CmpOp::Ne, &["bob"]).matches(&s(&["alice"])));
    assert!(!m(CmpOp::Ne, &["alice"]).matches(&s(&["alice"])));
    assert!(
        m(CmpOp::Exists, &[]).matches(&s(&[""])),
        "empty string exists"
    );
    assert!(
        m(CmpOp::Eq, &["null"]).matches(&s(&["null"])),
        "present null is the text null"
    );
    assert!(!m(CmpOp::Eq, &["201"]).matches(&s(&["201.0"])));
}

#[test]
fn relational_operators_compare_text_byte_wise() {
    assert!(m(CmpOp::Ge, &["400"]).matches(&s(&["403"])));
    assert!(
        m(CmpOp::Lt, &["400"]).matches(&s(&["1000"])),
        "\"1000\" < \"400\""
    );
    assert!(m(CmpOp::Gt, &["1000"]).matches(&s(&["201"])));
    assert!(m(CmpOp::Le, &["abc"]).matches(&s(&["abc"])));
    assert!(!m(CmpOp::Gt, &["abc"]).matches(&s(&["abc"])));
}

#[test]
fn substring_family() {
    assert!(m(CmpOp::Contains, &[""]).matches(&s(&["anything"])));
    assert!(m(CmpOp::StartsWith, &[""]).matches(&s(&["anything"])));
    assert!(m(CmpOp::Contains, &["ice"]).matches(&s(&["alice"])));
    assert!(!m(CmpOp::Contains, &["ICE"]).matches(&s(&["alice"])));
    assert!(m(CmpOp::IContains, &["ICE"]).matches(&s(&["aliCe"])));
    assert!(m(CmpOp::StartsWith, &["2"]).matches(&s(&["201"])));
    assert!(!m(CmpOp::StartsWith, &["2"]).matches(&s(&["403"])));
    assert!(m(CmpOp::EndsWith, &[".sock"]).matches(&s(&["/var/run/docker.sock"])));
}

#[test]
fn regex_is_a_full_match() {
    assert!(!m(CmpOp::Regex, &["Alice"]).matches(&s(&["Alice@Example"])));
    assert!(m(CmpOp::Regex, &["Alice.*"]).matches(&s(&["Alice@Example"])));
    assert!(
        m(CmpOp::Regex, &["a|b"]).matches(&s(&["b"])),
        "alternation stays inside the anchors"
    );
    assert!(!m(CmpOp::Regex, &["a|b"]).matches(&s(&["ab"])));
    assert!(!m(CmpOp::Regex, &["x"]).matches(&s(&["x\n"])));
    assert!(Matcher::new(CmpOp::Regex, None, &strs(&["("]), FieldType::String).is_err());
}

#[test]
fn glob_and_pmatch() {
    assert!(m(CmpOp::Glob, &["/var/*"]).matches(&s(&["/var/run/x"])));
    assert!(!m(CmpOp::Glob, &["ADMIN*"]).matches(&s(&["admin"])));
    assert!(m(CmpOp::IGlob, &["ADMIN*"]).matches(&s(&["admin"])));
    let p = m(CmpOp::PMatch, &["/var/run", "/etc"]);
    assert!(p.matches(&s(&["/var/run/docker.sock"])));
    assert!(p.matches(&s(&["/etc"])));
    assert!(!p.matches(&s(&["/var/runx"])));
}

#[test]
fn in_is_subset_and_intersects_is_any() {
    let groups = s(&["system:authenticated", "dev"]);
    assert!(m(CmpOp::In, &["dev", "system:authenticated", "x"]).matches(&groups));
    assert!(!m(CmpOp::In, &["dev"]).matches(&groups));
    assert!(m(CmpOp::Intersects, &["dev"]).matches(&groups));
    assert!(!m(CmpOp::Intersects, &["ops"]).matches(&groups));
    // Single values: both are membership.
    assert!(m(CmpOp::In, &["get", "list"]).matches(&s(&["get"])));
    assert!(m(CmpOp::Intersects, &["true"]).matches(&s(&["true"])));
    assert!(!m(CmpOp::In, &[]).matches(&s(&["get"])));
    // Exact bytes.
    assert!(!m(CmpOp::In, &["Get"]).matches(&s(&["get"])));
    // Large sets use hashing and agree.
    let big: Vec<String> = (0..50).map(|i| format!("v{i}")).collect();
    let big_refs: Vec<&str> = big.iter().map(String::as_str).collect();
    assert!(m(CmpOp::In, &big_refs).matches(&s(&["v49", "v0"])));
    assert!(!m(CmpOp::In, &big_refs).matches(&s(&["v49", "v50"])));
}

#[test]
fn string_operators_on_lists_mean_some_element() {
    let l = s(&["a", "bcd"]);
    assert!(m(CmpOp::Contains, &["c"]).matches(&l));
    assert!(m(CmpOp::Eq, &["a"]).matches(&l));
    assert!(!m(CmpOp::StartsWith, &["x"]).matches(&l));
}

#[test]
fn modifiers() {
    let u = s(&["system:kube-scheduler"]);
    assert!(modm(CmpOp::StartsWith, Modifier::AnyOf, &["eks:", "system:"]).matches(&u));
    assert!(!modm(CmpOp::StartsWith, Modifier::AllOf, &["eks:", "system:"]).matches(&u));
    assert!(modm(CmpOp::StartsWith, Modifier::AllOf, &["sys", "system:"]).matches(&u));
    assert!(modm(CmpOp::Contains, Modifier::OneOf, &["kube", "eks"]).matches(&u));
    assert!(
        !modm(CmpOp::Eq, Modifier::OneOf, &["create", "create"]).matches(&s(&["create"])),
        "duplicates"
    );
    assert!(!modm(CmpOp::Eq, Modifier::AnyOf, &[]).matches(&s(&["create"])));
    assert!(!modm(CmpOp::Eq, Modifier::AllOf, &[]).matches(&s(&["create"])));
    assert!(modm(CmpOp::Ne, Modifier::AnyOf, &["a", "b"]).matches(&s(&["a"])));
    assert!(modm(CmpOp::Regex, Modifier::AnyOf, &["x.*", "sys.*"]).matches(&u));
}

#[test]
fn numeric_and_bool_operands() {
    let n = |x: u64| -> Values<'static> { std::iter::once(Val::Num(x)).collect() };
    let num =
        |op, r: &[u64]| Matcher::new(op, None, &Rhs::Numbers(r.to_vec()), FieldType::U64).unwrap();
    assert!(num(CmpOp::Gt, &[9]).matches(&n(13)), "numeric, not text");
    assert!(num(CmpOp::Lt, &[400]).matches(&n(201)));
    assert!(num(CmpOp::Eq, &[0]).matches(&n(0)));
    assert!(num(CmpOp::Ne, &[1]).matches(&n(0)));
    assert!(num(CmpOp::In, &[1, 2]).matches(&n(2)));
    assert!(!num(CmpOp::Intersects, &[1, 2]).matches(&n(3)));
    let b = |x: bool| -> Values<'static> { std::iter::once(Val::Bool(x)).collect() };
    let bm = |op, r: bool| Matcher::new(op, None, &Rhs::Bools(vec![r]), FieldType::Bool).unwrap();
    assert!(bm(CmpOp::Eq, false).matches(&b(false)));
    assert!(bm(CmpOp::Ne, true).matches(&b(false)));
    assert!(!bm(CmpOp::Eq, true).matches(&b(false)));
}

#[test]
fn field_to_field() {
    assert!(
        check_values(CmpOp::Eq, &s(&["a"]), &s(&["a", "b"])),
        "first right value"
    );
    assert!(!check_values(CmpOp::Eq, &s(&["b"]), &s(&["a", "b"])));
    assert!(check_values(CmpOp::In, &s(&["b", "a"]), &s(&["a", "b"])));
    assert!(
        !check_values(CmpOp::Ne, &s(&["a"]), &Values::new()),
        "missing right side: false"
    );
    assert!(check_values(CmpOp::StartsWith, &s(&["alice"]), &s(&["al"])));
    assert!(check_values(CmpOp::Glob, &s(&["alice"]), &s(&["a*"])));
}

#[test]
fn field_rhs_is_not_a_literal_matcher() {
    let rhs = Rhs::Value(kaudit_frontend::ir::ValueExpr::Field(
        kaudit_frontend::ir::FieldRef {
            id: kaudit_frontend::catalog::FieldId::KaVerb,
            arg: kaudit_frontend::ir::FieldArg::None,
        },
    ));
    assert!(Matcher::new(CmpOp::Eq, None, &rhs, FieldType::String).is_err());
}
