//! Operands on their own: output tokens (longest valid prefix, docs/semantics.md#output-format) and exception fields.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use kaudit_frontend::ast::{Operand, TArg, Transformer};
use kaudit_frontend::cond::{parse_operand, parse_operand_prefix, print_operand};

/// A stand-in for the field catalog: known names, and whether the field needs an argument.
fn known(op: &Operand) -> bool {
    match op {
        Operand::Field(f) => match f.name.as_str() {
            "ka.verb" | "ka.user.name" | "ka.uri" => f.arg.is_none(),
            "ka.uri.param" | "jevt.value" => f.arg.is_some(),
            _ => false,
        },
        Operand::Transform { args, .. } => args.iter().all(|a| match a {
            TArg::Operand(o) => known(o),
            _ => true,
        }),
    }
}

fn token(text: &str) -> Option<(String, usize)> {
    parse_operand_prefix(text, known).map(|(op, n)| (print_operand(&op), n))
}

#[test]
fn the_longest_prefix_that_is_a_known_field_wins() {
    assert_eq!(token("ka.verb"), Some(("ka.verb".into(), 7)));
    assert_eq!(token("ka.verbose"), Some(("ka.verb".into(), 7)));
    assert_eq!(token("ka.user.namex"), Some(("ka.user.name".into(), 12)));
    assert_eq!(
        token("ka.user.name and more"),
        Some(("ka.user.name".into(), 12))
    );
    assert_eq!(token("ka.verb.x"), Some(("ka.verb".into(), 7)));
    assert_eq!(
        token("ka.uri.param[cmd]/x"),
        Some(("ka.uri.param[cmd]".into(), 17))
    );
    // out_longest_prefix_tokens: a space in the argument leaves only `ka.uri`.
    assert_eq!(token("ka.uri.param[k y]"), Some(("ka.uri".into(), 6)));
    assert_eq!(
        token("jevt.value[\"/x\"] z"),
        Some(("jevt.value[/x]".into(), 16))
    );
}

#[test]
fn transformer_tokens() {
    assert_eq!(
        token("toupper(ka.user.name) x"),
        Some(("toupper(ka.user.name)".into(), 21))
    );
    assert_eq!(
        token("tolower( ka.verb )!"),
        Some(("tolower(ka.verb)".into(), 18))
    );
    // An unknown inner field makes the transformer unusable; nothing shorter is a field either.
    assert_eq!(token("toupper(ka.nosuch)"), None);
}

#[test]
fn no_token_at_all() {
    for text in ["", " ka.verb", "ka.nosuch", "%", "(ka.verb)", "ka.", "1"] {
        assert_eq!(token(text), None, "{text:?}");
    }
}

#[test]
fn long_outputs_do_not_make_the_search_quadratic() {
    let long = format!("ka.verbose{}", " x".repeat(200_000));
    let started = Instant::now();
    assert_eq!(token(&long), Some(("ka.verb".into(), 7)));
    // An unterminated string inside a transformer forces a scan to the end at every length; the
    // work budget bounds it.
    let hostile = format!("tolower(\"{}", "a".repeat(200_000));
    assert_eq!(token(&hostile), None);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn exception_fields_parse_as_operands() {
    let op = parse_operand("ka.target.namespace").unwrap();
    assert_eq!(print_operand(&op), "ka.target.namespace");
    let op = parse_operand("toupper(ka.user.name)").unwrap();
    assert!(matches!(
        op,
        Operand::Transform {
            func: Transformer::ToUpper,
            ..
        }
    ));
    assert_eq!(
        parse_operand("ka.uri.param[x]").map(|o| print_operand(&o)),
        Ok("ka.uri.param[x]".into())
    );
    assert!(parse_operand("").is_err());
    assert!(parse_operand("ka.verb = x").is_err());
    assert!(parse_operand("a or b").is_err());
    assert!(parse_operand("my_macro").is_err());
}
