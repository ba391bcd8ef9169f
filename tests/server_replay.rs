//! `kaudit serve` as a process, end to end over 127.0.0.1: the same events posted as EventList batches or
//! one by one give exactly the alerts `kaudit replay` gives, and after SIGTERM every accepted event has
//! produced its alerts and the process exits 0.

mod common;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KAUDIT: &str = env!("CARGO_BIN_EXE_kaudit");
const RULES: &str = "rules/current/k8s_audit_rules.k8saudit-0.18.0.yaml";

use common::process::{post_once, replay_json, sigterm, sorted_lines, start_serve, TempDir};

fn temp_dir(name: &str) -> TempDir {
    common::process::temp_dir("serve-e2e", name)
}

/// The corpus events (JSON lines holding one `Event` each), at most `limit`.
fn corpus(conf: &Path, limit: usize) -> Vec<String> {
    let mut input = kaudit_service::replay::open_input(
        conf.join("falco-reference/corpus-20k.jsonl.gz")
            .to_str()
            .unwrap(),
    )
    .expect("corpus");
    let mut out = Vec::new();
    let mut line = String::new();
    while out.len() < limit && input.reader.read_line(&mut line).unwrap() > 0 {
        let t = line.trim();
        if serde_json::from_str::<serde_json::Value>(t).is_ok_and(|v| v["kind"] == "Event") {
            out.push(t.to_string());
        }
        line.clear();
    }
    out
}

