//! Condition grammar (docs/semantics.md#grammar, #quoted-strings, #modifiers): what trees the parser builds.

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
use kaudit_frontend::cond::{erase_offsets, parse, print};
use kaudit_frontend::ops::{OpClass, OPERATORS};

fn tree(text: &str) -> Expr {
    let mut e = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    erase_offsets(&mut e);
    e
}

/// Parses, then prints canonically.
fn canon(text: &str) -> String {
    print(&tree(text))
}

fn m(name: &str) -> Expr {
    Expr::Macro {
        name: name.into(),
        at: 0,
    }
}

fn field(name: &str) -> Operand {
    Operand::Field(FieldRef {
        name: name.into(),
        arg: None,
        at: 0,
    })
}

fn field_arg(name: &str, arg: &str) -> Operand {
    Operand::Field(FieldRef {
        name: name.into(),
        arg: Some(arg.into()),
        at: 0,
    })
}

fn check(lhs: Operand, op: CmpOp, rhs: Rhs) -> Expr {
    Expr::Check(Box::new(Check {
        lhs,
        op,
        modifier: None,
        rhs,
        at: 0,
        op_at: 0,
    }))
}

fn bare(text: &str) -> Rhs {
    Rhs::Value {
        text: text.into(),
        quoted: false,
        at: 0,
    }
}

fn quoted(text: &str) -> Rhs {
    Rhs::Value {
        text: text.into(),
        quoted: true,
        at: 0,
    }
}

fn list(items: &[&str]) -> Rhs {
    Rhs::List {
        items: items.iter().map(|s| s.to_string()).collect(),
        at: 0,
    }
}

fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

fn transform(func: Transformer, args: Vec<TArg>) -> Operand {
    Operand::Transform {
        func,
        args,
        arg: None,
        at: 0,
    }
}

#[test]
fn and_binds_tighter_than_or_and_not_tighter_than_and() {
    assert_eq!(
        tree("a and b or c"),
        Expr::Or(vec![Expr::And(vec![m("a"), m("b")]), m("c")])
    );
    assert_eq!(
        tree("a or b and c"),
        Expr::Or(vec![m("a"), Expr::And(vec![m("b"), m("c")])])
    );
    assert_eq!(tree("not a and b"), Expr::And(vec![not(m("a")), m("b")]));
    assert_eq!(
        tree("a or not b or c"),
        Expr::Or(vec![m("a"), not(m("b")), m("c")])
    );
}

#[test]
fn and_or_chains_are_n_ary_but_parentheses_keep_their_group() {
    assert_eq!(
        tree("a and b and c"),
        Expr::And(vec![m("a"), m("b"), m("c")])
    );
    assert_eq!(
        tree("a or b or c or d"),
        Expr::Or(vec![m("a"), m("b"), m("c"), m("d")])
    );
    assert_eq!(
        tree("(a or b) or c"),
        Expr::Or(vec![Expr::Or(vec![m("a"), m("b")]), m("c")])
    );
    assert_eq!(
        tree("a and (b or c)"),
        Expr::And(vec![m("a"), Expr::Or(vec![m("b"), m("c")])])
    );
    assert_eq!(tree("((((a))))"), m("a"));
}

#[test]
fn repeated_not_toggles_and_not_paren_needs_no_blank() {
    assert_eq!(tree("not not a"), m("a"));
    assert_eq!(tree("not not not a"), not(m("a")));
    assert_eq!(tree("not(a or b)"), not(Expr::Or(vec![m("a"), m("b")])));
    assert_eq!(tree("not not(a)"), m("a"));
    assert_eq!(tree("not\ta"), not(m("a")));
    // `not` glued to a word is an identifier, and a lone `not` is a macro name.
    assert_eq!(tree("nota"), m("nota"));
    assert_eq!(tree("(not)"), m("not"));
}

#[test]
fn and_or_accept_a_parenthesis_instead_of_a_blank() {
    assert_eq!(tree("a and(b)"), Expr::And(vec![m("a"), m("b")]));
    assert_eq!(tree("a or(b)"), Expr::Or(vec![m("a"), m("b")]));
    assert_eq!(tree("(a)and(b)"), Expr::And(vec![m("a"), m("b")]));
}

#[test]
fn blanks_include_cr_lf_tab_and_backspace_and_may_surround_everything() {
    let t = tree(" \t\r\n\u{8}ka.verb\n=\nget\r\nand\tb\n");
    assert_eq!(
        t,
        Expr::And(vec![
            check(field("ka.verb"), CmpOp::Eq, bare("get")),
            m("b")
        ])
    );
}

