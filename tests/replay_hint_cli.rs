//! `kaudit replay` with no file reads stdin. At a terminal that looks like a hang, so it says so on
//! stderr; with piped input it stays silent. The terminal is a real pseudo-terminal (rustix's pty calls).

#![cfg(unix)]

mod cli;

use cli::KAUDIT;
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
/// The start of the hint (`src/cmd/replay.rs`, `STDIN_HINT`).
const HINT: &str = "kaudit replay: reading audit events (JSON Lines) from the terminal";

#[test]
fn at_a_terminal_replay_says_it_reads_stdin_and_ends_at_ctrl_d() {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("open a pty");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let slave_path = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(slave_path.to_str().expect("utf-8 pty name"))
        .expect("open the pty's terminal side");
    let mut master = std::fs::File::from(master);

    let mut child = Command::new(KAUDIT)
        .args(["replay"])
        .stdin(Stdio::from(slave))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kaudit replay");
    let rx = cli::stderr_lines(child.stderr.take().expect("piped stderr"));
    let first = rx.recv_timeout(cli::WAIT);
    let Ok(first) = first else {
        let _ = child.kill();
        panic!("no hint on stderr while waiting at a terminal");
    };
    assert!(first.starts_with(HINT), "{first}");

    // Ctrl-D at the start of a line is end of input for a terminal in canonical mode.
    master.write_all(b"\x04").expect("write to the pty");
    let deadline = Instant::now() + cli::WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll kaudit") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("replay did not end after Ctrl-D");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter()
            .any(|l| l.starts_with("kaudit replay: 0 events")),
        "{rest:#?}"
    );
}

#[test]
fn with_piped_input_replay_prints_no_hint() {
    let mut child = Command::new(KAUDIT)
        .args(["replay"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kaudit replay");
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait for kaudit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(HINT), "{stderr}");
    assert!(stderr.starts_with("kaudit replay: 0 events"), "{stderr}");
}
