//! Shared by the cloud-source tests: scratch folders, `kaudit replay` and `kaudit serve` as processes,
//! and waiting for alerts.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const KAUDIT: &str = env!("CARGO_BIN_EXE_kaudit");

#[path = "../common/process.rs"]
mod process;

pub use process::{sorted_lines, TempDir};

pub fn temp_dir(name: &str) -> TempDir {
    process::temp_dir("cloud", name)
}

/// `kaudit replay --json` of `events` with the compiled-in rules: the expected alerts, sorted.
pub fn replay(events: &[String], dir: &Path) -> Vec<String> {
    process::replay_json(None, events, dir)
}

/// A running `kaudit serve` writing JSON alerts to a file.
pub struct Serve {
    pub child: Child,
    pub alerts: PathBuf,
    pub log: Arc<Mutex<Vec<String>>>,
}

/// Starts `kaudit serve -c config` with `env`, the webhook on an ephemeral loopback port and alerts in
/// `alerts`.
pub fn serve(config: &Path, alerts: &Path, env: &[(&str, String)]) -> Serve {
    let mut cmd = Command::new(KAUDIT);
    cmd.arg("serve").arg("-c").arg(config);
    for o in [
        "webserver.listen_address=127.0.0.1".to_string(),
        "webserver.listen_port=0".into(),
        "json_output=true".into(),
        "stdout_output.enabled=false".into(),
        "file_output.enabled=true".into(),
        "file_output.keep_alive=true".into(),
        format!("file_output.filename={}", alerts.display()),
    ] {
        cmd.arg("-o").arg(o);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .env("FALCO_HOSTNAME", "kaudit-e2e")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let keep = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[serve] {line}");
            keep.lock().unwrap().push(line);
        }
    });
    Serve {
        child,
        alerts: alerts.to_path_buf(),
        log,
    }
}

impl Serve {
    /// Waits until the alert file holds at least `n` lines (or the process died, or a minute passed).
    pub fn wait_for_alerts(&mut self, n: usize) {
        let t0 = Instant::now();
        loop {
            let have = std::fs::read_to_string(&self.alerts)
                .map(|t| t.lines().count())
                .unwrap_or(0);
            if have >= n {
                return;
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!("serve exited early with {st}; {have} of {n} alerts");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "only {have} of {n} alerts after a minute"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a log line contains `text`.
    pub fn wait_for_log(&mut self, text: &str) {
        let t0 = Instant::now();
        while !self.log.lock().unwrap().iter().any(|l| l.contains(text)) {
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!("serve exited early with {st} before logging '{text}'");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no log line with '{text}' after a minute"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The webhook's address (port 0 in the configuration), from the "listening" log line.
    pub fn addr(&mut self) -> std::net::SocketAddr {
        self.wait_for_log("listening for audit events addr=");
        let log = self.log.lock().unwrap();
        log.iter()
            .find_map(|l| l.split("listening for audit events addr=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .expect("an address in the listening line")
    }

    /// `GET path` on the webhook port: the answer's body.
    pub fn get(&mut self, path: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nhost: k\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }

    /// The value of a metric line `name{labels} value` in `/metrics` (0 when the series is absent).
    pub fn metric(&mut self, series: &str) -> f64 {
        let text = self.get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    /// The alerts written so far, in file order.
    pub fn alerts_so_far(&self) -> Vec<String> {
        std::fs::read_to_string(&self.alerts)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// SIGKILL, as an OOM kill or a node failure would end it.
    pub fn kill9(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.alerts_so_far()
    }

    /// SIGTERM; the process must exit 0. Returns the alerts, sorted.
    pub fn terminate(mut self) -> Vec<String> {
        process::terminate_ok(&mut self.child, Duration::from_secs(60));
        sorted_lines(&std::fs::read_to_string(&self.alerts).unwrap_or_default())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Audit events that each raise one alert with the compiled-in rules (the alert text names the
/// event's own user or URI, so no two alerts are alike): exec into a pod, an anonymous request, a
/// privileged pod and a list call by a user outside the allowed list.
pub fn audit_events(first: usize, n: usize) -> Vec<String> {
    (first..first + n)
        .map(|i| {
            let (verb, uri, user, object_ref) = match i % 4 {
                0 => (
                    "create",
                    format!("/api/v1/namespaces/default/pods/web-{i}/exec?command=sh"),
                    format!("alice-{i}"),
                    format!(
                        r#"{{"resource":"pods","namespace":"default","name":"web-{i}","subresource":"exec","apiVersion":"v1"}}"#
                    ),
                ),
                1 => (
                    "get",
                    format!("/api/v1/namespaces?n={i}"),
                    "system:anonymous".to_string(),
                    r#"{"resource":"namespaces","apiVersion":"v1"}"#.to_string(),
                ),
                2 => (
                    "create",
                    "/api/v1/namespaces/default/pods".to_string(),
                    format!("bob-{i}"),
                    format!(
                        r#"{{"resource":"pods","namespace":"default","name":"p-{i}","apiVersion":"v1"}}"#
                    ),
                ),
                _ => (
                    "list",
                    format!("/api/v1/pods?n={i}"),
                    format!("carol-{i}"),
                    r#"{"resource":"pods","apiVersion":"v1"}"#.to_string(),
                ),
            };
            format!(
                r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"00000000-0000-4000-8000-{i:012}","stage":"ResponseComplete","requestURI":"{uri}","verb":"{verb}","user":{{"username":"{user}","groups":["system:authenticated"]}},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl/v1.29","objectRef":{object_ref},"responseStatus":{{"metadata":{{}},"code":201}},"requestReceivedTimestamp":"2024-01-01T00:00:00.000000Z","stageTimestamp":"2024-01-01T00:00:{:02}.{:06}Z","annotations":{{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}}}"#,
                i % 60,
                i
            )
        })
        .collect()
}