#[test]
fn symbol_operators_need_no_blanks() {
    assert_eq!(
        tree("ka.verb=get"),
        check(field("ka.verb"), CmpOp::Eq, bare("get"))
    );
    assert_eq!(
        tree("ka.verb!=get"),
        check(field("ka.verb"), CmpOp::Ne, bare("get"))
    );
    assert_eq!(
        tree("ka.verb==get"),
        check(field("ka.verb"), CmpOp::EqEq, bare("get"))
    );
    assert_eq!(
        tree("evt.num<=5"),
        check(field("evt.num"), CmpOp::Le, bare("5"))
    );
    assert_eq!(
        tree("evt.num>+5.5e-3"),
        check(field("evt.num"), CmpOp::Gt, bare("+5.5e-3"))
    );
}

#[test]
fn list_operators_and_exists_are_plain_prefixes() {
    // Confirmed by real Falco (FINDINGS §2.3): `increate` reads as `in create`.
    assert_eq!(
        tree("ka.verb increate"),
        check(field("ka.verb"), CmpOp::In, list(&["create"]))
    );
    assert_eq!(
        tree("ka.verb in(a,b)"),
        check(field("ka.verb"), CmpOp::In, list(&["a", "b"]))
    );
    assert_eq!(
        tree("ka.verb intersects x"),
        check(field("ka.verb"), CmpOp::Intersects, list(&["x"]))
    );
    assert_eq!(
        tree("ka.uri pmatch (/a, /b)"),
        check(field("ka.uri"), CmpOp::PMatch, list(&["/a", "/b"]))
    );
    assert_eq!(
        tree("ka.verb exists"),
        check(field("ka.verb"), CmpOp::Exists, Rhs::None)
    );
}

#[test]
fn every_operator_in_the_table_parses_with_its_spelling() {
    for info in OPERATORS {
        let (text, rhs) = match info.class {
            OpClass::Unary => (format!("a.b {}", info.text), Rhs::None),
            OpClass::Numeric => (format!("a.b {} 10", info.text), bare("10")),
            OpClass::String => (format!("a.b {} \"v w\"", info.text), quoted("v w")),
            OpClass::List => (
                format!("a.b {} (x, \"y z\")", info.text),
                list(&["x", "y z"]),
            ),
        };
        assert_eq!(tree(&text), check(field("a.b"), info.op, rhs), "{text}");
        assert_eq!(canon(&text), text, "{text}");
    }
}

#[test]
fn lists_allow_empty_quoted_items_and_blanks() {
    assert_eq!(tree("a.b in ()"), check(field("a.b"), CmpOp::In, list(&[])));
    assert_eq!(
        tree("a.b in (  )"),
        check(field("a.b"), CmpOp::In, list(&[]))
    );
    assert_eq!(
        tree("a.b in ( 'x y' ,\"\", z )"),
        check(field("a.b"), CmpOp::In, list(&["x y", "", "z"]))
    );
    // Numbers are plain strings inside lists.
    assert_eq!(
        tree("a.b in (1, 0x10)"),
        check(field("a.b"), CmpOp::In, list(&["1", "0x10"]))
    );
}

#[test]
fn numeric_operators_take_numbers_and_hex() {
    assert_eq!(
        tree("a.b < 0x1F"),
        check(field("a.b"), CmpOp::Lt, bare("0x1F"))
    );
    assert_eq!(
        tree("a.b >= -3"),
        check(field("a.b"), CmpOp::Ge, bare("-3"))
    );
    assert_eq!(tree("a.b > 1."), check(field("a.b"), CmpOp::Gt, bare("1.")));
}

#[test]
fn string_values_bare_or_quoted() {
    assert_eq!(
        tree("a.b = /api/v1/x?y"),
        check(field("a.b"), CmpOp::Eq, bare("/api/v1/x?y"))
    );
    assert_eq!(
        tree("a.b = system:serviceaccount:[x]"),
        check(field("a.b"), CmpOp::Eq, bare("system:serviceaccount:[x]"))
    );
    // Two adjacent quoted strings are not one value.
    assert_eq!(
        parse("a.b = 'it''s'").unwrap_err().message,
        "unexpected token after 'it', expecting 'or', 'and'"
    );
    assert_eq!(
        tree("a.b contains \"x y\""),
        check(field("a.b"), CmpOp::Contains, quoted("x y"))
    );
    assert_eq!(tree("a.b = ''"), check(field("a.b"), CmpOp::Eq, quoted("")));
    assert_eq!(tree("a.b = é"), check(field("a.b"), CmpOp::Eq, bare("é")));
}

