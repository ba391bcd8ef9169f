//! Runs everything the runtime does with one audit event — every extractor with every kind of argument,
//! transformers, every operator, alert rendering — and checks the shape of each result. Shared by
//! `tests/never_panics.rs` and the `event_fields`/`webhook_body` fuzz targets (`fuzz/src/lib.rs`
//! includes this file), so both prove the same thing: no event, however odd, makes the runtime panic.
#![allow(dead_code)]

use kaudit_engine::alert::render::{apply_width, write_field_json, write_token_text};
use kaudit_engine::event::Event;
use kaudit_engine::interp::value::eval_value;
use kaudit_engine::ops::{check_values, Matcher};
use kaudit_engine::value::{Val, Values};
use kaudit_frontend::ast::{CmpOp, Modifier, Transformer};
use kaudit_frontend::catalog::{ArgKind, FieldInfo, FieldType, FIELDS};
use kaudit_frontend::ir::{FieldArg, FieldRef, Rhs, TArg, ValueExpr};
use kaudit_frontend::ops::{OpClass, OPERATORS};
use std::sync::OnceLock;

/// Index arguments: none, the first two elements, and one far past any real list.
const INDEX_ARGS: &[u64] = &[0, 1, u64::MAX];

/// Key arguments: JSON pointers (with escapes, into arrays, malformed) and plain keys.
const KEY_ARGS: &[&str] = &[
    "/a/0",
    "~1",
    "",
    "x",
    "/",
    "/~0/~1",
    "/verb",
    "/user/groups/1",
    "%zz",
];

/// Every argument `field` may be given.
pub fn args_for(field: &FieldInfo) -> Vec<FieldArg> {
    match field.arg {
        ArgKind::None => vec![FieldArg::None],
        ArgKind::Index => std::iter::once(FieldArg::None)
            .chain(INDEX_ARGS.iter().map(|&i| FieldArg::Index(i)))
            .collect(),
        ArgKind::Key => KEY_ARGS
            .iter()
            .map(|k| FieldArg::Key((*k).to_string()))
            .collect(),
    }
}

/// Compiled matchers of every operator (with and without modifiers) for one left-hand type.
struct TypedMatchers {
    string: Vec<Matcher>,
    numeric: Vec<Matcher>,
    boolean: Vec<Matcher>,
}

fn matchers() -> &'static TypedMatchers {
    static M: OnceLock<TypedMatchers> = OnceLock::new();
    M.get_or_init(|| {
        let strings: Vec<String> = ["", "a", "/etc", "*a?[b-c]*", "a.*", "ü", "x\u{0}y"]
            .map(String::from)
            .to_vec();
        let numbers = vec![0, 1, 1000, u64::MAX];
        let bools = vec![true, false];
        // The whole literal set (for `in`, `intersects`, `pmatch`, modifiers), then each literal alone.
        let sets = |all: Rhs, one: &dyn Fn(usize) -> Option<Rhs>| {
            std::iter::once(all)
                .chain((0..).map_while(one))
                .collect::<Vec<_>>()
        };
        let build = |rhss: Vec<Rhs>, ty: FieldType| {
            let mut out = Vec::new();
            for info in OPERATORS {
                let modifiers: &[Option<Modifier>] = match info.class {
                    OpClass::String => &[
                        None,
                        Some(Modifier::AnyOf),
                        Some(Modifier::AllOf),
                        Some(Modifier::OneOf),
                    ],
                    _ => &[None],
                };
                // Scalar operators use one literal, so each literal alone; modifiers and set
                // operators use the whole set. Some literals are invalid for some operators (a bad
                // regex): that is a rule-loading error, not evaluation, so those are skipped here.
                let with_whole_set = modifiers.iter().map(|m| (*m, &rhss[0]));
                let with_each_literal = rhss[1..].iter().map(|r| (None, r));
                for (m, rhs) in with_whole_set.chain(with_each_literal) {
                    if let Ok(matcher) = Matcher::new(info.op, m, rhs, ty) {
                        out.push(matcher);
                    }
                }
            }
            out
        };
        let string_rhs = sets(Rhs::Strings(strings.clone()), &|i| {
            strings.get(i).map(|s| Rhs::Strings(vec![s.clone()]))
        });
        let number_rhs = sets(Rhs::Numbers(numbers.clone()), &|i| {
            numbers.get(i).map(|n| Rhs::Numbers(vec![*n]))
        });
        let bool_rhs = sets(Rhs::Bools(bools.clone()), &|i| {
            bools.get(i).map(|b| Rhs::Bools(vec![*b]))
        });
        TypedMatchers {
            string: build(string_rhs, FieldType::String),
            numeric: build(number_rhs, FieldType::U64),
            boolean: build(bool_rhs, FieldType::Bool),
        }
    })
}

