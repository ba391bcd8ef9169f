//! The recursive-descent condition parser (grammar: docs/semantics.md#grammar).
//!
//! The structure follows Falco's parser closely because its quirks are observable: which rule tries
//! which token first decides how `ka.verb increate`, `= anyof` or `a orb` are read, and error offsets
//! are the cursor position at the moment the error is raised. Nesting (parentheses, `not(`,
//! transformers) is bounded by `MAX_DEPTH` so that hostile input cannot overflow the stack.

use super::lexer::{Quoted, Scanner};
use super::ParseError;
use crate::ast::{Check, CmpOp, Expr, FieldRef, Modifier, Operand, Rhs, TArg, Transformer};
use crate::ops::{OpClass, OPERATORS};

/// Deepest nesting of parentheses / transformers accepted. Falco asks for 1000, but its 0.25 guard is
/// ineffective; 256 keeps every recursive consumer of the tree well inside a 2 MiB debug stack.
pub const MAX_DEPTH: u32 = 256;

/// Falco's list of transformers in error messages (`val` first).
const TRANSFORMERS_FOR_ERRORS: &str =
    "'val', 'tolower', 'toupper', 'b64', 'basename', 'len', 'join', 'concat', 'getopt'";

/// Modifier spellings; each must be followed by a blank.
const MODIFIERS: &[(Modifier, &str)] = &[
    (Modifier::OneOf, "oneof"),
    (Modifier::AnyOf, "anyof"),
    (Modifier::AllOf, "allof"),
];

/// Transformers usable on the left or as arguments, in Falco's lexing order; the `(` must follow
/// the name immediately.
const TRANSFORMER_OPENERS: &[(Transformer, &str)] = &[
    (Transformer::ToLower, "tolower("),
    (Transformer::ToUpper, "toupper("),
    (Transformer::B64, "b64("),
    (Transformer::Basename, "basename("),
    (Transformer::Len, "len("),
    (Transformer::Join, "join("),
    (Transformer::Concat, "concat("),
    (Transformer::Getopt, "getopt("),
];

type PResult<T> = Result<T, ParseError>;

