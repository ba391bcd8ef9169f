//! Chooses the rule files compiled into the binary and hands them to `compile_rules!()`.
//!
//! Default: every `*.yaml` file directly under `rules/`, in file-name order. `KAUDIT_RULES` (a
//! `:`-separated list, relative paths taken from the package root) replaces that list. The chosen absolute
//! paths reach the proc-macro as `KAUDIT_RULE_FILES`; editing any of them, adding a file to `rules/` or
//! changing `KAUDIT_RULES` rebuilds the binary.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    // Conformance tests of this package are ignored, visibly, when the Falco conformance data is absent.
    kaudit_testkit::build_script();
    // The AKS checkpoint-store tests are ignored, visibly, when Azurite is not installed.
    kaudit_testkit::azurite_build_script();
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let rules_dir = root.join("rules");
    println!("cargo:rerun-if-env-changed=KAUDIT_RULES");

    let files = match env::var("KAUDIT_RULES") {
        Ok(list) if !list.trim().is_empty() => list
            .split(':')
            .filter(|p| !p.trim().is_empty())
            .map(|p| root.join(p.trim()))
            .collect(),
        _ => yaml_files_in(&rules_dir),
    };
    if rules_dir.is_dir() {
        println!("cargo:rerun-if-changed={}", rules_dir.display());
    }
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    println!("cargo:rustc-env=KAUDIT_RULE_FILES={}", list.join(":"));
}

/// `*.yaml` files directly in `dir`, sorted by file name (none if `dir` is absent).
fn yaml_files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files
}
