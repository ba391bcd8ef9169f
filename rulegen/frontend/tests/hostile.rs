//! Hostile rule files: every one errors or loads, in bounded time, without panicking or
//! overflowing the stack.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use kaudit_frontend::load::{load_files, load_sources};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::time::{Duration, Instant};

fn load_bounded(text: &str) -> kaudit_frontend::load::LoadResult {
    let start = Instant::now();
    let res = load_sources(&[("hostile.yaml", text)]);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    res
}

fn rule(cond: &str) -> String {
    format!("- rule: r\n  desc: d\n  condition: {cond}\n  output: o\n  priority: WARNING\n  source: k8s_audit\n")
}

/// `PROPTEST_CASES` when set (longer local runs), else `default` (bounded for the normal suite).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn deep_yaml_nesting_errors() {
    let res = load_bounded(&format!("- rule: r\n  tags: {}\n", "[".repeat(50_000)));
    assert!(!res.is_ok());
    let r = res.render();
    assert!(
        r.contains("nesting deeper") || r.contains("recursion limit"),
        "{r}"
    );
}

#[test]
fn alias_bomb_errors() {
    let mut s = String::from("- list: l0\n  items: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        s.push_str(&format!("- list: l{i}\n  items: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let res = load_bounded(&s);
    assert!(!res.is_ok());
}

#[test]
fn deep_condition_nesting_errors_or_loads() {
    let n = 20_000;
    let cond = format!("\"{}ka.verb = get{}\"", "(".repeat(n), ")".repeat(n));
    let res = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || load_bounded(&rule(&cond)).is_ok())
        .expect("thread")
        .join();
    assert!(res.is_ok(), "panicked or overflowed");
    let nots = format!("{}ka.verb = get", "not ".repeat(n));
    let _ = load_bounded(&rule(&nots));
}

#[test]
fn huge_lists_load() {
    let items: Vec<String> = (0..50_000).map(|i| format!("v{i}")).collect();
    let text = format!(
        "- list: big\n  items: [{}]\n{}",
        items.join(", "),
        rule("ka.verb in (big)")
    );
    let res = load_bounded(&text);
    assert!(res.is_ok(), "{}", res.render());
}

#[test]
fn recursive_and_long_macro_chains() {
    let res = load_bounded(&format!(
        "- macro: a\n  condition: b\n- macro: b\n  condition: a\n{}",
        rule("a")
    ));
    assert!(!res.is_ok());
    let res = load_bounded(&format!("- macro: a\n  condition: a\n{}", rule("a")));
    assert!(!res.is_ok());
    // A chain of 2000 macros, each using the previous one.
    let mut s = String::from("- macro: m0\n  condition: ka.verb = get\n");
    for i in 1..2000 {
        s.push_str(&format!(
            "- macro: m{i}\n  condition: m{} and ka.verb = get\n",
            i - 1
        ));
    }
    s.push_str(&rule("m1999"));
    let res = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || load_bounded(&s).is_ok())
        .expect("thread")
        .join();
    assert_eq!(res.ok(), Some(true));
}

#[test]
fn invalid_utf8_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("kaudit-rulegen-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join("bad.yaml");
    std::fs::write(&path, b"- list: l\n  items: [\xff\xfe]\n").expect("write");
    let res = load_files(std::slice::from_ref(&path));
    let e = res.errors().next().expect("error");
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            "LOAD_ERR_YAML_PARSE",
            "invalid UTF-8 at byte 20: rule files must be UTF-8"
        )
    );
    // A directory stands for its *.yaml / *.yml files, in path order.
    std::fs::create_dir_all(dir.join("d")).expect("dir");
    std::fs::write(
        dir.join("d/b.yml"),
        "- macro: m\n  condition: ka.verb = get\n",
    )
    .expect("write");
    std::fs::write(dir.join("d/a.yaml"), "- list: l\n  items: [x]\n").expect("write");
    std::fs::write(dir.join("d/c.txt"), "not yaml: [").expect("write");
    let res = load_files(&[dir.join("d")]);
    assert!(res.is_ok(), "{}", res.render());
    let names: Vec<_> = res
        .files
        .iter()
        .map(|(n, _)| n.rsplit('/').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, ["a.yaml", "b.yml"]);
    let res = load_files(&[dir.join("missing.yaml")]);
    assert_eq!(
        res.errors().next().map(|e| e.code),
        Some("LOAD_ERR_FILE_READ")
    );
}

