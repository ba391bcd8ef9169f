//! EKS end to end: moto's AWS emulator (`moto_server`, installed by .ci/run) on a loopback port holds a
//! cluster's log group; `kaudit serve` configured like Falco's k8saudit-eks plugin reads it through
//! `AWS_ENDPOINT_URL` and must raise exactly the alerts `kaudit replay` raises for the same events,
//! across pages, two audit streams, events sharing a millisecond, and restarts with a checkpoint.
#![cfg(feature = "eks")]

mod cloud_support;

use cloud_support::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CLUSTER: &str = "e2e-cluster";
const GROUP: &str = "/aws/eks/e2e-cluster/cluster";

/// moto's server, stopped when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Moto {
    // Port 0: moto binds a free port itself and names it in its banner. Choosing a port here and
    // handing it over races with every other listener the tests start meanwhile (moto takes seconds
    // to start): the readiness probe could reach someone else's socket while moto fails to bind.
    let mut child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run moto_server ({e}): install it with pip install \"moto[server]\" (.ci/run does)")
        });
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        // Keeps reading after the banner so moto never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let port = line
                .split_once("Running on http://127.0.0.1:")
                .and_then(|(_, p)| p.trim().parse::<u16>().ok());
            if let Some(port) = port {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(port);
                }
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("moto_server did not say which port it listens on within a minute");
    let moto = Moto { child, port };
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

