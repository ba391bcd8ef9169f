//! The URL the load goes to, restricted to loopback: this tool must never send traffic off the machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// Value of the Host header.
    pub authority: String,
    /// Path and query.
    pub path: String,
}

/// Parses `http://HOST:PORT[/path]` where HOST is a loopback IP literal or `localhost`.
pub fn parse(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("{url}: a port is required"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{url}: bad port {port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse()
            .map_err(|_| format!("{url}: host must be an IP literal or localhost"))?
    };
    if !ip.is_loopback() {
        return Err(format!(
            "{url}: refusing a non-loopback address; load goes to 127.0.0.1 only"
        ));
    }
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        authority: authority.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_only() {
        let t = parse("http://127.0.0.1:8765/k8s-audit").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8765".parse().unwrap());
        assert_eq!(t.path, "/k8s-audit");
        assert_eq!(parse("http://localhost:80").unwrap().path, "/");
        assert!(parse("http://[::1]:9/x").is_ok());
        assert!(parse("http://10.0.0.1:80/")
            .unwrap_err()
            .contains("non-loopback"));
        assert!(parse("http://example.com:80/").is_err());
        assert!(parse("https://127.0.0.1:80/").is_err());
        assert!(parse("http://127.0.0.1/").is_err());
    }
}
