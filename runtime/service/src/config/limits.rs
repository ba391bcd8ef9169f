//! The webhook's admission limits (`kaudit.*` keys): connection budgets, deadlines, HTTP/2 limits and the
//! body-byte budget. Every limit is documented with its default and metric in README "Hardening".

use super::read::Reader;
use super::tree::{ConfigError, Node};
use std::time::Duration;

/// Budgets and deadlines that keep hostile clients from exhausting the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections served at once (all addresses); further clients wait in the kernel's accept
    /// queue. Fitted to the file-descriptor limit at start.
    pub max_connections: usize,
    /// Open connections from one client address (IPv6: one /64); more are closed at once.
    pub max_connections_per_address: usize,
    /// A new connection must complete its first request head (and TLS handshake) within this time.
    pub header_timeout: Duration,
    /// A connection with no request in progress (or on which nothing arrives) is closed after this.
    pub idle_timeout: Duration,
    /// Time allowed for one whole request body.
    pub read_timeout: Duration,
    /// Request-body bytes being received plus bodies queued for evaluation (with their parse), all
    /// addresses. A request that does not fit gets 503 + Retry-After before its body is read.
    pub max_body_bytes: usize,
    /// The same budget for one client address.
    pub max_body_bytes_per_address: usize,
    /// HTTP/2: streams a client may have open on one connection.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2: interval of the server's keep-alive PINGs; a peer that does not answer within
    /// `http2_keep_alive_timeout` is disconnected.
    pub http2_keep_alive_interval: Duration,
    pub http2_keep_alive_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 1024,
            max_connections_per_address: 128,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            read_timeout: Duration::from_secs(30),
            max_body_bytes: 128 << 20,
            max_body_bytes_per_address: 64 << 20,
            http2_max_concurrent_streams: 32,
            http2_keep_alive_interval: Duration::from_secs(30),
            http2_keep_alive_timeout: Duration::from_secs(10),
        }
    }
}

/// The keys read here (under `kaudit.`).
pub const KEYS: &[&str] = &[
    "max_connections",
    "max_connections_per_address",
    "header_timeout_ms",
    "read_timeout_ms",
    "idle_timeout_ms",
    "max_body_bytes",
    "max_body_bytes_per_address",
    "http2_max_concurrent_streams",
    "http2_keep_alive_interval_ms",
    "http2_keep_alive_timeout_ms",
];

pub(super) fn read(r: &mut Reader, root: &Node) -> Result<ConnLimits, ConfigError> {
    let d = ConnLimits::default();
    let ms = |r: &mut Reader, key: &str, default: Duration| -> Result<Duration, ConfigError> {
        let v = r.usize_or(root, key, default.as_millis() as usize)?;
        Ok(Duration::from_millis(v.max(1) as u64))
    };
    let max_connections = r
        .usize_or(root, "kaudit.max_connections", d.max_connections)?
        .max(1);
    let max_body_bytes = r
        .usize_or(root, "kaudit.max_body_bytes", d.max_body_bytes)?
        .max(1);
    let limits = ConnLimits {
        max_connections,
        max_connections_per_address: r
            .usize_or(
                root,
                "kaudit.max_connections_per_address",
                d.max_connections_per_address,
            )?
            .clamp(1, max_connections),
        header_timeout: ms(r, "kaudit.header_timeout_ms", d.header_timeout)?,
        idle_timeout: ms(r, "kaudit.idle_timeout_ms", d.idle_timeout)?,
        read_timeout: ms(r, "kaudit.read_timeout_ms", d.read_timeout)?,
        max_body_bytes,
        max_body_bytes_per_address: r
            .usize_or(
                root,
                "kaudit.max_body_bytes_per_address",
                d.max_body_bytes_per_address,
            )?
            .clamp(1, max_body_bytes),
        http2_max_concurrent_streams: u32::try_from(
            r.usize_or(
                root,
                "kaudit.http2_max_concurrent_streams",
                d.http2_max_concurrent_streams as usize,
            )?
            .max(1),
        )
        .unwrap_or(u32::MAX),
        http2_keep_alive_interval: ms(
            r,
            "kaudit.http2_keep_alive_interval_ms",
            d.http2_keep_alive_interval,
        )?,
        http2_keep_alive_timeout: ms(
            r,
            "kaudit.http2_keep_alive_timeout_ms",
            d.http2_keep_alive_timeout,
        )?,
    };
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use crate::config::ServeConfig;
    use std::time::Duration;

    #[test]
    fn defaults_and_overrides() {
        let c = ServeConfig::from_sources(None, &[]).unwrap();
        assert_eq!(c.conn, super::ConnLimits::default());
        let o: Vec<String> = [
            "kaudit.max_connections=10",
            "kaudit.max_connections_per_address=50",
            "kaudit.header_timeout_ms=250",
            "kaudit.max_body_bytes=1000",
            "kaudit.max_body_bytes_per_address=2000",
            "kaudit.http2_max_concurrent_streams=4",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = ServeConfig::from_sources(None, &o).unwrap();
        // The only warning: a 1000-byte budget cannot take a 12 MiB body.
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("larger bodies get 413"));
        // Per-address budgets never exceed the global ones.
        assert_eq!(c.conn.max_connections_per_address, 10);
        assert_eq!(c.conn.max_body_bytes_per_address, 1000);
        assert_eq!(c.conn.header_timeout, Duration::from_millis(250));
        assert_eq!(c.conn.http2_max_concurrent_streams, 4);
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let e =
            ServeConfig::from_sources(None, &["kaudit.max_body_bytes=lots".into()]).unwrap_err();
        assert!(e.0.contains("kaudit.max_body_bytes"), "{e}");
    }
}
