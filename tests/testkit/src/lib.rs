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

/// The cfg name set by [`azurite_build_script`] when Azurite's blob server cannot be found.
pub const NO_AZURITE_CFG: &str = "kaudit_no_azurite";

/// Azurite's blob server (`azurite-blob`, npm package `azurite`, Microsoft's storage emulator):
/// `$KAUDIT_AZURITE` when set, else `azurite-blob` on `PATH`.
pub fn azurite_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KAUDIT_AZURITE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("azurite-blob"))
        .find(|p| p.is_file())
}

/// Azurite, for a test that needs it; panics with the remedy when it is absent (see
/// [`azurite_build_script`] for why that is a failure, never a pass).
pub fn azurite() -> PathBuf {
    azurite_path().unwrap_or_else(|| {
        panic!(
            "azurite-blob not found (npm install azurite, then put node_modules/.bin on PATH or set \
             KAUDIT_AZURITE to the azurite-blob script{})",
            if in_ci() { "; CI=true requires it, .ci/run installs it" } else { "" }
        )
    })
}

/// For a test crate's `build.rs`: declares `cfg(kaudit_no_azurite)` and sets it when Azurite is absent
/// outside CI, with a cargo warning, so tests that need it show as ignored. Only `KAUDIT_AZURITE` and
/// `CI` are watched (watching `PATH` would rebuild the crate whenever a shell's `PATH` differs).
pub fn azurite_build_script() {
    println!("cargo::rustc-check-cfg=cfg({NO_AZURITE_CFG})");
    println!("cargo:rerun-if-env-changed=KAUDIT_AZURITE");
    if azurite_path().is_none() && !in_ci() {
        println!("cargo:rustc-cfg={NO_AZURITE_CFG}");
        println!(
            "cargo:warning=azurite-blob not found: the Azurite tests (tests/cloud_aks.rs) are IGNORED \
             (npm install azurite; set KAUDIT_AZURITE to its azurite-blob script)"
        );
    }
}
