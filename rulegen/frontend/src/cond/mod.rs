//! The Falco condition language front end: lexing, parsing, printing and string escapes.
//!
//! `parse` turns (already list-expanded, see `crate::expand`) condition text into an `ast::Expr`;
//! `print` turns a tree back into canonical text that parses to the same tree. Error messages use
//! Falco's wording, and their offsets are where Falco's cursor stood when it gave up, so that
//! `line_col` reproduces Falco's reported positions.

pub mod escape;
mod lexer;
mod parser;
mod printer;

use crate::ast;

pub use parser::MAX_DEPTH;
pub use printer::{is_bare_field_arg, is_bare_string, modifier_text};

/// A condition syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Falco's message text.
    pub message: String,
    /// Byte offset into the parsed text.
    pub offset: u32,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole condition (docs/semantics.md#grammar). Nothing but blanks may follow the expression.
pub fn parse(text: &str) -> Result<ast::Expr, ParseError> {
    parser::Parser::new(text, text.len()).parse_all()
}

/// Canonical text for `expr`; `parse(&print(e))` gives `e` back (offsets aside) for every tree the
/// parser can produce. Values containing NUL bytes cannot be written in Falco's syntax.
pub fn print(expr: &ast::Expr) -> String {
    let mut out = String::new();
    printer::print_expr(expr, &mut out);
    out
}

/// Canonical text for one operand (a field or transformer expression).
pub fn print_operand(op: &ast::Operand) -> String {
    let mut out = String::new();
    printer::print_operand(op, &mut out);
    out
}

/// Falco's 1-based (line, column) of byte `offset` in `text`: every byte advances the column, and
/// `\r` or `\n` starts a new line (so `\r\n` counts two lines, as in Falco).
pub fn line_col(text: &str, offset: u32) -> (u32, u32) {
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let (mut line, mut col) = (1u32, 1u32);
    for &b in text.as_bytes().get(..end).unwrap_or_default() {
        col = col.saturating_add(1);
        if b == b'\r' || b == b'\n' {
            col = 1;
            line = line.saturating_add(1);
        }
    }
    (line, col)
}

/// Parses a field or transformer expression standing alone (an exception `fields` entry), the way
/// Falco validates one: as the left side of `<text> exists`.
pub fn parse_operand(text: &str) -> Result<ast::Operand, ParseError> {
    let probe = format!("{text} exists");
    match parse(&probe)? {
        ast::Expr::Check(check) if check.op == ast::CmpOp::Exists => Ok(check.lhs),
        _ => Err(ParseError {
            message: format!("'{text}' is not a field or transformer expression"),
            offset: 0,
        }),
    }
}

/// Work budget (bytes scanned) for one `parse_operand_prefix` call; beyond it the token is reported
/// as unknown rather than spending quadratic time on hostile output strings.
const PREFIX_SCAN_BUDGET: usize = 32 << 20;

/// The operand an output token starts with (docs/semantics.md#output-format): Falco tries the whole remaining text,
/// then ever shorter prefixes of it, and takes the first that parses as a field or transformer (at its start, no
/// leading blank) and that `accept` validates (field known, argument allowed, ...). Returns the operand and the
/// number of bytes it consumed, or `None`, which Falco reports as "unknown filter: unexpected token after '".
///
/// Example: with only `ka.verb` known, `ka.verbose` gives `ka.verb` and 7.
pub fn parse_operand_prefix(
    text: &str,
    mut accept: impl FnMut(&ast::Operand) -> bool,
) -> Option<(ast::Operand, usize)> {
    let mut len = text.len();
    let mut budget = PREFIX_SCAN_BUDGET;
    while len > 0 {
        let mut p = parser::Parser::new(text, len);
        let parsed = p.operand_prefix();
        if let Ok(op) = &parsed {
            if accept(op) {
                return Some((op.clone(), p.s.pos));
            }
        }
        // The outcome only depends on the bytes examined, so lengths beyond the last examined byte
        // repeat this attempt: skip them.
        let examined = p.s.examined;
        budget = budget.checked_sub(examined + 1)?;
        len = (len - 1).min(examined);
    }
    None
}

/// Sets every offset in the tree to 0, so that trees parsed from different texts compare equal.
pub fn erase_offsets(expr: &mut ast::Expr) {
    match expr {
        ast::Expr::And(children) | ast::Expr::Or(children) => {
            children.iter_mut().for_each(erase_offsets)
        }
        ast::Expr::Not(child) => erase_offsets(child),
        ast::Expr::Macro { at, .. } => *at = 0,
        ast::Expr::Check(check) => {
            check.at = 0;
            check.op_at = 0;
            erase_operand_offsets(&mut check.lhs);
            match &mut check.rhs {
                ast::Rhs::None => {}
                ast::Rhs::Value { at, .. } | ast::Rhs::List { at, .. } => *at = 0,
                ast::Rhs::Operand(op) => erase_operand_offsets(op),
            }
        }
    }
}

/// `erase_offsets` for an operand.
pub fn erase_operand_offsets(op: &mut ast::Operand) {
    match op {
        ast::Operand::Field(f) => f.at = 0,
        ast::Operand::Transform { args, at, .. } => {
            *at = 0;
            args.iter_mut().for_each(erase_targ_offsets);
        }
    }
}

fn erase_targ_offsets(arg: &mut ast::TArg) {
    match arg {
        ast::TArg::Operand(op) => erase_operand_offsets(op),
        ast::TArg::Literal(_) => {}
        ast::TArg::List(items) => items.iter_mut().for_each(erase_targ_offsets),
    }
}
