//! AKS: the blob checkpoint store against Azurite (Microsoft's storage emulator, npm package `azurite`,
//! started here on 127.0.0.1 with an ephemeral port and stopped after), and the Event Hubs consumer loop
//! on kaudit's pipeline with a stand-in hub at the SDK boundary (there is no Event Hubs emulator): every
//! event's alert reaches the output before its checkpoint is written, and across a restart and a
//! crash nothing is lost and nothing acknowledged is read again.
//!
//! Without Azurite these tests are ignored, visibly (build.rs; `KAUDIT_AZURITE` names the
//! `azurite-blob` script); under `CI=true` they fail instead.
#![cfg(feature = "aks")]

mod cloud_support;

use kaudit_engine::alert::{AlertFormat, LocalZone};
use kaudit_engine::engine::{Engine, Plan, RuleMeta};
use kaudit_engine::event::Event;
use kaudit_frontend::ir::{Output as RuleOutput, OutputPart, Priority};
use kaudit_service::cloud::aks::blob::BlobCheckpoints;
use kaudit_service::cloud::aks::checkpoint::{CheckpointStore, PartitionCheckpoint};
use kaudit_service::cloud::aks::hub::{Hub, HubEvent};
use kaudit_service::cloud::aks::sas::{StorageAccount, DEV_ACCOUNT, DEV_KEY};
use kaudit_service::cloud::aks::source::AksSource;
use kaudit_service::cloud::aks_config::{AksConfig, Secret};
use kaudit_service::config::ServeConfig;
use kaudit_service::outputs::{Alert, Output};
use kaudit_service::server::pipeline::EvalContext;
use kaudit_service::server::Server;
use kaudit_service::sources::{Next, Source};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NAMESPACE: &str = "kaudit-test.servicebus.windows.net";
const HUB: &str = "audit-hub";
const CONTAINER: &str = "kaudit-checkpoints";

// ---------------------------------------------------------------------------------------------------
// Azurite

struct Azurite {
    child: Child,
    port: u16,
    _dir: cloud_support::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_azurite(name: &str) -> Azurite {
    let dir = cloud_support::temp_dir(name);
    // Port 0: Azurite binds a free port and names it on stdout ("... listens on http://127.0.0.1:N").
    let mut child = Command::new(kaudit_testkit::azurite())
        .args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--disableTelemetry",
            "--location",
        ])
        .arg(&*dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run azurite-blob: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keeps reading after the banner so Azurite never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((_, port)) = line.split_once("listens on http://127.0.0.1:") {
                let _ = tx.send(port.trim().parse::<u16>().ok());
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .flatten()
        .expect("azurite-blob did not say which port it listens on within a minute");
    Azurite {
        child,
        port,
        _dir: dir,
    }
}

impl Azurite {
    fn connection_string(&self, key: &str) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={key};BlobEndpoint=http://127.0.0.1:{}/{DEV_ACCOUNT};",
            self.port
        )
    }

    fn store_for(&self, namespace: &str, key: &str) -> BlobCheckpoints {
        let account = StorageAccount::parse(&self.connection_string(key)).unwrap();
        BlobCheckpoints::new(account, CONTAINER, namespace, HUB, "$Default").unwrap()
    }

    fn store(&self) -> BlobCheckpoints {
        self.store_for(NAMESPACE, DEV_KEY)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn cp(seq: i64) -> PartitionCheckpoint {
    PartitionCheckpoint {
        sequence_number: seq,
        offset: Some(format!("{}", seq * 1000)),
    }
}

#[test]
#[cfg_attr(
    kaudit_no_azurite,
    ignore = "azurite-blob not found: set KAUDIT_AZURITE"
)]
fn blob_checkpoints_on_azurite() {
    let az = start_azurite("aks-blob");
    runtime().block_on(async {
        let mut a = az.store();
        assert_eq!(a.load("0").await.unwrap(), None, "nothing saved yet");
        a.save("0", &cp(5)).await.unwrap();
        // Another reader (a restart) finds it, whatever the case of the names it was given: the
        // layout lowercases them, as Azure's checkpoint stores do.
        let mut b = az.store_for(&NAMESPACE.to_uppercase(), DEV_KEY);
        assert_eq!(b.load("0").await.unwrap(), Some(cp(5)));
        assert_eq!(b.load("1").await.unwrap(), None);
        // b moves the position on; a's next write is conditional on an ETag that changed: the newer
        // stored position is kept, never moved backwards.
        b.save("0", &cp(9)).await.unwrap();
        a.save("0", &cp(7)).await.unwrap();
        assert_eq!(az.store().load("0").await.unwrap(), Some(cp(9)));
        // With the ETag refreshed, a's later writes go through.
        a.save("0", &cp(12)).await.unwrap();
        assert_eq!(az.store().load("0").await.unwrap(), Some(cp(12)));
        // A SAS signed with another key is refused: the signature is really checked.
        let wrong = "a2V5LW9mLWFub3RoZXItYWNjb3VudC1ub3QtdGhlLWRldi1rZXk=";
        let e = az.store_for(NAMESPACE, wrong).load("0").await.unwrap_err();
        assert!(e.contains("HTTP 403"), "{e}");
    });
}

