//! The text of an explanation: per event a header (what the request was, which rules matched, which one
//! wins under `first`, whether the checking engine agrees), then each rule's condition tree with every
//! node's result, the values its fields extracted and the check's place in the rule file.

use super::{Explained, RuleExplained, What};
use crate::event::Event;
use kaudit_frontend::span::Span;
use std::fmt::Write as _;

/// Values shown per check, and characters per value, before the rest is summarised.
const MAX_VALUES: usize = 8;
const MAX_VALUE_CHARS: usize = 120;

/// A one-line description of the request: `create pods default/web by alice (ResponseComplete)`.
pub fn event_summary(ev: &Event<'_>) -> String {
    let get = |path: &[&str]| -> String {
        let mut it = path.iter();
        let Some(first) = it.next() else {
            return String::new();
        };
        let mut node = ev.member(first);
        for p in it {
            node = node.and_then(|n| n.get(p));
        }
        node.and_then(|n| n.as_str().map(|s| s.into_owned()))
            .unwrap_or_default()
    };
    let (ns, name) = (
        get(&["objectRef", "namespace"]),
        get(&["objectRef", "name"]),
    );
    let mut target = get(&["objectRef", "resource"]);
    let sub = get(&["objectRef", "subresource"]);
    if !sub.is_empty() {
        target = format!("{target}/{sub}");
    }
    let object = match (ns.is_empty(), name.is_empty()) {
        (false, false) => format!(" {ns}/{name}"),
        (true, false) => format!(" {name}"),
        (false, true) => format!(" in {ns}"),
        (true, true) => String::new(),
    };
    format!(
        "{} {}{object} by {} ({})",
        get(&["verb"]),
        if target.is_empty() {
            get(&["requestURI"])
        } else {
            target
        },
        get(&["user", "username"]),
        get(&["stage"])
    )
}

/// `file:line:col` of a span, using the rule files' names.
pub fn location(span: Span, files: &[(String, String)]) -> String {
    let name = files.get(span.file as usize).map_or("?", |f| f.0.as_str());
    format!("{name}:{}:{}", span.line, span.col)
}

fn result_word(e: &Explained) -> &'static str {
    match (&e.what, e.result) {
        (_, true) => "true",
        (What::Check { values, .. }, false) if values.is_empty() => "false (field missing)",
        (_, false) => "false",
    }
}

fn values_text(values: &[String]) -> String {
    let shown: Vec<String> = values
        .iter()
        .take(MAX_VALUES)
        .map(|v| {
            if v.chars().count() > MAX_VALUE_CHARS {
                let cut: String = v.chars().take(MAX_VALUE_CHARS).collect();
                format!("{cut}…")
            } else {
                v.clone()
            }
        })
        .collect();
    let more = values.len().saturating_sub(MAX_VALUES);
    let tail = if more > 0 {
        format!(", … {more} more")
    } else {
        String::new()
    };
    if values.len() == 1 && more == 0 {
        shown.join("")
    } else {
        format!("({}{tail})", shown.join(", "))
    }
}

fn write_node(out: &mut String, e: &Explained, depth: usize, files: &[(String, String)]) {
    let pad = "  ".repeat(depth);
    match &e.what {
        What::And => {
            let _ = writeln!(out, "{pad}and: {}", result_word(e));
        }
        What::Or => {
            let _ = writeln!(out, "{pad}or: {}", result_word(e));
        }
        What::Not => {
            let _ = writeln!(out, "{pad}not: {}", result_word(e));
        }
        What::Macro { name } => {
            let _ = writeln!(out, "{pad}macro {name}: {}", result_word(e));
        }
        What::Check {
            label,
            span,
            values,
        } => {
            let seen = if values.is_empty() {
                String::new()
            } else {
                format!("   [{}]", values_text(values))
            };
            let _ = writeln!(out, "{pad}{label}: {}{seen}", result_word(e));
            let _ = writeln!(out, "{pad}  --> {}", location(*span, files));
        }
    }
    for c in &e.children {
        write_node(out, c, depth + 1, files);
    }
}

/// One rule's tree.
pub fn rule_tree(r: &RuleExplained, files: &[(String, String)]) -> String {
    let mut out = String::new();
    let verdict = if r.tree.result { "MATCH" } else { "no match" };
    let _ = writeln!(
        out,
        "  rule `{}` ({}): {verdict}",
        r.name,
        location(r.span, files)
    );
    write_node(&mut out, &r.tree, 2, files);
    out
}

/// The header of an event: matched rules in plan order, the first one marked.
pub fn matches_line(matched: &[&str]) -> String {
    match matched {
        [] => "  matched: none".to_string(),
        [first] => format!("  matched: {first} (the alert under rule_matching: first)"),
        [first, rest @ ..] => format!(
            "  matched: {first} (the alert under rule_matching: first); also matched: {}",
            rest.join(", ")
        ),
    }
}
