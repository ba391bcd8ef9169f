//! Rule tests: YAML files that pair audit events with what the loaded rules must (and must not) say
//! about them, a runner that evaluates them on either engine, and reports for people and CI.
//!
//! * `spec`: the test-file format (documented in docs/rule-tests.md) parsed from the spanned YAML tree of
//!   the rule front end, so every expectation keeps its line for failure messages.
//! * `event`: inline events (YAML mappings, or a named fixture with JSON-pointer edits) → JSON text.
//! * `run`: evaluates a file's tests on a `RuleBase` (the compiled-in engine, or rule files interpreted)
//!   and checks the expectations, counting matches and first-match wins per rule on the way.
//! * `report`: the test-runner text output, `--format json` and JUnit XML.
//! * `mutants`: `kaudit test --mutants`, which changes each rule one way at a time and reports the
//!   changes no test notices.

#![forbid(unsafe_code)]

pub mod event;
pub mod mutants;
pub mod report;
pub mod run;
pub mod spec;

pub use run::{run_file, RuleBase};
