//! `compile_rules!` on bad rule files fails the build with the loader's diagnostic (the same text
//! `kaudit validate` prints), as rustc reports it.
//!
//! trybuild erases line numbers outside the test's own `.rs` file when it normalises compiler output, so
//! the `.stderr` files show the rule file and the marked condition but not `:line:col`; the unit tests in
//! `src/lib.rs` pin the exact `file:line:col` text.

use std::path::Path;

#[test]
fn bad_rule_files_fail_to_compile_with_located_diagnostics() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    // Read by the macro while the test cases compile (cargo and rustc inherit the environment).
    std::env::set_var("KAUDIT_UI_BAD_CONDITION", ui.join("bad_condition.yaml"));
    std::env::set_var("KAUDIT_UI_UNKNOWN_FIELD", ui.join("unknown_field.yaml"));
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
