//! The README's quick-start examples, run as a new user would: `examples/eventlist.json` posted to the
//! webhook (with and without the required Content-Type), and `examples/events.jsonl` (the same events, one
//! per line) replayed with both `rule_matching` modes. Expected rules come from reading
//! `rules/k8s_audit_rules.yaml`:
//!
//! * the privileged pod (alice, hostPID, busybox): "Disallowed K8s User" (alice is not in
//!   allowed_k8s_users), "Create Privileged Pod", "Create HostPid Pod";
//! * the exec (bob, stage ResponseStarted, so `kevt` is false): only "Attach/Exec Pod";
//! * the ConfigMap with `aws_access_key_id` (carol, 201): "Disallowed K8s User", "Create/Modify Configmap
//!   With Private Credentials", "K8s ConfigMap Created" — in rule-file order.

mod cli;

use cli::KAUDIT;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
const POD: &str = "2024-05-14T09:21:07.412839000Z";
const EXEC: &str = "2024-05-14T09:22:41.003118000Z";
const CONFIGMAP: &str = "2024-05-14T09:24:15.880251000Z";

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// Rules that alerted, per event time, in output order.
fn replay(args: &[&str]) -> BTreeMap<String, Vec<String>> {
    let out = Command::new(KAUDIT)
        .arg("replay")
        .arg("--json")
        .args(args)
        .arg(example("events.jsonl"))
        .output()
        .expect("run kaudit replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let mut by_time: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let alert: Value = serde_json::from_str(line).expect("JSON alert");
        by_time
            .entry(alert["time"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(alert["rule"].as_str().unwrap_or_default().to_string());
    }
    by_time
}

fn expect(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(t, rules)| (t.to_string(), rules.iter().map(|r| r.to_string()).collect()))
        .collect()
}

#[test]
fn the_two_example_files_hold_the_same_events() {
    let list: Value = serde_json::from_str(
        &std::fs::read_to_string(example("eventlist.json")).expect("read eventlist.json"),
    )
    .expect("eventlist.json is JSON");
    assert_eq!(list["kind"], "EventList");
    let lines: Vec<Value> = std::fs::read_to_string(example("events.jsonl"))
        .expect("read events.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    assert_eq!(list["items"].as_array(), Some(&lines));
}

#[test]
fn replaying_the_examples_shows_first_and_all_matching() {
    let first = replay(&[]);
    assert_eq!(
        first,
        expect(&[
            (POD, &["Disallowed K8s User"]),
            (EXEC, &["Attach/Exec Pod"]),
            (CONFIGMAP, &["Disallowed K8s User"]),
        ])
    );
    let all = replay(&["-o", "rule_matching=all"]);
    assert_eq!(
        all,
        expect(&[
            (
                POD,
                &[
                    "Disallowed K8s User",
                    "Create Privileged Pod",
                    "Create HostPid Pod"
                ]
            ),
            (EXEC, &["Attach/Exec Pod"]),
            (
                CONFIGMAP,
                &[
                    "Disallowed K8s User",
                    "Create/Modify Configmap With Private Credentials",
                    "K8s ConfigMap Created"
                ]
            ),
        ])
    );
}

/// POSTs `body` to the webhook; returns the status code.
fn post(port: u16, content_type: Option<&str>, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to kaudit");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let ct = content_type.map_or(String::new(), |c| format!("Content-Type: {c}\r\n"));
    let head = format!(
        "POST /k8s-audit HTTP/1.1\r\nHost: 127.0.0.1\r\n{ct}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("send head");
    s.write_all(body).expect("send body");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"))
}

#[test]
fn posting_the_example_eventlist_alerts_once_per_event() {
    let serve = cli::Serve::start(&[]);
    let body = std::fs::read(example("eventlist.json")).expect("read eventlist.json");
    assert_eq!(post(serve.port, None, &body), 415, "no Content-Type");
    assert_eq!(post(serve.port, Some("application/json"), &body), 200);
    let (code, stdout, log) = serve.stop();
    assert_eq!(code, Some(0), "{log:#?}");
    // Workers evaluate in parallel, so alerts of one batch may come in any order; the time prefix sorts them.
    let mut alerts: Vec<&str> = stdout.lines().collect();
    alerts.sort_unstable();
    assert_eq!(alerts.len(), 3, "{stdout}");
    assert!(
        alerts[0].starts_with(
            "09:21:07.412839000: Warning K8s Operation performed by user not in allowed list"
        ),
        "{stdout}"
    );
    assert!(
        alerts[1]
            .starts_with("09:22:41.003118000: Notice Attach/Exec to pod (user=bob@example.com"),
        "{stdout}"
    );
    assert!(
        alerts[2].starts_with(
            "09:24:15.880251000: Warning K8s Operation performed by user not in allowed list"
        ),
        "{stdout}"
    );
}