/// Whether `v` is a value of type `ty`.
fn has_type(v: &Val<'_>, ty: FieldType) -> bool {
    match (v, ty) {
        (Val::Str(_), FieldType::String) => true,
        (Val::Num(_), t) => t.is_numeric(),
        (Val::Bool(_), FieldType::Bool) => true,
        _ => false,
    }
}

/// Transformer expressions over `field`, shaped as the resolver builds them.
fn transforms(field: &FieldRef) -> Vec<ValueExpr> {
    let value = || TArg::Value(ValueExpr::Field(field.clone()));
    let unary = [
        Transformer::ToLower,
        Transformer::ToUpper,
        Transformer::B64,
        Transformer::Basename,
        Transformer::Len,
        Transformer::Val,
    ];
    let t = |func, args, arg: Option<&str>| ValueExpr::Transform {
        func,
        args,
        arg: arg.map(String::from),
    };
    let mut out: Vec<ValueExpr> = unary.iter().map(|&f| t(f, vec![value()], None)).collect();
    out.push(t(
        Transformer::Join,
        vec![TArg::Literal(",".into()), value()],
        None,
    ));
    out.push(t(
        Transformer::Concat,
        vec![value(), TArg::Literal("-".into()), value()],
        None,
    ));
    let optstring = || TArg::Literal(":ab:c".into());
    out.push(t(Transformer::Getopt, vec![value(), optstring()], None));
    out.push(t(
        Transformer::Getopt,
        vec![value(), optstring()],
        Some("b"),
    ));
    // A list argument mixing a literal and the field: `getopt((-b, field), ...)`.
    let list = TArg::List(vec![TArg::Literal("-b".into()), value()]);
    out.push(t(Transformer::Getopt, vec![list, optstring()], Some("b")));
    out
}

/// How much `exercise_event` runs per extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Extraction, type checks and rendering with every argument; transformers on the first argument
    /// only, no operators. Fast enough for fuzzing (operators only see values, which the property test
    /// generates directly).
    Fields,
    /// Everything, for every argument.
    Everything,
}

/// Runs every extractor (with every argument), transformer, operator and renderer on `ev`, asserting
/// that each result is missing or values of the field's declared type, at most one for single-valued
/// fields. Returns how many extractions produced a value.
pub fn exercise_event<'e>(ev: &'e Event<'e>, depth: Depth) -> usize {
    let everything = depth == Depth::Everything;
    let _ = (ev.time_ns(), ev.compact_text(), ev.has_audit_id());
    for (key, node) in ev.members() {
        let _ = (key.len(), node.as_str(), node.raw().len());
    }
    let mut present = 0;
    let mut vals = Values::new();
    let mut rendered = Vec::new();
    for field in FIELDS {
        for (k, arg) in args_for(field).into_iter().enumerate() {
            let first_arg = k == 0;
            let fref = FieldRef { id: field.id, arg };
            let expr = ValueExpr::Field(fref.clone());
            eval_value(ev, &expr, &mut vals);
            present += usize::from(!vals.is_empty());
            assert!(
                field.list || vals.len() <= 1,
                "{}[{:?}] is single-valued but gave {:?}",
                field.name,
                fref.arg,
                vals
            );
            for v in &vals {
                assert!(
                    has_type(v, field.ty),
                    "{}[{:?}] gave {v:?} for a {} field",
                    field.name,
                    fref.arg,
                    field.ty.name()
                );
            }
            render(&expr, &vals, &mut rendered);
            // Operators see only the values, so (to bound the time) they run on the values of each
            // field's first argument; `run_operators` gets arbitrary values in the property test.
            if everything && first_arg {
                run_operators(field.ty, &vals);
            }
            if everything {
                for info in OPERATORS {
                    let _ = check_values(info.op, &vals, &vals);
                }
            }
            if !(everything || first_arg) {
                continue;
            }
            for t in transforms(&fref) {
                let mut tv = Values::new();
                eval_value(ev, &t, &mut tv);
                render(&t, &tv, &mut rendered);
                let _ = check_values(CmpOp::Eq, &vals, &tv);
            }
        }
    }
    present
}

/// Runs every compiled operator (literal right-hand sides) for left-hand type `ty` on `vals`.
pub fn run_operators(ty: FieldType, vals: &Values<'_>) {
    let m = matchers();
    let typed = match ty {
        FieldType::String => &m.string,
        FieldType::Bool => &m.boolean,
        _ => &m.numeric,
    };
    for matcher in typed {
        let _ = matcher.matches(vals);
    }
}

/// Renders `vals` as alert text (also cut to a width) and as an `output_fields` JSON value.
fn render(expr: &ValueExpr, vals: &Values<'_>, out: &mut Vec<u8>) {
    out.clear();
    write_token_text(out, expr, vals);
    if vals.is_empty() {
        assert_eq!(out.as_slice(), b"<NA>", "a missing value renders as <NA>");
    }
    apply_width(out, 0, 3);
    out.clear();
    write_field_json(out, expr, vals, 0);
    assert!(!out.is_empty(), "an output field always has a JSON value");
}
