//! The http output against local receivers: Falco's JSON body and Content-Type, retries on 5xx with backoff,
//! no retry on other 4xx, timeouts retried `max_consecutive_timeouts` times, URL credentials sent as basic
//! authentication (never in Host), pooled connections, a hung receiver that never stalls evaluation, and
//! https with a CA file, a CA directory and client certificates (mTLS), with certificates from rcgen.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kaudit_frontend::ir::Priority;
use kaudit_service::config::{HttpCa, HttpOutputConfig};
use kaudit_service::outputs::fanout::{OutputSet, QueueSettings};
use kaudit_service::outputs::http::HttpOutput;
use kaudit_service::outputs::queue::FullPolicy;
use kaudit_service::outputs::{self, Alert, Output};
use kaudit_service::server::metrics::Metrics;
use kaudit_service::server::pipeline::EvalContext;
use kaudit_service::server::Server;
use rcgen::ExtendedKeyUsagePurpose;
use server_support::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Received {
    content_type: String,
    user_agent: String,
    host: String,
    authorization: String,
    body: String,
    at: Instant,
}

/// What a receiver saw: requests, and how many TCP connections it accepted.
#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
}

impl Seen {
    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

/// A receiver answering with `statuses` in turn (the last one repeats), each answer after `stall`; with
/// `tls`, over TLS with that server configuration.
async fn receiver_with(
    statuses: Vec<u16>,
    stall: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Seen::default();
    let count = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            s.connections.fetch_add(1, Ordering::SeqCst);
            let (g, count, statuses) = (s.requests.clone(), count.clone(), statuses.clone());
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (g, count, statuses) = (g.clone(), count.clone(), statuses.clone());
                    async move {
                        let h = |k: &str| {
                            req.headers()
                                .get(k)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string()
                        };
                        let got = Received {
                            content_type: h("content-type"),
                            user_agent: h("user-agent"),
                            host: h("host"),
                            authorization: h("authorization"),
                            body: String::new(),
                            at: Instant::now(),
                        };
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        g.lock().unwrap().push(Received {
                            body: String::from_utf8_lossy(&body).into_owned(),
                            ..got
                        });
                        tokio::time::sleep(stall).await;
                        let n = count.fetch_add(1, Ordering::SeqCst);
                        let status = statuses.get(n).or(statuses.last()).copied().unwrap_or(200);
                        let mut resp = hyper::Response::new(Full::new(Bytes::from_static(b"")));
                        *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                    Some(a) => {
                        if let Ok(tls) = a.accept(tcp).await {
                            let _ = http.serve_connection(TokioIo::new(tls), svc).await;
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn receiver(statuses: Vec<u16>, stall: Duration) -> (SocketAddr, Seen) {
    receiver_with(statuses, stall, None).await
}

fn http_cfg(url: String, retries: u32, timeout: Duration) -> HttpOutputConfig {
    HttpOutputConfig {
        timeout,
        max_retries: retries,
        ..HttpOutputConfig::for_url(&url)
    }
}

fn alert(line: &str) -> Alert {
    Alert {
        rule: "r".into(),
        priority: Priority::Warning,
        line: line.as_bytes().to_vec(),
        json: true,
    }
}

/// Runs blocking output calls off the test's runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_alerts_are_posted_as_falco_json_and_retried_after_a_5xx() {
    let (raddr, seen) = receiver(vec![503, 200], Duration::ZERO).await;
    let cfg = config(&[
        "json_output=true",
        "http_output.enabled=true",
        &format!("http_output.url=http://{raddr}/falco"),
    ]);
    let metrics = Arc::new(Metrics::default());
    let outs = outputs::build(&cfg.outputs, cfg.settings.json_output).unwrap();
    assert_eq!(outs.len(), 1, "stdout is off in tests; only http");
    let engine = Arc::new(VerbEngine::new(&["create"]));
    let plan = cfg
        .settings
        .plan(kaudit_engine::engine::Engine::rules(engine.as_ref()));
    let ctx = EvalContext {
        engine,
        plan,
        format: format(true),
    };
    let server = Server::start_with_metrics(&cfg, ctx, outs, metrics.clone())
        .await
        .unwrap();
    let a = server.local_addrs()[0];
    let trigger = server.trigger();
    let done = tokio::spawn(server.run());

    assert_eq!(
        post_json(a, "/k8s_audit", &event("create", 1)).await.status,
        200
    );
    trigger.fire();
    let summary = tokio::time::timeout(Duration::from_secs(20), done)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.alerts, 1);

    let got = seen.requests();
    assert_eq!(got.len(), 2, "one 503, then the retry: {got:?}");
    assert_eq!(got[0].body, got[1].body);
    assert!(
        got[1].at.duration_since(got[0].at) >= Duration::from_millis(90),
        "backoff before the retry"
    );
    assert_eq!(got[1].content_type, "application/json");
    assert_eq!(got[1].user_agent, "falcosecurity/falco");
    assert_eq!(got[1].host, raddr.to_string());
    let v: serde_json::Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(v["rule"], "verb=create");
    assert_eq!(v["priority"], "Warning");
    assert_eq!(v["source"], "k8s_audit");
    assert_eq!(v["hostname"], "test-host");
    assert_eq!(v["tags"], serde_json::json!(["test"]));
    assert_eq!(v["time"], "2024-01-02T03:04:05.100001000Z");
    assert_eq!(v["output"], "03:04:05.100001000: Warning saw create");
    assert_eq!(metrics.output_count("http", "sent"), 1);
    assert_eq!(metrics.output_count("http", "failed"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_5xx_fails_after_the_retries_and_4xx_is_not_retried() {
    let (raddr, seen) = receiver(vec![500], Duration::ZERO).await;
    let mut out = HttpOutput::new(
        &http_cfg(format!("http://{raddr}/"), 2, Duration::from_secs(2)),
        true,
    )
    .unwrap();
    let r = blocking(move || out.write(&alert("{\"a\":1}"))).await;
    assert!(r.unwrap_err().to_string().contains("500"));
    assert_eq!(seen.requests().len(), 3, "first try + 2 retries");

    let (raddr, seen) = receiver(vec![400], Duration::ZERO).await;
    let mut out = HttpOutput::new(
        &http_cfg(format!("http://{raddr}/"), 5, Duration::from_secs(2)),
        false,
    )
    .unwrap();
    let r = blocking(move || out.write(&alert("text line"))).await;
    assert!(r.is_err());
    let got = seen.requests();
    assert_eq!(got.len(), 1, "a 400 is final");
    assert_eq!(got[0].content_type, "text/plain");
    assert_eq!(got[0].body, "text line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_post_is_tried_max_consecutive_timeouts_more_times() {
    let (raddr, seen) = receiver(vec![200], Duration::from_secs(30)).await;
    let cfg = HttpOutputConfig {
        max_consecutive_timeouts: 2,
        ..http_cfg(format!("http://{raddr}/"), 0, Duration::from_millis(200))
    };
    let mut out = HttpOutput::new(&cfg, true).unwrap();
    let t0 = Instant::now();
    let r = blocking(move || out.write(&alert("{}"))).await;
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(seen.requests().len(), 3, "first try + 2 after timeouts");
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_credentials_are_basic_auth_and_connections_are_reused() {
    let (raddr, seen) = receiver(vec![200], Duration::ZERO).await;
    let url = format!("http://falco:s%40cret@{raddr}/in");
    let mut out = HttpOutput::new(&http_cfg(url, 0, Duration::from_secs(2)), true).unwrap();
    blocking(move || {
        for i in 0..5 {
            out.write(&alert(&format!("{{\"n\":{i}}}"))).unwrap();
        }
    })
    .await;
    let got = seen.requests();
    assert_eq!(got.len(), 5);
    for r in &got {
        assert_eq!(r.host, raddr.to_string(), "no credentials in Host");
        // base64("falco:s@cret")
        assert_eq!(r.authorization, "Basic ZmFsY286c0BjcmV0");
    }
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        1,
        "five POSTs over one pooled connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_receiver_never_stalls_evaluation_and_shutdown_counts_the_rest() {
    // Accepts connections and never answers.
    let (raddr, _seen) = receiver(vec![200], Duration::from_secs(3600)).await;
    let metrics = Arc::new(Metrics::default());
    let http = HttpOutput::new(
        &http_cfg(format!("http://{raddr}/"), 3, Duration::from_secs(30)),
        true,
    )
    .unwrap();
    let set = OutputSet::start(
        vec![Box::new(http)],
        QueueSettings {
            capacity: 4,
            policy: FullPolicy::Drop,
            buffered: false,
        },
        &[],
        Arc::new(AtomicBool::new(false)),
        metrics.clone(),
    )
    .unwrap();
    // The first alert is taken by the output's thread and hangs in its POST.
    set.send(alert("{\"n\":0}"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    for i in 1..100 {
        set.send(alert(&format!("{{\"n\":{i}}}")));
    }
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "sending must not wait for the receiver"
    );
    // 4 wait in the queue, the other 95 were dropped.
    assert_eq!(metrics.output_count("http", "dropped"), 95);
    let t1 = Instant::now();
    let lost = blocking(move || set.close_all(Instant::now() + Duration::from_millis(500))).await;
    assert!(
        t1.elapsed() < Duration::from_secs(2),
        "close respects its deadline"
    );
    assert_eq!(lost, 5, "4 queued + 1 in flight not delivered");
    assert_eq!(metrics.output_count("http", "dropped"), 100);
    assert_eq!(metrics.output_count("http", "sent"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_fails_after_the_retries() {
    // A port nothing listens on (bound, then closed).
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let mut out = HttpOutput::new(
        &http_cfg(format!("http://{addr}/"), 1, Duration::from_millis(500)),
        true,
    )
    .unwrap();
    let t0 = Instant::now();
    assert!(blocking(move || out.write(&alert("{}"))).await.is_err());
    assert!(t0.elapsed() >= Duration::from_millis(90), "one backoff");
}

// ---- TLS ----

/// A TLS server configuration for `localhost` that requires a client certificate signed by `client_ca`.
fn mtls_server(server_ca: &Ca, client_ca: &Ca) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = leaf(server_ca, "localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(client_ca.pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
        )
        .unwrap();
    Arc::new(cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_client_certificates_from_a_ca_file_or_a_ca_directory() {
    let dir = temp_dir("mtls");
    let (server_ca, client_ca) = (ca("test server CA"), ca("test client CA"));
    let (addr, seen) = receiver_with(
        vec![200],
        Duration::ZERO,
        Some(mtls_server(&server_ca, &client_ca)),
    )
    .await;
    let ca_file = dir.join("server-ca.pem");
    std::fs::write(&ca_file, &server_ca.pem).unwrap();
    let ca_dir = dir.join("certs");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::write(ca_dir.join("server-ca.crt"), &server_ca.pem).unwrap();
    std::fs::write(ca_dir.join("README"), "not a certificate").unwrap();
    let (ccert, ckey) = leaf(&client_ca, "kaudit", ExtendedKeyUsagePurpose::ClientAuth);
    let (cert_file, key_file) = (dir.join("client.crt"), dir.join("client.key"));
    std::fs::write(&cert_file, ccert).unwrap();
    std::fs::write(&key_file, ckey).unwrap();

    let url = format!("https://localhost:{}/falco", addr.port());
    let with = |ca: HttpCa, mtls: bool| HttpOutputConfig {
        ca,
        mtls: mtls.then(|| (cert_file.clone(), key_file.clone())),
        ..http_cfg(url.clone(), 0, Duration::from_secs(5))
    };
    let file_ca = HttpCa::File {
        key: "ca_cert",
        path: ca_file.clone(),
    };
    let cases = [
        (
            with(file_ca.clone(), true),
            true,
            "CA file + client certificate",
        ),
        (
            with(HttpCa::Dir(ca_dir.clone()), true),
            true,
            "CA directory + client certificate",
        ),
        (with(file_ca, false), false, "no client certificate"),
        (
            HttpOutputConfig {
                insecure: false,
                ..with(
                    HttpCa::File {
                        key: "ca_cert",
                        path: {
                            let other = dir.join("other-ca.pem");
                            std::fs::write(&other, ca("unrelated CA").pem).unwrap();
                            other
                        },
                    },
                    true,
                )
            },
            false,
            "server certificate from an untrusted CA",
        ),
    ];
    let mut expected_posts = 0;
    for (cfg, ok, what) in cases {
        let mut out = HttpOutput::new(&cfg, true).unwrap();
        let r = blocking(move || out.write(&alert("{\"tls\":true}"))).await;
        assert_eq!(r.is_ok(), ok, "{what}: {r:?}");
        expected_posts += usize::from(ok);
        assert_eq!(seen.requests().len(), expected_posts, "{what}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_tls_files_are_startup_errors() {
    let dir = temp_dir("bad");
    let url = "https://localhost:1/".to_string();
    let missing = HttpOutputConfig {
        ca: HttpCa::File {
            key: "ca_cert",
            path: dir.join("missing.pem"),
        },
        ..http_cfg(url.clone(), 0, Duration::from_secs(1))
    };
    let e = HttpOutput::new(&missing, true).err().unwrap();
    assert!(e.starts_with("http_output.ca_cert"), "{e}");
    let empty_dir = HttpOutputConfig {
        ca: HttpCa::Dir(dir.clone()),
        ..http_cfg(url.clone(), 0, Duration::from_secs(1))
    };
    let e = HttpOutput::new(&empty_dir, true).err().unwrap();
    assert!(e.starts_with("http_output.ca_path"), "{e}");
    std::fs::write(dir.join("ca.pem"), ca("x").pem).unwrap();
    let no_key = HttpOutputConfig {
        ca: HttpCa::Dir(dir.clone()),
        mtls: Some((dir.join("ca.pem"), dir.join("nokey.pem"))),
        ..http_cfg(url, 0, Duration::from_secs(1))
    };
    let e = HttpOutput::new(&no_key, true).err().unwrap();
    assert!(e.starts_with("http_output.client_key"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