impl Moto {
    /// One CloudWatch Logs JSON call. moto routes on the signature's credential scope and does not
    /// check the signature, so a fixed header is enough.
    fn logs(&self, action: &str, body: Value) -> Value {
        let body = body.to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "POST / HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/x-amz-json-1.1\r\n\
             x-amz-target: Logs_20140328.{action}\r\n\
             authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=0\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, payload) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{action} failed: {resp}"
        );
        serde_json::from_str(payload).unwrap_or(Value::Null)
    }

    fn create_stream(&self, stream: &str) {
        self.logs(
            "CreateLogStream",
            json!({"logGroupName": GROUP, "logStreamName": stream}),
        );
    }

    /// Puts `(timestamp, message)` events (in timestamp order) into a stream.
    fn put(&self, stream: &str, events: &[(i64, String)]) {
        let events: Vec<Value> = events
            .iter()
            .map(|(t, m)| json!({"timestamp": t, "message": m}))
            .collect();
        self.logs(
            "PutLogEvents",
            json!({"logGroupName": GROUP, "logStreamName": stream, "logEvents": events}),
        );
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The falco.yaml of a Falco deployment with the k8saudit-eks plugin, plus kaudit's state_dir.
fn write_config(dir: &Path, state_dir: &Path) -> std::path::PathBuf {
    let path = dir.join("falco.yaml");
    std::fs::write(
        &path,
        format!(
            r#"plugins:
  - name: k8saudit-eks
    library_path: libk8saudit-eks.so
    init_config:
      region: us-east-1
      shift: 600
      polling_interval: 1
      use_async: false
      buffer_size: 7
    open_params: "{CLUSTER}"
  - name: json
    library_path: libjson.so
    init_config: ""
load_plugins: [k8saudit-eks, json]
kaudit:
  state_dir: {}
"#,
            state_dir.display()
        ),
    )
    .unwrap();
    path
}

fn aws_env(moto: &Moto, dir: &Path) -> Vec<(&'static str, String)> {
    let none = dir.join("no-such-aws-file").display().to_string();
    vec![
        (
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto.port),
        ),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        // Nothing from this host's AWS setup, and no instance-metadata lookups.
        ("AWS_CONFIG_FILE", none.clone()),
        ("AWS_SHARED_CREDENTIALS_FILE", none),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

#[test]
fn eks_alerts_match_replay_across_pages_streams_and_restarts() {
    let dir = temp_dir("eks");
    let state = dir.join("state");
    let moto = start_moto();
    moto.logs("CreateLogGroup", json!({"logGroupName": GROUP}));
    let (a, b) = ("kube-apiserver-audit-aaaa", "kube-apiserver-audit-bbbb");
    moto.create_stream(a);
    moto.create_stream(b);
    // The group holds the other control-plane logs too; they are not audit events.
    moto.create_stream("authenticator-cccc");
    let t0 = now_ms() - 60_000;
    moto.put(
        "authenticator-cccc",
        &[(t0, "time=now level=info msg=\"access granted\"".into())],
    );

    // Run 1: 30 events over two streams, pairs sharing a millisecond, pages of 7 (buffer_size).
    let first = audit_events(0, 30);
    let mut in_a = Vec::new();
    let mut in_b = Vec::new();
    for (i, e) in first.iter().enumerate() {
        let t = t0 + (i as i64) / 2;
        if i % 3 == 0 {
            in_b.push((t, e.clone()));
        } else {
            in_a.push((t, e.clone()));
        }
    }
    moto.put(a, &in_a);
    moto.put(b, &in_b);
    let last_ms_of_a = in_a.last().unwrap().0;

    let config = write_config(&dir, &state);
    let env = aws_env(&moto, &dir);
    let expected1 = replay(&first, &dir);
    assert_eq!(expected1.len(), 30, "every event raises one alert");
    let mut s = serve(&config, &dir.join("alerts1.jsonl"), &env);
    s.wait_for_alerts(expected1.len());
    let got1 = s.terminate();
    assert_eq!(got1, expected1, "run 1: serve and replay differ");
    assert!(
        std::fs::read_dir(&state).unwrap().count() >= 1,
        "a checkpoint was written"
    );

    // Stopped: more events arrive, one of them in the very millisecond run 1 ended on.
    let second = audit_events(30, 10);
    let mut more_a = vec![(last_ms_of_a, second[0].clone())];
    more_a.extend(
        second[1..6]
            .iter()
            .enumerate()
            .map(|(i, e)| (last_ms_of_a + 1 + i as i64, e.clone())),
    );
    let more_b: Vec<(i64, String)> = second[6..]
        .iter()
        .enumerate()
        .map(|(i, e)| (last_ms_of_a + 2 + i as i64, e.clone()))
        .collect();
    moto.put(a, &more_a);
    moto.put(b, &more_b);

    // Run 2 resumes: exactly the new events' alerts, none of run 1's again.
    let expected2 = replay(&second, &dir);
    let mut s = serve(&config, &dir.join("alerts2.jsonl"), &env);
    s.wait_for_log("resuming from the checkpoint");
    s.wait_for_alerts(expected2.len());
    // One more event while it runs proves the overlap re-read in later polls repeats nothing.
    let third = audit_events(40, 1);
    moto.put(b, &[(last_ms_of_a + 20, third[0].clone())]);
    let expected3 = replay(&third, &dir);
    s.wait_for_alerts(expected2.len() + expected3.len());
    // Several more polls over the same window.
    std::thread::sleep(Duration::from_millis(2500));
    let got2 = s.terminate();
    let mut want2 = [expected2, expected3].concat();
    want2.sort();
    assert_eq!(got2, want2, "run 2: lost or repeated events");

    // The union over both runs is the replay of everything, each alert once.
    let all: Vec<String> = [first, second, third].concat();
    let mut union = [got1, got2].concat();
    union.sort();
    assert_eq!(union, replay(&all, &dir));
}

#[test]
fn without_a_log_group_the_source_keeps_retrying_and_serve_still_stops_cleanly() {
    let dir = temp_dir("eks-missing");
    let moto = start_moto();
    let config = write_config(&dir, &dir.join("state"));
    let env = aws_env(&moto, &dir);
    let mut s = serve(&config, &dir.join("alerts.jsonl"), &env);
    s.wait_for_log("ResourceNotFoundException");
    // The group appears later: the source picks it up without a restart.
    moto.logs("CreateLogGroup", json!({"logGroupName": GROUP}));
    moto.create_stream("kube-apiserver-audit-x");
    let events = audit_events(100, 3);
    let t = now_ms() - 1_000;
    moto.put(
        "kube-apiserver-audit-x",
        &events
            .iter()
            .enumerate()
            .map(|(i, e)| (t + i as i64, e.clone()))
            .collect::<Vec<_>>(),
    );
    let expected = replay(&events, &dir);
    s.wait_for_alerts(expected.len());
    assert_eq!(s.terminate(), expected);
}

/// The newest timestamp the checkpoint in `state` holds for `stream`.
fn checkpointed_ms(state: &Path, stream: &str) -> Option<i64> {
    // A temporary file beside it is a write in progress (or one a kill cut short): never read.
    let files: Vec<_> = std::fs::read_dir(state)
        .ok()?
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "checkpoint"))
        .collect();
    assert!(files.len() <= 1, "one checkpoint: {files:?}");
    let c: Value = serde_json::from_slice(&std::fs::read(files.first()?).unwrap()).unwrap();
    c["cursors"]["streams"][stream]["timestamp"].as_i64()
}

