//! GKE end to end: `kaudit serve` configured like Falco's k8saudit-gke plugin pulls LogEntry messages
//! from a Pub/Sub subscription (through `PUBSUB_EMULATOR_HOST`) and must raise exactly the alerts
//! `kaudit replay` raises for the same LogEntries (one per line), acknowledging each message once its
//! alerts are out.
//! Google's emulator cannot be installed here, so the subscription is a stand-in written below that
//! speaks the REST calls kaudit uses (`:pull`, `:acknowledge`) with Pub/Sub's delivery rules: a pulled
//! message is out for the ack deadline, then delivered again (with a new ack ID) unless acknowledged.
#![cfg(feature = "gke")]

mod cloud_support;

use base64::Engine as _;
use cloud_support::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SUBSCRIPTION: &str = "projects/demo-project/subscriptions/gke-audit";

#[derive(Default)]
struct Message {
    data: String,
    /// Current ack ID and when its deadline passes (`None` = not out).
    out: Option<(String, Instant)>,
    deliveries: u32,
    acked: bool,
}

#[derive(Default)]
struct SubState {
    messages: BTreeMap<String, Message>,
    pulls: u64,
    refuse_acks: bool,
    ack_deadline: Duration,
}

/// The stand-in subscription, serving until dropped.
struct StandIn {
    port: u16,
    state: Arc<Mutex<SubState>>,
    stop: Arc<AtomicBool>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl StandIn {
    /// A subscription with the given ack deadline (Pub/Sub's default is 10 s).
    fn start(ack_deadline: Duration) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(SubState {
            ack_deadline,
            ..SubState::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve_conn(conn, &st));
            }
        });
        StandIn { port, state, stop }
    }

    fn publish(&self, id: &str, data: &[u8]) {
        self.state.lock().unwrap().messages.insert(
            id.to_string(),
            Message {
                data: base64::engine::general_purpose::STANDARD.encode(data),
                ..Message::default()
            },
        );
    }

    fn unacked(&self) -> usize {
        let s = self.state.lock().unwrap();
        s.messages.values().filter(|m| !m.acked).count()
    }

    fn pulls(&self) -> u64 {
        self.state.lock().unwrap().pulls
    }

    fn wait_until_all_acked(&self) {
        let t0 = Instant::now();
        while self.unacked() > 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{} messages still unacknowledged",
                self.unacked()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One HTTP/1.1 request per connection (the answer closes it).
fn serve_conn(conn: TcpStream, state: &Mutex<SubState>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
            assert!(
                !k.trim().eq_ignore_ascii_case("authorization"),
                "no credentials are sent to an emulator"
            );
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, answer) = handle(path, &req, state);
    let answer = answer.to_string();
    let mut conn = reader.into_inner();
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

fn handle(path: &str, req: &Value, state: &Mutex<SubState>) -> (&'static str, Value) {
    let mut s = state.lock().unwrap();
    let now = Instant::now();
    if path == format!("/v1/{SUBSCRIPTION}:pull") {
        s.pulls += 1;
        let deadline = s.ack_deadline;
        let max = req["maxMessages"].as_u64().unwrap_or(1) as usize;
        let mut out = Vec::new();
        for (id, m) in s.messages.iter_mut() {
            if out.len() >= max {
                break;
            }
            let waiting = !m.acked && m.out.as_ref().is_none_or(|(_, until)| *until <= now);
            if waiting {
                m.deliveries += 1;
                let ack_id = format!("{id}-{}", m.deliveries);
                m.out = Some((ack_id.clone(), now + deadline));
                out.push(
                    json!({"ackId": ack_id, "message": {"data": m.data, "messageId": id,
                    "publishTime": "2024-03-05T10:11:12.5Z"}}),
                );
            }
        }
        return ("200 OK", json!({ "receivedMessages": out }));
    }
    if path == format!("/v1/{SUBSCRIPTION}:acknowledge") {
        if s.refuse_acks {
            return ("503 Service Unavailable", json!({"error": {"code": 503}}));
        }
        let ids: Vec<&str> = req["ackIds"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for m in s.messages.values_mut() {
            // An expired ack ID no longer acknowledges (the message was or will be delivered again).
            if let Some((ack, until)) = &m.out {
                if ids.contains(&ack.as_str()) && *until > now {
                    m.acked = true;
                    m.out = None;
                }
            }
        }
        return ("200 OK", json!({}));
    }
    (
        "404 Not Found",
        json!({"error": {"code": 404, "message": path}}),
    )
}

/// LogEntries of a GKE cluster's audit log (Google's LogEntry/AuditLog JSON), each raising one alert
/// that names its own user: pod exec, anonymous-looking list by a user outside the allowed list, pod
/// creation.
fn log_entries(first: usize, n: usize) -> Vec<String> {
    (first..first + n)
        .map(|i| {
            let (method, resource) = match i % 3 {
                0 => (
                    "io.k8s.core.v1.pods.exec.create",
                    format!("core/v1/namespaces/default/pods/web-{i}/exec"),
                ),
                1 => ("io.k8s.core.v1.pods.list", "core/v1/pods".to_string()),
                _ => (
                    "io.k8s.core.v1.configmaps.create",
                    format!("core/v1/namespaces/default/configmaps/cm-{i}"),
                ),
            };
            json!({
                "insertId": format!("e2e-{i:06}"),
                "logName": "projects/demo-project/logs/cloudaudit.googleapis.com%2Factivity",
                "protoPayload": {
                    "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                    "authenticationInfo": {"principalEmail": format!("user-{i}@example.com")},
                    "methodName": method,
                    "requestMetadata": {"callerIp": "203.0.113.7", "callerSuppliedUserAgent": "kubectl/v1.29.0"},
                    "resourceName": resource,
                    "serviceName": "k8s.io",
                    "status": {}
                },
                "receiveTimestamp": format!("2024-03-05T10:11:{:02}.{:06}Z", i % 60, i),
                "resource": {"type": "k8s_cluster", "labels": {"cluster_name": "prod", "location": "europe-west1", "project_id": "demo-project"}},
                "labels": {"authorization.k8s.io/decision": "allow"},
                "timestamp": "2024-03-05T10:11:12.000000Z"
            })
            .to_string()
        })
        .collect()
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("falco.yaml");
    std::fs::write(
        &path,
        r#"plugins:
  - name: k8saudit-gke
    library_path: libk8saudit-gke.so
    init_config:
      project_id: demo-project
      max_outstanding_messages: 7
      num_goroutines: 2
    open_params: gke-audit
  - name: json
    library_path: libjson.so
    init_config: ""
load_plugins: [k8saudit-gke, json]
"#,
    )
    .unwrap();
    path
}

fn env(standin: &StandIn) -> Vec<(&'static str, String)> {
    vec![(
        "PUBSUB_EMULATOR_HOST",
        format!("127.0.0.1:{}", standin.port),
    )]
}

#[test]
fn gke_alerts_match_replay_and_every_message_is_acknowledged_once() {
    let dir = temp_dir("gke");
    let standin = StandIn::start(Duration::from_secs(10));
    let entries = log_entries(0, 25);
    for (i, e) in entries.iter().enumerate() {
        standin.publish(&format!("m{i:04}"), e.as_bytes());
    }
    // Not for kaudit: a non-audit log entry and a message that is not JSON; dropped and acknowledged.
    standin.publish(
        "x-syslog",
        json!({"logName": "projects/demo-project/logs/syslog", "insertId": "s1",
               "resource": {"type": "k8s_cluster"}, "textPayload": "hello"})
        .to_string()
        .as_bytes(),
    );
    standin.publish("x-garbage", b"\x00not json");
    let expected = replay(&entries, &dir);
    assert_eq!(
        expected.len(),
        entries.len(),
        "every entry raises one alert"
    );

    let mut s = serve(
        &write_config(&dir),
        &dir.join("alerts.jsonl"),
        &env(&standin),
    );
    s.wait_for_alerts(expected.len());
    standin.wait_until_all_acked();
    let got = s.terminate();
    assert_eq!(
        got, expected,
        "serve (Pub/Sub) and replay (LogEntry lines) differ"
    );
    let st = standin.state.lock().unwrap();
    for (id, m) in &st.messages {
        assert_eq!(m.deliveries, 1, "{id} was delivered {} times", m.deliveries);
    }
}

#[test]
fn unacknowledged_messages_are_delivered_again_after_a_crash_and_evaluated() {
    let dir = temp_dir("gke-crash");
    let standin = StandIn::start(Duration::from_secs(2));
    let entries = log_entries(100, 9);
    for (i, e) in entries.iter().enumerate() {
        standin.publish(&format!("m{i:04}"), e.as_bytes());
    }
    let expected = replay(&entries, &dir);
    assert_eq!(
        expected.len(),
        entries.len(),
        "every entry raises one alert"
    );
    let config = write_config(&dir);

    // Run 1 evaluates everything but its acknowledgements fail; then it is killed.
    standin.state.lock().unwrap().refuse_acks = true;
    let mut s = serve(&config, &dir.join("alerts1.jsonl"), &env(&standin));
    s.wait_for_alerts(expected.len());
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    assert_eq!(standin.unacked(), entries.len(), "nothing was acknowledged");

    // Run 2: after the ack deadline Pub/Sub delivers them again; kaudit evaluates and acknowledges.
    standin.state.lock().unwrap().refuse_acks = false;
    let mut s = serve(&config, &dir.join("alerts2.jsonl"), &env(&standin));
    s.wait_for_alerts(expected.len());
    standin.wait_until_all_acked();
    // Later pulls find nothing more: no alert is repeated within the run.
    let pulls = standin.pulls();
    let t0 = Instant::now();
    while standin.pulls() < pulls + 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "kaudit stopped pulling"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.terminate(), expected);
}
