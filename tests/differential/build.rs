//! Chooses the rule sets the differential tests compile with `compile_rules!` (see `src/lib.rs`).
//!
//! * `rules/bundled.yaml`: always; it exercises every construct the generator handles.
//! * From the conformance data (`KAUDIT_CONFORMANCE_DIR`, default `../shared/conformance` beside the
//!   repository, as `kaudit_testkit` resolves it): the two upstream rule sets (`current`, `legacy`), the
//!   falco-reference rule file, and every rule-file list of the micro cases, written to
//!   `$OUT_DIR/conformance_sets.rs`.
//!
//! Without the conformance data nothing takes the upstream sets' place: `kaudit_testkit::build_script`
//! sets `cfg(kaudit_no_conformance)`, those modules are left out, and the tests that need them show as
//! ignored (with a cargo warning). Under `CI=true` missing data fails the build here.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// (module, doc, rule files relative to the conformance folder)
const UPSTREAM: &[(&str, &str, &[&str])] = &[
    (
        "current",
        "`falco_rules` (testing variant) + `k8s_audit_rules` 0.18.0.",
        &[
            "rules/current/falco_rules.falco-rules-1.0.1.testing-variant.yaml",
            "rules/current/k8s_audit_rules.k8saudit-0.18.0.yaml",
        ],
    ),
    (
        "legacy",
        "`falco_rules` 1.0.1 + `k8s_audit_rules` 0.6.0.",
        &[
            "rules/legacy/falco_rules.falco-rules-1.0.1.yaml",
            "rules/legacy/k8s_audit_rules.k8saudit-0.6.0.yaml",
        ],
    ),
    (
        "reference",
        "`k8s_audit_rules` 0.18.0 alone: the rule file of the falco-reference corpus.",
        &["rules/current/k8s_audit_rules.k8saudit-0.18.0.yaml"],
    ),
];

fn main() {
    kaudit_testkit::build_script();
    println!("cargo:rerun-if-changed=rules/bundled.yaml");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let dir = kaudit_testkit::conformance_path();
    let dir = dir.canonicalize().unwrap_or(dir);
    let present = dir.join("cases.yaml").is_file();
    if !present && env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true and the conformance data is absent at {}: the differential tests need it \
             (set KAUDIT_CONFORMANCE_DIR)",
            dir.display()
        );
    }
    let code = if present {
        conformance_sets(&dir)
    } else {
        // Not compiled (`cfg(kaudit_no_conformance)`); the file must still exist for `include!`.
        String::new()
    };
    if let Err(e) = std::fs::write(out.join("conformance_sets.rs"), code) {
        panic!("cannot write {}: {e}", out.display());
    }
    println!(
        "cargo:rustc-env=KAUDIT_DIFF_CONFORMANCE_DIR={}",
        dir.display()
    );
}

/// The Rust source of the conformance rule-set modules.
fn conformance_sets(dir: &Path) -> String {
    let mut code = String::new();
    for (name, doc, files) in UPSTREAM {
        module(&mut code, name, doc, dir, files);
    }
    let micro = dir.join("micro");
    let manifest = micro.join("cases.yaml");
    println!("cargo:rerun-if-changed={}", manifest.display());
    let sets = micro_rule_sets(&manifest);
    code.push_str(
        "\n/// The compiled engine of every rule-file list the micro cases use.\npub mod micro {\n",
    );
    for (i, files) in sets.iter().enumerate() {
        let doc = format!("`{}`", files.join("`, `"));
        module(&mut code, &format!("set_{i}"), &doc, &micro, files);
    }
    code.push_str(
        "    /// (rule files as `cases.yaml` lists them, relative to `micro/`; the compiled engine)\n    \
         pub fn sets() -> Vec<(&'static [&'static str], &'static dyn kaudit_engine::engine::Engine)> {\n        \
         vec![\n",
    );
    for (i, files) in sets.iter().enumerate() {
        let list: Vec<String> = files.iter().map(|f| format!("{f:?}")).collect();
        let _ = writeln!(
            code,
            "            (&[{}], &set_{i}::ENGINE),",
            list.join(", ")
        );
    }
    code.push_str("        ]\n    }\n}\n");
    code
}

/// `pub mod <name> { compile_rules!(<absolute paths>) }`.
fn module(code: &mut String, name: &str, doc: &str, base: &Path, files: &[impl AsRef<str>]) {
    let paths: Vec<String> = files
        .iter()
        .map(|f| {
            let p = base.join(f.as_ref());
            println!("cargo:rerun-if-changed={}", p.display());
            format!("{:?}", p.display().to_string())
        })
        .collect();
    let _ = writeln!(
        code,
        "/// {doc}\npub mod {name} {{\n    kaudit_macros::compile_rules!({});\n}}",
        paths.join(", ")
    );
}

/// Every distinct `rules:` list of the micro alert cases, in manifest order.
fn micro_rule_sets(manifest: &Path) -> Vec<Vec<String>> {
    use saphyr::{LoadableYamlNode, Yaml};
    let text =
        std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let docs = Yaml::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let cases = docs
        .first()
        .and_then(|d| d.as_mapping_get("cases"))
        .and_then(Yaml::as_sequence)
        .unwrap_or_else(|| panic!("{}: no cases list", manifest.display()));
    let mut sets: Vec<Vec<String>> = Vec::new();
    for case in cases {
        let is_alert_case = case
            .as_mapping_get("expect")
            .and_then(|e| e.as_mapping_get("alerts_file"))
            .is_some();
        let rules: Vec<String> = case
            .as_mapping_get("rules")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        if is_alert_case && !rules.is_empty() && !sets.contains(&rules) {
            sets.push(rules);
        }
    }
    assert!(!sets.is_empty(), "{}: no alert cases", manifest.display());
    sets
}
