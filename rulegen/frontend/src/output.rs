//! Output format strings (docs/semantics.md#output-format, #json-alerts) → `ir::Output`.
//!
//! What `ir::Output` holds (for the alert formatter in the runtime and codegen):
//! * `text`: the rule output after load-time processing: trimmed (full definitions only) and with a
//!   leading `*` dropped (Falco's "missing values allowed" prefix eats it).
//! * `parts`: literal text and value tokens in order; a token renders with `%Nfield` width if given.
//! * `fields`: the `output_fields` keys in first-appearance order, deduplicated, named as Falco names
//!   them (`ka.uri.param[command]`, argument re-quoted if needed). Transformer tokens contribute their
//!   inner plain fields (untransformed) instead of themselves. `evt.time` (always present in Falco's
//!   `output_fields`) is NOT listed here: the alert formatter adds it.
//!
//! Tokens are the longest prefix after `%` (and an optional width) that is a known field (with a valid
//! argument), or a transformer expression; the rest continues as literal text.

use crate::ast::{self, Transformer};
use crate::ir::{Output, OutputPart, ValueExpr};
use crate::typeck;

/// An output error: Falco's message, the byte offset and length in the output text, and our hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputError {
    pub message: String,
    pub at: u32,
    /// Bytes the error covers (at least 1: the `%`).
    pub len: u32,
    /// E.g. "did you mean `ka.user.name`?" for an unknown field; not part of Falco's message.
    pub hint: Option<String>,
}

pub const ERR_DANGLING_PERCENT: &str = "invalid formatting syntax: formatting cannot end with a %";
pub const ERR_UNKNOWN_TOKEN: &str = "unknown filter: unexpected token after '";

/// Parses a rule output (already trimmed by the loader where Falco trims).
pub fn parse(text: &str) -> Result<Output, OutputError> {
    let body = text.strip_prefix('*').unwrap_or(text);
    let base = (text.len() - body.len()) as u32;
    let mut parts: Vec<OutputPart> = Vec::new();
    let mut fields: Vec<(String, ValueExpr)> = Vec::new();
    let mut literal = String::new();
    let mut i = 0usize;
    let bytes = body.as_bytes();
    while i < bytes.len() {
        let Some(rel) = body.get(i..).and_then(|s| s.find('%')) else {
            literal.push_str(body.get(i..).unwrap_or(""));
            break;
        };
        literal.push_str(body.get(i..i + rel).unwrap_or(""));
        let pct = i + rel;
        let mut j = pct + 1;
        if j >= bytes.len() {
            return Err(OutputError {
                message: ERR_DANGLING_PERCENT.into(),
                at: base + pct as u32,
                len: 1,
                hint: None,
            });
        }
        let digits_start = j;
        while bytes.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        let width = body
            .get(digits_start..j)
            .filter(|d| !d.is_empty())
            .and_then(|d| d.parse::<usize>().ok());
        let rest = body.get(j..).unwrap_or("");
        let Some((token, used)) = token_prefix(rest) else {
            let word = field_like_word(rest);
            return Err(OutputError {
                message: ERR_UNKNOWN_TOKEN.into(),
                at: base + pct as u32,
                len: (j - pct + word.len()) as u32,
                hint: unknown_token_hint(word),
            });
        };
        if !literal.is_empty() {
            parts.push(OutputPart::Literal(std::mem::take(&mut literal)));
        }
        for (key, expr) in token.keys {
            if !fields.iter().any(|(k, _)| *k == key) {
                fields.push((key, expr));
            }
        }
        parts.push(OutputPart::Value {
            expr: token.expr,
            width,
        });
        i = j + used;
    }
    if !literal.is_empty() {
        parts.push(OutputPart::Literal(literal));
    }
    Ok(Output {
        text: body.to_string(),
        parts,
        fields,
    })
}