// ---------------------------------------------------------------------------------------------------
// The stand-in hub and the pipeline

/// A hub in memory: partitions of events with increasing sequence numbers.
#[derive(Clone, Default)]
struct StandInHub {
    parts: Arc<Mutex<BTreeMap<String, Vec<HubEvent>>>>,
}

impl StandInHub {
    fn new(partitions: &[&str]) -> StandInHub {
        let h = StandInHub::default();
        for p in partitions {
            h.parts.lock().unwrap().insert(p.to_string(), Vec::new());
        }
        h
    }

    /// Appends a message to `partition`; its sequence number.
    fn send(&self, partition: &str, body: String) -> i64 {
        let mut parts = self.parts.lock().unwrap();
        let p = parts.get_mut(partition).unwrap();
        let seq = p.last().map_or(100, |e| e.sequence_number + 1);
        p.push(HubEvent {
            sequence_number: seq,
            offset: Some(format!("{}", seq * 1000)),
            enqueued_ns: Some(1_700_000_000_000_000_000),
            body: body.into_bytes(),
        });
        seq
    }
}

impl Hub for StandInHub {
    async fn partitions(&mut self) -> Result<Vec<String>, String> {
        Ok(self.parts.lock().unwrap().keys().cloned().collect())
    }

    async fn receive(
        &mut self,
        partition: &str,
        after: Option<i64>,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<HubEvent>, String> {
        let out: Vec<HubEvent> = self.parts.lock().unwrap()[partition]
            .iter()
            // No checkpoint: this test's hub starts at its earliest event (the real one at "now").
            .filter(|e| after.is_none_or(|a| e.sequence_number > a))
            .take(max)
            .cloned()
            .collect();
        if out.is_empty() {
            tokio::time::sleep(wait.min(Duration::from_millis(20))).await;
        }
        Ok(out)
    }
}

fn audit_event(id: usize) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps","verb":"{}","user":{{"username":"alice"}},"objectRef":{{"resource":"configmaps","namespace":"default","name":"c{id}"}},"responseStatus":{{"code":201}},"requestReceivedTimestamp":"2024-01-02T03:04:05.000001Z","stageTimestamp":"2024-01-02T03:04:05.100001Z"}}"#,
        verb(id)
    )
}

/// Each event gets a verb of its own, so its alert names it.
fn verb(id: usize) -> String {
    format!("ev{id:04}")
}

/// A diagnostic records message carrying event `id`; every third one also carries a record of another
/// category and a `kube-audit` record whose log is not JSON.
fn message(id: usize) -> String {
    let mut recs = vec![serde_json::json!({"category": "kube-audit",
        "properties": {"log": audit_event(id)}})];
    if id.is_multiple_of(3) {
        recs.push(serde_json::json!({"category": "kube-apiserver",
            "properties": {"log": "I0102 03:04:05.000000 1 httplog.go:132] klog text"}}));
        recs.push(serde_json::json!({"category": "kube-audit", "properties": {"log": "{cut"}}));
    }
    serde_json::json!({ "records": recs }).to_string()
}

/// Rule `ev<id>` fires on the event of that verb; its output names the verb.
struct VerbRules(Vec<RuleMeta>);

