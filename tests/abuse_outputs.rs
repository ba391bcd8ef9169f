//! Attacks on the output side of `kaudit serve`, run against the real binary on 127.0.0.1, each bounded in
//! time (issue "Hard to blind"):
//! - stdout connected to a pipe nobody reads, or a `program_output` that never reads: every alert still
//!   reaches the file output, the webhook keeps answering 200, and SIGTERM exits within
//!   `shutdown_timeout_ms` + 3 s;
//! - an http receiver that never answers, plus clients that send their bodies slowly: SIGTERM exits within
//!   `shutdown_timeout_ms` + 3 s;
//! - a user name holding a newline and a fake alert line: one text alert stays one line (and the raw
//!   setting gives Falco's behaviour back).
//!
//! `KAUDIT_ABUSE_BIN` runs the same attacks against another build (e.g. main's, for before/after figures).

mod common;

use common::process::{post_once as post, sigterm, start_serve, TempDir};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> TempDir {
    common::process::temp_dir("abuse-out", name)
}

fn kaudit_bin() -> String {
    std::env::var("KAUDIT_ABUSE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kaudit").to_string())
}

/// One rule that fires on every `create`, showing the user name.
const RULES: &str = r#"
- rule: Any create
  desc: every create
  condition: ka.verb=create
  output: "create by %ka.user.name"
  priority: WARNING
  source: k8s_audit
"#;

fn event(user: &str, id: usize) -> String {
    let user = serde_json::to_string(user).unwrap();
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps","verb":"create","user":{{"username":{user}}},"objectRef":{{"resource":"configmaps","namespace":"default","name":"c{id}"}},"responseStatus":{{"code":201}},"requestReceivedTimestamp":"2024-01-02T03:04:05.000001Z","stageTimestamp":"2024-01-02T03:04:05.100001Z"}}"#
    )
}

fn event_list(events: &[String]) -> String {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{}]}}"#,
        events.join(",")
    )
}

