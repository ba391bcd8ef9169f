//! Shared helpers for the loader tests: locating the conformance data and reading its manifests
//! with the crate's own spanned YAML reader.
#![allow(dead_code)]

use kaudit_frontend::yaml::{self, Node};

/// Parses a YAML manifest into its first document.
pub fn manifest(path: &std::path::Path) -> Node {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut docs = yaml::parse(&text, 0).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    assert!(!docs.is_empty(), "{} is empty", path.display());
    docs.remove(0)
}

pub fn str_list(n: Option<&Node>) -> Vec<String> {
    n.and_then(|n| n.as_seq())
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_scalar().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
