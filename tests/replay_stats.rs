//! `kaudit replay --stats`: per rule, how many events matched it and how many it won under `first`,
//! and the rules that never fired; alerts are unchanged by counting.

mod common;

use std::path::PathBuf;

const RULES: &str = "\
- rule: Creates
  desc: every create
  condition: ka.verb = create
  output: create by %ka.user.name
  priority: WARNING
  source: k8s_audit
- rule: Alice
  desc: anything alice does
  condition: ka.user.name = alice
  output: alice did %ka.verb
  priority: NOTICE
  source: k8s_audit
- rule: Deletes
  desc: every delete
  condition: ka.verb = delete
  output: delete
  priority: NOTICE
  source: k8s_audit
";

fn event(user: &str, verb: &str) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x","stage":"ResponseComplete","verb":"{verb}","user":{{"username":"{user}"}},"objectRef":{{"resource":"configmaps","namespace":"default","name":"c"}},"responseStatus":{{"code":200}},"stageTimestamp":"2024-01-02T03:04:05Z"}}"#
    )
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kaudit-replay-stats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn replay(args: &[&str]) -> (i32, String, String) {
    common::kaudit_in(None, &[&["replay"], args].concat())
}

#[test]
fn stats_count_matches_first_wins_and_rules_that_never_fired() {
    let dir = scratch();
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let events = dir.join("events.jsonl");
    let lines = [
        event("alice", "create"),
        event("alice", "get"),
        event("bob", "create"),
    ];
    std::fs::write(&events, lines.join("\n") + "\n").unwrap();
    let (r, e) = (rules.display().to_string(), events.display().to_string());

    let (code, out, err) = replay(&["-r", &r, "--stats", "-q", &e]);
    assert_eq!(code, 0, "{err}");
    // Under `first` (the default) each event alerts once: Creates, Alice, Creates.
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        err.contains("rule coverage over 3 events (2 of 3 rules matched):"),
        "{err}"
    );
    // Creates matched the two creates and won both; Alice matched two events but won only the get.
    let rows: Vec<Vec<&str>> = err
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 3 && w[0].parse::<u64>().is_ok())
        .collect();
    assert_eq!(
        rows,
        [vec!["2", "2", "Creates"], vec!["2", "1", "Alice"]],
        "{err}"
    );
    assert!(err.contains("never fired (1):\n    Deletes\n"), "{err}");

    // Without --stats the same alerts and no coverage table.
    let (_, plain, err) = replay(&["-r", &r, "-q", &e]);
    assert_eq!(plain, out);
    assert!(!err.contains("rule coverage"), "{err}");

    // Under `all` the alerts follow the matches: 4.
    let (_, all, err) = replay(&["-r", &r, "--stats", "-q", "-o", "rule_matching=all", &e]);
    assert_eq!(all.lines().count(), 4, "{all}");
    assert!(err.contains("(2 of 3 rules matched)"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
