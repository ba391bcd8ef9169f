//! `syslog_output`: each alert as one message to the local syslog socket, as Falco does it.
//!
//! Falco calls glibc's `syslog(priority, "%s", line)` without `openlog`, so what reaches `/dev/log` is
//! glibc's local format: `<PRI>Mmm dd hh:mm:ss IDENT: LINE` — facility `user` (1), severity from the rule
//! priority (Falco's priorities are syslog's severities: emergency 0 ... debug 7, so PRI = 8 + severity),
//! the local time without year or host name, the program's short name as the tag and no PID. glibc sends
//! it as one datagram on a `SOCK_DGRAM` unix socket and falls back to `SOCK_STREAM` (message ended by a NUL
//! byte) when the socket is a stream socket; after a failed send it reconnects once. We do the same.

use super::{Alert, Output};
use kaudit_engine::fields::time::{civil, local_offset_s};
use kaudit_frontend::ir::Priority;
use std::io::{self, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The local syslog socket.
pub const DEV_LOG: &str = "/dev/log";

/// `LOG_USER`, glibc's facility when `openlog` was not called.
const FACILITY_USER: u8 = 1;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

enum Conn {
    Datagram(UnixDatagram),
    Stream(UnixStream),
}

pub struct SyslogOutput {
    path: PathBuf,
    tag: String,
    conn: Option<Conn>,
    buf: Vec<u8>,
}

impl SyslogOutput {
    /// Connects lazily, at the first alert: a missing syslog daemon is an output failure (counted and
    /// logged), not a startup error, as with Falco.
    pub fn new(path: impl AsRef<Path>) -> SyslogOutput {
        SyslogOutput {
            path: path.as_ref().to_path_buf(),
            tag: program_name(),
            conn: None,
            buf: Vec::with_capacity(1024),
        }
    }

    fn connect(&self) -> io::Result<Conn> {
        let d = UnixDatagram::unbound()?;
        match d.connect(&self.path) {
            Ok(()) => Ok(Conn::Datagram(d)),
            // The socket is a stream socket (some syslog daemons listen that way).
            Err(e) if e.raw_os_error() == Some(EPROTOTYPE) => {
                Ok(Conn::Stream(UnixStream::connect(&self.path)?))
            }
            Err(e) => Err(e),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let res = match self.conn.as_mut() {
            Some(Conn::Datagram(d)) => d.send(&self.buf).map(|_| ()),
            Some(Conn::Stream(s)) => {
                // Stream sockets need a message separator: glibc ends each message with a NUL.
                s.write_all(&self.buf).and_then(|()| s.write_all(&[0]))
            }
            None => Err(io::Error::other("syslog socket not connected")),
        };
        if res.is_err() {
            self.conn = None;
        }
        res
    }
}

impl Output for SyslogOutput {
    fn name(&self) -> &str {
        "syslog"
    }

    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        self.buf.clear();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let offset = local_offset_s((now / 1_000_000_000) as i64);
        write_header(&mut self.buf, alert.priority, now, offset, &self.tag);
        self.buf.extend_from_slice(&alert.line);
        // The daemon may have restarted (its socket replaced): reconnect once, as glibc does.
        self.send().or_else(|_| self.send())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `<PRI>Mmm dd hh:mm:ss TAG: ` for an alert of `priority` at `ns` (UTC) shown at `offset_s`.
fn write_header(out: &mut Vec<u8>, priority: Priority, ns: u64, offset_s: i64, tag: &str) {
    let c = civil(ns, offset_s);
    let month = MONTHS
        .get(c.month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    let _ = write!(
        out,
        "<{}>{} {:>2} {:02}:{:02}:{:02} {}: ",
        FACILITY_USER * 8 + severity(priority),
        month,
        c.day,
        c.hour,
        c.min,
        c.sec,
        tag
    );
}

/// Falco's priorities are numbered as syslog severities.
fn severity(p: Priority) -> u8 {
    Priority::ALL.iter().position(|q| *q == p).unwrap_or(7) as u8
}

/// glibc's default tag: the short name of the program (`program_invocation_short_name`).
fn program_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(Path::new)
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "kaudit".into())
}

/// `EPROTOTYPE` on Linux: connecting a datagram socket to a stream socket.
const EPROTOTYPE: i32 = 91;

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_704_164_645_123_456_789; // 2024-01-02T03:04:05.123456789Z

    fn header(p: Priority, offset: i64) -> String {
        let mut b = Vec::new();
        write_header(&mut b, p, T, offset, "kaudit");
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn header_is_glibcs_local_format() {
        // user facility (8) + severity: Warning is 4, Emergency 0, Debug 7.
        assert_eq!(header(Priority::Warning, 0), "<12>Jan  2 03:04:05 kaudit: ");
        assert_eq!(
            header(Priority::Emergency, 0),
            "<8>Jan  2 03:04:05 kaudit: "
        );
        assert_eq!(header(Priority::Debug, 0), "<15>Jan  2 03:04:05 kaudit: ");
        // Local time: five hours west is the previous day.
        assert_eq!(
            header(Priority::Critical, -5 * 3600),
            "<10>Jan  1 22:04:05 kaudit: "
        );
    }

    fn temp_socket(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kaudit-syslog-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("log.sock");
        let _ = std::fs::remove_file(&p);
        p
    }

    fn alert(line: &str, priority: Priority) -> Alert {
        Alert {
            rule: "r".into(),
            priority,
            line: line.as_bytes().to_vec(),
            json: false,
        }
    }

    /// `<PRI>Mmm dd hh:mm:ss TAG: ` parsed back: (PRI, TAG, rest).
    fn parse(msg: &str) -> (u8, String, String) {
        let (pri, rest) = msg[1..].split_once('>').unwrap();
        assert!(MONTHS.contains(&&rest[..3]), "{msg}");
        let rest = &rest[16..]; // "Mmm dd hh:mm:ss "
        let (tag, line) = rest.split_once(": ").unwrap();
        (pri.parse().unwrap(), tag.to_string(), line.to_string())
    }

    #[test]
    fn one_datagram_per_alert_on_a_real_socket_and_reconnects_after_a_restart() {
        let path = temp_socket("dgram");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut out = SyslogOutput::new(&path);
        out.write(&alert(
            "10:00:00.000000000: Critical one",
            Priority::Critical,
        ))
        .unwrap();
        out.write(&alert("{\"rule\":\"two\"}", Priority::Informational))
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = rx.recv(&mut buf).unwrap();
        let (pri, tag, line) = parse(std::str::from_utf8(&buf[..n]).unwrap());
        assert_eq!(pri, 8 + 2);
        assert_eq!(tag, program_name());
        assert_eq!(
            line, "10:00:00.000000000: Critical one",
            "no trailing newline"
        );
        let n = rx.recv(&mut buf).unwrap();
        let (pri, _, line) = parse(std::str::from_utf8(&buf[..n]).unwrap());
        assert_eq!((pri, line.as_str()), (8 + 6, "{\"rule\":\"two\"}"));

        // The daemon restarts: a new socket at the same path.
        drop(rx);
        std::fs::remove_file(&path).unwrap();
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        out.write(&alert("three", Priority::Debug)).unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(parse(std::str::from_utf8(&buf[..n]).unwrap()).2, "three");
    }

    #[test]
    fn a_stream_socket_gets_nul_terminated_messages() {
        use std::io::Read;
        let path = temp_socket("stream");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut out = SyslogOutput::new(&path);
        out.write(&alert("a", Priority::Warning)).unwrap();
        out.write(&alert("b", Priority::Warning)).unwrap();
        drop(out);
        let (mut s, _) = l.accept().unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        let msgs: Vec<&str> = all.split_terminator('\0').collect();
        assert_eq!(msgs.len(), 2, "{all:?}");
        assert_eq!(parse(msgs[1]).2, "b");
    }

    #[test]
    fn no_syslog_daemon_is_an_error_per_alert() {
        let mut out = SyslogOutput::new(temp_socket("none"));
        assert!(out.write(&alert("x", Priority::Warning)).is_err());
    }
}
