//! GKE end to end: `kaudit serve` configured like Falco's k8saudit-gke plugin pulls LogEntry messages
//! from a Pub/Sub subscription (through `PUBSUB_EMULATOR_HOST`) and must raise exactly the alerts
//! `kaudit replay` raises for the same LogEntries (one per line), acknowledging each message once its
//! alerts are out.
//! Google's emulator cannot be installed here, so the subscription is a stand-in written below that
//! speaks the REST calls kaudit uses (`:pull`, `:acknowledge`, `:modifyAckDeadline`) with Pub/Sub's
//! delivery rules: a pulled message is out for the ack deadline (or the deadline its last
//! `modifyAckDeadline` set), then delivered again (with a new ack ID) unless acknowledged; an expired ack
//! ID neither acknowledges nor extends. The same stand-in answers the Container API's `clusters.get`
//! (`fetch_cluster_metadata`, reached through `CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER`).
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
    /// Deadline extensions accepted for this message.
    extensions: u32,
    /// When it was first delivered.
    first_delivery: Option<Instant>,
}

#[derive(Default)]
struct SubState {
    messages: BTreeMap<String, Message>,
    pulls: u64,
    refuse_acks: bool,
    ack_deadline: Duration,
    /// The Container API's answer for the cluster of `log_entries` (`None`: 500 Internal Server Error).
    cluster: Option<Value>,
    cluster_calls: u64,
    /// Ack IDs named in `modifyAckDeadline` requests, live or not.
    extension_requests: u64,
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