struct Serve {
    child: Child,
    addr: SocketAddr,
    /// Held open and never read when the test blocks stdout.
    _stdout: Option<std::process::ChildStdout>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kaudit serve -r RULES` with `opts` (`-o` overrides). With `block_stdout`, alerts also go to
/// stdout, a pipe this test never reads.
fn serve(dir: &Path, opts: &[String], block_stdout: bool) -> Serve {
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let mut cmd = Command::new(kaudit_bin());
    cmd.arg("serve").arg("-r").arg(&rules);
    let mut all = vec![
        "webserver.listen_address=127.0.0.1".to_string(),
        "webserver.listen_port=0".into(),
        format!("stdout_output.enabled={block_stdout}"),
    ];
    all.extend_from_slice(opts);
    for o in &all {
        cmd.arg("-o").arg(o);
    }
    cmd.env("FALCO_HOSTNAME", "abuse")
        .env("TZ", "UTC")
        .stdout(if block_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut started = start_serve(cmd);
    Serve {
        _stdout: started.child.stdout.take(),
        child: started.child,
        addr: started.addr,
    }
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until `path` has `n` lines (or `limit` passes); returns how many it has.
fn wait_for_lines(path: &Path, n: usize, limit: Duration) -> usize {
    let t0 = Instant::now();
    loop {
        let have = lines_of(path).len();
        if have >= n || t0.elapsed() > limit {
            return have;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM, then the time until the process is gone (`None`: still running after `limit`; it is killed
/// when the test ends).
fn sigterm_exit_time(s: &mut Serve, limit: Duration) -> Option<Duration> {
    sigterm(&mut s.child, limit).map(|(_, took)| took)
}

/// With a stuck output (`stuck` options, or stdout blocked): every alert still reaches the file output, no
/// POST is refused, and SIGTERM ends the process within `shutdown_timeout_ms` + 3 s.
fn stuck_output_does_not_stop_detection_nor_shutdown(
    name: &str,
    stuck: &[String],
    block_stdout: bool,
) {
    let dir = temp_dir(name);
    let file = dir.join("alerts.txt");
    let shutdown_ms = 2000;
    let mut opts = vec![
        "file_output.enabled=true".into(),
        "file_output.keep_alive=true".into(),
        format!("file_output.filename={}", file.display()),
        format!("kaudit.shutdown_timeout_ms={shutdown_ms}"),
    ];
    opts.extend_from_slice(stuck);
    let mut s = serve(&dir, &opts, block_stdout);
    // 4,000 alerts: far more than a pipe holds (64 KiB, ~900 of these lines).
    let total = 4000;
    let mut refused = 0;
    for batch in 0..total / 100 {
        let events: Vec<String> = (0..100).map(|i| event("alice", batch * 100 + i)).collect();
        let status = post(s.addr, &event_list(&events));
        if status != 200 {
            refused += 1;
        }
    }
    let got = wait_for_lines(&file, total, Duration::from_secs(30));
    let took = sigterm_exit_time(&mut s, Duration::from_millis(shutdown_ms + 3000));
    eprintln!(
        "{name}: file alerts {got}/{total}; {refused} of {} POSTs refused; exit after SIGTERM in {took:?}",
        total / 100
    );
    assert_eq!(refused, 0, "POSTs refused while an output was stuck");
    assert_eq!(got, total, "alerts in the file output");
    assert!(
        took.is_some(),
        "still running {} ms after SIGTERM (shutdown_timeout_ms = {shutdown_ms})",
        shutdown_ms + 3000
    );
}

#[test]
fn blocked_stdout_does_not_stop_detection_nor_shutdown() {
    stuck_output_does_not_stop_detection_nor_shutdown("stdout", &[], true);
}

#[test]
fn a_program_output_that_never_reads_does_not_stop_detection_nor_shutdown() {
    stuck_output_does_not_stop_detection_nor_shutdown(
        "program",
        &[
            "program_output.enabled=true".into(),
            "program_output.keep_alive=true".into(),
            "program_output.program=exec sleep 3600".into(),
        ],
        false,
    );
}

#[test]
fn hung_http_receiver_and_slow_bodies_do_not_hold_the_shutdown() {
    let dir = temp_dir("http");
    // A receiver that accepts connections and never answers (and never closes them).
    let receiver = TcpListener::bind("127.0.0.1:0").unwrap();
    let raddr = receiver.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let h = held.clone();
    std::thread::spawn(move || {
        for c in receiver.incoming().map_while(Result::ok) {
            h.lock().unwrap().push(c);
        }
    });
    let shutdown_ms = 5000;
    let mut s = serve(
        &dir,
        &[
            "json_output=true".into(),
            "http_output.enabled=true".into(),
            format!("http_output.url=http://{raddr}/falco"),
            format!("kaudit.shutdown_timeout_ms={shutdown_ms}"),
        ],
        false,
    );
    let events: Vec<String> = (0..50).map(|i| event("alice", i)).collect();
    assert_eq!(post(s.addr, &event_list(&events)), 200);
    // Slow-body clients: a complete head announcing 1 MB, then a byte now and then.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.write_all(
            b"POST /k8s-audit HTTP/1.1\r\nhost: kaudit\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{",
        )
        .unwrap();
        slow.push(c);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dribble = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for c in slow.iter_mut() {
                    let _ = c.write_all(b" ");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let limit = Duration::from_millis(shutdown_ms + 3000);
    let took = sigterm_exit_time(&mut s, limit + Duration::from_secs(10));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = dribble.join();
    eprintln!("exit after SIGTERM in {took:?} (shutdown_timeout_ms = {shutdown_ms})");
    let took = took.expect("still running 18 s after SIGTERM");
    assert!(
        took <= limit,
        "exit took {took:?}, over shutdown_timeout_ms + 3 s"
    );
}

/// Text alerts of a user name that holds a newline and a fake alert line, written to a file.
fn forged_user_alerts(raw: bool) -> (usize, Vec<String>) {
    let dir = temp_dir(if raw { "raw" } else { "escaped" });
    let file = dir.join("alerts.txt");
    let mut s = serve(
        &dir,
        &[
            "file_output.enabled=true".into(),
            format!("file_output.filename={}", file.display()),
            format!("kaudit.raw_text_output={raw}"),
        ],
        false,
    );
    let forged = "mallory\n03:04:05.100001000: Critical Fake alert: all clear\r\u{1b}[2K\u{0}";
    let events = vec![event("alice", 1), event(forged, 2), event("bob", 3)];
    assert_eq!(post(s.addr, &event_list(&events)), 200);
    let n = events.len();
    wait_for_lines(&file, n, Duration::from_secs(10));
    let _ = sigterm_exit_time(&mut s, Duration::from_secs(10));
    (n, lines_of(&file))
}

#[test]
fn text_alerts_cannot_forge_lines() {
    let (n, lines) = forged_user_alerts(false);
    assert_eq!(lines.len(), n, "one line per alert: {lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("03:04:05.100001000: Warning create by ")),
        "{lines:#?}"
    );
    assert!(lines.iter().all(|l| !l.contains(['\r', '\u{1b}', '\0'])));
    // The value ends at its NUL, as Falco's string fields do (docs/semantics.md, "String values and NUL").
    assert!(lines.contains(
        &"03:04:05.100001000: Warning create by mallory\\n03:04:05.100001000: Critical Fake alert: all clear\\r\\u001b[2K".to_string()
    ));

    // Falco's raw text, on request: the forged line appears as a separate "Critical" alert.
    let (n, lines) = forged_user_alerts(true);
    assert_eq!(lines.len(), n + 1, "{lines:#?}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("03:04:05.100001000: Critical Fake alert")));
}