impl VerbRules {
    fn new(ids: std::ops::Range<usize>) -> VerbRules {
        VerbRules(
            ids.map(|i| RuleMeta {
                name: verb(i),
                priority: Priority::Warning,
                source: "k8s_audit".into(),
                tags: vec![],
                output: RuleOutput {
                    text: format!("saw {}", verb(i)),
                    parts: vec![OutputPart::Literal(format!("saw {}", verb(i)))],
                    fields: vec![],
                },
                enabled: true,
            })
            .collect(),
        )
    }
}

impl Engine for VerbRules {
    fn rules(&self) -> &[RuleMeta] {
        &self.0
    }

    fn eval(&self, ev: &Event<'_>, plan: &Plan, on_match: &mut dyn FnMut(usize)) {
        let raw = String::from_utf8_lossy(ev.raw());
        for &i in &plan.order {
            if raw.contains(&format!("\"verb\":\"{}\"", self.0[i].name)) {
                on_match(i);
            }
        }
    }
}

/// Keeps the verbs of the alerts it is handed: this run's, and every run's.
#[derive(Clone, Default)]
struct Seen {
    run: Arc<Mutex<Vec<String>>>,
    all: Arc<Mutex<Vec<String>>>,
}

impl Seen {
    fn verbs(&self) -> Vec<String> {
        self.run.lock().unwrap().clone()
    }

    fn ever(&self) -> BTreeSet<String> {
        self.all.lock().unwrap().iter().cloned().collect()
    }
}

impl Output for Seen {
    fn name(&self) -> &str {
        "seen"
    }

