//! Marks the conformance tests ignored when the Falco conformance data is absent (see kaudit-testkit).
fn main() {
    kaudit_testkit::build_script();
}
