//! How each condition check reads in the rule files: `ka.user.name in (allowed_k8s_users)` rather than
//! the sixteen names the list expands to. Conditions of `rule`/`macro` items are parsed from the YAML
//! as written (before list expansion) and each check's text is keyed by its byte offset in the file,
//! which is where the IR's check spans point when the loader could place them exactly.

use kaudit_frontend::ast::Expr;
use kaudit_frontend::cond;
use kaudit_frontend::items::align;
use kaudit_frontend::yaml::{self, Node};
use std::collections::HashMap;

/// (file index, byte offset in the file) → the check as written.
pub type Labels = HashMap<(u32, u32), String>;

/// Labels for every check of every `rule`/`macro` condition of `files` (name, text), in load order.
pub fn check_labels(files: &[(String, String)]) -> Labels {
    let mut labels = Labels::new();
    for (i, (_, src)) in files.iter().enumerate() {
        let Ok(docs) = yaml::parse(src, i as u32) else {
            continue;
        };
        for item in docs.iter().filter_map(Node::as_seq).flatten() {
            if item.get("rule").is_none() && item.get("macro").is_none() {
                continue;
            }
            let Some(node) = item.get("condition") else {
                continue;
            };
            let Some(text) = node.as_scalar() else {
                continue;
            };
            let Some(map) = text_start(src, node).and_then(|s| align(src, s, text)) else {
                continue;
            };
            let Ok(expr) = cond::parse(text) else {
                continue;
            };
            collect(&expr, &map, i as u32, &mut labels);
        }
    }
    labels
}

/// Where a scalar's text starts in the file: after the quote, or on the line after a block indicator
/// (the loader places condition texts the same way).
fn text_start(src: &str, node: &Node) -> Option<usize> {
    let at = node.span.offset as usize;
    Some(match src.as_bytes().get(at)? {
        b'"' | b'\'' => at + 1,
        b'|' | b'>' => at + src.get(at..)?.find('\n')? + 1,
        _ => at,
    })
}

fn collect(expr: &Expr, map: &[u32], file: u32, out: &mut Labels) {
    match expr {
        Expr::And(items) | Expr::Or(items) => {
            for e in items {
                collect(e, map, file, out);
            }
        }
        Expr::Not(inner) => collect(inner, map, file, out),
        Expr::Macro { .. } => {}
        Expr::Check(c) => {
            if let Some(&offset) = map.get(c.at as usize) {
                out.insert((file, offset), cond::print(expr));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_labelled_as_written_with_list_names() {
        let src = "- list: l\n  items: [a, b]\n- macro: m\n  condition: >\n    ka.verb in (l)\n    and ka.user.name startswith \"sys\"\n- rule: r\n  condition: m or jevt.value[/stage] = X\n";
        let labels = check_labels(&[("f.yaml".into(), src.into())]);
        let mut got: Vec<(u32, &str)> = labels.iter().map(|((_, o), t)| (*o, t.as_str())).collect();
        got.sort();
        let at = |s: &str| src.find(s).unwrap() as u32;
        assert_eq!(
            got,
            [
                (at("ka.verb in"), "ka.verb in (l)"),
                (at("ka.user.name"), "ka.user.name startswith \"sys\""),
                (at("jevt.value"), "jevt.value[/stage] = X"),
            ]
        );
    }
}
