//! Test support shared by kaudit's crates.
//!
//! The Falco conformance data (`../shared/conformance` beside the repository, or
//! `$KAUDIT_CONFORMANCE_DIR`) is optional for a local `cargo test`, and required in CI. A suite that
//! needs it must never read as a pass when it did not run, so absence is decided at build time:
//!
//! * each test crate's `build.rs` calls [`build_script`], which sets `cfg(kaudit_no_conformance)`
//!   when the data is missing (and prints a cargo warning naming the folder);
//! * conformance tests carry
//!   `#[cfg_attr(kaudit_no_conformance, ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR")]`,
//!   so the test summary counts them as **ignored**, with the reason;
//! * under `CI=true` the cfg is never set: the tests run, and [`conformance_dir`] fails them loudly.

#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The cfg name set by [`build_script`] when the conformance data is absent.
pub const NO_CONFORMANCE_CFG: &str = "kaudit_no_conformance";

/// Where the conformance data is expected: `$KAUDIT_CONFORMANCE_DIR`, else `../shared/conformance`
/// beside the repository.
pub fn conformance_path() -> PathBuf {
    match std::env::var_os("KAUDIT_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"),
    }
}

fn present(dir: &std::path::Path) -> bool {
    dir.join("cases.yaml").is_file()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The conformance data folder, for a test that needs it. Panics with the folder and the remedy when it
/// is absent: tests that call this are marked ignored by `cfg(kaudit_no_conformance)` outside CI, so
/// reaching here without the data means CI (or a stale build script): a failure either way.
pub fn conformance_dir() -> PathBuf {
    let dir = conformance_path();
    assert!(
        present(&dir),
        "conformance data not found at {} (set KAUDIT_CONFORMANCE_DIR{})",
        dir.display(),
        if in_ci() { "; CI=true requires it" } else { "" }
    );
    dir
}

/// For a test crate's `build.rs`: declares `cfg(kaudit_no_conformance)` and sets it when the data is
/// absent outside CI, with a cargo warning so the skip is visible in the build output as well as in
/// the test summary (as ignored tests).
pub fn build_script() {
    let dir = conformance_path();
    println!("cargo::rustc-check-cfg=cfg({NO_CONFORMANCE_CFG})");
    println!("cargo:rerun-if-env-changed=KAUDIT_CONFORMANCE_DIR");
    println!("cargo:rerun-if-env-changed=CI");
    // A missing file makes cargo rerun the script on every build, so the data appearing is noticed.
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("cases.yaml").display()
    );
    if !present(&dir) && !in_ci() {
        println!("cargo:rustc-cfg={NO_CONFORMANCE_CFG}");
        println!(
            "cargo:warning=conformance data not found at {}: the conformance tests are IGNORED \
             (set KAUDIT_CONFORMANCE_DIR)",
            dir.display()
        );
    }
}
