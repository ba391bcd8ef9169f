//! Readable, unique Rust identifiers for rules, macros and fields in generated code.

use proc_macro2::{Ident, Span};
use std::collections::HashSet;

/// Longest name fragment taken from a rule or macro name (the index keeps names unique anyway).
const MAX_FRAGMENT: usize = 40;

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop",
    "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self",
    "static", "struct", "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized",
    "use", "virtual", "where", "while", "yield", "abstract", "become",
];

/// `Some Rule-Name (v2)` → `some_rule_name_v2`; never empty, never a keyword, never starts with a digit.
pub fn snake(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        if out.len() >= MAX_FRAGMENT {
            break;
        }
    }
    let mut out = out.trim_end_matches('_').to_string();
    if out.is_empty() {
        out.push('x');
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// `KaTargetResource` → `ka_target_resource`.
pub fn camel_to_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Hands out identifiers, adding a numeric suffix when a name was already taken.
#[derive(Default)]
pub struct Namer {
    taken: HashSet<String>,
}

impl Namer {
    pub fn unique(&mut self, wanted: &str) -> Ident {
        let mut name = wanted.to_string();
        let mut n = 2;
        while !self.taken.insert(name.clone()) {
            name = format!("{wanted}_{n}");
            n += 1;
        }
        ident(&name)
    }
}

pub fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_makes_identifiers() {
        assert_eq!(snake("Create Privileged Pod"), "create_privileged_pod");
        assert_eq!(
            snake("K8s: Serviceaccount (created)"),
            "k8s_serviceaccount_created"
        );
        assert_eq!(snake("1st rule"), "_1st_rule");
        assert_eq!(snake("---"), "x");
        assert_eq!(snake("match"), "match_");
        assert!(snake(&"a".repeat(100)).len() <= MAX_FRAGMENT);
    }

    #[test]
    fn camel_case_variants_become_snake_case() {
        assert_eq!(camel_to_snake("KaTargetResource"), "ka_target_resource");
        assert_eq!(camel_to_snake("JevtValue"), "jevt_value");
    }

    #[test]
    fn namer_adds_suffixes() {
        let mut n = Namer::default();
        assert_eq!(n.unique("a").to_string(), "a");
        assert_eq!(n.unique("a").to_string(), "a_2");
        assert_eq!(n.unique("a").to_string(), "a_3");
    }
}
