//! Hostile rule files: every one errors or loads, in bounded time, without panicking or
//! overflowing the stack.

use rulegen::load::{load_files, load_sources};
use std::time::{Duration, Instant};

fn load_bounded(text: &str) -> rulegen::load::LoadResult {
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
