//! `http_output`: POST each alert to a URL (e.g. falcosidekick), as Falco does: the body is the alert line
//! (Falco's JSON object with `json_output: true`, the text line otherwise) with the matching Content-Type.
//!
//! Delivery runs on its own thread and single-threaded tokio runtime behind a bounded buffer
//! (`buffer_size`): a slow or unreachable receiver never blocks detection; alerts that do not fit are
//! dropped and counted. Failed POSTs (connection errors, timeouts, 5xx, 408, 429) are retried
//! `max_retries` times with exponential backoff; other 4xx answers are final failures.

use super::{Alert, Output};
use crate::config::HttpOutputConfig;
use crate::server::metrics::Metrics;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Cap of the exponential backoff between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

pub struct HttpOutput {
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    done: std::sync::mpsc::Receiver<()>,
    metrics: Arc<Metrics>,
}

impl HttpOutput {
    pub fn start(
        cfg: &HttpOutputConfig,
        json: bool,
        metrics: Arc<Metrics>,
    ) -> Result<HttpOutput, String> {
        let target = Target::new(cfg, json)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(cfg.buffer_size.max(1));
        let (done_tx, done) = std::sync::mpsc::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("http_output: cannot start its runtime: {e}"))?;
        let m = metrics.clone();
        let (timeout, retries) = (cfg.timeout, cfg.max_retries);
        std::thread::Builder::new()
            .name("kaudit-http-output".into())
            .spawn(move || {
                rt.block_on(deliver_all(target, rx, timeout, retries, m));
                let _ = done_tx.send(());
            })
            .map_err(|e| format!("http_output: cannot start its thread: {e}"))?;
        Ok(HttpOutput {
            tx: Some(tx),
            done,
            metrics,
        })
    }
}

impl Output for HttpOutput {
    fn name(&self) -> &str {
        "http"
    }

    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        let Some(tx) = &self.tx else {
            return Err(io::Error::other("http output closed"));
        };
        match tx.try_send(Bytes::copy_from_slice(&alert.line)) {
            Ok(()) => Ok(()),
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                self.metrics.output("http", "dropped");
                tracing::warn!(rule = %alert.rule, "http output buffer full: alert dropped");
                Ok(())
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                Err(io::Error::other("http output stopped"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn close(&mut self, deadline: Instant) -> io::Result<()> {
        self.tx = None;
        let left = deadline.saturating_duration_since(Instant::now());
        match self.done.recv_timeout(left) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Ok(()),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(io::Error::other(
                "http output: pending alerts not delivered before the shutdown deadline",
            )),
        }
    }
}

/// Where and how to POST.
struct Target {
    host: String,
    port: u16,
    authority: String,
    path: String,
    tls: Option<tokio_rustls::TlsConnector>,
    user_agent: String,
    content_type: &'static str,
}

impl Target {
    fn new(cfg: &HttpOutputConfig, json: bool) -> Result<Target, String> {
        let uri: Uri = cfg
            .url
            .parse()
            .map_err(|e| format!("http_output.url: '{}': {e}", cfg.url))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .ok_or_else(|| format!("http_output.url: '{}' has no host", cfg.url))?;
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        let tls = if https {
            Some(tls_connector(cfg)?)
        } else {
            None
        };
        Ok(Target {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            authority: uri
                .authority()
                .map_or(host.to_string(), |a| a.as_str().to_string()),
            path,
            tls,
            user_agent: cfg.user_agent.clone(),
            content_type: if json {
                "application/json"
            } else {
                "text/plain"
            },
        })
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn connect(t: &Target) -> io::Result<SendRequest<Full<Bytes>>> {
    let tcp = TcpStream::connect((t.host.as_str(), t.port)).await?;
    tcp.set_nodelay(true)?;
    let stream: Box<dyn Stream> = match &t.tls {
        None => Box::new(tcp),
        Some(connector) => {
            let name = rustls::pki_types::ServerName::try_from(t.host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            Box::new(connector.connect(name, tcp).await?)
        }
    };
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One POST; the connection is kept for the next one when the receiver allows it.
async fn post(
    t: &Target,
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    body: Bytes,
) -> io::Result<StatusCode> {
    let reusable = conn.as_ref().is_some_and(|c| !c.is_closed());
    if !reusable {
        *conn = Some(connect(t).await?);
    }
    let sender = conn
        .as_mut()
        .ok_or_else(|| io::Error::other("no connection"))?;
    sender.ready().await.map_err(io::Error::other)?;
    let req = Request::post(&t.path)
        .header(hyper::header::HOST, &t.authority)
        .header(hyper::header::USER_AGENT, &t.user_agent)
        .header(hyper::header::CONTENT_TYPE, t.content_type)
        .body(Full::new(body))
        .map_err(io::Error::other)?;
    let resp = sender.send_request(req).await.map_err(io::Error::other)?;
    let status = resp.status();
    // Read the answer to the end so the connection can be reused.
    let _ = resp.into_body().collect().await;
    Ok(status)
}

async fn deliver_all(
    t: Target,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
    timeout: Duration,
    retries: u32,
    metrics: Arc<Metrics>,
) {
    let mut conn = None;
    while let Some(body) = rx.recv().await {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let result = tokio::time::timeout(timeout, post(&t, &mut conn, body.clone())).await;
            let retryable = match result {
                Ok(Ok(s)) if s.is_success() => {
                    metrics.output("http", "sent");
                    break;
                }
                Ok(Ok(s)) => {
                    conn = None;
                    let retry = s.is_server_error()
                        || s == StatusCode::TOO_MANY_REQUESTS
                        || s == StatusCode::REQUEST_TIMEOUT;
                    tracing::warn!(
                        status = s.as_u16(),
                        attempt,
                        "http output: receiver answered with an error"
                    );
                    retry
                }
                Ok(Err(e)) => {
                    conn = None;
                    tracing::warn!(error = %e, attempt, "http output: POST failed");
                    true
                }
                Err(_) => {
                    conn = None;
                    tracing::warn!(attempt, "http output: POST timed out");
                    true
                }
            };
            if !retryable || attempt >= retries {
                metrics.output("http", "failed");
                tracing::error!(attempts = attempt + 1, "http output: alert not delivered");
                break;
            }
            attempt += 1;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

fn tls_connector(cfg: &HttpOutputConfig) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::ClientConfig;
    let provider = crate::server::tls::provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("http_output: TLS setup: {e}"))?;
    let config = if cfg.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(insecure::AcceptAnyServerCert(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let files = if cfg.ca_files.is_empty() {
            vec![std::path::PathBuf::from(
                "/etc/ssl/certs/ca-certificates.crt",
            )]
        } else {
            cfg.ca_files.clone()
        };
        for f in &files {
            let store =
                crate::server::tls::load_roots(f).map_err(|e| format!("http_output: {e}"))?;
            roots.roots.extend(store.roots);
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// `http_output.insecure: true`: the server certificate is not checked (the handshake signatures still are).
mod insecure {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use std::sync::Arc;

    #[derive(Debug)]
    pub struct AcceptAnyServerCert(pub Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyServerCert {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