/// Deterministic mutations of a real-looking rule file: no input may panic.
#[test]
fn mutated_rule_files_never_panic() {
    let base = format!(
        "- required_engine_version: 15\n- list: l\n  items: [a, \"b c\"]\n- macro: m\n  condition: ka.verb in (l)\n{}  exceptions:\n  - name: e\n    fields: [ka.user.name, ka.verb]\n    comps: [=, in]\n    values: [[x, l]]\n  tags: [t]\n- rule: r\n  output: '%ka.uri.param[x] %5ka.verb'\n  override:\n    output: append\n",
        rule("m and ka.user.name startswith anyof (a, b) and len(ka.user.groups) > 1")
    );
    assert!(
        load_sources(&[("base.yaml", base.as_str())]).is_ok(),
        "{}",
        load_sources(&[("base.yaml", base.as_str())]).render()
    );
    let bytes = base.as_bytes();
    let alphabet = b"[]{}()%:,'\"- \n\t#&*!|>=abc.0\\";
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..400 {
        let mut m = bytes.to_vec();
        for _ in 0..(next() % 4 + 1) {
            let pos = (next() as usize) % m.len();
            match next() % 3 {
                0 => m[pos] = alphabet[(next() as usize) % alphabet.len()],
                1 => {
                    m.remove(pos);
                }
                _ => m.insert(pos, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        let text = String::from_utf8_lossy(&m).into_owned();
        let res = load_sources(&[("m.yaml", text.as_str())]);
        assert_eq!(res.is_ok(), res.errors().next().is_none());
        let _ = res.render();
    }
}

#[test]
fn many_misindented_brackets_stay_bounded() {
    let mut s = String::new();
    for i in 0..3000 {
        s.push_str(&format!("- list: l{i}\n  items: [\n    a\n  ]\n"));
    }
    let start = Instant::now();
    let res = load_sources(&[("brackets.yaml", s.as_str())]);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    let _ = res.render();
    // A few such brackets (as in real rule files) load.
    let few: String = (0..20)
        .map(|i| format!("- list: l{i}\n  items: [\n    a\n  ]\n"))
        .collect();
    assert!(load_sources(&[("few.yaml", few.as_str())]).is_ok());
}

/// A rule file's (name, text).
type NamedText = (String, String);

/// One line- or byte-level change to a rule file.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// Re-indents a line by the given number of spaces (YAML structure lives in indentation).
    Indent(usize, usize),
    DeleteByte(usize),
    InsertByte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = proptest::sample::select(b"[]{}()%:,'\"- \n\t#&*!|>=abc.0\\\xc3".to_vec());
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), 0usize..7).prop_map(|(a, n)| Mutation::Indent(a, n)),
        any::<usize>().prop_map(Mutation::DeleteByte),
        (any::<usize>(), byte).prop_map(|(a, b)| Mutation::InsertByte(a, b)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<Vec<u8>> = text.lines().map(|l| l.as_bytes().to_vec()).collect();
    for m in mutations {
        let n = lines.len();
        if n == 0 {
            break;
        }
        match *m {
            Mutation::DeleteLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
            Mutation::Indent(i, spaces) => {
                let l = &mut lines[i % n];
                let body: Vec<u8> = l.iter().copied().skip_while(|b| *b == b' ').collect();
                *l = std::iter::repeat_n(b' ', spaces).chain(body).collect();
            }
            Mutation::DeleteByte(i) | Mutation::InsertByte(i, _) => {
                let l = &mut lines[i % n];
                let at = (i / n) % (l.len() + 1);
                match *m {
                    Mutation::InsertByte(_, b) => l.insert(at, b),
                    _ if at < l.len() => {
                        l.remove(at);
                    }
                    _ => {}
                }
            }
        }
    }
    // A cut multi-byte character becomes U+FFFD, as a lossy reader of the file would see it.
    String::from_utf8_lossy(&lines.join(&b'\n')).into_owned()
}

/// Falco's own rule files from the conformance data (test files after the rules they build on),
/// damaged line- and byte-wise: every variant loads or errors (with a rule set exactly when there is no error), renders its diagnostics, and a loaded
/// rule set goes through code generation.
#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn mutated_conformance_rule_files_never_panic() {
    let dir = kaudit_testkit::conformance_dir();
    // (file, the suite's k8s audit rules when the file is a test file that builds on them).
    let mut files: Vec<(NamedText, Option<NamedText>)> = Vec::new();
    for suite in ["current", "legacy"] {
        let read = |sub: &str| -> Vec<NamedText> {
            let Ok(entries) = std::fs::read_dir(dir.join("rules").join(suite).join(sub)) else {
                return Vec::new();
            };
            let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            paths
                .into_iter()
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .filter_map(|p| Some((p.display().to_string(), std::fs::read_to_string(&p).ok()?)))
                .collect()
        };
        // The generic falco_rules files are for the syscall source; the k8s audit rules are kaudit's.
        let Some(base) = read("")
            .into_iter()
            .find(|(n, _)| n.contains("k8s_audit_rules"))
        else {
            continue;
        };
        files.extend(read("test").into_iter().map(|f| (f, Some(base.clone()))));
        files.push((base, None));
    }
    assert!(
        files.len() >= 4,
        "conformance rule files missing under {}",
        dir.display()
    );
    let mut runner = TestRunner::new(Config {
        cases: cases(96),
        failure_persistence: None,
        ..Config::default()
    });
    let cases = (
        any::<proptest::sample::Index>(),
        proptest::collection::vec(mutation(), 1..6),
    );
    let loaded = std::cell::Cell::new(0u32);
    runner
        .run(&cases, |(which, mutations)| {
            let ((name, text), base) = which.get(&files);
            let mutated = mutate(text, &mutations);
            let mut sources: Vec<(&str, &str)> =
                base.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
            sources.push((name.as_str(), mutated.as_str()));
            let res = load_sources(&sources);
            prop_assert_eq!(res.is_ok(), res.errors().next().is_none());
            let _ = res.render();
            if let Some(ruleset) = &res.ruleset {
                let _ = kaudit_codegen::generate(ruleset);
                loaded.set(loaded.get() + 1);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // Small mutations leave many files loadable: those must have reached code generation.
    assert!(loaded.get() > 0, "no mutated file loaded");
}
