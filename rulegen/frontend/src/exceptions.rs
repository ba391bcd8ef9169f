//! Rule exceptions (docs/semantics.md#exceptions): validation/defaulting when an exception is defined or appended,
//! and the condition text Falco generates from them (`(cond) and not (...)`), reproduced byte for byte — including
//! the unescaped splicing of values, which later goes through list expansion and parsing.

// Diagnostics are the (cold) error path; their size does not matter.
#![allow(clippy::result_large_err)]

use crate::diag::{code, item as it, Diagnostic};
use crate::ops::OPERATORS;
use crate::span::Span;

/// Falco's `rule_exception_info::entry`: a scalar or a (nested) sequence of entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    pub is_list: bool,
    pub item: String,
    pub items: Vec<Entry>,
}

impl Entry {
    pub fn scalar(s: &str) -> Entry {
        Entry {
            is_list: false,
            item: s.to_string(),
            items: Vec::new(),
        }
    }
    /// Whether the entry was given (a non-empty scalar or a non-empty sequence).
    pub fn is_valid(&self) -> bool {
        if self.is_list {
            !self.items.is_empty()
        } else {
            !self.item.is_empty()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionInfo {
    pub name: String,
    pub fields: Entry,
    pub comps: Entry,
    pub values: Vec<Entry>,
    /// Whether a `values:` key was present.
    pub has_values: bool,
    /// The exception mapping (Falco reports exception errors there).
    pub span: Span,
}

impl ExceptionInfo {
    pub fn err(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code::VALIDATE, message)
            .at(self.span)
            .item(it::EXCEPTION, self.name.clone())
    }
}

/// Operators allowed as an exception comp (every condition operator, incl. `exists`).
fn is_operator_defined(op: &str) -> bool {
    OPERATORS.iter().any(|o| o.text == op)
}

/// `<string operator> <modifier>` with exactly one blank, e.g. `startswith anyof`.
pub fn is_str_operator_with_modifier(op: &str) -> bool {
    let Some((base, modifier)) = op.split_once(' ') else {
        return false;
    };
    matches!(
        base,
        "=" | "=="
            | "!="
            | "contains"
            | "icontains"
            | "bcontains"
            | "startswith"
            | "bstartswith"
            | "endswith"
            | "glob"
            | "iglob"
            | "regex"
    ) && matches!(modifier, "oneof" | "anyof" | "allof")
}

fn is_list_operator(op: &str) -> bool {
    matches!(op, "in" | "intersects" | "pmatch") || is_str_operator_with_modifier(op)
}

fn normalize_comp(s: &mut String) {
    let t = s.trim_matches([' ', '\t', '\r', '\n']);
    if t.len() != s.len() {
        *s = t.to_string();
    }
}

/// Falco's `validate_exception_info`: defaults comps and checks shapes. `field_ok` validates a
/// field expression for the rule's source; `None` when the source has no field catalog here.
pub fn validate(
    ex: &mut ExceptionInfo,
    field_ok: Option<&dyn Fn(&str) -> bool>,
) -> Result<(), Diagnostic> {
    if ex.fields.is_list {
        if !ex.comps.is_valid() {
            ex.comps.is_list = true;
            ex.comps.items = ex.fields.items.iter().map(|_| Entry::scalar("=")).collect();
        }
        if ex.fields.items.len() != ex.comps.items.len() {
            return Err(ex.err("Fields and comps lists must have equal length"));
        }
        for i in 0..ex.comps.items.len() {
            let Some(c) = ex.comps.items.get_mut(i) else {
                continue;
            };
            normalize_comp(&mut c.item);
            if !is_operator_defined(&c.item) && !is_str_operator_with_modifier(&c.item) {
                let m = format!("'{}' is not a supported comparison operator", c.item);
                return Err(ex.err(m));
            }
        }
        if let Some(ok) = field_ok {
            for f in &ex.fields.items {
                if !ok(&f.item) {
                    return Err(ex.err(format!("'{}' is not a supported filter field", f.item)));
                }
            }
        }
    } else {
        if !ex.comps.is_valid() {
            ex.comps.is_list = false;
            ex.comps.item = "in".to_string();
        }
        if ex.comps.is_list {
            return Err(ex.err("Fields and comps must both be strings"));
        }
        normalize_comp(&mut ex.comps.item);
        let c = ex.comps.item.as_str();
        if c != "in" && c != "pmatch" && c != "intersects" && !is_str_operator_with_modifier(c) {
            return Err(ex.err(
                "When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier operator (e.g. startswith oneof)",
            ));
        }
        if let Some(ok) = field_ok {
            if !ok(&ex.fields.item) {
                return Err(ex.err(format!(
                    "'{}' is not a supported filter field",
                    ex.fields.item
                )));
            }
        }
    }
    Ok(())
}

/// Wraps in double quotes when the text contains a space and does not already start with a quote.
pub fn quote_item(e: &str) -> String {
    if e.contains(' ') && !e.starts_with('"') && !e.starts_with('\'') {
        format!("\"{e}\"")
    } else {
        e.to_string()
    }
}

fn paren_item(e: &str) -> String {
    if e.starts_with('(') {
        e.to_string()
    } else {
        format!("({e})")
    }
}

/// The condition text Falco compiles for a rule with exceptions (docs/semantics.md#condition-pipeline step 1,
/// #exceptions). With no exceptions the condition is returned unchanged.
pub fn build_condition(cond: &str, exceptions: &[ExceptionInfo]) -> Result<String, Diagnostic> {
    if exceptions.is_empty() {
        return Ok(cond.to_string());
    }
    let mut out = format!("({cond})");
    for ex in exceptions {
        let mut icond = String::new();
        if !ex.fields.is_list {
            for val in &ex.values {
                if val.is_list {
                    return Err(ex.err("Expected values array to contain a list of strings"));
                }
                if icond.is_empty() {
                    icond = format!("({} {} (", ex.fields.item, ex.comps.item);
                } else {
                    icond.push_str(", ");
                }
                icond.push_str(&quote_item(&val.item));
            }
            if !icond.is_empty() {
                icond.push_str("))");
            }
        } else {
            icond.push('(');
            for values in &ex.values {
                if ex.fields.items.len() != values.items.len() {
                    return Err(ex.err("Fields and values lists must have equal length"));
                }
                if icond != "(" {
                    icond.push_str(" or ");
                }
                icond.push('(');
                for (k, field) in ex.fields.items.iter().enumerate() {
                    if k > 0 {
                        icond.push_str(" and ");
                    }
                    let comp = ex.comps.items.get(k).map_or("", |c| c.item.as_str());
                    let value = values.items.get(k).cloned().unwrap_or_default();
                    let rendered = if value.is_list {
                        let parts: Vec<String> =
                            value.items.iter().map(|v| quote_item(&v.item)).collect();
                        format!("({})", parts.join(", "))
                    } else if is_list_operator(comp) {
                        paren_item(&value.item)
                    } else {
                        quote_item(&value.item)
                    };
                    icond.push(' ');
                    icond.push_str(&field.item);
                    icond.push(' ');
                    icond.push_str(comp);
                    icond.push(' ');
                    icond.push_str(&rendered);
                }
                icond.push(')');
            }
            icond.push(')');
            if icond == "()" {
                icond.clear();
            }
        }
        if !icond.is_empty() {
            out.push_str(" and not ");
            out.push_str(&icond);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Entry {
        Entry {
            is_list: true,
            item: String::new(),
            items: v.iter().map(|s| Entry::scalar(s)).collect(),
        }
    }

    fn ex(fields: Entry, comps: Entry, values: Vec<Entry>) -> ExceptionInfo {
        ExceptionInfo {
            name: "e".into(),
            fields,
            comps,
            values,
            has_values: true,
            span: Span::default(),
        }
    }

    #[test]
    fn tuple_form_spec_example() {
        let mut e = ex(
            list(&["proc.cmdline"]),
            list(&["contains"]),
            vec![list(&["curl 127.0.0.1"])],
        );
        validate(&mut e, None).unwrap();
        assert_eq!(
            build_condition("a or b", &[e]).unwrap(),
            "(a or b) and not (( proc.cmdline contains \"curl 127.0.0.1\"))"
        );
    }

    #[test]
    fn single_field_defaults_to_in() {
        let mut e = ex(
            Entry::scalar("ka.user.name"),
            Entry::default(),
            vec![Entry::scalar("a b"), Entry::scalar("c")],
        );
        validate(&mut e, None).unwrap();
        assert_eq!(
            build_condition("x", &[e]).unwrap(),
            "(x) and not (ka.user.name in (\"a b\", c))"
        );
    }

    #[test]
    fn tuple_defaults_to_eq_and_wraps_list_ops() {
        let mut e = ex(
            list(&["ka.user.name", "ka.verb"]),
            list(&["=", "in"]),
            vec![list(&["bob", "verbs"])],
        );
        validate(&mut e, None).unwrap();
        assert_eq!(
            build_condition("x", &[e]).unwrap(),
            "(x) and not (( ka.user.name = bob and  ka.verb in (verbs)))"
        );
        let mut d = ex(
            list(&["a.b", "c.d"]),
            Entry::default(),
            vec![list(&["1", "2"])],
        );
        validate(&mut d, None).unwrap();
        assert_eq!(d.comps, list(&["=", "="]));
    }

    #[test]
    fn no_values_generates_nothing() {
        let mut e = ex(list(&["a.b"]), Entry::default(), vec![]);
        validate(&mut e, None).unwrap();
        assert_eq!(build_condition("x", &[e]).unwrap(), "(x)");
    }

    #[test]
    fn errors_carry_falco_messages() {
        let mut e = ex(Entry::scalar("ka.user.name"), Entry::scalar("="), vec![]);
        assert!(validate(&mut e, None)
            .unwrap_err()
            .message
            .starts_with("When fields is a single value"));
        let mut e = ex(list(&["a.b", "c.d"]), list(&["="]), vec![]);
        assert_eq!(
            validate(&mut e, None).unwrap_err().message,
            "Fields and comps lists must have equal length"
        );
        let mut e = ex(list(&["a.b"]), list(&["like"]), vec![]);
        assert_eq!(
            validate(&mut e, None).unwrap_err().message,
            "'like' is not a supported comparison operator"
        );
        let mut e = ex(list(&["ka.nosuch"]), Entry::default(), vec![]);
        let ok = |f: &str| f != "ka.nosuch";
        assert_eq!(
            validate(&mut e, Some(&ok)).unwrap_err().message,
            "'ka.nosuch' is not a supported filter field"
        );
        let e = ex(list(&["a.b", "c.d"]), list(&["=", "="]), vec![list(&["x"])]);
        assert_eq!(
            build_condition("x", &[e]).unwrap_err().message,
            "Fields and values lists must have equal length"
        );
        assert!(is_str_operator_with_modifier("startswith anyof"));
        assert!(!is_str_operator_with_modifier("in anyof"));
    }
}
