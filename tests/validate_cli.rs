//! `kaudit validate`, `kaudit list-rules -r`, `kaudit list-fields`: exit codes and output shape.

use std::path::PathBuf;
use std::process::{Command, Output};

fn kaudit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(args)
        .output()
        .expect("run kaudit")
}

fn temp_rules(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kaudit-validate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write rules");
    p
}

const GOOD: &str = "- list: l\n  items: [a]\n- rule: r\n  desc: d\n  condition: ka.verb = get\n  output: 'user=%ka.user.name'\n  priority: WARNING\n  source: k8s_audit\n  tags: [k8s, b]\n- rule: s\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n";

#[test]
fn validate_ok_prints_summary_and_warnings() {
    let p = temp_rules("good.yaml", GOOD);
    let out = kaudit(&["validate", "-r", p.to_str().expect("utf8 path")]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "ok: 1 file; k8s_audit: 1 rule (1 enabled); skipped: syscall 1; 0 macros (0 used by k8s_audit rules), 1 list; 1 warning"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning[LOAD_UNUSED_LIST]: List not referred to by any other rule/macro"),
        "{stderr}"
    );
    assert!(stderr.contains("good.yaml:1:3"), "{stderr}");
}

#[test]
fn validate_error_exits_1_with_located_diagnostic() {
    let p = temp_rules("bad.yaml", "- rule: r\n  desc: d\n  condition: ka.nosuch = x\n  output: o\n  priority: WARNING\n  source: k8s_audit\n");
    let out = kaudit(&["validate", "-r", p.to_str().expect("utf8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[LOAD_ERR_COMPILE_CONDITION]: filter_check called with nonexistent field ka.nosuch"), "{stderr}");
    assert!(stderr.contains("bad.yaml:3:14"), "{stderr}");
    assert!(stderr.contains("  |              ^^^^^^^^^\n"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI colours when not a tty");
}

#[test]
fn validate_without_files_is_usage_error() {
    assert_eq!(kaudit(&["validate"]).status.code(), Some(2));
}

#[test]
fn list_rules_prints_a_table() {
    let p = temp_rules("list.yaml", GOOD);
    let out = kaudit(&["list-rules", "-r", p.to_str().expect("utf8 path")]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("RULE") && lines[0].ends_with("TAGS"));
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["r", "Warning", "k8s_audit", "yes", "b,k8s"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["s", "Informational", "syscall", "yes"]
    );
    let builtin = kaudit(&["list-rules"]);
    assert_eq!(
        builtin.status.code(),
        Some(0),
        "without -r: the compiled-in rules"
    );
    assert!(String::from_utf8_lossy(&builtin.stdout).starts_with("RULE "));
}

#[test]
fn list_fields_covers_the_catalog() {
    let out = kaudit(&["list-fields"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().count(),
        kaudit_frontend::catalog::FIELDS.len() + 1
    );
    assert!(stdout
        .lines()
        .any(|l| l.starts_with("ka.user.groups ") && l.contains(" list ")));
    let md = String::from_utf8_lossy(&kaudit(&["list-fields", "--markdown"]).stdout).into_owned();
    assert!(
        md.contains("| `ka.uri.param` | string | no | [key] required |"),
        "{md}"
    );
}