struct Serve {
    child: Child,
    port: u16,
    alerts: PathBuf,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Starts `kaudit serve` with alerts going to a file (or, with `slow`, through a program output that
/// takes ~2 ms per alert).
fn serve(rules: Option<&Path>, dir: &Path, extra: &[&str], slow: bool) -> Serve {
    let alerts = dir.join("alerts.jsonl");
    let mut cmd = Command::new(KAUDIT);
    cmd.arg("serve");
    if let Some(r) = rules {
        cmd.arg("-r").arg(r);
    }
    let mut opts = vec![
        "webserver.listen_address=127.0.0.1".to_string(),
        "webserver.listen_port=0".into(),
        "json_output=true".into(),
        "stdout_output.enabled=false".into(),
    ];
    if slow {
        opts.push("program_output.enabled=true".into());
        opts.push("program_output.keep_alive=true".into());
        opts.push(format!(
            "program_output.program=while IFS= read -r l; do printf '%s\\n' \"$l\" >> '{}'; sleep 0.002; done",
            alerts.display()
        ));
    } else {
        opts.push("file_output.enabled=true".into());
        opts.push("file_output.keep_alive=true".into());
        opts.push(format!("file_output.filename={}", alerts.display()));
    }
    opts.extend(extra.iter().map(|s| s.to_string()));
    for o in &opts {
        cmd.arg("-o").arg(o);
    }
    cmd.env("FALCO_HOSTNAME", "kaudit-e2e")
        .stdout(Stdio::null());
    let started = start_serve(cmd);
    Serve {
        child: started.child,
        port: started.addr.port(),
        alerts,
        log: started.log,
    }
}

/// POSTs `body`, retrying while the server answers 503 (as the API server does); returns the status.
fn post(port: u16, body: &str) -> u16 {
    for _ in 0..600 {
        let status = post_once(SocketAddr::from(([127, 0, 0, 1], port)), body);
        if status != 503 {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server kept answering 503");
}

/// SIGTERM right after the last accepted request; the process must exit 0 having written every alert.
fn terminate(s: &mut Serve) -> Vec<String> {
    let (status, _) =
        sigterm(&mut s.child, Duration::from_secs(120)).expect("serve did not stop after SIGTERM");
    assert!(status.success(), "serve exited with {status}");
    sorted_lines(&std::fs::read_to_string(&s.alerts).unwrap_or_default())
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn batches_and_single_events_give_the_same_alerts_as_replay() {
    let conf = kaudit_testkit::conformance_dir();
    let rules = conf.join(RULES);
    let dir = temp_dir("equiv");

    // EventList batches of 400 (the API server's default batch size) over 4000 corpus events.
    let events = corpus(&conf, 4000);
    assert_eq!(events.len(), 4000);
    let expected = replay_json(Some(&rules), &events, &dir);
    assert!(
        expected.len() > 500,
        "the corpus should alert plenty: {}",
        expected.len()
    );
    let mut s = serve(Some(&rules), &dir, &[], false);
    for batch in events.chunks(400) {
        let list = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{}]}}"#,
            batch.join(",")
        );
        assert_eq!(post(s.port, &list), 200);
    }
    let got = terminate(&mut s);
    assert_eq!(
        got.len(),
        expected.len(),
        "alert count differs between serve (batches) and replay"
    );
    assert!(
        got == expected,
        "alerts differ between serve (batches) and replay"
    );

    // The same events one per request (first 600), plus the regression-suite events.
    let dir = temp_dir("single");
    let mut singles: Vec<String> = events.into_iter().take(600).collect();
    let mut paths: Vec<_> = std::fs::read_dir(conf.join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in paths {
        for line in std::fs::read_to_string(p).unwrap().lines() {
            if serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v["kind"] == "Event") {
                singles.push(line.to_string());
            }
        }
    }
    let expected = replay_json(Some(&rules), &singles, &dir);
    let mut s = serve(Some(&rules), &dir, &["rule_matching=first"], false);
    for ev in &singles {
        assert_eq!(post(s.port, ev), 200);
    }
    let got = terminate(&mut s);
    assert_eq!(
        got.len(),
        expected.len(),
        "alert count differs between serve (single events) and replay"
    );
    assert!(
        got == expected,
        "alerts differ between serve (single events) and replay"
    );
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn sigterm_with_a_full_queue_still_delivers_every_accepted_event() {
    let conf = kaudit_testkit::conformance_dir();
    let rules = conf.join(RULES);
    let dir = temp_dir("drain");
    let events = corpus(&conf, 3000);
    let expected = replay_json(Some(&rules), &events, &dir);
    // One worker and an output that is slow per alert: the queue is still full at SIGTERM.
    let mut s = serve(
        Some(&rules),
        &dir,
        &[
            "kaudit.workers=1",
            "kaudit.output_queue_capacity=8",
            "kaudit.output_queue_policy=block",
        ],
        true,
    );
    for batch in events.chunks(1000) {
        let list = format!(r#"{{"kind":"EventList","items":[{}]}}"#, batch.join(","));
        assert_eq!(post(s.port, &list), 200);
    }
    let got = terminate(&mut s);
    let queued_at_stop: u64 = s
        .log
        .lock()
        .unwrap()
        .iter()
        .find_map(|l| {
            l.contains("evaluating the queued events")
                .then(|| l.split("queued=").nth(1))
                .flatten()
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("shutdown log line");
    assert!(
        queued_at_stop > 0,
        "the test should stop the server with events still queued"
    );
    assert_eq!(got.len(), expected.len());
    assert!(got == expected);
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn sighup_reopens_the_alert_file_for_log_rotation() {
    let conf = kaudit_testkit::conformance_dir();
    let rules = conf.join(RULES);
    let dir = temp_dir("rotate");
    let events = corpus(&conf, 4000);
    let expected = replay_json(Some(&rules), &events, &dir);
    let (first, second) = events.split_at(2000);
    let mut s = serve(Some(&rules), &dir, &[], false);
    let list = |evs: &[String]| format!(r#"{{"kind":"EventList","items":[{}]}}"#, evs.join(","));
    assert_eq!(post(s.port, &list(first)), 200);
    // Wait until the first half's alerts are written, then rotate the file and signal.
    let t0 = Instant::now();
    let mut written = 0;
    loop {
        let now = std::fs::read_to_string(&s.alerts)
            .unwrap_or_default()
            .lines()
            .count();
        if now > 0 && now == written {
            break;
        }
        written = now;
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "alerts of the first half never settled"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let rotated = dir.join("alerts.jsonl.1");
    std::fs::rename(&s.alerts, &rotated).unwrap();
    let st = Command::new("kill")
        .arg("-HUP")
        .arg(s.child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    // The dispatcher checks for a reopen request at least every 250 ms.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(post(s.port, &list(second)), 200);
    let after = terminate(&mut s);
    let before = sorted_lines(&std::fs::read_to_string(&rotated).unwrap());
    assert!(
        !before.is_empty() && !after.is_empty(),
        "both files get alerts"
    );
    let mut all: Vec<String> = before.into_iter().chain(after).collect();
    all.sort();
    assert!(
        all == expected,
        "rotation must neither lose nor duplicate alerts"
    );
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn compiled_rules_serve_the_same_alerts_as_replay() {
    let conf = kaudit_testkit::conformance_dir();
    let dir = temp_dir("compiled");
    let events = corpus(&conf, 3000);
    // No -r on either side: both use the rules compiled into the binary.
    let expected = replay_json(None, &events, &dir);
    assert!(!expected.is_empty());
    let mut s = serve(None, &dir, &[], false);
    for batch in events.chunks(400) {
        let list = format!(r#"{{"kind":"EventList","items":[{}]}}"#, batch.join(","));
        assert_eq!(post(s.port, &list), 200);
    }
    let got = terminate(&mut s);
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "compiled engine: alerts differ between serve and replay"
    );
}
