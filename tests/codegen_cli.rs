//! `kaudit codegen` as a process: without `-r` it prints the code of the rule files compiled into the
//! binary (the README promises it), with `-r` the code of the given files, and a file that fails to load
//! is an error. Needs the default `codegen` feature.

#![cfg(feature = "codegen")]

mod cli;

/// The generated rule functions: `fn rule_<i>_<name>(c: &Ctx<'_>) -> bool` (not `fn rule_table`).
fn rule_functions(code: &str) -> usize {
    code.lines()
        .filter(|l| l.trim_start().starts_with("fn rule_") && l.contains("(c: &Ctx"))
        .count()
}

#[test]
fn without_rules_it_prints_the_compiled_in_rules_code() {
    // The compiled-in rules, as `list-rules` shows them (one table row per rule under a header).
    let (code, table, stderr) = cli::run(&["list-rules"]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let rules: Vec<&str> = table.lines().skip(1).collect();
    assert!(!rules.is_empty(), "{table}");

    let (code, stdout, stderr) = cli::run(&["codegen"]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(
        rule_functions(&stdout),
        rules.len(),
        "one generated function per compiled-in rule; stderr: {stderr}"
    );
    assert!(stdout.contains("CompiledRules"), "{stdout}");
}

#[test]
fn with_rules_it_prints_the_code_of_those_files() {
    let dir = std::env::temp_dir().join(format!("kaudit-codegen-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rules = dir.join("r.yaml");
    std::fs::write(
        &rules,
        "- rule: only one\n  desc: d\n  condition: ka.verb = delete\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    )
    .expect("write rules");
    let (code, stdout, stderr) = cli::run(&["codegen", "-r", rules.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(rule_functions(&stdout), 1, "{stdout}");
    assert!(stdout.contains("\"delete\""), "{stdout}");

    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "- rule: broken\n  condition: ka.verb =\n").expect("write rules");
    let (code, stdout, stderr) = cli::run(&["codegen", "-r", bad.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "stdout: {stdout}");
    assert!(stderr.contains("rules failed to load"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
