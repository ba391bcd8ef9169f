//! Abuse suite (issue "Hard to blind"): the real `kaudit serve`, attacked from 127.0.0.2 while a legitimate
//! client on 127.0.0.1 (the API server's role) measures. Each attack is bounded in time; the figures are
//! printed (`--nocapture`) so a baseline build can be measured with `KAUDIT_ABUSE_BIN=...`.

mod abuse_support;

use abuse_support::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const IDLE_CONNECTIONS: usize = 1_100;
const PROBES: usize = 16;

fn token_opt() -> String {
    format!("kaudit.auth.bearer_token={TOKEN}")
}

/// Holds `n` attacker connections, each having sent `greeting` (possibly nothing).
fn hold_connections(k: &Kaudit, n: usize, greeting: &[u8]) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        match attacker_connect(k.addr()) {
            Ok(mut s) => {
                let _ = s.write_all(greeting);
                held.push(s);
            }
            Err(e) => eprintln!("attacker connect failed: {e}"),
        }
    }
    eprintln!("attacker holds {} connections", held.len());
    held
}

fn idle_attack(name: &str, greeting: &[u8]) {
    let _serial = serial();
    raise_fd_limit();
    let k = Kaudit::start(name, &[token_opt()]);
    let held = hold_connections(&k, IDLE_CONNECTIONS, greeting);
    std::thread::sleep(Duration::from_millis(300));
    let ok = probe_round(&k, PROBES, Some(TOKEN));
    eprintln!("{name}: {ok} of {PROBES} probes answered within 1.5 s");
    drop(held);
    assert_eq!(ok, PROBES, "the legitimate client was starved");
}

#[test]
fn idle_connections_from_one_address_do_not_starve_another() {
    idle_attack("idle-h1", b"");
}

