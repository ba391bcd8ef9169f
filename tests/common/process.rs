//! Helpers of the tests that run `kaudit serve` as a process: scratch folders, starting the server on an
//! ephemeral 127.0.0.1 port (read back from its log), one raw HTTP/1.1 POST, and SIGTERM with a time limit.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A scratch folder removed when the test ends.
pub struct TempDir(pub PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh scratch folder `kaudit-<what>-<pid>-<name>` under the system's temporary folder.
pub fn temp_dir(what: &str, name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("kaudit-{what}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

/// A started `kaudit serve`.
pub struct Started {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every stderr line so far (drained all along: a full pipe would stall the server's logging).
    pub log: Arc<Mutex<Vec<String>>>,
}

/// Spawns `cmd` (a `kaudit serve` listening on port 0) with stderr piped, and waits for the bound address
/// in its "listening" log line. Stdin is closed; stdout is whatever `cmd` was given.
pub fn start_serve(mut cmd: Command) -> Started {
    let mut child = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let keep = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[serve] {line}");
            keep.lock().unwrap().push(line.clone());
            if let Some(rest) = line.split("listening for audit events addr=").nth(1) {
                if let Some(a) = rest.split_whitespace().next() {
                    let _ = tx.send(a.parse::<SocketAddr>().unwrap());
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server did not start");
    Started { child, addr, log }
}

/// One POST of `body` to `/k8s-audit` on a new connection; the status, or 0 without an answer (10 s).
pub fn post_once(addr: SocketAddr, body: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let head = format!(
        "POST /k8s-audit HTTP/1.1\r\nhost: kaudit\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    if s.write_all(head.as_bytes()).is_err() || s.write_all(body.as_bytes()).is_err() {
        return 0;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Sends SIGTERM and waits up to `limit` for the process to end: its exit status and how long it took,
/// or `None` if it is still running.
pub fn sigterm(child: &mut Child, limit: Duration) -> Option<(std::process::ExitStatus, Duration)> {
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some((status, t0.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// SIGTERM; the process must exit 0 within `limit`.
pub fn terminate_ok(child: &mut Child, limit: Duration) {
    match sigterm(child, limit) {
        Some((status, _)) => assert!(status.success(), "exit status {status}"),
        None => panic!("kaudit did not stop within {limit:?} of SIGTERM"),
    }
}

/// The non-blank lines of `text`, sorted (alerts compared as multisets).
pub fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// `kaudit replay -q --json` over `events` (written into `dir`); `rules: None` = the compiled-in rules.
/// The alerts, sorted.
pub fn replay_json(rules: Option<&Path>, events: &[String], dir: &Path) -> Vec<String> {
    let file = dir.join("replay-input.jsonl");
    std::fs::write(&file, events.join("\n") + "\n").unwrap();
    // `option_env!`: tests/differential includes this file too, and has no kaudit binary.
    let Some(bin) = option_env!("CARGO_BIN_EXE_kaudit") else {
        panic!("replay_json needs the kaudit binary (root package tests only)");
    };
    let mut cmd = Command::new(bin);
    cmd.args(["replay", "-q", "--json"]);
    if let Some(r) = rules {
        cmd.arg("-r").arg(r);
    }
    let out = cmd
        .arg(&file)
        .env("FALCO_HOSTNAME", "kaudit-e2e")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sorted_lines(&String::from_utf8_lossy(&out.stdout))
}