#[test]
fn escapes_in_quoted_strings() {
    assert_eq!(
        tree(r#"a.b = "a\"b\\c\/d\n\t""#),
        check(field("a.b"), CmpOp::Eq, quoted("a\"b\\c/d\n\t"))
    );
    assert_eq!(
        tree(r"a.b = 'it\'s'"),
        check(field("a.b"), CmpOp::Eq, quoted("it's"))
    );
    // Backslash-space is a lone backslash (legacy rules rely on it).
    assert_eq!(
        tree(r#"a.b = "C:\ dir""#),
        check(field("a.b"), CmpOp::Eq, quoted("C:\\dir"))
    );
    // A raw newline may sit inside a quoted string.
    assert_eq!(
        tree("a.b = \"x\ny\""),
        check(field("a.b"), CmpOp::Eq, quoted("x\ny"))
    );
}

#[test]
fn field_arguments_bare_or_quoted() {
    assert_eq!(
        tree("ka.uri.param[cmd] = x"),
        check(field_arg("ka.uri.param", "cmd"), CmpOp::Eq, bare("x"))
    );
    assert_eq!(
        tree("jevt.value[/a/b] exists"),
        check(field_arg("jevt.value", "/a/b"), CmpOp::Exists, Rhs::None)
    );
    assert_eq!(
        tree(r#"jevt.value["/a b]"] exists"#),
        check(field_arg("jevt.value", "/a b]"), CmpOp::Exists, Rhs::None)
    );
    assert_eq!(
        tree("x.y[0]=1"),
        check(field_arg("x.y", "0"), CmpOp::Eq, bare("1"))
    );
}

#[test]
fn field_names_need_a_dot_and_letters_after_each_dot() {
    assert_eq!(
        tree("ka.req.pod.containers.image exists"),
        check(
            field("ka.req.pod.containers.image"),
            CmpOp::Exists,
            Rhs::None
        )
    );
    assert_eq!(
        tree("a_1.b_2 exists"),
        check(field("a_1.b_2"), CmpOp::Exists, Rhs::None)
    );
    // Without a dot it is a macro name.
    assert_eq!(tree("my_macro_2"), m("my_macro_2"));
}

#[test]
fn modifiers_after_string_operators() {
    let t = tree("ka.user.name startswith anyof (system:, eks:)");
    let Expr::Check(c) = t else {
        panic!("not a check")
    };
    assert_eq!(
        (c.op, c.modifier, c.rhs),
        (
            CmpOp::StartsWith,
            Some(Modifier::AnyOf),
            list(&["system:", "eks:"])
        )
    );
    for (word, modifier) in [("oneof", Modifier::OneOf), ("allof", Modifier::AllOf)] {
        let Expr::Check(c) = tree(&format!("a.b = {word} lst")) else {
            panic!()
        };
        assert_eq!(
            (c.op, c.modifier, c.rhs),
            (CmpOp::Eq, Some(modifier), list(&["lst"]))
        );
    }
    // Not followed by a list or identifier, or followed by a keyword: an ordinary value.
    assert_eq!(
        tree("ka.verb = anyof"),
        check(field("ka.verb"), CmpOp::Eq, bare("anyof"))
    );
    assert_eq!(
        tree("ka.verb = anyof and b"),
        Expr::And(vec![
            check(field("ka.verb"), CmpOp::Eq, bare("anyof")),
            m("b")
        ])
    );
    assert_eq!(
        tree("ka.verb = anyof or b"),
        Expr::Or(vec![
            check(field("ka.verb"), CmpOp::Eq, bare("anyof")),
            m("b")
        ])
    );
    // The modifier needs a blank after it, and a symbol operator needs a blank before it.
    assert!(parse("ka.verb = anyof(a)").is_err());
    assert!(parse("ka.verb =anyof (a)").is_err());
}

#[test]
fn transformers_on_both_sides_nested_and_with_arguments() {
    assert_eq!(
        tree("tolower(ka.verb) = get"),
        check(
            transform(Transformer::ToLower, vec![TArg::Operand(field("ka.verb"))]),
            CmpOp::Eq,
            bare("get")
        )
    );
    assert_eq!(
        tree("len( toupper( b64(ka.x) ) ) > 3"),
        check(
            transform(
                Transformer::Len,
                vec![TArg::Operand(transform(
                    Transformer::ToUpper,
                    vec![TArg::Operand(transform(
                        Transformer::B64,
                        vec![TArg::Operand(field("ka.x"))]
                    ))]
                ))]
            ),
            CmpOp::Gt,
            bare("3")
        )
    );
    assert_eq!(
        tree("ka.verb = val(ka.user.name)"),
        check(
            field("ka.verb"),
            CmpOp::Eq,
            Rhs::Operand(transform(
                Transformer::Val,
                vec![TArg::Operand(field("ka.user.name"))]
            ))
        )
    );
    assert_eq!(
        tree("ka.verb in basename(ka.uri)"),
        check(
            field("ka.verb"),
            CmpOp::In,
            Rhs::Operand(transform(
                Transformer::Basename,
                vec![TArg::Operand(field("ka.uri"))]
            ))
        )
    );
    assert_eq!(
        tree("len(ka.x) >= len(ka.y)"),
        check(
            transform(Transformer::Len, vec![TArg::Operand(field("ka.x"))]),
            CmpOp::Ge,
            Rhs::Operand(transform(
                Transformer::Len,
                vec![TArg::Operand(field("ka.y"))]
            ))
        )
    );
    let Expr::Check(c) = tree(r#"join(",", (ka.a, 'x', 7, tolower(ka.b))) = x"#) else {
        panic!()
    };
    assert_eq!(
        c.lhs,
        transform(
            Transformer::Join,
            vec![
                TArg::Literal(",".into()),
                TArg::List(vec![
                    TArg::Operand(field("ka.a")),
                    TArg::Literal("x".into()),
                    TArg::Literal("7".into()),
                    TArg::Operand(transform(
                        Transformer::ToLower,
                        vec![TArg::Operand(field("ka.b"))]
                    )),
                ]),
            ]
        )
    );
    let Expr::Check(c) = tree(r#"getopt(ka.args, "ab:")[b] = x"#) else {
        panic!()
    };
    assert_eq!(
        c.lhs,
        Operand::Transform {
            func: Transformer::Getopt,
            args: vec![TArg::Operand(field("ka.args")), TArg::Literal("ab:".into())],
            arg: Some("b".into()),
            at: 0
        }
    );
    let Expr::Check(c) = tree("concat(ka.a, ka.b[x], ()) exists") else {
        panic!()
    };
    assert_eq!(
        c.lhs,
        transform(
            Transformer::Concat,
            vec![
                TArg::Operand(field("ka.a")),
                TArg::Operand(field_arg("ka.b", "x")),
                TArg::List(vec![])
            ]
        )
    );
}

#[test]
fn a_transformer_name_needs_its_parenthesis_attached() {
    // `tolower (` is not a transformer call: `tolower` is then a macro name.
    assert!(parse("tolower (ka.verb) = x").is_err());
    assert_eq!(
        tree("ka.verb = tolower"),
        check(field("ka.verb"), CmpOp::Eq, bare("tolower"))
    );
    // `val(` is right-hand only: on the left, `val` is a macro name.
    assert!(parse("val(ka.verb) = x").is_err());
}

#[test]
fn offsets_point_at_tokens() {
    let Expr::And(children) = parse("a and  ka.verb  =  get").unwrap() else {
        panic!()
    };
    assert_eq!(
        children[0],
        Expr::Macro {
            name: "a".into(),
            at: 0
        }
    );
    let Expr::Check(c) = &children[1] else {
        panic!()
    };
    assert_eq!((c.at, c.op_at), (7, 16));
    assert_eq!(
        c.rhs,
        Rhs::Value {
            text: "get".into(),
            quoted: false,
            at: 19
        }
    );
    let Operand::Field(f) = &c.lhs else { panic!() };
    assert_eq!(f.at, 7);
}

#[test]
fn canonical_printing_parenthesises_only_where_needed() {
    assert_eq!(canon("a and b or c"), "a and b or c");
    assert_eq!(canon("a and (b or c)"), "a and (b or c)");
    assert_eq!(canon("(a and b) and c"), "(a and b) and c");
    assert_eq!(canon("not (not a)"), "not (not a)");
    assert_eq!(canon("not (a or b)"), "not (a or b)");
    assert_eq!(canon("ka.verb in(a,'b c')"), "ka.verb in (a, \"b c\")");
    assert_eq!(canon("ka.verb increate"), "ka.verb in (create)");
    assert_eq!(canon(r#"a.b='x"y'"#), r#"a.b = "x\"y""#);
    assert_eq!(canon(r#"a.b[" "] exists"#), r#"a.b[" "] exists"#);
    assert_eq!(canon("(and) or (not)"), "(and) or (not)");
}
