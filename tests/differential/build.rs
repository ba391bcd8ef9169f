//! Points `compile_rules!` at the rule sets the differential tests compare (see `src/lib.rs`).
//!
//! The upstream rule sets come from the conformance data (`KAUDIT_CONFORMANCE_DIR`, default
//! `../shared/conformance` beside the workspace). When that folder is absent, every rule set falls back to
//! the bundled one, loudly, and the tests that need the conformance data skip (or fail when `CI=true`).

use std::env;
use std::path::PathBuf;

/// (env var read by `compile_rules!(from_env = ...)`, rule files relative to the conformance folder)
const SETS: &[(&str, &[&str])] = &[
    (
        "KAUDIT_DIFF_CURRENT_RULES",
        &[
            "rules/current/falco_rules.falco-rules-1.0.1.testing-variant.yaml",
            "rules/current/k8s_audit_rules.k8saudit-0.18.0.yaml",
        ],
    ),
    (
        "KAUDIT_DIFF_LEGACY_RULES",
        &[
            "rules/legacy/falco_rules.falco-rules-1.0.1.yaml",
            "rules/legacy/k8s_audit_rules.k8saudit-0.6.0.yaml",
        ],
    ),
];

fn main() {
    let here = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = here.join("../..");
    println!("cargo:rerun-if-env-changed=KAUDIT_CONFORMANCE_DIR");
    let conformance = match env::var_os("KAUDIT_CONFORMANCE_DIR") {
        Some(d) => workspace.join(d),
        None => workspace.join("../shared/conformance"),
    };
    let bundled = here.join("rules/bundled.yaml");
    println!("cargo:rerun-if-changed={}", bundled.display());

    let mut have_all = true;
    for (var, files) in SETS {
        let paths: Vec<PathBuf> = files.iter().map(|f| conformance.join(f)).collect();
        let chosen = if paths.iter().all(|p| p.is_file()) {
            paths
        } else {
            have_all = false;
            vec![bundled.clone()]
        };
        for p in &chosen {
            println!("cargo:rerun-if-changed={}", p.display());
        }
        let list: Vec<String> = chosen.iter().map(|p| p.display().to_string()).collect();
        println!("cargo:rustc-env={var}={}", list.join(":"));
    }
    if !have_all {
        println!(
            "cargo:warning=CONFORMANCE DATA NOT FOUND at {}: the upstream rule sets are replaced by the bundled one \
             and the conformance-based differential tests will be skipped",
            conformance.display()
        );
    }
    println!(
        "cargo:rustc-env=KAUDIT_DIFF_CONFORMANCE_DIR={}",
        conformance.display()
    );
    println!(
        "cargo:rustc-env=KAUDIT_DIFF_HAVE_CONFORMANCE={}",
        if have_all { "1" } else { "0" }
    );
    println!(
        "cargo:rustc-env=KAUDIT_DIFF_BUNDLED_RULES={}",
        bundled.display()
    );
}
