//! Following the API server's log backend: `kaudit replay --follow` and `kaudit serve` with Falco's
//! `open_params: file://...`, on real files that are written, rotated (rename-and-create while the writer
//! keeps writing, copy-truncate) and left with a partial last line, with a restart in the middle: every
//! event alerts exactly once.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/process.rs"]
mod process;

use process::{temp_dir, terminate_ok, TempDir};

const KAUDIT: &str = env!("CARGO_BIN_EXE_kaudit");
const RULES: &str = "- rule: every create\n  desc: d\n  condition: ka.verb = create\n  output: id=%ka.auditid\n  priority: WARNING\n  source: k8s_audit\n";
/// Generous bound for "the alerts show up" (the follower polls every 100 ms).
const WAIT: Duration = Duration::from_secs(30);

/// A scratch folder with the rule file; the paths of the log and of the state directory in it.
fn setup(name: &str) -> (TempDir, PathBuf, PathBuf, PathBuf) {
    let d = temp_dir("follow-e2e", name);
    let rules = d.0.join("rules.yaml");
    fs::write(&rules, RULES).unwrap();
    let (log, state) = (d.0.join("audit.log"), d.0.join("state"));
    (d, rules, log, state)
}

fn event(id: usize) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"ev-{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps","verb":"create","user":{{"username":"writer"}},"objectRef":{{"resource":"configmaps","namespace":"default","name":"c{id}"}},"responseStatus":{{"code":201}},"requestReceivedTimestamp":"2024-03-05T10:00:00.000000Z","stageTimestamp":"2024-03-05T10:00:00.000001Z"}}"#
    )
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Appends events `ids` one line each, a few milliseconds apart (a live writer).
fn write_events(path: &Path, ids: std::ops::Range<usize>) {
    for id in ids {
        append(path, &format!("{}\n", event(id)));
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A writer appends `before`, renames the log to `rotated` and goes on with `after` in a new file (the
/// API server's own rotation), while kaudit follows.
fn rotate_while_writing(
    log: &Path,
    rotated: &Path,
    before: std::ops::Range<usize>,
    after: std::ops::Range<usize>,
) {
    write_events(log, before);
    fs::rename(log, rotated).unwrap();
    write_events(log, after);
}

/// A running kaudit whose stdout lines are collected.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until `n` alert lines in total were seen.
    fn wait_for(&mut self, n: usize) {
        let t0 = Instant::now();
        while self.seen.len() < n {
            let left = WAIT.saturating_sub(t0.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "only {} of {n} alerts after {WAIT:?}: {:?}",
                    self.seen.len(),
                    self.seen.last()
                ),
            }
        }
    }

    /// SIGTERM, then the exit status must be 0; returns every alert line.
    fn stop(mut self) -> Vec<String> {
        terminate_ok(&mut self.child, WAIT);
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(l);
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How often each event id alerted.
fn counts(alerts: &[String]) -> BTreeMap<usize, usize> {
    let mut m = BTreeMap::new();
    for a in alerts {
        let id = a
            .split("id=ev-")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.trim_end_matches(['"', '}']).parse().ok())
            .unwrap_or_else(|| panic!("no event id in {a}"));
        *m.entry(id).or_insert(0) += 1;
    }
    m
}

fn assert_exactly_once(alerts: &[String], n: usize) {
    let c = counts(alerts);
    let missing: Vec<_> = (0..n).filter(|i| !c.contains_key(i)).collect();
    let repeated: Vec<_> = c.iter().filter(|(_, &k)| k > 1).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert!(repeated.is_empty(), "repeated: {repeated:?}");
    assert_eq!(c.len(), n);
}

fn replay_follow(rules: &Path, log: &Path, state: &Path) -> Running {
    let mut cmd = Command::new(KAUDIT);
    cmd.args(["replay", "-q", "--follow", "-r"])
        .arg(rules)
        .arg("--state-dir")
        .arg(state)
        .arg(log);
    Running::start(cmd)
}

#[test]
fn replay_follow_survives_rotations_partial_lines_and_a_restart() {
    let (d, rules, log, state) = setup("replay");
    write_events(&log, 0..20);

    let mut k = replay_follow(&rules, &log, &state);
    k.wait_for(20);
    // Rename-and-create while a writer keeps writing: the writer renames and reopens mid-stream.
    rotate_while_writing(&log, &d.0.join("audit-1.log"), 20..60, 60..100);
    k.wait_for(100);
    // A partial last line: half an event, then (later) the rest.
    let half = event(100);
    let (a, b) = half.split_at(half.len() / 2);
    append(&log, a);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(k.seen.len(), 100, "a partial line is not evaluated");
    append(&log, &format!("{b}\n"));
    k.wait_for(101);
    // Copy-truncate, once the follower has read everything.
    fs::copy(&log, d.0.join("audit-2.log")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    write_events(&log, 101..120);
    k.wait_for(120);
    let mut all = k.stop();

    // While stopped: more events, a rotation, more events.
    write_events(&log, 120..130);
    fs::rename(&log, d.0.join("audit-3.log")).unwrap();
    write_events(&log, 130..140);
    let mut k = replay_follow(&rules, &log, &state);
    k.wait_for(20);
    write_events(&log, 140..150);
    k.wait_for(30);
    all.extend(k.stop());
    assert_exactly_once(&all, 150);
}

#[test]
fn replay_follow_without_a_state_dir_says_what_a_restart_loses() {
    let (_d, rules, log, _) = setup("nostate");
    write_events(&log, 0..3);
    let child = Command::new(KAUDIT)
        .args(["replay", "-q", "--follow", "-r"])
        .arg(&rules)
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut k = Running {
        child,
        lines: mpsc::channel().1,
        seen: Vec::new(),
    };
    let mut err = k.child.stderr.take().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(k.child.id().to_string())
        .status();
    let mut text = String::new();
    err.read_to_string(&mut text).unwrap();
    assert_eq!(text.matches("no state directory").count(), 1, "{text}");
    assert!(text.contains("read again from its start"), "{text}");
    let mut out = String::new();
    k.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out.lines().count(), 3, "{out}");
}

/// `kaudit serve` following a file (Falco's k8saudit `open_params: file://...`), webhook on an ephemeral
/// port for /metrics and /healthz.
fn serve_follow(rules: &Path, cfg: &Path) -> (Running, u16, Arc<Mutex<Vec<String>>>) {
    let mut cmd = Command::new(KAUDIT);
    cmd.args(["serve", "-c"]).arg(cfg).arg("-r").arg(rules);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (ptx, prx) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let keep = log.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("[serve] {line}");
            if let Some(rest) = line
                .split("listening for audit events addr=127.0.0.1:")
                .nth(1)
            {
                let port: u16 = rest.split_whitespace().next().unwrap().parse().unwrap();
                let _ = ptx.send(port);
            }
            keep.lock().unwrap().push(line);
        }
    });
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let port = prx.recv_timeout(WAIT).expect("serve did not start");
    (
        Running {
            child,
            lines,
            seen: Vec::new(),
        },
        port,
        log,
    )
}

fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: k\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, resp)
}

#[test]
fn serve_follows_a_file_with_checkpoints_across_a_restart() {
    let (d, rules, log, state) = setup("serve");
    let cfg = d.0.join("falco.yaml");
    fs::write(
        &cfg,
        format!(
            "webserver:\n  listen_address: 127.0.0.1\n  listen_port: 0\nplugins:\n  - name: k8saudit\n    library_path: libk8saudit.so\n    init_config: {{maxEventSize: 262144}}\n    open_params: \"file://{}\"\n  - name: json\n    library_path: libjson.so\nload_plugins: [k8saudit, json]\nkaudit:\n  state_dir: {}\n",
            log.display(),
            state.display()
        ),
    )
    .unwrap();
    write_events(&log, 0..30);
    let (mut k, port, _) = serve_follow(&rules, &cfg);
    k.wait_for(30);
    rotate_while_writing(&log, &d.0.join("audit-1.log"), 30..60, 60..80);
    k.wait_for(80);
    let (status, metrics) = get(port, "/metrics");
    assert_eq!(status, 200);
    let label = format!("{{source=\"file:{}\"}}", log.display());
    assert!(
        metrics.contains(&format!("kaudit_source_events_total{label} 80")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("kaudit_source_checkpoint_age_seconds{label}")),
        "{metrics}"
    );
    // The events are from 2024: the lag (now minus the newest event time) is more than a day.
    let lag: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("kaudit_source_lag_seconds{label} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no lag metric: {metrics}"));
    assert!(lag > 86_400.0, "{lag}");
    assert_eq!(get(port, "/healthz").0, 200);
    let mut all = k.stop();
    // The checkpoint file is there, written atomically (no temporary left behind).
    let files: Vec<_> = fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");

    write_events(&log, 80..90);
    fs::rename(&log, d.0.join("audit-2.log")).unwrap();
    write_events(&log, 90..100);
    let (mut k, _, _) = serve_follow(&rules, &cfg);
    k.wait_for(20);
    all.extend(k.stop());
    assert_exactly_once(&all, 100);
}

#[test]
fn replay_follow_after_a_crash_resumes_at_the_checkpoint() {
    let (d, rules, log, state) = setup("crash");
    write_events(&log, 0..10);
    let mut k = replay_follow(&rules, &log, &state);
    k.wait_for(10);
    // The checkpoint follows the flush of the alerts; once it covers all ten, a hard crash.
    wait_for_checkpoint(&state, &log, 10);
    k.child.kill().unwrap();
    k.child.wait().unwrap();
    while let Ok(l) = k.lines.recv_timeout(Duration::from_millis(200)) {
        k.seen.push(l);
    }
    let mut all = std::mem::take(&mut k.seen);
    drop(k);
    write_events(&log, 10..15);
    fs::rename(&log, d.0.join("audit-1.log")).unwrap();
    write_events(&log, 15..20);
    let mut k = replay_follow(&rules, &log, &state);
    k.wait_for(10);
    all.extend(k.stop());
    assert_exactly_once(&all, 20);
}

