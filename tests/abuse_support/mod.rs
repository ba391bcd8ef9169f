//! Support of the abuse suite: the real `kaudit serve` process on 127.0.0.1 (ephemeral port, temp rules,
//! alerts to a file), an attacker that connects from 127.0.0.2, and a legitimate client on 127.0.0.1 that
//! measures how long each answer takes. Plain blocking sockets: the attacks are about sockets, not speed.
#![allow(dead_code)] // not every test uses every helper

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The binary under test; `KAUDIT_ABUSE_BIN` points the suite at another build (to measure a baseline).
pub fn binary() -> String {
    std::env::var("KAUDIT_ABUSE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kaudit").to_string())
}

pub const TOKEN: &str = "s3cret-token";

/// One rule: every `create` alerts, naming the event's auditID.
const RULES: &str = "- rule: Any create\n  desc: every create\n  condition: ka.verb = create\n  output: created id=%ka.auditid user=%ka.user.name\n  priority: WARNING\n  source: k8s_audit\n";

/// The attacks run one at a time (they measure time and memory): `cargo test` threads take this lock,
/// nextest runs them in the `abuse` group of one (.config/nextest.toml).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Thousands of sockets in one test process.
pub fn raise_fd_limit() {
    kaudit_service::server::fd_limit::raise_nofile_limit();
}

pub fn event(verb: &str, id: usize) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps","verb":"{verb}","user":{{"username":"alice"}},"objectRef":{{"resource":"configmaps","namespace":"default","name":"c{id}"}},"responseStatus":{{"code":201}},"requestReceivedTimestamp":"2024-01-02T03:04:05.000001Z","stageTimestamp":"2024-01-02T03:04:05.100001Z"}}"#
    )
}

pub fn event_list(items: &[String]) -> String {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{}]}}"#,
        items.join(",")
    )
}

/// A running `kaudit serve`, killed when dropped.
pub struct Kaudit {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub alerts: PathBuf,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Kaudit {
    /// Starts the server with `opts` (`-o key=value`) after the suite's own.
    pub fn start(name: &str, opts: &[String]) -> Kaudit {
        Kaudit::start_with_nofile(name, opts, None)
    }

    /// Like `start`, under a hard open-files limit of `nofile` (set by the shell before exec).
    pub fn start_with_nofile(name: &str, opts: &[String], nofile: Option<u32>) -> Kaudit {
        let dir = std::env::temp_dir().join(format!("kaudit-abuse-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rules = dir.join("rules.yaml");
        std::fs::write(&rules, RULES).unwrap();
        let alerts = dir.join("alerts.txt");
        let mut all = vec![
            "webserver.listen_address=127.0.0.1".to_string(),
            "webserver.listen_port=0".into(),
            "stdout_output.enabled=false".into(),
            "file_output.enabled=true".into(),
            "file_output.keep_alive=true".into(),
            format!("file_output.filename={}", alerts.display()),
        ];
        all.extend(opts.iter().cloned());
        let mut cmd = match nofile {
            None => Command::new(binary()),
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(binary());
                c
            }
        };
        cmd.arg("serve").arg("-r").arg(&rules);
        for o in &all {
            cmd.arg("-o").arg(o);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kaudit serve starts");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let keep = lines.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line
                    .split("listening for audit events addr=127.0.0.1:")
                    .nth(1)
                {
                    let port: u16 = rest.split_whitespace().next().unwrap().parse().unwrap();
                    let _ = tx.send(port);
                }
                keep.lock().unwrap().push(line);
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server did not start");
        Kaudit {
            child,
            port,
            dir,
            alerts,
            stderr: lines,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("process status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmHWM");
        kib * 1024
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `GET /metrics` (the Prometheus text), or "" when it is not answered within 5 s.
    pub fn metrics(&self) -> String {
        request(
            self.addr(),
            "GET",
            "/metrics",
            None,
            b"",
            Duration::from_secs(5),
        )
        .map(|a| a.body)
        .unwrap_or_default()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn alert_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.alerts)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Kaudit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP connection from 127.0.0.2 (the attacker's address).
pub fn attacker_connect(to: SocketAddr) -> std::io::Result<TcpStream> {
    connect_from(Ipv4Addr::new(127, 0, 0, 2), to)
}

/// A TCP connection from `from` (a loopback address).
pub fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(from, 0)).into())?;
    s.connect_timeout(&to.into(), Duration::from_secs(2))?;
    Ok(s.into())
}

/// An answer as the legitimate client saw it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub took: Duration,
}

/// One request on a new connection from 127.0.0.1 (`Connection: close`), given `limit` in total.
pub fn request(
    to: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    limit: Duration,
) -> std::io::Result<Answer> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect_timeout(&to, limit)?;
    s.set_read_timeout(Some(limit))?;
    s.set_write_timeout(Some(limit))?;
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: kaudit\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let took = t0.elapsed();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    Ok(Answer { status, body, took })
}

/// An audit POST from the legitimate client.
pub fn post_audit(
    k: &Kaudit,
    token: Option<&str>,
    body: &[u8],
    limit: Duration,
) -> std::io::Result<Answer> {
    request(k.addr(), "POST", "/k8s-audit", token, body, limit)
}

/// The legitimate client's probe round: `n` requests alternating `GET /healthz` and an authenticated
/// audit POST (one `create` event each), each given 1.5 s. Returns how many were answered in time (2xx),
/// and prints each answer.
pub fn probe_round(k: &Kaudit, n: usize, token: Option<&str>) -> usize {
    let limit = Duration::from_millis(1500);
    let mut ok = 0;
    for i in 0..n {
        let r = if i % 2 == 0 {
            request(k.addr(), "GET", "/healthz", None, b"", limit)
        } else {
            let ev = event("create", 100_000 + i);
            post_audit(k, token, ev.as_bytes(), limit)
        };
        match &r {
            Ok(a) if (200..300).contains(&a.status) && a.took <= limit => ok += 1,
            _ => {}
        }
        eprintln!("probe {i}: {:?}", r.as_ref().map(|a| (a.status, a.took)));
    }
    ok
}

/// Removes `dir` (for scratch folders made by a test itself).
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