/// The field-name-like start of `rest` (`ka.usr.name` of `ka.usr.name verb=...`).
fn field_like_word(rest: &str) -> &str {
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The hint an unknown field gets in a condition, else a pointer to the field list.
fn unknown_token_hint(word: &str) -> Option<String> {
    if word.is_empty() {
        return Some(
            "`%` must be followed by a field name (`kaudit list-fields` lists every field)".into(),
        );
    }
    typeck::unknown_field_hint(word).or_else(|| {
        Some(format!(
            "`{word}` is not a field (`kaudit list-fields` lists every field)"
        ))
    })
}

struct Token {
    expr: ValueExpr,
    keys: Vec<(String, ValueExpr)>,
}

/// The longest token at the start of `rest` (a known field with a valid argument, or a transformer
/// expression) and its length in bytes.
fn token_prefix(rest: &str) -> Option<(Token, usize)> {
    let accept = |o: &ast::Operand| {
        !matches!(
            o,
            ast::Operand::Transform {
                func: Transformer::Val,
                ..
            }
        ) && typeck::operand(o).is_ok()
    };
    let (op, used) = crate::cond::parse_operand_prefix(rest, accept)?;
    let expr = typeck::operand(&op).ok()?;
    let mut keys = Vec::new();
    inner_fields(&op, &mut keys);
    Some((Token { expr, keys }, used))
}

/// Falco's `output_fields` key for a field token: the argument re-quoted when it is not a bare word.
pub fn output_key(name: &str, arg: Option<&str>) -> String {
    match arg {
        None => name.to_string(),
        Some(a) => {
            let bare = !a.is_empty()
                && !a.chars().any(|c| {
                    c.is_whitespace() || matches!(c, '(' | ')' | '"' | '\'' | '=' | ',' | '[' | ']')
                });
            if bare {
                format!("{name}[{a}]")
            } else {
                let esc = a.replace('\\', "\\\\").replace('"', "\\\"");
                format!("{name}[\"{esc}\"]")
            }
        }
    }
}

fn inner_fields(o: &ast::Operand, out: &mut Vec<(String, ValueExpr)>) {
    match o {
        ast::Operand::Field(f) => {
            if let Ok(r) = typeck::field(f) {
                out.push((output_key(&f.name, f.arg.as_deref()), ValueExpr::Field(r)));
            }
        }
        ast::Operand::Transform { args, .. } => {
            for a in args {
                if let ast::TArg::Operand(o) = a {
                    inner_fields(o, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(o: &Output) -> Vec<&str> {
        o.fields.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn longest_prefix_and_literals() {
        let o = parse("user=%ka.user.namex verb=%ka.verbose").unwrap();
        assert_eq!(keys(&o), ["ka.user.name", "ka.verb"]);
        assert_eq!(o.parts.len(), 5);
        assert_eq!(o.parts[2], OutputPart::Literal("x verb=".into()));
        assert_eq!(o.parts[4], OutputPart::Literal("ose".into()));
    }

    #[test]
    fn width_star_and_args() {
        let o = parse("**two %5ka.verb %ka.uri.param[k y] %jevt.value[\"/x\"]").unwrap();
        assert_eq!(
            o.text,
            "*two %5ka.verb %ka.uri.param[k y] %jevt.value[\"/x\"]"
        );
        assert!(matches!(
            o.parts[1],
            OutputPart::Value { width: Some(5), .. }
        ));
        assert_eq!(keys(&o), ["ka.verb", "ka.uri", "jevt.value[/x]"]);
        assert_eq!(o.parts[4], OutputPart::Literal(".param[k y] ".into()));
    }

    #[test]
    fn errors() {
        assert_eq!(parse("100%").unwrap_err().message, ERR_DANGLING_PERCENT);
        assert_eq!(
            parse("100% sure").unwrap_err(),
            OutputError {
                message: ERR_UNKNOWN_TOKEN.into(),
                at: 3,
                len: 1,
                hint: Some(
                    "`%` must be followed by a field name (`kaudit list-fields` lists every field)"
                        .into()
                ),
            }
        );
        assert_eq!(
            parse("v=%ka.nosuch").unwrap_err().message,
            ERR_UNKNOWN_TOKEN
        );
    }

    #[test]
    fn an_unknown_field_gets_its_extent_and_the_condition_hint() {
        let e = parse("user=%ka.usr.name verb=%ka.verb").unwrap_err();
        assert_eq!((e.at, e.len), (5, 12));
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean `ka.user.name`? (`kaudit list-fields` lists every field)")
        );
        // The width digits belong to the token.
        let e = parse("%20ka.target.nmespace").unwrap_err();
        assert_eq!((e.at, e.len), (0, 21));
        assert!(e.hint.unwrap().contains("`ka.target.namespace`"));
    }

    #[test]
    fn duplicates_collapse() {
        let o = parse("%ka.verb %ka.verb").unwrap();
        assert_eq!(keys(&o), ["ka.verb"]);
    }
}
