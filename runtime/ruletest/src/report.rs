//! Reports of a test run: the text a person reads, a JSON document and JUnit XML for CI systems.

use crate::run::{Failure, FileResult};
use kaudit_engine::coverage::Coverage;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Totals over files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    /// Files that could not be read or parsed.
    pub broken_files: usize,
}

impl Totals {
    pub fn of(files: &[FileResult]) -> Totals {
        let mut t = Totals::default();
        for f in files {
            if f.error.is_some() {
                t.broken_files += 1;
            }
            for r in &f.tests {
                if r.passed() {
                    t.passed += 1;
                } else {
                    t.failed += 1;
                }
            }
        }
        t
    }
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.broken_files == 0
    }
}

fn write_failure(out: &mut String, path: &str, f: &Failure) {
    let _ = writeln!(out, "  --> {path}:{}: {}", f.line, f.message);
    if let (Some(e), Some(g)) = (&f.expected, &f.got) {
        let _ = writeln!(out, "      expected: {e}");
        let _ = writeln!(out, "           got: {g}");
    }
}

/// One line per test (`ok`/`FAILED`), the failures with their file:line and expected/got, then totals.
pub fn text(files: &[FileResult], engine_label: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "running rule tests on {engine_label}");
    for f in files {
        if let Some(e) = &f.error {
            let _ = writeln!(out, "{}: FAILED to load", f.path);
            write_failure(&mut out, &f.path, e);
            continue;
        }
        for t in &f.tests {
            let status = if t.passed() { "ok" } else { "FAILED" };
            let _ = writeln!(out, "test {}:{} {} ... {status}", f.path, t.line, t.name);
        }
    }
    let failed: Vec<_> = files
        .iter()
        .flat_map(|f| f.tests.iter().filter(|t| !t.passed()).map(move |t| (f, t)))
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for (f, t) in &failed {
            let _ = writeln!(out, "\n---- {} ({}:{}) ----", t.name, f.path, t.line);
            for x in &t.failures {
                write_failure(&mut out, &f.path, x);
            }
        }
        let _ = writeln!(out);
    }
    let tot = Totals::of(files);
    let _ = writeln!(
        out,
        "\ntest result: {}. {} passed; {} failed{}",
        if tot.ok() { "ok" } else { "FAILED" },
        tot.passed,
        tot.failed,
        if tot.broken_files > 0 {
            format!("; {} file(s) failed to load", tot.broken_files)
        } else {
            String::new()
        }
    );
    out
}

/// The coverage of all files together.
pub fn coverage(files: &[FileResult]) -> Coverage {
    let mut c = Coverage::default();
    for f in files {
        c.merge(&f.coverage);
    }
    c
}

fn failure_json(path: &str, f: &Failure) -> Value {
    json!({"file": path, "line": f.line, "message": f.message, "expected": f.expected, "got": f.got})
}

/// `{"ok", "passed", "failed", "files": [{"path", "error", "tests": [{"name", "line", "passed", "failures",
/// "alerts"}]}], "coverage": [{"rule", "matches", "first"}]}`.
pub fn json(files: &[FileResult]) -> Value {
    let tot = Totals::of(files);
    let cov = coverage(files);
    json!({
        "ok": tot.ok(),
        "passed": tot.passed,
        "failed": tot.failed,
        "files": files.iter().map(|f| json!({
            "path": f.path,
            "error": f.error.as_ref().map(|e| failure_json(&f.path, e)),
            "tests": f.tests.iter().map(|t| json!({
                "name": t.name,
                "line": t.line,
                "passed": t.passed(),
                "failures": t.failures.iter().map(|x| failure_json(&f.path, x)).collect::<Vec<_>>(),
                "alerts": t.alerts.iter().map(|a| json!({
                    "rule": a.rule, "priority": a.priority.name(), "output": a.output,
                    "output_fields": a.fields, "event": a.event,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "coverage": cov.rules.iter().map(|r| json!({"rule": r.name, "matches": r.matches, "first": r.wins})).collect::<Vec<_>>(),
    })
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// JUnit XML: one `<testsuite>` per file, one `<testcase>` per test, `<failure>` with the text report's lines.
pub fn junit(files: &[FileResult]) -> String {
    let tot = Totals::of(files);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"kaudit rule tests\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        tot.passed + tot.failed,
        tot.failed,
        tot.broken_files
    );
    for f in files {
        let failed = f.tests.iter().filter(|t| !t.passed()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"{}\">",
            xml_escape(&f.path),
            f.tests.len(),
            usize::from(f.error.is_some())
        );
        if let Some(e) = &f.error {
            let mut body = String::new();
            write_failure(&mut body, &f.path, e);
            let _ = writeln!(
                out,
                "    <testcase name=\"(load)\" classname=\"{}\"><error message=\"{}\">{}</error></testcase>",
                xml_escape(&f.path),
                xml_escape(&e.message),
                xml_escape(&body)
            );
        }
        for t in &f.tests {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\"",
                xml_escape(&t.name),
                xml_escape(&f.path),
                xml_escape(&f.path),
                t.line
            );
            if t.passed() {
                let _ = writeln!(out, "/>");
                continue;
            }
            let mut body = String::new();
            for x in &t.failures {
                write_failure(&mut body, &f.path, x);
            }
            let _ = writeln!(
                out,
                "><failure message=\"{}\">{}</failure></testcase>",
                xml_escape(t.failures.first().map_or("", |f| f.message.as_str())),
                xml_escape(&body)
            );
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}
