//! Type checking of one condition check (docs/semantics.md#fields-and-arguments to #field-to-field-comparisons):
//! field lookup and argument validation, operator/type and list-ness fit, right-hand literal conversion, regex
//! compilation, `val()` and transformer typing, and Falco's compile-time hints. Produces the typed `ir::Check`.
//!
//! Deliberate kaudit difference (conformance/README.md): a single-value operator on a list field
//! (`contains`, `=`, `pmatch`, a modifier, ...) is accepted with a deprecation warning and means
//! "some element satisfies"; Falco 0.44 rejects it.

use crate::ast::{self, CmpOp, Transformer};
use crate::catalog::{self, ArgKind, FieldType};
use crate::ir::{self, FieldArg, ValueExpr};

/// A type error, at a byte offset of the parsed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub at: u32,
    pub len: u32,
    /// Our suggestion (e.g. the field the user probably meant); not part of Falco's message.
    pub hint: Option<String>,
}

impl Problem {
    fn new(message: impl Into<String>, at: u32, len: usize) -> Self {
        Problem {
            message: message.into(),
            at,
            len: len as u32,
            hint: None,
        }
    }
}

/// The catalog field closest to an unknown name, if one is close enough to be a likely typo.
pub fn suggest_field(name: &str) -> Option<&'static str> {
    catalog::FIELDS
        .iter()
        .map(|f| (edit_distance(name, f.name), f.name))
        .filter(|(d, _)| *d <= 3 && *d < name.len() / 2 + 1)
        .min()
        .map(|(_, n)| n)
}

/// "did you mean `ka.user.name`?" for a misspelt field (conditions and outputs say the same).
pub fn unknown_field_hint(name: &str) -> Option<String> {
    suggest_field(name)
        .map(|n| format!("did you mean `{n}`? (`kaudit list-fields` lists every field)"))
}

/// Levenshtein distance over bytes (names are ASCII); inputs longer than 64 bytes are never close.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        // Row i+1 from row i: each cell from its diagonal, upper and left neighbours.
        let mut left = i + 1;
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(left);
        for ((cb, diag), up) in b.iter().zip(&prev).zip(prev.iter().skip(1)) {
            left = (diag + usize::from(ca != cb)).min(up + 1).min(left + 1);
            cur.push(left);
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(usize::MAX)
}

/// A warning found while checking (Falco code, message, offset, length, our hint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub code: &'static str,
    pub message: String,
    pub at: u32,
    pub len: u32,
    pub help: Option<String>,
}

/// Messages that `skip-if-unknown-filter` turns into a warning (docs/semantics.md#sources-and-unknown-filters).
pub fn is_unknown_field_error(msg: &str) -> bool {
    [
        "nonexistent field",
        "invalid formatting token",
        "unknown event type",
        "unknown filter:",
    ]
    .iter()
    .any(|p| msg.contains(p))
}

/// libs' type names, used in its messages.
fn libs_type(ty: FieldType, list: bool) -> String {
    let t = match ty {
        FieldType::String => "CHARBUF",
        FieldType::U64 => "UINT64",
        FieldType::Bool => "BOOL",
        FieldType::AbsTime => "ABSTIME",
        FieldType::RelTime => "RELTIME",
    };
    if list {
        format!("{t} (list)")
    } else {
        t.to_string()
    }
}

fn type_word(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "string",
        FieldType::Bool => "bool",
        _ => "numeric",
    }
}

/// The field reference as written (`name` or `name[arg]`).
fn field_text(f: &ast::FieldRef) -> String {
    match &f.arg {
        Some(a) => format!("{}[{}]", f.name, a),
        None => f.name.clone(),
    }
}

/// Validates a field name and argument (messages as libs' plugin field checks).
pub fn field(f: &ast::FieldRef) -> Result<ir::FieldRef, Problem> {
    let len = field_text(f).len();
    let Some(info) = catalog::lookup(&f.name) else {
        let mut p = Problem::new(
            format!("filter_check called with nonexistent field {}", f.name),
            f.at,
            f.name.len(),
        );
        p.hint = unknown_field_hint(&f.name);
        return Err(p);
    };
    let arg = match (info.arg, &f.arg) {
        (ArgKind::None, None) | (ArgKind::Index, None) => FieldArg::None,
        (ArgKind::None, Some(a)) => {
            return Err(Problem::new(
                format!(
                "filter '{}': {} does not allow nor require an argument but one is provided: {a}",
                field_text(f),
                f.name
            ),
                f.at,
                len,
            ))
        }
        (ArgKind::Key, None) => {
            return Err(Problem::new(
                format!(
                    "filter '{}': {} requires an argument but none provided",
                    f.name, f.name
                ),
                f.at,
                len,
            ))
        }
        (ArgKind::Key, Some(a)) => FieldArg::Key(a.clone()),
        (ArgKind::Index, Some(a)) => {
            let bad = |why: &str| {
                Problem::new(
                    format!(
                        "filter {} {} has an invalid index argument {why}: {a}",
                        field_text(f),
                        f.name
                    ),
                    f.at,
                    len,
                )
            };
            if !a.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("not composed only by digits"));
            }
            if a.len() > 1 && a.starts_with('0') {
                return Err(bad("starting with 0"));
            }
            match a.parse::<u64>() {
                Ok(n) => FieldArg::Index(n),
                Err(_) => return Err(bad("not representable on 64 bit")),
            }
        }
    };
    Ok(ir::FieldRef { id: info.id, arg })
}

