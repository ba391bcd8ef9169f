//! `-o key=value` with a key kaudit does not know: `serve` and `replay` both warn, name the key, and go on
//! (Falco's `-o` accepts any key; a typo must not pass silently, nor stop a replay that `serve` would run).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KAUDIT: &str = env!("CARGO_BIN_EXE_kaudit");
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
    let mut child = Command::new(KAUDIT)
        .args([
            "serve",
            "-o",
            "webserver.listen_address=127.0.0.1",
            "-o",
            "webserver.listen_port=0",
            "-o",
            "no_such_key=1",
            "-o",
            "stdout_output.enabled=false",
        ])
        .env("TZ", "UTC")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kaudit serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log.iter().any(|l: &String| l.contains("listening")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not start listening; log: {log:#?}");
            }
        }
    }
    assert!(log.iter().any(|l| l.contains(WARNING)), "log: {log:#?}");

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(term.success());
    let status = child.wait().expect("wait for serve");
    let _ = reader.join();
    log.extend(rx.try_iter());
    assert_eq!(status.code(), Some(0), "log: {log:#?}");
    let stopped = log
        .iter()
        .find(|l| l.contains("stopped"))
        .unwrap_or_else(|| panic!("no shutdown line; log: {log:#?}"));
    assert!(stopped.contains("accepted=0"), "{stopped}");
    assert!(!stopped.contains("queued="), "{stopped}");
}
