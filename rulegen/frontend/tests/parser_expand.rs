//! Textual list expansion (docs/semantics.md#list-expansion), checked against the facts real Falco confirmed
//! (conformance/micro/FINDINGS.md §2.6; docs/semantics.md#list-expansion) and against a literal model of Falco's
//! algorithm.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kaudit_frontend::ast::{Expr, Rhs};
use kaudit_frontend::cond::parse;
use kaudit_frontend::expand::{
    compile_list_items, compile_list_items_tracked, expand_lists, expand_lists_tracked, paren_item,
    quote_item,
};
use proptest::prelude::*;

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The values of the single check in `text` after expansion.
fn rhs_items(text: &str) -> Vec<String> {
    match parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}")) {
        Expr::Check(c) => match c.rhs {
            Rhs::List { items, .. } => items,
            Rhs::Value { text, .. } => vec![text],
            other => panic!("{other:?}"),
        },
        Expr::Not(inner) => match *inner {
            Expr::Check(c) => match c.rhs {
                Rhs::List { items, .. } => items,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn nested_list_names_expand_one_level_only() {
    // lang_list_nested_one_level: l1=[x1], l2=[l1,x2], l3=[l2,x3]; `in (l3)` holds x2, x3 and the
    // literal l1, but not x1.
    let raw: Vec<(&str, Vec<String>)> = vec![
        ("l1", v(&["x1"])),
        ("l2", v(&["l1", "x2"])),
        ("l3", v(&["l2", "x3"])),
    ];
    let mut compiled: Vec<(&str, Vec<String>)> = Vec::new();
    for (i, (name, items)) in raw.iter().enumerate() {
        // Lists defined before this one are visible to it.
        let visible = |n: &str| {
            raw.get(..i)
                .and_then(|earlier| earlier.iter().find(|(m, _)| *m == n))
                .map(|(_, it)| it.as_slice())
        };
        compiled.push((name, compile_list_items(items, visible)));
    }
    assert_eq!(compiled[1].1, v(&["x1", "x2"]));
    assert_eq!(compiled[2].1, v(&["l1", "x2", "x3"]));
    let lists: Vec<(&str, &[String])> = compiled.iter().map(|(n, i)| (*n, i.as_slice())).collect();
    assert_eq!(
        rhs_items(&expand_lists("ka.verb in (l3)", &lists)),
        v(&["l1", "x2", "x3"])
    );
    assert_eq!(
        rhs_items(&expand_lists("ka.verb in (l2)", &lists)),
        v(&["x1", "x2"])
    );
}

#[test]
fn compile_reports_which_lists_it_expanded() {
    let a = v(&["1"]);
    let (items, used) =
        compile_list_items_tracked(&v(&["a", "b", "a"]), |n| (n == "a").then_some(a.as_slice()));
    assert_eq!(items, v(&["1", "b", "1"]));
    assert_eq!(used, v(&["a", "a"]));
}

#[test]
fn undefined_names_stay_literal_values() {
    assert_eq!(
        expand_lists("ka.verb in (unknown_list)", &[]),
        "ka.verb in (unknown_list)"
    );
    assert_eq!(
        rhs_items(&expand_lists("ka.verb in (unknown_list)", &[])),
        v(&["unknown_list"])
    );
}

#[test]
fn a_list_without_parentheses_works_only_with_one_item() {
    let two = v(&["a", "b"]);
    let text = expand_lists("ka.verb in two", &[("two", &two)]);
    assert_eq!(text, "ka.verb in a, b ");
    assert_eq!(
        parse(&text).unwrap_err().message,
        "unexpected token after 'a', expecting 'or', 'and'"
    );
    let one = v(&["get"]);
    assert_eq!(
        rhs_items(&expand_lists("ka.verb in one", &[("one", &one)])),
        v(&["get"])
    );
}

#[test]
fn items_with_commas_split_and_items_with_spaces_are_quoted() {
    let comma = v(&["a,b"]);
    assert_eq!(
        rhs_items(&expand_lists("ka.verb in (l)", &[("l", &comma)])),
        v(&["a", "b"])
    );
    let spaced = v(&["a b", "'c d'", "e"]);
    let text = expand_lists("ka.verb in (l)", &[("l", &spaced)]);
    assert_eq!(text, "ka.verb in ( \"a b\", 'c d', e )");
    assert_eq!(rhs_items(&text), v(&["a b", "c d", "e"]));
}

#[test]
fn an_empty_list_drops_one_neighbouring_comma() {
    let empty: Vec<String> = vec![];
    let lists = [("empty_list", empty.as_slice())];
    assert_eq!(
        rhs_items(&expand_lists("ka.verb in (create, empty_list)", &lists)),
        v(&["create"])
    );
    assert_eq!(
        rhs_items(&expand_lists("ka.verb in (empty_list)", &lists)),
        v(&[])
    );
    assert_eq!(
        rhs_items(&expand_lists("not ka.verb in (empty_list)", &lists)),
        v(&[])
    );
    assert_eq!(
        rhs_items(&expand_lists("ka.verb in (empty_list, get)", &lists)),
        v(&["get"])
    );
    assert_eq!(
        expand_lists("ka.verb in (a, empty_list)", &lists),
        "ka.verb in (a  )"
    );
    assert_eq!(
        expand_lists("ka.verb in (empty_list, a)", &lists),
        "ka.verb in (   a)"
    );
}

#[test]
fn names_are_replaced_inside_quoted_strings_and_in_value_position() {
    // lang_list_name_inside_quoted_string: bar=[zzz] turns "a bar b" into "a zzz b".
    let bar = v(&["zzz"]);
    assert_eq!(
        rhs_items(&expand_lists(
            "ka.user.name = \"a bar b\"",
            &[("bar", &bar)]
        )),
        v(&["a zzz b"])
    );
    // lang_list_shadows_value_word: create=[get] makes `= create` compare with get.
    let create = v(&["get"]);
    assert_eq!(
        rhs_items(&expand_lists("ka.verb = create", &[("create", &create)])),
        v(&["get"])
    );
}

#[test]
fn names_must_be_bounded_by_delimiters() {
    let l = v(&["X"]);
    let lists = [("ab", l.as_slice())];
    assert_eq!(expand_lists("abc = ab", &lists), "abc = X ");
    assert_eq!(expand_lists("x.ab = (ab)", &lists), "x.ab = ( X )");
    assert_eq!(expand_lists("(ab,ab)=ab", &lists), "( X , X )= X ");
    assert_eq!(expand_lists("ab", &lists), "X ");
    assert_eq!(expand_lists("aab abb", &lists), "aab abb");
}

#[test]
fn lists_are_substituted_in_order_and_usage_is_reported() {
    // A later list's name produced by an earlier substitution is expanded too.
    let a = v(&["b"]);
    let b = v(&["c"]);
    let unused = v(&["z"]);
    let (text, used) = expand_lists_tracked("x.y in (a)", &[("a", &a), ("b", &b), ("zz", &unused)]);
    assert_eq!(rhs_items(&text), v(&["c"]));
    assert_eq!(used, vec![true, true, false]);
    // ...but not the other way round.
    let (text, _) = expand_lists_tracked("x.y in (a)", &[("b", &b), ("a", &a)]);
    assert_eq!(rhs_items(&text), v(&["b"]));
}

#[test]
fn quoting_helpers_follow_falco() {
    assert_eq!(quote_item("a b"), "\"a b\"");
    assert_eq!(quote_item("'a b'"), "'a b'");
    assert_eq!(quote_item("\"a b"), "\"a b");
    assert_eq!(quote_item("a,b"), "a,b");
    assert_eq!(paren_item("apt_files"), "(apt_files)");
    assert_eq!(paren_item("(a, b)"), "(a, b)");
}

#[test]
fn huge_conditions_expand_in_linear_time() {
    let items = v(&["a b", "c"]);
    let empty: Vec<String> = vec![];
    let text = "x.y in (l, e) or ".repeat(50_000) + "x.y in (l)";
    let started = std::time::Instant::now();
    let out = expand_lists(&text, &[("l", &items), ("e", &empty)]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(parse(&out).is_ok());
    assert_eq!(out.matches("\"a b\", c").count(), 50_001);
}

/// A literal model of Falco's `resolve_list`: rebuild the whole text after every replacement.
fn falco_model(cnd: &str, name: &str, items: &[String]) -> String {
    let blanks = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let delim = |b: u8| blanks(b) || matches!(b, b'(' | b')' | b',' | b'=');
    let find = |hay: &[u8], from: usize| -> Option<usize> {
        (from..=hay.len().saturating_sub(name.len()))
            .find(|&i| hay.get(i..i + name.len()) == Some(name.as_bytes()))
    };
    let mut cnd = cnd.as_bytes().to_vec();
    let mut start = find(&cnd, 0);
    while let Some(mut s) = start {
        let mut e = s + name.len();
        if (s == 0 || delim(cnd[s - 1])) && (e >= cnd.len() || delim(cnd[e])) {
            while s > 0 && blanks(cnd[s - 1]) {
                s -= 1;
            }
            while e < cnd.len() && blanks(cnd[e]) {
                e += 1;
            }
            let sub = items
                .iter()
                .map(|i| quote_item(i))
                .collect::<Vec<_>>()
                .join(", ");
            if sub.is_empty() {
                if s > 0 && cnd[s - 1] == b',' {
                    s -= 1;
                } else if e < cnd.len() && cnd[e] == b',' {
                    e += 1;
                }
            }
            let mut new = Vec::new();
            if s > 0 {
                new.extend_from_slice(&cnd[..s]);
                new.push(b' ');
            }
            new.extend_from_slice(sub.as_bytes());
            new.push(b' ');
            new.extend_from_slice(&cnd[e..]);
            cnd = new;
            s += sub.len() + 1;
        }
        start = find(&cnd, s + 1);
    }
    String::from_utf8(cnd).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn expansion_matches_falcos_algorithm(
        text in "[lab ,()=\t\n]{0,24}",
        name in prop_oneof![Just("l"), Just("ab"), Just("a")],
        items in proptest::collection::vec(prop_oneof![Just("x"), Just("y z"), Just(""), Just("l"), Just("p,q")], 0..3),
    ) {
        let items: Vec<String> = items.into_iter().map(String::from).collect();
        prop_assert_eq!(expand_lists(&text, &[(name, &items)]), falco_model(&text, name, &items));
    }
}
