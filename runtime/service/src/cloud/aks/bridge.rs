//! A loopback TLS bridge for the Event Hubs AMQP connection.
//!
//! Azure's Event Hubs crate can open TLS itself only through rustls's default crypto provider (aws-lc,
//! a C library this project keeps out of its static build, see deny.toml). Built without TLS, it is
//! given this bridge as its "custom endpoint" (the SDK's AMQP-proxy option): it connects in plain AMQP
//! to a listener on 127.0.0.1, and each connection is carried to `<namespace>:5671` over rustls with the
//! `ring` provider and the system's root certificates, the TLS stack of the rest of kaudit. The bridge
//! adds nothing to the stream (the SDK authenticates inside it), and listens on loopback only.

use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// The AMQP-over-TLS port of Event Hubs.
pub const AMQPS_PORT: u16 = 5671;

pub struct TlsBridge {
    pub local: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for TlsBridge {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The client configuration: ring, the system's roots, AMQP's ALPN-less TLS.
pub fn client_config() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for c in found.certs {
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        return Err("no usable root certificates in the system store".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl TlsBridge {
    /// Listens on an ephemeral loopback port; every connection goes to `host:port` over TLS.
    pub async fn start(
        host: &str,
        port: u16,
        config: rustls::ClientConfig,
    ) -> Result<TlsBridge, String> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| format!("'{host}' is not a host name"))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("TLS bridge: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let connector = TlsConnector::from(Arc::new(config));
        let host = host.to_string();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((inner, _)) = listener.accept().await else {
                    continue;
                };
                let (connector, name, host) = (connector.clone(), name.clone(), host.clone());
                tokio::spawn(async move {
                    if let Err(e) = carry(inner, &host, port, connector, name).await {
                        tracing::warn!(host = %host, error = %e, "Event Hubs TLS connection ended");
                    }
                });
            }
        });
        Ok(TlsBridge { local, accept })
    }
}

async fn carry(
    mut inner: TcpStream,
    host: &str,
    port: u16,
    connector: TlsConnector,
    name: ServerName<'static>,
) -> std::io::Result<()> {
    let tcp = TcpStream::connect((host, port)).await?;
    let _ = tcp.set_nodelay(true);
    let _ = inner.set_nodelay(true);
    let mut tls = connector.connect(name, tcp).await?;
    tokio::io::copy_bidirectional(&mut inner, &mut tls).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Bytes written to the bridge arrive at a TLS server that checks the name, and its answer comes
    /// back in the clear.
    #[tokio::test]
    async fn carries_bytes_both_ways_over_verified_tls() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = ck.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let server_cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (s, _) = server.accept().await.unwrap();
            let mut tls = acceptor.accept(s).await.unwrap();
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.unwrap();
            tls.write_all(&[&buf[..], b"-ok"].concat()).await.unwrap();
            tls.shutdown().await.unwrap();
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client_cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let bridge = TlsBridge::start("localhost", port, client_cfg)
            .await
            .unwrap();
        assert!(bridge.local.ip().is_loopback());
        let mut c = TcpStream::connect(bridge.local).await.unwrap();
        c.write_all(b"AMQP").await.unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"AMQP-ok");
    }
}
