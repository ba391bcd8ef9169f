//! `-o key=value` with a key kaudit does not know: `serve` and `replay` both warn, name the key, and go on
//! (Falco's `-o` accepts any key; a typo must not pass silently, nor stop a replay that `serve` would run).

mod cli;

use cli::KAUDIT;
use std::process::Command;
const WARNING: &str = "unknown configuration key 'no_such_key' (ignored)";

const RULES: &str = "- rule: Any get\n  desc: d\n  condition: ka.verb = get\n  output: got %ka.auditid\n  priority: WARNING\n  source: k8s_audit\n";
const EVENT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"e1","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods","user":{"username":"u"},"stageTimestamp":"2024-01-02T03:04:05.000000Z"}"#;

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kaudit-options-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn replay_warns_about_an_unknown_key_and_still_replays() {
    let dir = scratch("replay");
    let rules = dir.join("rules.yaml");
    let events = dir.join("events.jsonl");
    std::fs::write(&rules, RULES).expect("write rules");
    std::fs::write(&events, format!("{EVENT}\n")).expect("write events");
    let out = Command::new(KAUDIT)
        .args([
            "replay",
            "-o",
            "no_such_key=1",
            "-o",
            "rule_matching=all",
            "-r",
        ])
        .arg(&rules)
        .arg(&events)
        .env("TZ", "UTC")
        .output()
        .expect("run kaudit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.contains(WARNING), "stderr: {stderr}");
    assert_eq!(
        stdout, "03:04:05.000000000: Warning got e1\n",
        "stderr: {stderr}"
    );

    // A known key with a bad value is still an error (exit 2), as in serve.
    let out = Command::new(KAUDIT)
        .args(["replay", "-o", "rule_matching=sometimes", "-r"])
        .arg(&rules)
        .arg(&events)
        .output()
        .expect("run kaudit");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rule_matching"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_warns_about_an_unknown_key_and_its_shutdown_log_names_each_count_once() {
    let serve = cli::Serve::start(&["-o", "no_such_key=1", "-o", "stdout_output.enabled=false"]);
    assert!(
        serve.log.iter().any(|l| l.contains(WARNING)),
        "log: {:#?}",
        serve.log
    );
    let (code, _, log) = serve.stop();
    assert_eq!(code, Some(0), "log: {log:#?}");
    let stopped = log
        .iter()
        .find(|l| l.contains("stopped"))
        .unwrap_or_else(|| panic!("no shutdown line; log: {log:#?}"));
    assert!(stopped.contains("accepted=0"), "{stopped}");
    assert!(!stopped.contains("queued="), "{stopped}");
}
