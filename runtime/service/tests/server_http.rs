//! End-to-end tests of the webhook over real sockets on 127.0.0.1: body shapes, status codes, limits,
//! slow and broken clients, health and metrics.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_support;

use server_support::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventlist_array_and_single_event_bodies_are_all_evaluated() {
    let (srv, out) = start_verb_server(&[]).await;
    let a = srv.addr();
    let list = event_list(&[event("create", 1), event("get", 2), event("delete", 3)]);
    let r = post_json(a, "/k8s_audit", &list).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body.trim(),
        r#"{"accepted":3,"dropped_oversized":0,"dropped_invalid":0}"#
    );
    let r = post_json(a, "/k8s-audit", &event("create", 4)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let array = format!("[{},{}]", event("delete", 5), event("patch", 6));
    let r = post_json(a, "/k8s-audit", &array).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // An empty EventList is a valid, empty batch.
    let r = post_json(a, "/k8s_audit", &event_list(&[])).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let summary = srv.stop().await;
    assert_eq!(summary.events_queued, 6);
    assert_eq!(summary.events_evaluated, 6);
    let mut lines = out.lines();
    lines.sort();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[0].ends_with("Warning saw create"), "{lines:?}");
    assert!(lines[3].ends_with("Warning saw delete"), "{lines:?}");
    assert_eq!(summary.alerts, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_right_status_and_produce_nothing() {
    let (srv, out) =
        start_verb_server(&["kaudit.max_batch_size=4000", "kaudit.max_event_size=600"]).await;
    let a = srv.addr();
    let json = [("content-type", "application/json")];

    // Malformed JSON, and JSON that is not audit events.
    assert_eq!(
        post_json(a, "/k8s_audit", r#"{"kind":"Event","verb":"create""#)
            .await
            .status,
        400
    );
    assert_eq!(
        post_json(a, "/k8s_audit", r#"{"kind":"Pod","verb":"create"}"#)
            .await
            .status,
        400
    );
    assert_eq!(post_json(a, "/k8s_audit", "").await.status, 400);
    // One bad element makes the whole array bad (nothing of it is evaluated).
    let mixed = format!("[{},42]", event("create", 1));
    assert_eq!(post_json(a, "/k8s_audit", &mixed).await.status, 400);

    // Wrong content type, wrong method, wrong path.
    let r = request(
        a,
        "POST",
        "/k8s_audit",
        &[("content-type", "text/plain")],
        &event("create", 2),
    )
    .await;
    assert_eq!(r.status, 415);
    let r = request(a, "POST", "/k8s_audit", &[], &event("create", 3)).await;
    assert_eq!(r.status, 415);
    let r = request(a, "GET", "/k8s_audit", &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow").unwrap(), "POST");
    let r = request(a, "PUT", "/k8s-audit", &json, &event("create", 4)).await;
    assert_eq!(r.status, 405);
    assert_eq!(
        request(a, "POST", "/nope", &json, &event("create", 5))
            .await
            .status,
        404
    );
    // The content type may carry parameters.
    let r = request(
        a,
        "POST",
        "/k8s_audit",
        &[("content-type", "application/json; charset=utf-8")],
        &event("get", 6),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Bodies over webhookMaxBatchSize: 413, whether the length is declared or not.
    let big = event_list(
        &(0..12)
            .map(|i| event("create", 100 + i))
            .collect::<Vec<_>>(),
    );
    assert!(big.len() > 4000);
    assert_eq!(post_json(a, "/k8s_audit", &big).await.status, 413);
    assert_eq!(chunked_post(a, &big).await, 413);

    // Events over maxEventSize are dropped, counted and reported; the rest of the batch goes through.
    let fat = event("create", 7).replace("\"alice\"", &format!("\"{}\"", "a".repeat(700)));
    let r = post_json(a, "/k8s_audit", &event_list(&[fat, event("delete", 8)])).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body.trim(),
        r#"{"accepted":1,"dropped_oversized":1,"dropped_invalid":0}"#
    );

    assert_eq!(metric(a, "kaudit_malformed_bodies_total").await, Some(4.0));
    assert_eq!(
        metric(a, "kaudit_requests_refused_total{reason=\"content_type\"}").await,
        Some(2.0)
    );
    assert_eq!(
        metric(a, "kaudit_requests_refused_total{reason=\"method\"}").await,
        Some(2.0)
    );
    assert_eq!(
        metric(a, "kaudit_requests_refused_total{reason=\"too_large\"}").await,
        Some(2.0)
    );
    assert_eq!(
        metric(a, "kaudit_requests_refused_total{reason=\"not_found\"}").await,
        Some(1.0)
    );
    assert_eq!(
        metric(a, "kaudit_events_dropped_total{reason=\"oversized\"}").await,
        Some(1.0)
    );

    let summary = srv.stop().await;
    // Only the two accepted events (get, delete) were evaluated; only delete alerts.
    assert_eq!(summary.events_evaluated, 2);
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].ends_with("saw delete"));
}

/// A POST with a chunked body (no Content-Length); returns the status.
async fn chunked_post(a: std::net::SocketAddr, body: &str) -> u16 {
    let mut s = TcpStream::connect(a).await.unwrap();
    let head = "POST /k8s_audit HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.as_bytes().chunks(1000) {
        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
        c.extend_from_slice(chunk);
        c.extend_from_slice(b"\r\n");
        if s.write_all(&c).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics() {
    let (srv, _out) = start_verb_server(&[]).await;
    let a = srv.addr();
    let r = request(a, "GET", "/healthz", &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    assert_eq!(
        post_json(a, "/k8s_audit", &event("create", 1)).await.status,
        200
    );
    // Wait until the event has gone all the way through.
    for _ in 0..100 {
        // Evaluated, and its alert written by the output (which happens a little later).
        let sent = "kaudit_output_alerts_total{output=\"collect\",result=\"sent\"}";
        if metric(a, "kaudit_events_evaluated_total").await == Some(1.0)
            && metric(a, sent).await == Some(1.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let m = request(a, "GET", "/metrics", &[], "").await;
    assert_eq!(m.status, 200);
    assert!(m
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    for needle in [
        "kaudit_events_received_total 1\n",
        "kaudit_events_evaluated_total 1\n",
        "kaudit_queue_depth 0\n",
        "kaudit_alerts_total{rule=\"verb=create\",priority=\"Warning\"} 1\n",
        "kaudit_eval_latency_seconds_count 1\n",
        "kaudit_output_alerts_total{output=\"collect\",result=\"sent\"} 1\n",
    ] {
        assert!(m.body.contains(needle), "missing {needle:?} in\n{}", m.body);
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_vanishing_clients_are_cut_off_without_affecting_others() {
    let (srv, out) = start_verb_server(&[
        "kaudit.read_timeout_ms=1500",
        "kaudit.header_timeout_ms=1500",
    ])
    .await;
    let a = srv.addr();

    // 1. Sends half of its headers and stalls.
    let mut stalled_headers = TcpStream::connect(a).await.unwrap();
    stalled_headers
        .write_all(b"POST /k8s_audit HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // 2. Declares a body and sends only part of it, then stalls.
    let mut stalled_body = TcpStream::connect(a).await.unwrap();
    let partial = event("create", 1);
    let head = format!(
        "POST /k8s_audit HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        partial.len()
    );
    stalled_body.write_all(head.as_bytes()).await.unwrap();
    stalled_body
        .write_all(&partial.as_bytes()[..20])
        .await
        .unwrap();
    // 3. Declares a body, sends part of it and disappears.
    {
        let mut gone = TcpStream::connect(a).await.unwrap();
        gone.write_all(head.as_bytes()).await.unwrap();
        gone.write_all(&partial.as_bytes()[..30]).await.unwrap();
    }

    // Meanwhile, normal requests are served at once.
    let t0 = std::time::Instant::now();
    for i in 0..5 {
        assert_eq!(
            post_json(a, "/k8s_audit", &event("create", 10 + i))
                .await
                .status,
            200
        );
    }
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "normal requests were held up"
    );

    // The stalled clients are cut off after the read timeout.
    let mut buf = Vec::new();
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        stalled_headers.read_to_end(&mut buf),
    )
    .await;
    assert!(n.is_ok(), "stalled-header connection was not closed");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stalled_body.read_to_end(&mut buf))
        .await
        .expect("stalled-body connection was not closed")
        .ok();
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );

    let summary = srv.stop().await;
    assert_eq!(summary.events_evaluated, 5);
    assert_eq!(out.lines().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let (srv, out) = start_verb_server(&[]).await;
    let tcp = TcpStream::connect(srv.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    for i in 0..3 {
        let req = hyper::Request::post("/k8s_audit")
            .header("host", "x")
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(event(
                "delete", i,
            ))))
            .unwrap();
        sender.ready().await.unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        use http_body_util::BodyExt;
        let _ = resp.into_body().collect().await;
    }
    srv.stop().await;
    assert_eq!(out.lines().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_holds_new_clients_until_a_slot_frees() {
    let (srv, out) =
        start_verb_server(&["kaudit.max_connections=1", "kaudit.idle_timeout_ms=300"]).await;
    let a = srv.addr();
    // Takes the only slot and sends nothing. The clock starts before it connects: the server can
    // only accept it later, so its slot frees no sooner than the idle timeout from here (a clock
    // started after a sleep could start late on a loaded machine and make the wait look short).
    let t0 = std::time::Instant::now();
    let mut idle = TcpStream::connect(a).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = post_json(a, "/k8s_audit", &event("create", 1)).await;
    assert_eq!(r.status, 200);
    assert!(
        t0.elapsed() >= Duration::from_millis(290),
        "the second client was served while the slot was taken ({:?})",
        t0.elapsed()
    );
    let mut buf = Vec::new();
    let _ = idle.read_to_end(&mut buf).await;
    srv.stop().await;
    assert_eq!(out.lines().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_with_prior_knowledge_on_the_plain_port() {
    let (srv, out) = start_verb_server(&[]).await;
    let tcp = TcpStream::connect(srv.addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    // Two concurrent streams on one connection.
    let mut pending = Vec::new();
    for i in 0..2 {
        let req = hyper::Request::post(format!("http://{}/k8s_audit", srv.addr()))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(event(
                "create", i,
            ))))
            .unwrap();
        pending.push(sender.send_request(req));
    }
    for p in pending {
        let resp = p.await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), hyper::Version::HTTP_2);
    }
    srv.stop().await;
    assert_eq!(out.lines().len(), 2);
}
