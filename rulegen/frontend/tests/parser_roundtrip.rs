//! Property: for every tree the parser can produce, `parse(print(tree)) == tree`.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kaudit_frontend::ast::{
    Check, CmpOp, Expr, FieldRef, Modifier, Operand, Rhs, TArg, Transformer,
};
use kaudit_frontend::cond::{erase_offsets, is_bare_string, parse, print};
use kaudit_frontend::ops::{OpClass, OPERATORS};
use proptest::prelude::*;

fn identifier() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_]{0,6}",
        // Keywords and keyword-like names are the tricky macro names.
        Just("not".to_string()),
        Just("and".to_string()),
        Just("or".to_string()),
        Just("nota".to_string()),
        Just("or_x".to_string()),
    ]
}

/// Any text Falco can write in a quoted string (everything but NUL).
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\u{0}]{0,8}",
        "[a\\\\\"' \n\t]{0,6}",
        Just(String::new()),
        Just("\\".to_string()),
        Just("anyof".to_string()),
    ]
}

fn bare_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9/:.*!<>\\[\\]é_-]{1,8}",
        Just("anyof".to_string()),
        Just("and".to_string())
    ]
    .prop_filter("bare", |s| is_bare_string(s))
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        "[+-]?[0-9]{1,4}(\\.[0-9]{0,3})?([eE][+-][0-9]{1,2})?",
        "0[xX][0-9a-fA-F]{1,6}"
    ]
}

fn field() -> impl Strategy<Value = FieldRef> {
    (
        "[a-z][a-z0-9_]{0,4}(\\.[a-z][a-z0-9_]{0,4}){1,3}",
        proptest::option::of(prop_oneof!["[a-z0-9/~]{1,5}", any_text()]),
    )
        .prop_map(|(name, arg)| FieldRef { name, arg, at: 0 })
}

fn transformer() -> impl Strategy<Value = Transformer> {
    proptest::sample::select(
        Transformer::ALL
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| *t != Transformer::Val)
            .collect::<Vec<_>>(),
    )
}

fn operand() -> impl Strategy<Value = Operand> {
    field().prop_map(Operand::Field).prop_recursive(3, 12, 3, |inner| {
        let targ = prop_oneof![
            3 => inner.clone().prop_map(TArg::Operand),
            1 => any_text().prop_map(TArg::Literal),
            1 => proptest::collection::vec(
                prop_oneof![inner.clone().prop_map(TArg::Operand), any_text().prop_map(TArg::Literal)],
                0..3
            )
            .prop_map(TArg::List),
        ];
        (transformer(), proptest::collection::vec(targ, 1..3), proptest::option::of("[a-z0-9]{1,3}"))
            .prop_map(|(func, args, arg)| Operand::Transform { func, args, arg, at: 0 })
    })
}

/// A right-hand operand: a transformer or `val(field)`.
fn rhs_operand() -> impl Strategy<Value = Rhs> {
    prop_oneof![
        operand().prop_filter("transformer", |o| matches!(o, Operand::Transform { .. })),
        (field(), proptest::option::of("[a-z0-9]{1,3}")).prop_map(|(f, arg)| Operand::Transform {
            func: Transformer::Val,
            args: vec![TArg::Operand(Operand::Field(f))],
            arg,
            at: 0
        }),
    ]
    .prop_map(Rhs::Operand)
}

fn list() -> impl Strategy<Value = Rhs> {
    proptest::collection::vec(prop_oneof![bare_text(), any_text()], 0..4)
        .prop_map(|items| Rhs::List { items, at: 0 })
}

fn check() -> impl Strategy<Value = Expr> {
    let op = proptest::sample::select(
        OPERATORS
            .iter()
            .map(|o| (o.op, o.class))
            .collect::<Vec<_>>(),
    );
    (operand(), op).prop_flat_map(|(lhs, (op, class))| {
        let rhs: BoxedStrategy<(Option<Modifier>, Rhs)> = match class {
            OpClass::Unary => Just((None, Rhs::None)).boxed(),
            OpClass::Numeric => prop_oneof![
                number().prop_map(|text| (
                    None,
                    Rhs::Value {
                        text,
                        quoted: false,
                        at: 0
                    }
                )),
                rhs_operand().prop_map(|r| (None, r)),
            ]
            .boxed(),
            OpClass::String => prop_oneof![
                any_text().prop_map(|text| (
                    None,
                    Rhs::Value {
                        text,
                        quoted: true,
                        at: 0
                    }
                )),
                bare_text().prop_map(|text| (
                    None,
                    Rhs::Value {
                        text,
                        quoted: false,
                        at: 0
                    }
                )),
                (
                    proptest::sample::select(vec![
                        Modifier::AnyOf,
                        Modifier::AllOf,
                        Modifier::OneOf
                    ]),
                    list()
                )
                    .prop_map(|(m, l)| (Some(m), l)),
                rhs_operand().prop_map(|r| (None, r)),
            ]
            .boxed(),
            OpClass::List => prop_oneof![
                list().prop_map(|l| (None, l)),
                rhs_operand().prop_map(|r| (None, r))
            ]
            .boxed(),
        };
        rhs.prop_map(move |(modifier, rhs)| {
            Expr::Check(Box::new(Check {
                lhs: lhs.clone(),
                op,
                modifier,
                rhs,
                at: 0,
                op_at: 0,
            }))
        })
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf =
        prop_oneof![3 => check(), 1 => identifier().prop_map(|name| Expr::Macro { name, at: 0 })];
    leaf.prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn printed_trees_parse_back_to_themselves(tree in expr()) {
        let text = print(&tree);
        let mut back = parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        erase_offsets(&mut back);
        prop_assert_eq!(back, tree, "text: {:?}", text);
    }

    #[test]
    fn printing_is_a_fixpoint_on_parsed_text(tree in expr()) {
        let once = print(&tree);
        let reparsed = parse(&once).map_err(|e| TestCaseError::fail(format!("{once:?}: {e}")))?;
        prop_assert_eq!(print(&reparsed), once);
    }
}

#[test]
fn every_operator_round_trips_with_every_rhs_kind() {
    for info in OPERATORS {
        let rhs_texts: &[&str] = match info.class {
            OpClass::Unary => &[""],
            OpClass::Numeric => &[" 5", " 0x1f", " len(ka.y)", " val(ka.y)"],
            OpClass::String => &[
                " x",
                " \"a b\"",
                " anyof (a, \"b c\")",
                " tolower(ka.y)",
                " val(ka.y[0])",
            ],
            OpClass::List => &[" (a, \"b c\")", " ()", " toupper(ka.y)"],
        };
        for rhs in rhs_texts {
            let text = format!("ka.x {}{rhs}", info.text);
            let mut tree = parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            erase_offsets(&mut tree);
            assert_eq!(print(&tree), text);
            let mut back = parse(&print(&tree)).unwrap();
            erase_offsets(&mut back);
            assert_eq!(back, tree);
            if let Expr::Check(c) = &tree {
                assert_eq!(c.op, info.op);
                assert_eq!(c.op == CmpOp::Exists, matches!(c.rhs, Rhs::None));
            }
        }
    }
}
