//! Running the `kaudit` binary in CLI tests: one-shot runs, stderr read line by line while a process
//! runs, and `kaudit serve` on an ephemeral loopback port, stopped with SIGTERM.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

pub const KAUDIT: &str = env!("CARGO_BIN_EXE_kaudit");
/// How long a test waits for a line it expects: generous, the machine may be busy.
pub const WAIT: Duration = Duration::from_secs(60);

/// Runs `kaudit ARGS` with TZ=UTC to completion: (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(KAUDIT)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run kaudit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines of a child's stderr, as they come, from a reader thread.
pub fn stderr_lines(stderr: ChildStderr) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running `kaudit serve` on 127.0.0.1 and an ephemeral port.
pub struct Serve {
    pub child: Child,
    pub port: u16,
    /// stderr lines up to and including the "listening" line.
    pub log: Vec<String>,
    lines: Receiver<String>,
}

impl Serve {
    /// Starts `kaudit serve` with `extra` arguments and waits until it listens. Alerts go to a pipe
    /// (`stop` returns them).
    pub fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(KAUDIT)
            .args([
                "serve",
                "-o",
                "webserver.listen_address=127.0.0.1",
                "-o",
                "webserver.listen_port=0",
            ])
            .args(extra)
            .env("TZ", "UTC")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kaudit serve");
        let lines = stderr_lines(child.stderr.take().expect("piped stderr"));
        let deadline = Instant::now() + WAIT;
        let mut log = Vec::new();
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let _ = child.kill();
                panic!("serve did not start listening; log: {log:#?}");
            };
            let port = line
                .split("listening for audit events addr=127.0.0.1:")
                .nth(1)
                .map(|rest| {
                    rest.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                });
            log.push(line);
            if let Some(port) = port {
                break port.parse::<u16>().expect("port number");
            }
        };
        Serve {
            child,
            port,
            log,
            lines,
        }
    }

    /// SIGTERM, then waits for the exit: (exit code, alerts on stdout, the whole stderr log).
    pub fn stop(mut self) -> (Option<i32>, String, Vec<String>) {
        // serve logs "listening" before its SIGTERM handler is installed (a task spawned next); a signal in
        // between kills it without the graceful shutdown. One request served first closes that window.
        self.healthz();
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(term.success());
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut stdout).expect("read alerts");
        }
        let status = self.child.wait().expect("wait for serve");
        let mut log = self.log;
        // The reader thread ends at EOF, after the process exited; collect what it has.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            log.push(line);
        }
        (status.code(), stdout, log)
    }

    /// One `GET /healthz` round trip.
    pub fn healthz(&self) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to kaudit");
        s.set_read_timeout(Some(WAIT)).expect("read timeout");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .expect("send request");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    }
}