    fn write(&mut self, alert: &Alert) -> std::io::Result<()> {
        let line = String::from_utf8_lossy(&alert.line);
        let v: String = line
            .split("saw ")
            .nth(1)
            .unwrap_or_default()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        self.all.lock().unwrap().push(v.clone());
        self.run.lock().unwrap().push(v);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The blob store, checking at every save that the alert of each event the checkpoint covers was
/// already handed to the output.
struct Watched {
    inner: BlobCheckpoints,
    seen: Seen,
    /// (partition, sequence number) of every event, with its verb.
    sent: Arc<Mutex<BTreeMap<(String, i64), String>>>,
    saves: Arc<Mutex<u32>>,
}

impl CheckpointStore for Watched {
    async fn load(&mut self, p: &str) -> Result<Option<PartitionCheckpoint>, String> {
        self.inner.load(p).await
    }

    async fn save(&mut self, p: &str, c: &PartitionCheckpoint) -> Result<(), String> {
        let seen = self.seen.ever();
        for ((part, seq), v) in self.sent.lock().unwrap().iter() {
            if part == p && *seq <= c.sequence_number {
                assert!(
                    seen.contains(v),
                    "checkpoint {p}@{} written before the alert of {v} (seq {seq}) reached the output",
                    c.sequence_number
                );
            }
        }
        *self.saves.lock().unwrap() += 1;
        self.inner.save(p, c).await
    }
}

fn config() -> AksConfig {
    AksConfig {
        origin: "plugins[0]".into(),
        cluster: "default".into(),
        hub_connection_string: Secret(String::new()),
        hub_name: HUB.into(),
        consumer_group: "$Default".into(),
        blob_connection_string: Secret(String::new()),
        blob_container: CONTAINER.into(),
        rate_per_second: 1000,
        rate_burst: 1000,
        max_event_size: 262_144,
    }
}

/// Sends events `ids` to the hub, alternating partitions; remembers where each went.
fn send(
    hub: &StandInHub,
    sent: &Mutex<BTreeMap<(String, i64), String>>,
    ids: std::ops::Range<usize>,
) {
    for id in ids {
        let p = if id.is_multiple_of(2) { "0" } else { "1" };
        let seq = hub.send(p, message(id));
        sent.lock().unwrap().insert((p.to_string(), seq), verb(id));
    }
}

/// Runs kaudit's pipeline with the AKS source on `hub` until the output has `expect` alerts and both
/// partitions are checkpointed at their last event; then shuts down gracefully. The alerts' verbs, and
/// the source's metrics text.
fn serve_until_caught_up(
    az: &Azurite,
    hub: &StandInHub,
    sent: &Arc<Mutex<BTreeMap<(String, i64), String>>>,
    all: &Arc<Mutex<Vec<String>>>,
    expect: usize,
) -> (Vec<String>, String) {
    let seen = Seen {
        run: Arc::default(),
        all: all.clone(),
    };
    let store = Watched {
        inner: az.store(),
        seen: seen.clone(),
        sent: sent.clone(),
        saves: Arc::default(),
    };
    let last: BTreeMap<String, i64> = sent
        .lock()
        .unwrap()
        .keys()
        .map(|(p, s)| (p.clone(), *s))
        .collect();
    let rt = runtime();
    rt.block_on(async {
        let cfg = ServeConfig::from_sources(
            None,
            &[
                "webserver.listen_address=127.0.0.1".to_string(),
                "webserver.listen_port=0".into(),
                "stdout_output.enabled=false".into(),
            ],
        )
        .unwrap();
        let engine: Arc<dyn Engine> = Arc::new(VerbRules::new(0..100));
        let ctx = EvalContext {
            plan: cfg.settings.plan(engine.rules()),
            format: AlertFormat {
                json_output: false,
                include_output: true,
                include_tags: false,
                include_message: false,
                include_output_fields: false,
                time_iso8601: false,
                escape_text: true,
                hostname: "test".into(),
                zone: LocalZone::Utc,
            },
            engine,
        };
        let mut server = Server::start(&cfg, ctx, vec![Box::new(seen.clone())])
            .await
            .unwrap();
        server.add_source(AksSource::with_parts(&config(), hub.clone(), store));
        let metrics = server.metrics();
        let trigger = server.trigger();
        let done = tokio::spawn(server.run());
        let mut check = az.store();
        let t0 = Instant::now();
        loop {
            let mut caught_up = seen.verbs().len() >= expect;
            for (p, s) in &last {
                let at = check.load(p).await.unwrap().map(|c| c.sequence_number);
                caught_up &= at == Some(*s);
            }
            if caught_up {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "not caught up: {} of {expect} alerts",
                seen.verbs().len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut text = String::new();
        metrics.sources.render(&mut text);
        trigger.fire();
        tokio::time::timeout(Duration::from_secs(20), done)
            .await
            .unwrap()
            .unwrap();
        (seen.verbs(), text)
    })
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn verbs(ids: std::ops::Range<usize>) -> Vec<String> {
    ids.map(verb).collect()
}

#[test]
#[cfg_attr(
    kaudit_no_azurite,
    ignore = "azurite-blob not found: set KAUDIT_AZURITE"
)]
fn consumer_checkpoints_after_the_outputs_and_resumes_without_loss_or_repeats() {
    let az = start_azurite("aks-consumer");
    let hub = StandInHub::new(&["0", "1"]);
    let sent = Arc::new(Mutex::new(BTreeMap::new()));
    let all = Arc::new(Mutex::new(Vec::new()));

    // First run: 30 events over two partitions.
    send(&hub, &sent, 0..30);
    let (first, metrics) = serve_until_caught_up(&az, &hub, &sent, &all, 30);
    assert_eq!(
        sorted(first),
        verbs(0..30),
        "each event alerted exactly once"
    );
    let src = "source=\"k8saudit-aks:default/audit-hub\"";
    for (line, n) in [
        (format!("kaudit_source_records_read_total{{{src}}}"), 50),
        (format!("kaudit_source_events_total{{{src}}}"), 30),
        (
            format!("kaudit_source_dropped_total{{{src},reason=\"other_category\"}}"),
            10,
        ),
        (
            format!("kaudit_source_dropped_total{{{src},reason=\"bad_log\"}}"),
            10,
        ),
    ] {
        assert!(
            metrics.contains(&format!("{line} {n}\n")),
            "{line} {n}\n{metrics}"
        );
    }
    assert!(
        metrics.contains(&format!("kaudit_source_checkpoint_age_seconds{{{src}}}")),
        "{metrics}"
    );

    // Events arriving while kaudit is down are read after the restart, and only they: the
    // checkpoints on Azurite say where each partition stopped.
    send(&hub, &sent, 30..40);
    let (second, _) = serve_until_caught_up(&az, &hub, &sent, &all, 10);
    assert_eq!(sorted(second), verbs(30..40));

    // A crash between reading and checkpointing: the events were handed out but never acknowledged,
    // so the next run reads them again (at least once); once acknowledged, never again.
    send(&hub, &sent, 40..44);
    let rt = runtime();
    rt.block_on(async {
        let mut crashed = AksSource::with_parts(&config(), hub.clone(), az.store());
        let (got, _) = read_all(&mut crashed, 4).await;
        assert_eq!(sorted(got), verbs(40..44));
        drop(crashed);
        let mut again = AksSource::with_parts(&config(), hub.clone(), az.store());
        let (got, positions) = read_all(&mut again, 4).await;
        assert_eq!(sorted(got), verbs(40..44), "read again after the crash");
        again.ack(positions).await.unwrap();
        let mut after = AksSource::with_parts(&config(), hub.clone(), az.store());
        let (got, _) = read_all(&mut after, 0).await;
        assert!(got.is_empty(), "acknowledged events came back: {got:?}");
    });
}

/// Verbs of the events `src` hands out until it has `n` of them (or, for `n` = 0, until it has been
/// idle on every partition a few times); and the batches' positions.
async fn read_all<H: Hub + 'static, C: CheckpointStore + 'static>(
    src: &mut AksSource<H, C>,
    n: usize,
) -> (
    Vec<String>,
    Vec<kaudit_service::cloud::aks::source::Position>,
) {
    let mut got = Vec::new();
    let mut positions = Vec::new();
    let mut idle = 0;
    let t0 = Instant::now();
    while (n == 0 && idle < 8) || (n > 0 && got.len() < n) {
        assert!(t0.elapsed() < Duration::from_secs(30), "only {got:?}");
        match src.next_batch().await.unwrap() {
            Next::Batch(b) => {
                for d in &b.docs {
                    let v: serde_json::Value = serde_json::from_slice(d).unwrap();
                    got.push(v["verb"].as_str().unwrap().to_string());
                }
                positions.push(b.position);
            }
            Next::Idle => idle += 1,
            Next::End => break,
        }
    }
    (got, positions)
}

// ---------------------------------------------------------------------------------------------------
// `kaudit serve` with the real Event Hubs client

/// One GET on a new connection: status and body.
fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: kaudit\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The configured entry starts the SDK-backed source: the SDK dials the loopback TLS bridge, the bridge
/// cannot reach the (absent) namespace, and the failing source shows in the log, `/metrics` and
/// `/healthz`, without the connection string's key appearing anywhere.
#[test]
fn serve_starts_the_aks_source_and_an_unreachable_hub_turns_healthz_unhealthy() {
    let dir = cloud_support::temp_dir("aks-serve");
    let config = dir.join("falco.yaml");
    std::fs::write(
        &config,
        r#"plugins:
  - name: k8saudit-aks
    library_path: libk8saudit-aks.so
    init_config:
      event_hub_namespace_connection_string: "Endpoint=sb://localhost/;SharedAccessKeyName=kaudit;SharedAccessKey=c2VjcmV0LWtleS12YWx1ZQ==;EntityPath=aks-audit"
      event_hub_name: aks-audit
      blob_storage_connection_string: "UseDevelopmentStorage=true"
      blob_storage_container_name: kaudit-checkpoints
    open_params: my-cluster
load_plugins: [k8saudit-aks]
kaudit:
  source_unhealthy_after_ms: 300
"#,
    )
    .unwrap();
    let mut s = cloud_support::serve(&config, &dir.join("alerts"), &[]);
    s.wait_for_log("listening for audit events addr=");
    let addr: std::net::SocketAddr = s
        .log
        .lock()
        .unwrap()
        .iter()
        .find_map(|l| l.split("listening for audit events addr=").nth(1))
        .and_then(|a| a.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    // The SDK connected to the bridge (plain AMQP on loopback); the bridge's TLS leg failed.
    s.wait_for_log("Event Hubs TLS connection ended");
    s.wait_for_log("source failed");
    let name = "k8saudit-aks:my-cluster/aks-audit";
    let t0 = Instant::now();
    loop {
        let (status, body) = get(addr, "/healthz");
        if status == 503 {
            assert!(body.contains(name), "{body}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "/healthz stayed {status}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, metrics) = get(addr, "/metrics");
    assert!(
        metrics.contains(&format!(
            "kaudit_source_failing_seconds{{source=\"{name}\"}}"
        )),
        "{metrics}"
    );
    let log = s.log.lock().unwrap().join("\n");
    assert!(
        !log.contains("c2VjcmV0LWtleS12YWx1ZQ"),
        "the key was logged:\n{log}"
    );
    s.terminate();
}