#[test]
fn serve_killed_mid_stream_resumes_at_its_checkpoint_nothing_lost_only_the_uncheckpointed_repeated()
{
    let dir = temp_dir("eks-sigkill");
    let state = dir.join("state");
    let moto = start_moto();
    moto.logs("CreateLogGroup", json!({"logGroupName": GROUP}));
    let stream = "kube-apiserver-audit-kill";
    moto.create_stream(stream);
    // 140 events, one millisecond apart, read in pages of 7 (buffer_size): 20 batches, each
    // checkpointed once its alerts are out.
    let t0 = now_ms() - 60_000;
    let events = audit_events(1000, 140);
    let at = |i: usize| t0 + i as i64;
    moto.put(
        stream,
        &events
            .iter()
            .enumerate()
            .map(|(i, e)| (at(i), e.clone()))
            .collect::<Vec<_>>(),
    );
    let config = write_config(&dir, &state);
    let env = aws_env(&moto, &dir);
    let s = {
        let mut s = serve(&config, &dir.join("alerts1.jsonl"), &env);
        // Killed mid-stream once a checkpoint covers something and a quarter of the alerts are out.
        let t = Instant::now();
        while checkpointed_ms(&state, stream).is_none() || s.alerts_so_far().len() < 35 {
            assert!(t.elapsed() < Duration::from_secs(60), "no progress");
            assert!(s.child.try_wait().unwrap().is_none(), "serve exited");
            std::thread::sleep(Duration::from_millis(10));
        }
        s
    };
    let run1 = s.kill9();
    let upto = checkpointed_ms(&state, stream).unwrap();
    let covered = events
        .iter()
        .enumerate()
        .filter(|(i, _)| at(*i) <= upto)
        .count();
    // Nothing the checkpoint covers was lost: their alerts were all written before the kill.
    for a in replay(&events[..covered], &dir) {
        assert!(
            run1.contains(&a),
            "covered by the checkpoint but never written: {a}"
        );
    }
    // More events while kaudit is down.
    let later = audit_events(1140, 10);
    moto.put(
        stream,
        &later
            .iter()
            .enumerate()
            .map(|(i, e)| (at(140 + i), e.clone()))
            .collect::<Vec<_>>(),
    );
    // Run 2 resumes at the checkpoint: every later event once, nothing before it again.
    let rest: Vec<String> = [&events[covered..], &later[..]].concat();
    let expected2 = replay(&rest, &dir);
    let mut s = serve(&config, &dir.join("alerts2.jsonl"), &env);
    s.wait_for_log("resuming from the checkpoint");
    s.wait_for_alerts(expected2.len());
    // Later polls (every second) re-read the overlap window: they must not repeat anything. (Only
    // makes the check stronger; the equality below holds either way.)
    std::thread::sleep(Duration::from_millis(2500));
    let run2 = s.terminate();
    assert_eq!(
        run2, expected2,
        "run 2 did not resume exactly at the checkpoint"
    );
    let repeated = run1.iter().filter(|a| run2.contains(a)).count();
    eprintln!(
        "killed after {} alerts; checkpoint after event {covered}; {repeated} alerts repeated",
        run1.len()
    );
    assert_eq!(
        repeated,
        run1.len() - covered,
        "what repeats is exactly what run 1 wrote after its last checkpoint"
    );
}