/// The events a checkpoint in `state` covers: the lines of `log` before its offset (no rotation here).
fn covered_by_checkpoint(state: &Path, log: &Path) -> usize {
    checkpoint_lines(state, log).expect("a checkpoint")
}

/// `covered_by_checkpoint`, or `None` while no checkpoint was written yet.
fn checkpoint_lines(state: &Path, log: &Path) -> Option<usize> {
    // A temporary file beside it would be a write the kill cut short: never read.
    let files: Vec<_> = fs::read_dir(state)
        .ok()?
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "checkpoint"))
        .collect();
    if files.is_empty() {
        return None;
    }
    assert_eq!(files.len(), 1, "one checkpoint: {files:?}");
    let c: serde_json::Value = serde_json::from_slice(&fs::read(&files[0]).unwrap()).unwrap();
    let offset = c["offset"].as_u64().expect("an offset") as usize;
    let text = fs::read(log).unwrap();
    assert!(offset <= text.len());
    assert!(
        offset == 0 || text[offset - 1] == b'\n',
        "a checkpoint ends at a line end"
    );
    Some(text[..offset].iter().filter(|&&b| b == b'\n').count())
}

/// Waits until a checkpoint covers at least `lines` lines of `log`. Acknowledgement follows the alerts
/// (an event's alerts are handed to the outputs before its position is saved), so a test that kills
/// kaudit right after seeing alerts must wait for the checkpoint too; on a loaded machine the two can
/// be far apart.
fn wait_for_checkpoint(state: &Path, log: &Path, lines: usize) {
    let t0 = Instant::now();
    while checkpoint_lines(state, log).is_none_or(|n| n < lines) {
        assert!(
            t0.elapsed() < WAIT,
            "no checkpoint covering {lines} lines after {WAIT:?}: {:?}",
            checkpoint_lines(state, log)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_killed_mid_stream_resumes_at_its_checkpoint_nothing_lost_only_the_uncheckpointed_repeated()
{
    let (d, rules, log, state) = setup("sigkill");
    let cfg = d.0.join("falco.yaml");
    // buffered_outputs: false (the default, written out): an alert handed to stdout is in the pipe, so
    // what a checkpoint covers has reached the test even when the process is killed.
    fs::write(
        &cfg,
        format!(
            "webserver:\n  listen_address: 127.0.0.1\n  listen_port: 0\nbuffered_outputs: false\nplugins:\n  - name: k8saudit\n    library_path: libk8saudit.so\n    open_params: \"file://{}\"\nload_plugins: [k8saudit]\nkaudit:\n  state_dir: {}\n",
            log.display(),
            state.display()
        ),
    )
    .unwrap();
    const N: usize = 3000;
    fs::write(&log, "").unwrap();
    let (mut k, _, _) = serve_follow(&rules, &cfg);
    // A live writer, still writing when kaudit is killed and while it is down.
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for chunk in (0..N).collect::<Vec<_>>().chunks(20) {
                let text: String = chunk.iter().map(|&i| format!("{}\n", event(i))).collect();
                append(&log, &text);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    k.wait_for(N / 5);
    // Killed once a checkpoint exists (the writer is still writing on a machine of any speed: it takes
    // over 0.75 s, and a checkpoint is due within one poll round).
    wait_for_checkpoint(&state, &log, 1);
    k.child.kill().unwrap();
    k.child.wait().unwrap();
    // The reader sees the end of the pipe once the process is gone: every alert it wrote.
    while let Ok(l) = k.lines.recv_timeout(WAIT) {
        k.seen.push(l);
    }
    let run1 = counts(&std::mem::take(&mut k.seen));
    drop(k);
    writer.join().unwrap();
    let covered = covered_by_checkpoint(&state, &log);
    assert!(covered > 0, "a checkpoint was written before the kill");
    // Nothing the checkpoint covers was lost: every event before it alerted (once) in run 1.
    for i in 0..covered {
        assert_eq!(
            run1.get(&i),
            Some(&1),
            "event {i} is covered by the checkpoint"
        );
    }
    assert!(run1.values().all(|&n| n == 1), "run 1 repeated nothing");

    let (mut k, _, _) = serve_follow(&rules, &cfg);
    k.wait_for(N - covered);
    let run2 = counts(&k.stop());
    // Run 2 starts exactly at the checkpoint: every later event once, nothing before it again.
    let want: BTreeMap<usize, usize> = (covered..N).map(|i| (i, 1)).collect();
    assert_eq!(run2, want, "run 2 resumed at line {covered}");
    // What repeats is what run 1 had alerted after its last checkpoint; nothing else.
    let repeated: Vec<usize> = run1.keys().copied().filter(|&i| i >= covered).collect();
    eprintln!(
        "killed after {} alerts; checkpoint at event {covered}; {} alerts repeated",
        run1.len(),
        repeated.len()
    );
    assert!(repeated.iter().all(|&i| run2.contains_key(&i)));
}
