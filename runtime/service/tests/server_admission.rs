//! Admission before cost, in process over 127.0.0.x: the per-address connection cap, the body-byte
//! budget (503 before the body is read, per address and global), the header deadline for connections that
//! never send a request, and the metrics that count them.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_support;

use server_support::*;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from another loopback address (another client as far as budgets go).
async fn connect_from(src: [u8; 4], to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::from((src, 0))).unwrap();
    s.connect(to).await.unwrap()
}

/// Sends a request head declaring `len` body bytes (and no body) and returns the answer's head.
async fn head_only(s: &mut TcpStream, len: usize) -> String {
    let head = format!(
        "POST /k8s_audit HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered before the body was sent")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_fit_the_budget_is_refused_before_it_is_read() {
    let (srv, out) = start_verb_server(&[
        "kaudit.max_body_bytes=30000",
        "kaudit.max_body_bytes_per_address=20000",
    ])
    .await;
    let a = srv.addr();
    // The attacker's first upload takes 15,000 of its 20,000 bytes and stalls.
    let mut holder = connect_from([127, 0, 0, 2], a).await;
    holder
        .write_all(b"POST /k8s_audit HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 15000\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Its second one does not fit its share: 503 + Retry-After without a body byte sent.
    let mut second = connect_from([127, 0, 0, 2], a).await;
    let r = head_only(&mut second, 10_000).await;
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(r.to_ascii_lowercase().contains("retry-after: 1"), "{r}");
    // A request larger than a whole per-address share can never fit: 413, not an endless retry.
    let mut huge = connect_from([127, 0, 0, 2], a).await;
    let r = head_only(&mut huge, 25_000).await;
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    // Another address still has room (the global budget has 15,000 left).
    let r = post_json(a, "/k8s_audit", &event("create", 1)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Another attacker address takes 15,000 more; now the global budget is the limit.
    let mut other = connect_from([127, 0, 0, 3], a).await;
    other
        .write_all(b"POST /k8s_audit HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 14000\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = connect_from([127, 0, 0, 4], a).await;
    let r = head_only(&mut third, 2_000).await;
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    let m = srv.metrics.render();
    assert!(
        m.contains("kaudit_requests_refused_total{reason=\"over_budget\"} 2\n"),
        "{m}"
    );
    assert!(m.contains("kaudit_body_bytes_in_use 29000\n"), "{m}");
    // Released when the stalled uploads go away.
    drop((holder, other));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(srv
        .metrics
        .render()
        .contains("kaudit_body_bytes_in_use 0\n"));
    srv.stop().await;
    assert_eq!(out.lines().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_connection_share_is_closed_at_once_and_others_are_served() {
    let (srv, out) = start_verb_server(&["kaudit.max_connections_per_address=3"]).await;
    let a = srv.addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from([127, 0, 0, 2], a).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = connect_from([127, 0, 0, 2], a).await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf))
        .await
        .expect("closed at once");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let r = post_json(a, "/k8s_audit", &event("create", 1)).await;
    assert_eq!(r.status, 200);
    let m = srv.metrics.render();
    assert!(
        m.contains("kaudit_connections_closed_total{reason=\"per_address\"} 1\n"),
        "{m}"
    );
    drop(held);
    srv.stop().await;
    assert_eq!(out.lines().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_request_are_cut_at_the_header_deadline() {
    let (srv, _out) = start_verb_server(&["kaudit.header_timeout_ms=300"]).await;
    let a = srv.addr();
    // HTTP/2 preface + SETTINGS + PING: hyper answers the PING, but no request ever starts.
    let mut h2 = TcpStream::connect(a).await.unwrap();
    let mut greeting = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    greeting.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    greeting.extend_from_slice(&[0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    h2.write_all(&greeting).await.unwrap();
    let silent = TcpStream::connect(a).await.unwrap();
    let t0 = std::time::Instant::now();
    let mut sink = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), h2.read_to_end(&mut sink))
        .await
        .expect("the HTTP/2 connection was not cut")
        .ok();
    assert!(t0.elapsed() >= Duration::from_millis(200));
    // The silent one is cut too (kept open here, so only the deadline can end it).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = srv.metrics.render();
    assert!(
        m.contains("kaudit_connections_closed_total{reason=\"header_timeout\"} 2\n"),
        "{m}"
    );
    drop(silent);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_head_is_refused() {
    let (srv, _out) = start_verb_server(&[]).await;
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    let head = format!(
        "POST /k8s_audit HTTP/1.1\r\nhost: x\r\nx-pad: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    // The server may stop reading (and close) before the whole head is written.
    let _ = s.write_all(head.as_bytes()).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .expect("answered or closed");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    // The server is fine.
    let r = post_json(srv.addr(), "/k8s_audit", &event("create", 1)).await;
    assert_eq!(r.status, 200);
    srv.stop().await;
}