pub struct Parser<'a> {
    pub s: Scanner<'a>,
    depth: u32,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str, end: usize) -> Parser<'a> {
        Parser {
            s: Scanner::new(text, end),
            depth: 0,
        }
    }

    fn err<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(ParseError {
            message: message.into(),
            offset: offset(self.s.pos),
        })
    }

    fn at(&self) -> u32 {
        offset(self.s.pos)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!(
                "maximum nesting depth exceeded (more than {MAX_DEPTH} levels)"
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// A whole condition: an expression followed by nothing but blanks.
    pub fn parse_all(&mut self) -> PResult<Expr> {
        if self.s.at_end() && self.s.pos == 0 {
            return self.err("filter input string is empty");
        }
        let expr = self.or()?;
        if !self.s.at_end() {
            let last = self.s.last_token.clone();
            return self.err(format!(
                "unexpected token after '{last}', expecting 'or', 'and'"
            ));
        }
        Ok(expr)
    }

    fn or(&mut self) -> PResult<Expr> {
        self.s.blank();
        let mut children = vec![self.and()?];
        self.s.blank();
        while self.s.lit("or") {
            let child = if self.s.blank() {
                self.and()?
            } else if self.s.lit("(") {
                self.group_rest()?
            } else {
                return self.err("expected blank or '(' after 'or'");
            };
            children.push(child);
            self.s.blank();
        }
        Ok(if children.len() == 1 {
            children.remove(0)
        } else {
            Expr::Or(children)
        })
    }

    fn and(&mut self) -> PResult<Expr> {
        self.s.blank();
        let mut children = vec![self.not()?];
        self.s.blank();
        while self.s.lit("and") {
            let child = if self.s.blank() {
                self.not()?
            } else if self.s.lit("(") {
                self.group_rest()?
            } else {
                return self.err("expected blank or '(' after 'and'");
            };
            children.push(child);
            self.s.blank();
        }
        Ok(if children.len() == 1 {
            children.remove(0)
        } else {
            Expr::And(children)
        })
    }

    /// `not` toggles: an even number of `not`s leaves the operand unwrapped, as in Falco.
    fn not(&mut self) -> PResult<Expr> {
        self.s.blank();
        let mut negate = false;
        while self.s.not_then_space() {
            negate = !negate;
        }
        let child = if self.s.lit("not(") {
            negate = !negate;
            self.group_rest()?
        } else {
            self.check()?
        };
        Ok(if negate {
            Expr::Not(Box::new(child))
        } else {
            child
        })
    }

    /// The rest of a parenthesised expression, after its `(`.
    fn group_rest(&mut self) -> PResult<Expr> {
        self.enter()?;
        self.s.blank();
        let child = self.or()?;
        self.s.blank();
        if !self.s.lit(")") {
            return self.err("expected a ')' token");
        }
        self.leave();
        Ok(child)
    }

    fn check(&mut self) -> PResult<Expr> {
        self.s.blank();
        let at = self.at();
        if self.s.lit("(") {
            return self.group_rest();
        }
        if let Some(name) = self.s.field_name() {
            let lhs = Operand::Field(self.field_rest(name, at)?);
            return self.condition(lhs, at);
        }
        if let Some(func) = self.transformer_open() {
            self.s.blank();
            let lhs = self.transformer_rest(func, at)?;
            return self.condition(lhs, at);
        }
        if let Some(name) = self.s.identifier() {
            return Ok(Expr::Macro { name, at });
        }
        self.err("expected a '(' token, a field check, or an identifier")
    }

    fn field_rest(&mut self, name: String, at: u32) -> PResult<FieldRef> {
        let arg = self.optional_field_arg()?;
        Ok(FieldRef { name, arg, at })
    }

    /// `[arg]` right after a field or transformer (no blank allowed before `[`).
    fn optional_field_arg(&mut self) -> PResult<Option<String>> {
        if !self.s.lit("[") {
            return Ok(None);
        }
        let arg = match self.s.quoted() {
            Quoted::Ok(v) => v,
            Quoted::BadEscape(msg) => return self.err(msg),
            Quoted::No => match self.s.field_arg_bare() {
                Some(v) => v,
                None => {
                    return self
                        .err("expected a valid field argument: a quoted string or a bare string")
                }
            },
        };
        if !self.s.lit("]") {
            return self.err("expected a ']' token");
        }
        Ok(Some(arg))
    }

    /// A transformer name with its `(` (never `val(`).
    fn transformer_open(&mut self) -> Option<Transformer> {
        let (func, name) = TRANSFORMER_OPENERS
            .iter()
            .find(|(_, opener)| self.s.lit(opener))?;
        self.s.last_token = name.trim_end_matches('(').to_string();
        Some(*func)
    }

    /// Arguments, `)` and optional `[arg]` of a transformer whose `name(` was consumed.
    fn transformer_rest(&mut self, func: Transformer, at: u32) -> PResult<Operand> {
        self.enter()?;
        self.s.blank();
        let mut args = Vec::new();
        loop {
            args.push(self.transformer_arg()?);
            self.s.blank();
            if !self.s.lit(",") {
                break;
            }
        }
        self.s.blank();
        if !self.s.lit(")") {
            return self.err("expected a ')' token closing the transformer");
        }
        let arg = self.optional_field_arg()?;
        self.leave();
        Ok(Operand::Transform {
            func,
            args,
            arg,
            at,
        })
    }

    fn transformer_arg(&mut self) -> PResult<TArg> {
        self.s.blank();
        let at = self.at();
        if let Some(n) = self.s.any_number() {
            return Ok(TArg::Literal(n));
        }
        match self.s.quoted() {
            Quoted::Ok(v) => return Ok(TArg::Literal(v)),
            Quoted::BadEscape(msg) => return self.err(msg),
            Quoted::No => {}
        }
        if self.s.lit("(") {
            return self.transformer_list();
        }
        if let Some(func) = self.transformer_open() {
            return Ok(TArg::Operand(self.transformer_rest(func, at)?));
        }
        if let Some(name) = self.s.field_name() {
            return Ok(TArg::Operand(Operand::Field(self.field_rest(name, at)?)));
        }
        self.err("expected field transformer argument: field, transformer, quoted string, number, or transformer list")
    }

    /// A transformer's list argument, after its `(`.
    fn transformer_list(&mut self) -> PResult<TArg> {
        self.enter()?;
        let mut items = Vec::new();
        self.s.blank();
        if !self.s.lit(")") {
            items.push(self.transformer_list_item()?);
            self.s.blank();
            while self.s.lit(",") {
                self.s.blank();
                items.push(self.transformer_list_item()?);
                self.s.blank();
            }
            if !self.s.lit(")") {
                return self.err("expected ')'");
            }
        }
        self.leave();
        Ok(TArg::List(items))
    }

    fn transformer_list_item(&mut self) -> PResult<TArg> {
        let at = self.at();
        if let Some(name) = self.s.field_name() {
            return Ok(TArg::Operand(Operand::Field(self.field_rest(name, at)?)));
        }
        if let Some(func) = self.transformer_open() {
            self.s.blank();
            return Ok(TArg::Operand(self.transformer_rest(func, at)?));
        }
        match self.s.quoted() {
            Quoted::Ok(v) => return Ok(TArg::Literal(v)),
            Quoted::BadEscape(msg) => return self.err(msg),
            Quoted::No => {}
        }
        if let Some(n) = self.s.any_number() {
            return Ok(TArg::Literal(n));
        }
        self.err("expected transformer list argument: field, transformer, quoted string, or number")
    }

    /// Operator and right-hand side after a left operand.
    fn condition(&mut self, lhs: Operand, at: u32) -> PResult<Expr> {
        self.s.blank();
        let op_at = self.at();
        let make = |op, modifier, rhs| {
            Ok(Expr::Check(Box::new(Check {
                lhs,
                op,
                modifier,
                rhs,
                at,
                op_at,
            })))
        };
        if self.operator(OpClass::Unary).is_some() {
            return make(CmpOp::Exists, None, Rhs::None);
        }
        if let Some(op) = self.operator(OpClass::Numeric) {
            let rhs = self.numeric_rhs()?;
            return make(op, None, rhs);
        }
        if let Some(op) = self.operator(OpClass::String) {
            // Word operators consumed their blank already; symbols may be followed by one.
            let had_blank =
                op.text().starts_with(|c: char| c.is_ascii_alphabetic()) || self.s.blank();
            let (saved_pos, saved_tok) = (self.s.pos, self.s.last_token.clone());
            if had_blank {
                if let Some(m) = self.modifier() {
                    if (self.s.peek() == Some(b'(') || self.s.identifier_follows())
                        && !self.s.bool_keyword_follows()
                    {
                        let rhs = self.modifier_list()?;
                        return make(op, Some(m), rhs);
                    }
                }
            }
            self.s.pos = saved_pos;
            self.s.last_token = saved_tok;
            let rhs = self.string_rhs(false)?;
            return make(op, None, rhs);
        }
        if let Some(op) = self.operator(OpClass::List) {
            let rhs = self.list_rhs()?;
            return make(op, None, rhs);
        }
        let all: Vec<String> = OPERATORS.iter().map(|o| format!("'{}'", o.text)).collect();
        self.err(format!(
            "expected a valid check operator: one of {}",
            all.join(", ")
        ))
    }

    /// The first operator of `class` (table order) found at the cursor. Word operators of the string
    /// class need a blank after them; `exists` and the list operators are plain prefixes.
    fn operator(&mut self, class: OpClass) -> Option<CmpOp> {
        for info in OPERATORS.iter().filter(|o| o.class == class) {
            let word = info.text.starts_with(|c: char| c.is_ascii_alphabetic());
            let found = if class == OpClass::String && word {
                self.s.word_then_blank(info.text)
            } else {
                self.s.lit(info.text)
            };
            if found {
                return Some(info.op);
            }
        }
        None
    }

    fn modifier(&mut self) -> Option<Modifier> {
        MODIFIERS
            .iter()
            .find(|(_, word)| self.s.word_then_blank(word))
            .map(|(m, _)| *m)
    }

    /// `val(field)` or a transformer, if one starts here.
    fn transformer_or_val(&mut self) -> PResult<Option<Operand>> {
        self.s.blank();
        let at = self.at();
        if self.s.lit("val(") {
            self.s.last_token = "val".into();
            self.s.blank();
            let field_at = self.at();
            let Some(name) = self.s.field_name() else {
                return self.err("expected a field within 'val' transformer");
            };
            let field = self.field_rest(name, field_at)?;
            self.s.blank();
            if !self.s.lit(")") {
                return self.err("expected a ')' token closing the transformer");
            }
            let arg = self.optional_field_arg()?;
            let args = vec![TArg::Operand(Operand::Field(field))];
            return Ok(Some(Operand::Transform {
                func: Transformer::Val,
                args,
                arg,
                at,
            }));
        }
        if let Some(func) = self.transformer_open() {
            self.s.blank();
            return self.transformer_rest(func, at).map(Some);
        }
        Ok(None)
    }

    fn numeric_rhs(&mut self) -> PResult<Rhs> {
        self.s.blank();
        let at = self.at();
        if let Some(op) = self.transformer_or_val()? {
            return Ok(Rhs::Operand(op));
        }
        if let Some(text) = self.s.any_number() {
            return Ok(Rhs::Value {
                text,
                quoted: false,
                at,
            });
        }
        self.err(format!("expected a number value or a field with a valid transformer: {TRANSFORMERS_FOR_ERRORS}"))
    }

    /// A quoted or bare string, or (unless `plain_only`) a transformer / `val()`.
    fn string_rhs(&mut self, plain_only: bool) -> PResult<Rhs> {
        self.s.blank();
        let at = self.at();
        if !plain_only {
            if let Some(op) = self.transformer_or_val()? {
                return Ok(Rhs::Operand(op));
            }
        }
        match self.s.quoted() {
            Quoted::Ok(text) => {
                return Ok(Rhs::Value {
                    text,
                    quoted: true,
                    at,
                })
            }
            Quoted::BadEscape(msg) => return self.err(msg),
            Quoted::No => {}
        }
        if let Some(text) = self.s.bare_string() {
            return Ok(Rhs::Value {
                text,
                quoted: false,
                at,
            });
        }
        if plain_only {
            return self.err("expected a string value");
        }
        self.err(format!("expected a string value or a field with a valid transformer: {TRANSFORMERS_FOR_ERRORS}"))
    }

    /// `( item, ... )` if a `(` starts here.
    fn try_list(&mut self) -> PResult<Option<Rhs>> {
        let at = self.at();
        if !self.s.lit("(") {
            return Ok(None);
        }
        let mut items = Vec::new();
        self.s.blank();
        // Like Falco, a failure on the first item means "maybe an empty list" and is not reported
        // itself (a bad escape leaves the cursor after the string, so `("\x")` is an empty list).
        if let Ok(Rhs::Value { text, .. }) = self.string_rhs(true) {
            items.push(text);
            self.s.blank();
            while self.s.lit(",") {
                if let Rhs::Value { text, .. } = self.string_rhs(true)? {
                    items.push(text);
                }
                self.s.blank();
            }
        }
        if !self.s.lit(")") {
            return self.err("expected a ')' token");
        }
        Ok(Some(Rhs::List { items, at }))
    }

    /// After a modifier: a list or one identifier.
    fn modifier_list(&mut self) -> PResult<Rhs> {
        self.s.blank();
        let at = self.at();
        if let Some(list) = self.try_list()? {
            return Ok(list);
        }
        if let Some(id) = self.s.identifier() {
            return Ok(Rhs::List {
                items: vec![id],
                at,
            });
        }
        self.err("expected a list or an identifier")
    }

    fn list_rhs(&mut self) -> PResult<Rhs> {
        self.s.blank();
        let at = self.at();
        if let Some(list) = self.try_list()? {
            return Ok(list);
        }
        if let Some(op) = self.transformer_or_val()? {
            return Ok(Rhs::Operand(op));
        }
        if let Some(id) = self.s.identifier() {
            return Ok(Rhs::List {
                items: vec![id],
                at,
            });
        }
        self.err(format!(
            "expected a list, an identifier, or a field with a valid transformer: {TRANSFORMERS_FOR_ERRORS}"
        ))
    }

    /// A field or transformer at the cursor, with no blank first (output tokens).
    pub fn operand_prefix(&mut self) -> PResult<Operand> {
        let at = self.at();
        if let Some(name) = self.s.field_name() {
            return Ok(Operand::Field(self.field_rest(name, at)?));
        }
        if let Some(func) = self.transformer_open() {
            self.s.blank();
            return self.transformer_rest(func, at);
        }
        let last = self.s.last_token.clone();
        self.err(format!("unexpected token after '{last}"))
    }
}

/// Byte offsets are kept as `u32` in the tree; longer texts saturate (they are rejected upstream).
fn offset(pos: usize) -> u32 {
    u32::try_from(pos).unwrap_or(u32::MAX)
}
