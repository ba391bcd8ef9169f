//! The http output against a local receiver: Falco's JSON body, Content-Type, retries on 5xx with backoff,
//! no retry on other 4xx, and the bounded buffer that drops (and counts) when the receiver stalls.

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
use kaudit_service::config::HttpOutputConfig;
use kaudit_service::outputs::http::HttpOutput;
use kaudit_service::outputs::{self, Alert, Output};
use kaudit_service::server::metrics::Metrics;
use kaudit_service::server::pipeline::EvalContext;
use kaudit_service::server::Server;
use server_support::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Received {
    content_type: String,
    user_agent: String,
    body: String,
    at: Instant,
}

/// A receiver answering with `statuses` in turn (the last one repeats), optionally stalling each answer.
async fn receiver(statuses: Vec<u16>, stall: Duration) -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (g, count, statuses) = (g.clone(), count.clone(), statuses.clone());
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
                        let (content_type, user_agent) = (h("content-type"), h("user-agent"));
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        g.lock().unwrap().push(Received {
                            content_type,
                            user_agent,
                            body: String::from_utf8_lossy(&body).into_owned(),
                            at: Instant::now(),
                        });
                        tokio::time::sleep(stall).await;
                        let n = count.fetch_add(1, Ordering::SeqCst);
                        let status = statuses.get(n).or(statuses.last()).copied().unwrap_or(200);
                        let mut resp = hyper::Response::new(Full::new(Bytes::from_static(b"")));
                        *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (addr, got)
}

fn http_cfg(addr: SocketAddr, retries: u32, buffer: usize, timeout: Duration) -> HttpOutputConfig {
    HttpOutputConfig {
        url: format!("http://{addr}/falco"),
        user_agent: "falcosecurity/falco".into(),
        timeout,
        max_retries: retries,
        buffer_size: buffer,
        insecure: false,
        ca_files: vec![],
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_alerts_are_posted_as_falco_json_and_retried_after_a_5xx() {
    let (raddr, got) = receiver(vec![503, 200], Duration::ZERO).await;
    let cfg = config(&[
        "json_output=true",
        "http_output.enabled=true",
        &format!("http_output.url=http://{raddr}/falco"),
    ]);
    let metrics = Arc::new(Metrics::default());
    let outs = outputs::build(&cfg.outputs, cfg.settings.json_output, &metrics).unwrap();
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

    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one 503, then the retry: {got:?}");
    assert_eq!(got[0].body, got[1].body);
    assert!(
        got[1].at.duration_since(got[0].at) >= Duration::from_millis(90),
        "backoff before the retry"
    );
    assert_eq!(got[1].content_type, "application/json");
    assert_eq!(got[1].user_agent, "falcosecurity/falco");
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
    let (raddr, got) = receiver(vec![500], Duration::ZERO).await;
    let metrics = Arc::new(Metrics::default());
    let mut out = HttpOutput::start(
        &http_cfg(raddr, 2, 10, Duration::from_secs(2)),
        true,
        metrics.clone(),
    )
    .unwrap();
    out.write(&alert("{\"a\":1}")).unwrap();
    tokio::task::spawn_blocking(move || out.close(Instant::now() + Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.lock().unwrap().len(), 3, "first try + 2 retries");
    assert_eq!(metrics.output_count("http", "failed"), 1);

    let (raddr, got) = receiver(vec![400], Duration::ZERO).await;
    let metrics = Arc::new(Metrics::default());
    let mut out = HttpOutput::start(
        &http_cfg(raddr, 5, 10, Duration::from_secs(2)),
        false,
        metrics.clone(),
    )
    .unwrap();
    out.write(&alert("text line")).unwrap();
    tokio::task::spawn_blocking(move || out.close(Instant::now() + Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "a 400 is final");
    assert_eq!(got[0].content_type, "text/plain");
    assert_eq!(got[0].body, "text line");
    assert_eq!(metrics.output_count("http", "failed"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_receiver_fills_the_buffer_and_drops_are_counted() {
    let (raddr, _got) = receiver(vec![200], Duration::from_millis(300)).await;
    let metrics = Arc::new(Metrics::default());
    let mut out = HttpOutput::start(
        &http_cfg(raddr, 0, 2, Duration::from_secs(5)),
        true,
        metrics.clone(),
    )
    .unwrap();
    let t0 = Instant::now();
    for i in 0..10 {
        out.write(&alert(&format!("{{\"n\":{i}}}"))).unwrap();
    }
    assert!(
        t0.elapsed() < Duration::from_millis(200),
        "writes must not wait for the receiver"
    );
    let dropped = metrics.output_count("http", "dropped");
    assert!(
        (7..=8).contains(&dropped),
        "buffer of 2 (+1 in flight) out of 10: dropped {dropped}"
    );
    tokio::task::spawn_blocking(move || out.close(Instant::now() + Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(metrics.output_count("http", "sent") + dropped, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_times_out_and_is_counted() {
    // A port nothing listens on (bound, then closed).
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let metrics = Arc::new(Metrics::default());
    let mut out = HttpOutput::start(
        &http_cfg(addr, 1, 10, Duration::from_millis(500)),
        true,
        metrics.clone(),
    )
    .unwrap();
    out.write(&alert("{}")).unwrap();
    tokio::task::spawn_blocking(move || out.close(Instant::now() + Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(metrics.output_count("http", "failed"), 1);
    assert_eq!(metrics.output_count("http", "sent"), 0);
}
