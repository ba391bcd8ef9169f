//! Shared helpers for the loader tests: locating the conformance data and reading its manifests
//! with the crate's own spanned YAML reader.
#![allow(dead_code)]

use rulegen::yaml::{self, Node};
use std::path::PathBuf;

/// `KAUDIT_CONFORMANCE_DIR`, else `../shared/conformance` relative to the workspace root. `None`
/// (after a loud message) when absent, except under CI=true where absence fails the test.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KAUDIT_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared")
                .join("conformance")
        });
    if dir.join("cases.yaml").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "conformance data not found at {} (set KAUDIT_CONFORMANCE_DIR)",
            dir.display()
        );
    }
    eprintln!(
        "!!!!! SKIPPING: conformance data not found at {} (set KAUDIT_CONFORMANCE_DIR) !!!!!",
        dir.display()
    );
    None
}

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