#[test]
fn idle_http2_connections_with_pings_do_not_starve_another() {
    // Client preface, an empty SETTINGS frame and one PING (the attacker would send one a minute).
    let mut greeting = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    greeting.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    greeting.extend_from_slice(&[0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    idle_attack("idle-h2", &greeting);
}

/// Eight attacker addresses with 150 idle connections each (1,200: more than the 1,024 slots, while each
/// stays within its per-address share): the reserved slots still admit the legitimate client.
#[test]
fn idle_connections_from_many_addresses_do_not_starve_another() {
    let _serial = serial();
    raise_fd_limit();
    let k = Kaudit::start("idle-many", &[token_opt()]);
    let mut held = Vec::new();
    for host in 2..10 {
        for _ in 0..150 {
            if let Ok(s) = connect_from(std::net::Ipv4Addr::new(127, 0, 0, host), k.addr()) {
                held.push(s);
            }
        }
    }
    eprintln!("attackers hold {} connections", held.len());
    std::thread::sleep(Duration::from_millis(300));
    let ok = probe_round(&k, PROBES, Some(TOKEN));
    eprintln!("idle-many: {ok} of {PROBES} probes answered within 1.5 s");
    drop(held);
    assert_eq!(ok, PROBES, "the legitimate client was starved");
}

const STALLED_UPLOADS: usize = 300;
const DECLARED: usize = 12_582_912;

/// 300 uploads declaring 12 MiB that stop one byte short; the legitimate POST must still be served and
/// the server's peak memory stay under 256 MiB.
fn stalled_uploads(name: &str, opts: &[String], token: Option<&str>) {
    let _serial = serial();
    raise_fd_limit();
    let k = Kaudit::start(name, opts);
    let body = Arc::new(vec![b'x'; DECLARED - 1]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..STALLED_UPLOADS {
        let (body, stop, addr) = (body.clone(), stop.clone(), k.addr());
        writers.push(std::thread::spawn(move || {
            let Ok(mut s) = attacker_connect(addr) else {
                return;
            };
            let _ = s.set_write_timeout(Some(Duration::from_secs(4)));
            let head = format!(
                "POST /k8s-audit HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {DECLARED}\r\n\r\n"
            );
            if s.write_all(head.as_bytes()).is_ok() {
                let _ = s.write_all(&body);
            }
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }));
    }
    // Let the uploads arrive (or be refused).
    std::thread::sleep(Duration::from_secs(5));
    memory_verdict(name, &k, token, || {
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.join();
        }
    });
}

/// While a memory attack holds: the legitimate POST must get 200 and the server's peak RSS stay under
/// 256 MiB. `stop_attack` ends the attack once both are measured.
fn memory_verdict(name: &str, k: &Kaudit, token: Option<&str>, stop_attack: impl FnOnce()) {
    let ev = event("create", 1);
    let legit = post_audit(k, token, ev.as_bytes(), Duration::from_secs(5));
    let peak = k.peak_rss();
    stop_attack();
    eprintln!(
        "{name}: peak RSS {:.1} MiB; legitimate POST: {:?}",
        peak as f64 / (1 << 20) as f64,
        legit.as_ref().map(|a| (a.status, a.took))
    );
    assert!(peak < 256 << 20, "peak RSS {peak} bytes");
    assert_eq!(legit.expect("legitimate POST answered").status, 200);
}

#[test]
fn stalled_uploads_without_a_token_stay_within_memory() {
    stalled_uploads("stalled-notoken", &[], None);
}

#[test]
fn stalled_uploads_with_a_token_stay_within_memory() {
    stalled_uploads("stalled-token", &[token_opt()], Some(TOKEN));
}

/// Reads one HTTP/1.1 response (head + Content-Length body) and returns its status, or None when the
/// connection ended.
fn read_response(s: &mut TcpStream) -> Option<u16> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).ok()? == 0 {
            return None;
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    s.read_exact(&mut body).ok()?;
    head.split(' ').nth(1)?.parse().ok()
}

#[test]
fn bad_tokens_and_dropped_events_do_not_flood_the_log() {
    let _serial = serial();
    let k = Kaudit::start("logflood", &[token_opt()]);
    let baseline = k.stderr_lines().len();
    // 10,000 requests with a wrong token, on keep-alive connections from the attacker's address.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let addr = k.addr();
            std::thread::spawn(move || {
                let req = b"POST /k8s-audit HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
                let mut sent = 0;
                let mut conn: Option<TcpStream> = None;
                while sent < 2_500 {
                    let s = match conn.as_mut() {
                        Some(s) => s,
                        None => conn.insert(attacker_connect(addr).expect("connect")),
                    };
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    if s.write_all(req).is_ok() && read_response(s) == Some(401) {
                        sent += 1;
                    } else {
                        conn = None;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // One body of 200,000 events without stageTimestamp, each with a user name that tries to forge a line.
    // (~55 bytes each: the body stays under webhookMaxBatchSize.)
    let item = r#"{"kind":"Event","user":{"username":"x\n00:00 Critical"}}"#;
    let body = event_list(&vec![item.to_string(); 200_000]);
    assert!(body.len() < 12_582_912);
    let a = post_audit(&k, Some(TOKEN), body.as_bytes(), Duration::from_secs(30))
        .expect("the big body is answered");
    assert_eq!(a.status, 200, "{}", a.body);
    let metrics = k.metrics();
    std::thread::sleep(Duration::from_millis(500));
    let lines = k.stderr_lines().len() - baseline;
    eprintln!("log flood: {lines} stderr lines for 10,000 bad tokens + 200,000 dropped events");
    // The counters keep the full numbers.
    assert!(
        metrics.contains("kaudit_requests_refused_total{reason=\"unauthorized\"} 10000\n"),
        "{metrics}"
    );
    assert!(metrics.contains("kaudit_events_dropped_total{reason=\"invalid\"} 200000\n"));
    assert!(lines < 200, "{lines} stderr lines");
    // At exit, one line per cause tells how many lines were held back: all but the first 10 of each.
    let mut k = k;
    k.signal("TERM");
    assert!(k.wait_exit(Duration::from_secs(20)).is_some());
    std::thread::sleep(Duration::from_millis(200));
    let log = k.stderr_lines();
    for (cause, held_back) in [("unauthorized", 9_990), ("event_dropped", 199_990)] {
        assert!(
            log.iter().any(|l| l.contains(&format!("cause=\"{cause}\""))
                && l.contains(&format!("suppressed={held_back}"))),
            "no summary line for {cause}: {log:#?}"
        );
    }
    assert!(
        log.iter()
            .all(|l| !l.contains('\u{1b}') && !l.contains("Critical")),
        "attacker text reached the log raw"
    );
    assert!(log.len() - baseline < 200);
}

/// Clients that send a body one byte a second, plus an http receiver that accepts and never answers.
#[test]
fn shutdown_with_slow_bodies_and_a_hung_receiver_is_bounded() {
    let _serial = serial();
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_url = format!("http://{}/", hung.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let hung_stop = stop.clone();
    let receiver = std::thread::spawn(move || {
        hung.set_nonblocking(true).unwrap();
        let mut held = Vec::new();
        while !hung_stop.load(Ordering::Relaxed) {
            if let Ok((s, _)) = hung.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let budget_ms = 5_000;
    let mut k = Kaudit::start(
        "shutdown",
        &[
            format!("kaudit.shutdown_timeout_ms={budget_ms}"),
            "http_output.enabled=true".into(),
            format!("http_output.url={hung_url}"),
        ],
    );
    // Alerts for the hung receiver.
    let evs: Vec<String> = (0..50).map(|i| event("create", i)).collect();
    let a = post_audit(
        &k,
        None,
        event_list(&evs).as_bytes(),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(a.status, 200);
    let slow: Vec<_> = (0..20)
        .map(|_| {
            let (addr, stop) = (k.addr(), stop.clone());
            std::thread::spawn(move || {
                let Ok(mut s) = attacker_connect(addr) else {
                    return;
                };
                let _ = s.write_all(b"POST /k8s-audit HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{");
                while !stop.load(Ordering::Relaxed) && s.write_all(b" ").is_ok() {
                    std::thread::sleep(Duration::from_millis(500));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    k.signal("TERM");
    let exited = k.wait_exit(Duration::from_millis(budget_ms + 10_000));
    let took = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in slow {
        let _ = t.join();
    }
    let _ = receiver.join();
    eprintln!("shutdown: exit after {took:?} with a {budget_ms} ms budget: {exited:?}");
    assert!(exited.is_some(), "still running {took:?} after SIGTERM");
    assert!(
        took <= Duration::from_millis(budget_ms + 3_000),
        "exit took {took:?}"
    );
    // The first 50 alerts reached the file output all the same.
    assert_eq!(k.alert_lines().len(), 50);
}

#[test]
fn a_second_sigterm_exits_at_once() {
    let _serial = serial();
    let mut k = Kaudit::start(
        "second-signal",
        &["kaudit.shutdown_timeout_ms=30000".into()],
    );
    // A slow body keeps the graceful shutdown busy.
    let mut s = attacker_connect(k.addr()).unwrap();
    s.write_all(b"POST /k8s-audit HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    k.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        k.child.try_wait().unwrap().is_none(),
        "the first SIGTERM waits for the open request"
    );
    let t0 = Instant::now();
    k.signal("TERM");
    let st = k.wait_exit(Duration::from_secs(5));
    eprintln!("second SIGTERM: exit after {:?}: {st:?}", t0.elapsed());
    assert!(st.is_some() && t0.elapsed() < Duration::from_secs(1));
}

#[test]
fn an_event_list_with_bad_items_keeps_its_valid_events() {
    let _serial = serial();
    let mut k = Kaudit::start("badlist", &[]);
    let mut items: Vec<String> = (0..10).map(|i| event("create", i)).collect();
    items.insert(3, "42".into());
    items.insert(
        8,
        r#"{"kind":"Event","verb":"create","auditID":"no-time"}"#.into(),
    );
    let a = post_audit(
        &k,
        None,
        event_list(&items).as_bytes(),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!((200..300).contains(&a.status), "{a:?}");
    k.signal("TERM");
    assert!(k.wait_exit(Duration::from_secs(20)).is_some());
    let mut ids: Vec<String> = k
        .alert_lines()
        .iter()
        .filter_map(|l| l.split("created id=").nth(1))
        .filter_map(|r| r.split_whitespace().next())
        .map(str::to_string)
        .collect();
    ids.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("id-{i}")).collect();
    want.sort();
    assert_eq!(ids, want);
}

/// With 256 descriptors in all, a flood of connections must not take the descriptors the outputs need:
/// the connection cap is fitted under the limit, and a file output that opens its file for every alert
/// (keep_alive false) still gets every alert.
#[test]
fn a_low_open_files_limit_is_fitted_and_alerts_are_not_lost() {
    let _serial = serial();
    raise_fd_limit();
    let mut k = Kaudit::start_with_nofile(
        "nofile",
        &["file_output.keep_alive=false".into()],
        Some(256),
    );
    let held = hold_connections(&k, 300, b"");
    std::thread::sleep(Duration::from_millis(300));
    let metrics = k.metrics();
    let mut accepted = 0;
    for i in 0..20 {
        let ev = event("create", i);
        let a = post_audit(&k, None, ev.as_bytes(), Duration::from_secs(5));
        if a.is_ok_and(|a| a.status == 200) {
            accepted += 1;
        }
    }
    drop(held);
    k.signal("TERM");
    assert!(k.wait_exit(Duration::from_secs(20)).is_some());
    let alerts = k.alert_lines().len();
    eprintln!("nofile 256: {accepted} of 20 POSTs accepted, {alerts} alerts written");
    assert!(
        metrics.contains("kaudit_connections_max 192\n"),
        "{metrics}"
    );
    assert_eq!(accepted, 20);
    assert_eq!(alerts, 20);
}

/// A request body that sends `len` bytes in 64 KiB frames, then never ends (a stalled upload).
struct StalledBody {
    left: usize,
}

impl hyper::body::Body for StalledBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Pending;
        }
        let n = self.left.min(64 * 1024);
        self.left -= n;
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes::Bytes::from(
            vec![b'x'; n],
        )))))
    }
}

/// One HTTP/2 connection from the attacker's address with 200 streams, each declaring 12 MiB and
/// stopping one byte short (hyper's client keeps to flow control, so the server reads what it grants).
#[test]
fn stalled_http2_streams_stay_within_memory() {
    let _serial = serial();
    let k = Kaudit::start("stalled-h2", &[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = k.addr();
    let attack = rt.spawn(async move {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let tcp = sock.connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tcp),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let mut streams = Vec::new();
        for _ in 0..200 {
            let req = hyper::Request::post(format!("http://{addr}/k8s-audit"))
                .header("content-type", "application/json")
                .header("content-length", DECLARED.to_string())
                .body(StalledBody { left: DECLARED - 1 })
                .unwrap();
            let mut s = sender.clone();
            streams.push(tokio::spawn(async move { s.send_request(req).await }));
        }
        // Held until the test ends (the runtime is dropped).
        std::future::pending::<()>().await;
        drop(streams);
    });
    std::thread::sleep(Duration::from_secs(5));
    memory_verdict("stalled-h2", &k, None, || {
        attack.abort();
        rt.shutdown_timeout(Duration::from_millis(100));
    });
}