    /// Waits until `cond` holds for the subscription's state.
    fn wait_until(&self, what: &str, cond: impl Fn(&SubState) -> bool) {
        let t0 = Instant::now();
        while !cond(&self.state.lock().unwrap()) {
            assert!(
                t0.elapsed() < Duration::from_secs(90),
                "timed out waiting until {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for `n` more pulls (kaudit is still pulling, so a lapsed message would be delivered again).
    fn wait_for_pulls(&self, n: u64) {
        let pulls = self.pulls();
        self.wait_until("kaudit pulls again", |s| s.pulls >= pulls + n);
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
                m.first_delivery.get_or_insert(now);
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
    if path == format!("/v1/{SUBSCRIPTION}:modifyAckDeadline") {
        let ids: Vec<&str> = req["ackIds"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(secs) = req["ackDeadlineSeconds"].as_u64().filter(|s| *s <= 600) else {
            return ("400 Bad Request", json!({"error": {"code": 400}}));
        };
        s.extension_requests += ids.len() as u64;
        for m in s.messages.values_mut() {
            if let Some((ack, until)) = &mut m.out {
                if ids.contains(&ack.as_str()) && *until > now {
                    *until = now + Duration::from_secs(secs);
                    m.extensions += 1;
                }
            }
        }
        return ("200 OK", json!({}));
    }
    if path == "/v1/projects/demo-project/locations/europe-west1/clusters/prod" {
        s.cluster_calls += 1;
        return match &s.cluster {
            Some(c) => ("200 OK", c.clone()),
            None => (
                "500 Internal Server Error",
                json!({"error": {"code": 500, "message": "backend error"}}),
            ),
        };
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
    write_config_with(dir, "", "")
}

/// The plugin entry with `init_extra` added to its `init_config` (indented lines) and `top_extra` added
/// at the top level of falco.yaml.
fn write_config_with(dir: &Path, init_extra: &str, top_extra: &str) -> std::path::PathBuf {
    let path = dir.join("falco.yaml");
    std::fs::write(
        &path,
        format!(
            r#"plugins:
  - name: k8saudit-gke
    library_path: libk8saudit-gke.so
    init_config:
      project_id: demo-project
      max_outstanding_messages: 7
      num_goroutines: 2
{init_extra}    open_params: gke-audit
  - name: json
    library_path: libjson.so
    init_config: ""
load_plugins: [k8saudit-gke, json]
{top_extra}"#
        ),
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

/// An http_output receiver that reads each POST and answers it only once the test opens the gate: an
/// output stuck for as long as the test wants.
struct Gate {
    port: u16,
    open: Arc<AtomicBool>,
    posts: Arc<Mutex<u64>>,
}

impl Gate {
    fn start() -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(false));
        let posts = Arc::new(Mutex::new(0));
        let (o, p) = (open.clone(), posts.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (o, p) = (o.clone(), p.clone());
                std::thread::spawn(move || gate_conn(conn, &o, &p));
            }
        });
        Gate { port, open, posts }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        // Let a client still waiting go (the listener thread ends with the test process).
        self.open.store(true, Ordering::SeqCst);
    }
}

/// HTTP/1.1 requests on one kept-alive connection, each answered 200 once the gate is open.
fn gate_conn(conn: TcpStream, open: &AtomicBool, posts: &Mutex<u64>) {
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        *posts.lock().unwrap() += 1;
        while !open.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// falco.yaml lines for an http_output to `gate` that waits (up to two minutes) for its answers.
fn http_output_to(gate: &Gate) -> String {
    format!(
        "http_output:\n  enabled: true\n  url: http://127.0.0.1:{}/\n  timeout_ms: 120000\n",
        gate.port
    )
}

const SOURCE_LABEL: &str =
    "{source=\"k8saudit-gke:projects/demo-project/subscriptions/gke-audit\"}";

/// Each alert of `alerts` exactly once: nothing lost, nothing repeated.
fn assert_each_once(alerts: &[String], expected: &[String]) {
    let mut got = alerts.to_vec();
    got.sort();
    assert_eq!(got, expected, "alerts lost or repeated");
}

#[test]
fn messages_whose_alerts_are_slow_to_reach_the_outputs_are_leased_not_delivered_again() {
    let dir = temp_dir("gke-lease");
    // A 4 s subscription deadline, and an http output that answers nothing until the test says so: the
    // batches stay in flight far longer than the deadline.
    let standin = StandIn::start(Duration::from_secs(4));
    let entries = log_entries(200, 12);
    for (i, e) in entries.iter().enumerate() {
        standin.publish(&format!("m{i:04}"), e.as_bytes());
    }
    let expected = replay(&entries, &dir);
    assert_eq!(expected.len(), entries.len());
    let gate = Gate::start();
    let config = write_config_with(
        &dir,
        "      ack_extension: 5\n      max_ack_extension: 3600\n",
        &http_output_to(&gate),
    );
    let mut s = serve(&config, &dir.join("alerts.jsonl"), &env(&standin));
    // The file output has every alert; the http output holds them.
    s.wait_for_alerts(expected.len());
    standin.wait_until("every message was delivered", |st| {
        st.messages.values().all(|m| m.first_delivery.is_some())
    });
    // Wait until three subscription deadlines have passed since the last first delivery, and kaudit
    // pulled after that: without leases Pub/Sub would have delivered every message again by now. (The
    // first extension comes 2.5 s after the pull, half of the 5 s `ack_extension`.)
    let last_delivery = {
        let st = standin.state.lock().unwrap();
        st.messages
            .values()
            .filter_map(|m| m.first_delivery)
            .max()
            .unwrap()
    };
    standin.wait_until("three ack deadlines passed", |_| {
        last_delivery.elapsed() > Duration::from_secs(12)
    });
    standin.wait_for_pulls(2);
    {
        let st = standin.state.lock().unwrap();
        assert!(
            *gate.posts.lock().unwrap() >= 1,
            "the http output got an alert"
        );
        for (id, m) in &st.messages {
            assert_eq!(m.deliveries, 1, "{id} was delivered again while in flight");
            assert!(!m.acked, "{id} was acknowledged before its alerts were out");
            assert!(
                m.extensions >= 3,
                "{id}: {} deadline extensions in over 12 s with a 5 s lease",
                m.extensions
            );
        }
    }
    let extended = s.metric(&format!("kaudit_source_ack_extensions_total{SOURCE_LABEL}"));
    assert!(
        extended >= 36.0,
        "12 messages x 3 extensions, got {extended}"
    );

    // The output recovers: every message is acknowledged once, its leases end, nothing repeats.
    gate.open.store(true, Ordering::SeqCst);
    standin.wait_until_all_acked();
    // A renewal already on its way when the acknowledgement went out may still arrive (it takes at most
    // a quarter of the 5 s lease); after that, nothing asks to extend these messages again, however
    // long we wait (twelve more idle pulls, about 6 s, more than two renewal periods of 2.5 s).
    standin.wait_for_pulls(4);
    let requests = standin.state.lock().unwrap().extension_requests;
    standin.wait_for_pulls(12);
    {
        let st = standin.state.lock().unwrap();
        for (id, m) in &st.messages {
            assert_eq!(m.deliveries, 1, "{id} delivered {} times", m.deliveries);
        }
        assert_eq!(
            st.extension_requests, requests,
            "acknowledged messages are no longer extended"
        );
    }
    assert_eq!(
        s.metric(&format!("kaudit_source_leases_expired_total{SOURCE_LABEL}")),
        0.0
    );
    assert_each_once(&s.terminate(), &expected);
}

#[test]
fn a_lease_ends_after_max_ack_extension_and_the_copy_delivered_again_is_not_evaluated_twice() {
    let dir = temp_dir("gke-lease-max");
    let standin = StandIn::start(Duration::from_secs(3));
    let entries = log_entries(300, 6);
    for (i, e) in entries.iter().enumerate() {
        standin.publish(&format!("m{i:04}"), e.as_bytes());
    }
    let expected = replay(&entries, &dir);
    let gate = Gate::start();
    // Leases of 3 s, 6 s in all: the messages are let go while the output is still stuck.
    let config = write_config_with(
        &dir,
        "      ack_extension: 3\n      max_ack_extension: 6\n",
        &http_output_to(&gate),
    );
    let mut s = serve(&config, &dir.join("alerts.jsonl"), &env(&standin));
    s.wait_for_alerts(expected.len());
    // Let go, Pub/Sub delivers every message a second time (to kaudit, still pulling).
    standin.wait_until("every message was delivered again", |st| {
        st.messages.values().all(|m| m.deliveries >= 2)
    });
    assert!(
        s.metric(&format!("kaudit_source_leases_expired_total{SOURCE_LABEL}")) >= 6.0,
        "the let-go leases are counted"
    );
    let dropped = format!(
        "kaudit_source_dropped_total{{source=\"k8saudit-gke:{SUBSCRIPTION}\",reason=\"redelivered\"}}"
    );
    assert!(s.metric(&dropped) >= 6.0, "the copies were recognised");
    assert_eq!(
        s.alerts_so_far().len(),
        expected.len(),
        "a copy of a message in flight is not evaluated again"
    );
    // The output recovers: the first copies' ack IDs expired, the second copies' are acknowledged.
    gate.open.store(true, Ordering::SeqCst);
    standin.wait_until_all_acked();
    assert_each_once(&s.terminate(), &expected);
}

/// A rule raising one alert per converted entry that shows the annotations the cluster labels become.
const LABEL_RULES: &str = r#"- rule: GKE entry with cluster labels
  desc: every converted GKE entry, with the annotations that hold the cluster's labels
  condition: ka.verb in (create, list)
  output: "team=%json.value[/annotations/team] env=%json.value[/annotations/env] cluster=%json.value[/annotations/cluster_name] user=%ka.user.name"
  priority: WARNING
  source: k8s_audit
"#;

fn label_config(dir: &Path) -> std::path::PathBuf {
    let rules = dir.join("labels.yaml");
    std::fs::write(&rules, LABEL_RULES).unwrap();
    write_config_with(
        dir,
        "      fetch_cluster_metadata: true\n      cache_expiration: 10\n",
        &format!("rules_files: [{}]\n", rules.display()),
    )
}

/// The `output_fields` of JSON alerts, by user.
fn fields_by_user(alerts: &[String]) -> BTreeMap<String, Value> {
    alerts
        .iter()
        .map(|a| {
            let v: Value = serde_json::from_str(a).unwrap();
            let f = v["output_fields"].clone();
            (f["ka.user.name"].as_str().unwrap().to_string(), f)
        })
        .collect()
}

#[test]
fn cluster_labels_from_the_container_api_become_annotations_and_are_fetched_once() {
    let dir = temp_dir("gke-labels");
    let standin = StandIn::start(Duration::from_secs(10));
    standin.state.lock().unwrap().cluster = Some(json!({
        "name": "prod",
        "resourceLabels": {"team": "payments", "env": "prod", "cluster_name": "not-google's-own"}
    }));
    let entries = log_entries(400, 15);
    for (i, e) in entries.iter().enumerate() {
        standin.publish(&format!("m{i:04}"), e.as_bytes());
    }
    let mut env = env(&standin);
    env.push((
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER",
        format!("http://127.0.0.1:{}/", standin.port),
    ));
    let mut s = serve(&label_config(&dir), &dir.join("alerts.jsonl"), &env);
    s.wait_for_alerts(entries.len());
    standin.wait_until_all_acked();
    let alerts = s.terminate();
    let by_user = fields_by_user(&alerts);
    assert_eq!(by_user.len(), entries.len(), "one alert per entry");
    for (user, f) in &by_user {
        // The plugin's mapping: the cluster's labels join the resource labels, which become
        // annotations; Google's own resource labels are never replaced.
        assert_eq!(
            f["json.value[/annotations/team]"], "payments",
            "{user}: {f}"
        );
        assert_eq!(f["json.value[/annotations/env]"], "prod", "{user}: {f}");
        assert_eq!(
            f["json.value[/annotations/cluster_name]"], "prod",
            "{user}: {f}"
        );
    }
    // 15 entries of one cluster within cache_expiration (10 minutes): one Container API call.
    assert_eq!(standin.state.lock().unwrap().cluster_calls, 1);
}

#[test]
fn a_failing_container_api_does_not_stop_detection_nor_is_it_called_per_entry() {
    let dir = temp_dir("gke-labels-down");
    let standin = StandIn::start(Duration::from_secs(10));
    // `cluster: None`: every clusters.get answers 500.
    let entries = log_entries(500, 15);
    for (i, e) in entries.iter().enumerate() {
        standin.publish(&format!("m{i:04}"), e.as_bytes());
    }
    let mut env = env(&standin);
    env.push((
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER",
        format!("http://127.0.0.1:{}", standin.port),
    ));
    let t0 = Instant::now();
    let mut s = serve(&label_config(&dir), &dir.join("alerts.jsonl"), &env);
    s.wait_for_alerts(entries.len());
    standin.wait_until_all_acked();
    let alerts = s.terminate();
    let elapsed = t0.elapsed();
    let by_user = fields_by_user(&alerts);
    assert_eq!(
        by_user.len(),
        entries.len(),
        "every entry was still evaluated"
    );
    for (user, f) in &by_user {
        assert_ne!(
            f["json.value[/annotations/team]"], "payments",
            "{user}: {f}"
        );
        assert_eq!(
            f["json.value[/annotations/cluster_name]"], "prod",
            "{user}: {f}"
        );
    }
    // A failed fetch is retried at most every 30 s, not for every entry.
    let calls = standin.state.lock().unwrap().cluster_calls;
    let allowed = 1 + elapsed.as_secs() / 30;
    assert!(
        (1..=allowed).contains(&calls),
        "{calls} Container API calls in {elapsed:?}"
    );
}

#[test]
fn serve_killed_mid_stream_loses_nothing_and_repeats_only_what_was_not_acknowledged() {
    let dir = temp_dir("gke-sigkill");
    let standin = Arc::new(StandIn::start(Duration::from_secs(2)));
    let entries = log_entries(600, 80);
    let config = write_config(&dir);
    let s = serve(&config, &dir.join("alerts1.jsonl"), &env(&standin));
    // A sink that keeps publishing, from kaudit's first pull on, during and after the kill.
    standin.wait_for_pulls(1);
    let publisher = {
        let (standin, entries) = (standin.clone(), entries.clone());
        std::thread::spawn(move || {
            for (i, e) in entries.iter().enumerate() {
                standin.publish(&format!("m{i:04}"), e.as_bytes());
                if i % 4 == 3 {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
    };
    standin.wait_until("some messages were acknowledged", |st| {
        st.messages.values().filter(|m| m.acked).count() >= 16
    });
    let run1 = s.kill9();
    // What Pub/Sub holds as acknowledged at the kill is never delivered again.
    let acked: Vec<usize> = {
        let st = standin.state.lock().unwrap();
        st.messages
            .iter()
            .filter(|(_, m)| m.acked)
            .map(|(id, _)| id[1..].parse().unwrap())
            .collect()
    };
    // Nothing acknowledged was lost: its alert had been written before the acknowledgement.
    let acked_entries: Vec<String> = acked.iter().map(|&i| entries[i].clone()).collect();
    for a in replay(&acked_entries, &dir) {
        assert!(run1.contains(&a), "acknowledged but never written: {a}");
    }
    publisher.join().unwrap();
    // Run 2 gets every message not acknowledged (after its ack deadline), each evaluated once.
    let rest: Vec<String> = (0..entries.len())
        .filter(|i| !acked.contains(i))
        .map(|i| entries[i].clone())
        .collect();
    let expected2 = replay(&rest, &dir);
    let mut s = serve(&config, &dir.join("alerts2.jsonl"), &env(&standin));
    s.wait_for_alerts(expected2.len());
    standin.wait_until_all_acked();
    standin.wait_for_pulls(3);
    let run2 = s.terminate();
    assert_eq!(run2, expected2, "run 2: lost or repeated messages");
    let repeated = run1.iter().filter(|a| run2.contains(a)).count();
    eprintln!(
        "killed after {} alerts; {} messages acknowledged; {repeated} alerts repeated",
        run1.len(),
        acked.len()
    );
    assert_eq!(
        repeated,
        run1.len() - acked.len(),
        "what repeats is exactly what run 1 wrote for messages it had not acknowledged"
    );
}
