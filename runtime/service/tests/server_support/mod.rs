//! Shared helpers for the webhook end-to-end tests: a tiny engine, collecting outputs, a server on an
//! ephemeral 127.0.0.1 port, and a minimal HTTP client over real sockets.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use kaudit_engine::alert::{AlertFormat, LocalZone};
use kaudit_engine::engine::{Engine, Plan, RuleMatching, RuleMeta};
use kaudit_engine::event::Event;
use kaudit_frontend::ir::{Output as RuleOutput, OutputPart, Priority};
use kaudit_service::config::ServeConfig;
use kaudit_service::outputs::{Alert, Output};
use kaudit_service::server::metrics::Metrics;
use kaudit_service::server::pipeline::EvalContext;
use kaudit_service::server::{shutdown::Trigger, Server, Summary};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Matches events by verb: rule `verb=<v>` fires when the raw event has `"verb":"<v>"`.
pub struct VerbEngine {
    rules: Vec<RuleMeta>,
}

impl VerbEngine {
    pub fn new(verbs: &[&str]) -> VerbEngine {
        let rules = verbs
            .iter()
            .map(|v| RuleMeta {
                name: format!("verb={v}"),
                priority: Priority::Warning,
                source: "k8s_audit".into(),
                tags: vec!["test".into()],
                output: RuleOutput {
                    text: format!("saw {v}"),
                    parts: vec![OutputPart::Literal(format!("saw {v}"))],
                    fields: vec![],
                },
                enabled: true,
            })
            .collect();
        VerbEngine { rules }
    }
}

impl Engine for VerbEngine {
    fn rules(&self) -> &[RuleMeta] {
        &self.rules
    }

    fn eval(&self, ev: &Event<'_>, plan: &Plan, on_match: &mut dyn FnMut(usize)) {
        let raw = String::from_utf8_lossy(ev.raw());
        for &i in &plan.order {
            let verb = self.rules[i].name.trim_start_matches("verb=");
            if raw.contains(&format!("\"verb\":\"{verb}\"")) {
                on_match(i);
                if plan.matching == RuleMatching::First {
                    return;
                }
            }
        }
    }
}

/// An output that keeps every alert line, optionally sleeping per alert (a deliberately slow output).
#[derive(Clone, Default)]
pub struct Collect {
    pub lines: Arc<Mutex<Vec<String>>>,
    pub delay: Duration,
}

impl Collect {
    pub fn slow(delay: Duration) -> Collect {
        Collect {
            lines: Arc::default(),
            delay,
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Output for Collect {
    fn name(&self) -> &str {
        "collect"
    }

    fn write(&mut self, alert: &Alert) -> std::io::Result<()> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        self.lines
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&alert.line).into_owned());
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running server and what the test needs to drive it.
pub struct Running {
    pub addrs: Vec<SocketAddr>,
    pub metrics: Arc<Metrics>,
    pub trigger: Trigger,
    pub done: tokio::task::JoinHandle<Summary>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Graceful shutdown; returns the end-of-run counts.
    pub async fn stop(self) -> Summary {
        self.trigger.fire();
        tokio::time::timeout(Duration::from_secs(20), self.done)
            .await
            .expect("shutdown took too long")
            .unwrap()
    }
}

/// Overrides every test server uses: loopback, ephemeral port, no stdout alerts.
pub fn base_overrides() -> Vec<String> {
    [
        "webserver.listen_address=127.0.0.1",
        "webserver.listen_port=0",
        "stdout_output.enabled=false",
        "kaudit.workers=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub fn config(extra: &[&str]) -> ServeConfig {
    let mut o = base_overrides();
    o.extend(extra.iter().map(|s| s.to_string()));
    ServeConfig::from_sources(None, &o).expect("test configuration")
}

pub fn format(json: bool) -> AlertFormat {
    AlertFormat {
        json_output: json,
        include_output: true,
        include_tags: true,
        include_message: false,
        include_output_fields: true,
        time_iso8601: false,
        escape_text: true,
        hostname: "test-host".into(),
        zone: LocalZone::Utc,
    }
}

pub async fn start(
    cfg: &ServeConfig,
    engine: Arc<dyn Engine>,
    outputs: Vec<Box<dyn Output>>,
) -> Running {
    let plan = cfg.settings.plan(engine.rules());
    let ctx = EvalContext {
        engine,
        plan,
        format: format(cfg.settings.json_output),
    };
    let server = Server::start(cfg, ctx, outputs)
        .await
        .expect("server starts");
    let addrs = server.local_addrs().to_vec();
    let metrics = server.metrics();
    let trigger = server.trigger();
    let done = tokio::spawn(server.run());
    Running {
        addrs,
        metrics,
        trigger,
        done,
    }
}

/// Starts a server with the verb engine (create, delete) and one collecting output.
pub async fn start_verb_server(extra: &[&str]) -> (Running, Collect) {
    let out = Collect::default();
    let r = start_alerting_on(&["create", "delete"], out.clone(), extra).await;
    (r, out)
}

/// Starts a server whose one rule matches `verbs`, writing to `out` (configuration overrides `extra`).
pub async fn start_alerting_on(verbs: &[&str], out: Collect, extra: &[&str]) -> Running {
    start(
        &config(extra),
        Arc::new(VerbEngine::new(verbs)),
        vec![Box::new(out)],
    )
    .await
}

/// One audit event as JSON text.
pub fn event(verb: &str, id: usize) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps","verb":"{verb}","user":{{"username":"alice"}},"objectRef":{{"resource":"configmaps","namespace":"default","name":"c{id}"}},"responseStatus":{{"code":201}},"requestReceivedTimestamp":"2024-01-02T03:04:05.000001Z","stageTimestamp":"2024-01-02T03:04:05.100001Z"}}"#
    )
}

pub fn event_list(events: &[String]) -> String {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        events.join(",")
    )
}

/// A response as the test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Sends one HTTP/1.1 request over `io`.
pub async fn request_over(
    io: impl Io,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    request_over(tcp, method, path, headers, body).await
}

pub async fn post_json(addr: SocketAddr, path: &str, body: &str) -> Reply {
    request(
        addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        body,
    )
    .await
}

/// Reads a counter or gauge from the /metrics text.
pub async fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let text = request(addr, "GET", "/metrics", &[], "").await.body;
    text.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|v| v.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    })
}

/// A fresh scratch folder for one test (`name` tells tests apart).
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kaudit-svc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A test certificate authority made with rcgen.
pub struct Ca {
    pub pem: String,
    pub issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

pub fn ca(name: &str) -> Ca {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate for `name` signed by `ca`: (certificate PEM, key PEM).
pub fn leaf(ca: &Ca, name: &str, usage: rcgen::ExtendedKeyUsagePurpose) -> (String, String) {
    use rcgen::{CertificateParams, KeyPair};
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}