fn operand_at(o: &ast::Operand) -> u32 {
    match o {
        ast::Operand::Field(f) => f.at,
        ast::Operand::Transform { at, .. } => *at,
    }
}

/// Printed form of an operand (for messages).
pub fn operand_text(o: &ast::Operand) -> String {
    match o {
        ast::Operand::Field(f) => field_text(f),
        ast::Operand::Transform { func, args, .. } => {
            let a: Vec<String> = args
                .iter()
                .map(|a| match a {
                    ast::TArg::Operand(o) => operand_text(o),
                    ast::TArg::Literal(l) => format!("\"{l}\""),
                    ast::TArg::List(l) => format!(
                        "({})",
                        l.iter().map(targ_text).collect::<Vec<_>>().join(", ")
                    ),
                })
                .collect();
            format!("{}({})", func.name(), a.join(", "))
        }
    }
}

fn targ_text(a: &ast::TArg) -> String {
    match a {
        ast::TArg::Operand(o) => operand_text(o),
        ast::TArg::Literal(l) => format!("\"{l}\""),
        ast::TArg::List(l) => format!(
            "({})",
            l.iter().map(targ_text).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Types an operand (field or transformer) into a value expression.
pub fn operand(o: &ast::Operand) -> Result<ValueExpr, Problem> {
    match o {
        ast::Operand::Field(f) => Ok(ValueExpr::Field(field(f)?)),
        ast::Operand::Transform {
            func: Transformer::Val,
            arg: Some(_),
            at,
            ..
        } => Err(Problem::new(
            "filter error: transformer 'val' does not support field arguments",
            *at,
            3,
        )),
        ast::Operand::Transform {
            func: Transformer::Val,
            args,
            at,
            ..
        } => match args.as_slice() {
            [ast::TArg::Operand(ast::Operand::Field(f))] => Ok(ValueExpr::Field(field(f)?)),
            _ => Err(Problem::new(
                "val() takes exactly one field argument",
                *at,
                4,
            )),
        },
        ast::Operand::Transform {
            func,
            args,
            at,
            arg,
        } => {
            let mut out = Vec::with_capacity(args.len());
            for a in args {
                out.push(match a {
                    ast::TArg::List(items) => ir::TArg::List(
                        items
                            .iter()
                            .map(|x| list_item(x, *func, *at))
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    ast::TArg::Operand(o) => ir::TArg::Value(operand(o)?),
                    ast::TArg::Literal(l) => ir::TArg::Literal(l.clone()),
                });
            }
            check_transformer(*func, &out, *at)?;
            check_transformer_arg(*func, arg.as_deref(), *at)?;
            Ok(ValueExpr::Transform {
                func: *func,
                args: out,
                arg: arg.clone(),
            })
        }
    }
}

/// An item of a `(...)` transformer list argument: a typed operand or a literal.
fn list_item(a: &ast::TArg, func: Transformer, at: u32) -> Result<ir::TArg, Problem> {
    match a {
        ast::TArg::Operand(o) => Ok(ir::TArg::Value(operand(o)?)),
        ast::TArg::Literal(l) => Ok(ir::TArg::Literal(l.clone())),
        ast::TArg::List(_) => Err(Problem::new(
            "filter error: a transformer list argument cannot contain a list",
            at,
            func.name().len(),
        )),
    }
}

/// The `[arg]` after a transformer: only `getopt` takes one, a single option character (libs).
fn check_transformer_arg(func: Transformer, arg: Option<&str>, at: u32) -> Result<(), Problem> {
    let Some(a) = arg else { return Ok(()) };
    let name = func.name();
    let message = match func {
        Transformer::Getopt if a.len() == 1 => return Ok(()),
        Transformer::Getopt => "getopt() field argument must be a single option character".into(),
        Transformer::Join | Transformer::Concat => {
            format!("transformer '{name}' does not support field arguments")
        }
        _ => format!("filter error: transformer '{name}' does not support field arguments"),
    };
    Err(Problem::new(message, at, name.len()))
}

/// Whether a transformer argument yields a list (a list field or transformer, or a `(...)` list).
fn targ_is_list(a: &ir::TArg) -> bool {
    match a {
        ir::TArg::Value(v) => v.is_list(),
        ir::TArg::Literal(_) => false,
        ir::TArg::List(_) => true,
    }
}

/// Whether a transformer argument yields strings (literals and lists always do, as libs renders the
/// numeric items of a list as text).
fn targ_is_string(a: &ir::TArg) -> bool {
    match a {
        ir::TArg::Value(v) => v.ty() == FieldType::String,
        ir::TArg::Literal(_) | ir::TArg::List(_) => true,
    }
}

fn check_transformer(func: Transformer, args: &[ir::TArg], at: u32) -> Result<(), Problem> {
    let name = func.name();
    let err = |m: String| Err(Problem::new(m, at, name.len()));
    let values: Vec<&ValueExpr> = args
        .iter()
        .filter_map(|a| match a {
            ir::TArg::Value(v) => Some(v),
            _ => None,
        })
        .collect();
    match func {
        Transformer::ToLower | Transformer::ToUpper | Transformer::B64 | Transformer::Basename => {
            match (args.len(), values.first()) {
                (1, Some(v)) if v.ty() == FieldType::String => Ok(()),
                (1, Some(v)) => err(format!(
                    "field type '{}' is not supported by '{name}' transformer",
                    libs_type(v.ty(), false)
                )),
                _ => err(format!(
                    "transformer '{name}' requires exactly one field argument"
                )),
            }
        }
        Transformer::Len => match (args.len(), values.first()) {
            (1, Some(v)) if v.ty() == FieldType::String || v.is_list() => Ok(()),
            (1, Some(v)) => err(format!(
                "field type '{}' is not supported by 'len' transformer",
                libs_type(v.ty(), false)
            )),
            _ => err("transformer 'len' requires exactly one field argument".into()),
        },
        Transformer::Join => match args {
            [ir::TArg::Literal(_), list] if targ_is_list(list) => Ok(()),
            _ => err("transformer 'join' requires a separator string and a list field".into()),
        },
        Transformer::Concat => {
            if args.len() < 2 {
                return err("transformer 'concat' requires at least two arguments".into());
            }
            if args.iter().any(|a| matches!(a, ir::TArg::List(_)))
                || values
                    .iter()
                    .any(|v| v.is_list() || v.ty() != FieldType::String)
            {
                return err("transformer 'concat' only accepts non-list string arguments".into());
            }
            Ok(())
        }
        // libs' checks and messages, in its order.
        Transformer::Getopt => match args {
            [list, optstring] => {
                if !targ_is_list(list) {
                    err("getopt() first argument must be a list".into())
                } else if targ_is_list(optstring) {
                    err("getopt() second argument (optstring) must be a single value".into())
                } else if !targ_is_string(list) || !targ_is_string(optstring) {
                    err("getopt() arguments must be strings".into())
                } else {
                    Ok(())
                }
            }
            _ => err("getopt() requires exactly 2 arguments: args list and optstring".into()),
        },
        Transformer::Val => err("val() can only be used on the right-hand side".into()),
    }
}

fn convert_literal(ty: FieldType, text: &str, at: u32) -> Result<Lit, Problem> {
    match ty {
        FieldType::String => Ok(Lit::S(text.to_string())),
        FieldType::Bool => match text {
            "true" => Ok(Lit::B(true)),
            "false" => Ok(Lit::B(false)),
            _ => Err(Problem::new(
                format!("filter error: unrecognized boolean value {text}"),
                at,
                text.len(),
            )),
        },
        _ => {
            // sscanf("%lu%c")-like: optional blanks and sign, then digits only; a leading '-'
            // wraps (unsigned) and overflow saturates, as strtoul does.
            let t = text.trim_start();
            let (neg, digits) = match t.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, t.strip_prefix('+').unwrap_or(t)),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Problem::new(
                    format!("{text} is not a valid number"),
                    at,
                    text.len(),
                ));
            }
            let n: u64 = digits.parse().unwrap_or(u64::MAX);
            Ok(Lit::N(if neg { n.wrapping_neg() } else { n }))
        }
    }
}

enum Lit {
    S(String),
    N(u64),
    B(bool),
}

fn rhs_literals(ty: FieldType, texts: &[String], at: u32) -> Result<ir::Rhs, Problem> {
    let mut lits = Vec::with_capacity(texts.len());
    for t in texts {
        lits.push(convert_literal(ty, t, at)?);
    }
    Ok(match ty {
        FieldType::String => ir::Rhs::Strings(
            lits.into_iter()
                .filter_map(|l| if let Lit::S(s) = l { Some(s) } else { None })
                .collect(),
        ),
        FieldType::Bool => ir::Rhs::Bools(
            lits.into_iter()
                .filter_map(|l| if let Lit::B(b) = l { Some(b) } else { None })
                .collect(),
        ),
        _ => ir::Rhs::Numbers(
            lits.into_iter()
                .filter_map(|l| if let Lit::N(n) = l { Some(n) } else { None })
                .collect(),
        ),
    })
}

/// Checks one comparison; `span` of the result is left default (the caller maps offsets).
pub fn check(c: &ast::Check, hints: &mut Vec<Hint>) -> Result<ir::Check, Problem> {
    let lhs = operand(&c.lhs)?;
    let ty = lhs.ty();
    let list = lhs.is_list();
    let info = c.op.info();
    let op_text = info.text;
    let lhs_at = operand_at(&c.lhs);

    if list && !info.on_list {
        if matches!(c.op, CmpOp::BContains | CmpOp::BStartsWith) {
            return Err(Problem::new(
                format!("filter error: '{op_text}' operator not supported list filters"),
                c.op_at,
                op_text.len(),
            ));
        }
        hints.push(Hint {
            code: crate::diag::code::W_DEPRECATED_ITEM,
            message: format!(
                "'{op_text}' on the list field '{}' is deprecated (Falco 0.44 rejects it: \"'{op_text}' operator not supported list filters\"); kaudit treats it as true when some element satisfies it",
                operand_text(&c.lhs)
            ),
            at: c.op_at,
            len: op_text.len() as u32,
            help: Some("use 'intersects' (some element is in a set) or 'in' (every element is in a set)".into()),
        });
    }
    if !c.op.accepts(ty) {
        return Err(Problem::new(
            format!(
                "filter error: '{op_text}' operator not supported for {} filters",
                type_word(ty)
            ),
            c.op_at,
            op_text.len(),
        ));
    }
    let rhs = match &c.rhs {
        ast::Rhs::None => ir::Rhs::None,
        ast::Rhs::Value { text, at, .. } => {
            if catalog::lookup(text).is_some() {
                hints.push(Hint {
                    code: crate::diag::code::W_COMPILE_CONDITION,
                    message: format!(
                        "'{text}' may be a valid field misused as a const string value"
                    ),
                    at: *at,
                    len: text.len() as u32,
                    help: Some(format!(
                        "to compare with the field's value write val({text})"
                    )),
                });
            }
            rhs_literals(ty, std::slice::from_ref(text), *at)?
        }
        ast::Rhs::List { items, at } => {
            for t in items {
                if catalog::lookup(t).is_some() {
                    hints.push(Hint {
                        code: crate::diag::code::W_COMPILE_CONDITION,
                        message: format!(
                            "'{t}' may be a valid field misused as a const string value"
                        ),
                        at: *at,
                        len: 1,
                        help: None,
                    });
                }
            }
            rhs_literals(ty, items, *at)?
        }
        ast::Rhs::Operand(o) => {
            if !info.rhs_field {
                return Err(Problem::new(
                    format!("operator '{op_text}' doesn't support right-hand side fields"),
                    c.op_at,
                    op_text.len(),
                ));
            }
            let r = operand(o)?;
            if r.ty() != ty || r.is_list() != list {
                let lname = operand_text(&c.lhs);
                let rname = match o {
                    ast::Operand::Transform {
                        func: Transformer::Val,
                        args,
                        ..
                    } => match args.first() {
                        Some(ast::TArg::Operand(inner)) => operand_text(inner),
                        _ => operand_text(o),
                    },
                    _ => operand_text(o),
                };
                return Err(Problem::new(
                    format!(
                        "field '{lname}' has type '{}' while the right-hand side field '{rname}' has incompatible type '{}'",
                        libs_type(ty, list),
                        libs_type(r.ty(), r.is_list())
                    ),
                    lhs_at,
                    lname.len(),
                ));
            }
            ir::Rhs::Value(r)
        }
    };
    if c.op == CmpOp::Regex {
        let at = match &c.rhs {
            ast::Rhs::Value { at, .. } | ast::Rhs::List { at, .. } => *at,
            _ => lhs_at,
        };
        if let ir::Rhs::Strings(pats) = &rhs {
            for p in pats {
                if let Err(m) = crate::regex::full_match(p) {
                    return Err(Problem::new(m, at, p.len() + 2));
                }
            }
        }
    }
    Ok(ir::Check {
        lhs,
        op: c.op,
        modifier: c.modifier,
        rhs,
        span: Default::default(),
    })
}

/// Falco's `LOAD_UNSAFE_NA_CHECK`: a `ka.*`/`jevt.*` field compared for equality with `<NA>`.
pub fn is_unsafe_na_check(c: &ast::Check) -> bool {
    fn unsafe_field(o: &ast::Operand) -> bool {
        match o {
            ast::Operand::Field(f) => f.name.starts_with("ka.") || f.name.starts_with("jevt."),
            ast::Operand::Transform { args, .. } => args
                .iter()
                .any(|a| matches!(a, ast::TArg::Operand(o) if unsafe_field(o))),
        }
    }
    let equality = matches!(
        c.op,
        CmpOp::Eq | CmpOp::EqEq | CmpOp::Ne | CmpOp::In | CmpOp::Intersects | CmpOp::PMatch
    );
    equality
        && unsafe_field(&c.lhs)
        && match &c.rhs {
            ast::Rhs::Value { text, .. } => text == "<NA>",
            ast::Rhs::List { items, .. } => items.iter().any(|i| i == "<NA>"),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::FieldId;

    fn typed(text: &str) -> Result<ValueExpr, String> {
        let o = crate::cond::parse_operand(text).map_err(|e| format!("parse: {e:?}"))?;
        operand(&o).map_err(|p| p.message)
    }

    fn groups() -> ir::TArg {
        ir::TArg::Value(ValueExpr::Field(ir::FieldRef {
            id: FieldId::KaUserGroups,
            arg: FieldArg::None,
        }))
    }

    #[test]
    fn getopt_list_and_selector_forms() {
        let list = typed(r#"getopt(ka.user.groups, "nt:")"#).unwrap();
        assert_eq!(
            list,
            ValueExpr::Transform {
                func: Transformer::Getopt,
                args: vec![groups(), ir::TArg::Literal("nt:".into())],
                arg: None,
            }
        );
        assert!(list.is_list());
        assert_eq!(list.ty(), FieldType::String);
        let one = typed(r#"getopt(ka.user.groups, "nt:")[t]"#).unwrap();
        assert!(!one.is_list(), "a selector gives a single value");
        assert!(matches!(&one, ValueExpr::Transform { arg: Some(a), .. } if a == "t"));
        // The optstring may come from a field; the argument list may mix fields and literals.
        let mixed = typed(r#"getopt(("-n", ka.user.name, ka.user.groups), ka.verb)[n]"#).unwrap();
        let ValueExpr::Transform { args, .. } = &mixed else {
            panic!("{mixed:?}")
        };
        assert!(matches!(&args[0], ir::TArg::List(items) if items.len() == 3));
    }

    #[test]
    fn getopt_errors_are_libs_messages() {
        for (text, msg) in [
            (
                r#"getopt(ka.user.groups)"#,
                "getopt() requires exactly 2 arguments: args list and optstring",
            ),
            (
                r#"getopt(ka.user.name, "n")"#,
                "getopt() first argument must be a list",
            ),
            (
                r#"getopt(ka.user.groups, ("n"))"#,
                "getopt() second argument (optstring) must be a single value",
            ),
            (
                r#"getopt(ka.user.groups, ka.user.groups)"#,
                "getopt() second argument (optstring) must be a single value",
            ),
            (
                r#"getopt(ka.user.groups, evt.num)"#,
                "getopt() arguments must be strings",
            ),
            (
                r#"getopt(ka.user.groups, "nt:")[nt]"#,
                "getopt() field argument must be a single option character",
            ),
            (
                r#"tolower(ka.user.name)[x]"#,
                "filter error: transformer 'tolower' does not support field arguments",
            ),
            (
                r#"join(",", ka.user.groups)[x]"#,
                "transformer 'join' does not support field arguments",
            ),
            (
                r#"concat(ka.verb, ("a", "b"))"#,
                "transformer 'concat' only accepts non-list string arguments",
            ),
        ] {
            assert_eq!(typed(text).err().as_deref(), Some(msg), "{text}");
        }
    }

    #[test]
    fn list_arguments_take_fields_and_numbers() {
        // join over a literal/field list is a string; a numeric item is accepted (rendered as text).
        let j = typed(r#"join(",", (ka.user.name, "x", evt.num))"#).unwrap();
        assert_eq!((j.ty(), j.is_list()), (FieldType::String, false));
    }
}
