//! The load: N keep-alive HTTP/1.1 connections, each posting EventList batches back to back until a
//! request count or a deadline is reached.

use crate::batches::Batches;
use crate::target::Target;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{header, Request};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub struct LoadConfig {
    pub target: Target,
    pub connections: usize,
    pub max_requests: u64,
    pub duration: Duration,
    /// One batch round trip longer than this counts as a failure and closes the connection.
    pub request_timeout: Duration,
    /// Pause before re-sending a batch the server refused with 503 (its queue is full). Short on
    /// purpose: the run measures sustained capacity, so the server must never sit idle.
    pub busy_backoff: Duration,
    /// 503s tolerated for one batch before it counts as failed.
    pub max_busy_retries: u32,
}

#[derive(Default)]
pub struct LoadReport {
    pub ok: u64,
    pub failed: u64,
    /// 503 answers (back-pressure), each followed by a re-send of the same batch.
    pub busy: u64,
    pub events: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    pub first_error: Option<String>,
}

impl LoadReport {
    fn merge(&mut self, other: LoadReport) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.busy += other.busy;
        self.events += other.events;
        self.bytes += other.bytes;
        self.latencies.extend(other.latencies);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

pub async fn run(cfg: LoadConfig, batches: Arc<Batches>) -> LoadReport {
    let next = Arc::new(AtomicU64::new(0));
    let cfg = Arc::new(cfg);
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let mut tasks = Vec::new();
    for _ in 0..cfg.connections.max(1) {
        let (cfg, batches, next) = (cfg.clone(), batches.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            connection(&cfg, &batches, &next, deadline).await
        }));
    }
    let mut report = LoadReport::default();
    for t in tasks {
        match t.await {
            Ok(r) => report.merge(r),
            Err(e) => {
                report.failed += 1;
                report
                    .first_error
                    .get_or_insert(format!("load task failed: {e}"));
            }
        }
    }
    report.elapsed = start.elapsed();
    report
}

async fn connection(
    cfg: &LoadConfig,
    batches: &Batches,
    next: &AtomicU64,
    deadline: Instant,
) -> LoadReport {
    let mut report = LoadReport::default();
    let fail = |report: &mut LoadReport, msg: String| {
        report.failed += 1;
        report.first_error.get_or_insert(msg);
    };
    let stream = match TcpStream::connect(cfg.target.addr).await {
        Ok(s) => s,
        Err(e) => {
            fail(&mut report, format!("connect {}: {e}", cfg.target.addr));
            return report;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = match http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await {
        Ok(x) => x,
        Err(e) => {
            fail(&mut report, format!("handshake: {e}"));
            return report;
        }
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= cfg.max_requests || Instant::now() >= deadline {
            break;
        }
        let k = (i % batches.bodies.len() as u64) as usize;
        let (body, events) = (batches.bodies[k].clone(), batches.events[k]);
        let len = body.len();
        let mut busy_retries = 0;
        loop {
            // Latency is per accepted POST (what the API server waits for); 503s are counted apart.
            let t0 = Instant::now();
            let req = Request::post(cfg.target.path.as_str())
                .header(header::HOST, cfg.target.authority.as_str())
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()));
            let req = match req {
                Ok(r) => r,
                Err(e) => {
                    fail(&mut report, format!("building request: {e}"));
                    return report;
                }
            };
            match tokio::time::timeout(cfg.request_timeout, round_trip(&mut sender, req)).await {
                Ok(Ok(Answer::Accepted)) => {
                    report.latencies.push(t0.elapsed());
                    report.ok += 1;
                    report.events += events as u64;
                    report.bytes += len as u64;
                    break;
                }
                Ok(Ok(Answer::Busy)) if busy_retries < cfg.max_busy_retries => {
                    report.busy += 1;
                    busy_retries += 1;
                    tokio::time::sleep(cfg.busy_backoff).await;
                }
                Ok(Ok(Answer::Busy)) => {
                    fail(
                        &mut report,
                        format!("still 503 after {busy_retries} retries"),
                    );
                    return report;
                }
                Ok(Err(e)) => {
                    fail(&mut report, e);
                    return report;
                }
                Err(_) => {
                    fail(
                        &mut report,
                        format!("no response within {:?}", cfg.request_timeout),
                    );
                    return report;
                }
            }
        }
    }
    report
}

enum Answer {
    Accepted,
    /// 503: the server's queue is full; the batch was not taken.
    Busy,
}

async fn round_trip(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Result<Answer, String> {
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("response body: {e}"))?;
    if status.is_success() {
        Ok(Answer::Accepted)
    } else if status == hyper::StatusCode::SERVICE_UNAVAILABLE {
        Ok(Answer::Busy)
    } else {
        let text = String::from_utf8_lossy(&body.to_bytes())
            .chars()
            .take(200)
            .collect::<String>();
        Err(format!("HTTP {status}: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target;
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper::Response;
    use std::convert::Infallible;
    use std::sync::atomic::AtomicUsize;
    use tokio::net::TcpListener;

    fn config(port: u16, max_requests: u64) -> LoadConfig {
        LoadConfig {
            target: target::parse(&format!("http://127.0.0.1:{port}/k8s-audit")).unwrap(),
            connections: 2,
            max_requests,
            duration: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
            busy_backoff: Duration::from_millis(1),
            max_busy_retries: 10,
        }
    }

    fn corpus() -> Arc<Batches> {
        Arc::new(Batches::from_json_lines(
            b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n",
            2,
        ))
    }

    #[tokio::test]
    async fn posts_the_requested_number_of_batches_to_the_bare_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(crate::server::serve(listener, Duration::from_secs(10)));
        let report = run(config(port, 5), corpus()).await;
        assert_eq!(
            (report.ok, report.failed, report.busy),
            (5, 0, 0),
            "{:?}",
            report.first_error
        );
        // Batches alternate 2 and 1 events: requests 0..5 carry 2+1+2+1+2 events in some order.
        assert_eq!(report.events, 8);
        assert_eq!(report.latencies.len(), 5);
    }

    #[tokio::test]
    async fn busy_answers_are_retried_and_errors_stop_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let n = seen.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let _ = req.into_body().collect().await;
                            // Two 503s, then 200s, then a 500 that must end the run with a failure.
                            let status = match n {
                                0 | 1 => 503,
                                2..=4 => 200,
                                _ => 500,
                            };
                            let mut r = Response::new(Full::new(Bytes::from_static(b"nope")));
                            *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let mut cfg = config(port, 100);
        cfg.connections = 1;
        let report = run(cfg, corpus()).await;
        assert_eq!(report.busy, 2);
        assert_eq!(report.ok, 3);
        assert_eq!(report.failed, 1);
        assert!(
            report
                .first_error
                .as_deref()
                .is_some_and(|e| e.contains("500")),
            "{:?}",
            report.first_error
        );
    }
}
