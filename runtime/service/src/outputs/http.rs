//! `http_output`: POST each alert to a URL (e.g. falcosidekick), as Falco does: the body is the alert line
//! (Falco's JSON object with `json_output: true`, the text line otherwise) with the matching Content-Type.
//!
//! The client is hyper-util's pooled client over rustls (ring): connections are kept and reused, TLS roots
//! come from `ca_cert`, else `ca_bundle`, else the PEM files of `ca_path` (Falco's libcurl order), and
//! `mtls` presents `client_cert`/`client_key`. Credentials in the URL (`https://user:pass@host/`) become
//! an `Authorization: Basic` header, as libcurl does; they never reach the `Host` header or a log line.
//!
//! Delivery is synchronous on the output's own thread (`fanout`): the output's queue is the buffer, so a
//! slow receiver delays only this output. A POST that times out is tried again up to
//! `max_consecutive_timeouts` times (Falco's key); connection errors, 5xx, 408 and 429 are retried
//! `max_retries` times with exponential backoff; other 4xx answers are final.
//!
//! `keep_alive` is libcurl's `CURLOPT_TCP_KEEPALIVE` in Falco: TCP keep-alive probes on the connection
//! (connections are reused either way). `compress_uploads` is libcurl's `CURLOPT_TRANSFER_ENCODING` in
//! Falco, which asks the receiver for a compressed *response* and leaves the request body as is; kaudit
//! does not read response bodies, so the key changes nothing on the wire that matters and is accepted for
//! compatibility.

use super::{Alert, Output};
use crate::config::HttpOutputConfig;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Cap of the exponential backoff between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// TCP keep-alive idle time with `keep_alive: true` (libcurl's default).
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// Answers larger than this are not read to the end (the connection is then not reused).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct HttpOutput {
    /// Built on the output's thread at the first alert (a runtime must not be dropped inside another).
    rt: Option<tokio::runtime::Runtime>,
    client: Option<HttpsClient>,
    connector: HttpsConnector<HttpConnector>,
    target: Target,
    timeout: Duration,
    max_retries: u32,
    max_consecutive_timeouts: u32,
}

/// Where and how to POST.
struct Target {
    /// The URL without its user information.
    uri: Uri,
    basic_auth: Option<HeaderValue>,
    user_agent: HeaderValue,
    content_type: &'static str,
}

impl HttpOutput {
    /// Checks the URL and loads the TLS material (a bad file is a startup error).
    pub fn new(cfg: &HttpOutputConfig, json: bool) -> Result<HttpOutput, String> {
        let target = Target::new(cfg, json)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(cfg.timeout));
        if cfg.keep_alive {
            http.set_keepalive(Some(TCP_KEEPALIVE));
        }
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let connector = if target.uri.scheme_str() == Some("https") {
            builder
                .with_tls_config(tls_config(cfg)?)
                .https_only()
                .enable_http1()
                .wrap_connector(http)
        } else {
            // Plain http: the TLS configuration is never used, so the system roots need not exist.
            builder
                .with_tls_config(empty_tls_config()?)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        };
        Ok(HttpOutput {
            rt: None,
            client: None,
            connector,
            target,
            timeout: cfg.timeout,
            max_retries: cfg.max_retries,
            max_consecutive_timeouts: cfg.max_consecutive_timeouts,
        })
    }

    fn start(&mut self) -> io::Result<()> {
        if self.rt.is_none() {
            self.rt = Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?,
            );
        }
        if self.client.is_none() {
            self.client = Some(Client::builder(TokioExecutor::new()).build(self.connector.clone()));
        }
        Ok(())
    }
}

impl Output for HttpOutput {
    fn name(&self) -> &str {
        "http"
    }

    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        self.start()?;
        let (Some(rt), Some(client)) = (&self.rt, &self.client) else {
            return Err(io::Error::other("http output not started"));
        };
        let body = Bytes::copy_from_slice(&alert.line);
        rt.block_on(deliver(
            client,
            &self.target,
            body,
            self.timeout,
            self.max_retries,
            self.max_consecutive_timeouts,
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Target {
    fn new(cfg: &HttpOutputConfig, json: bool) -> Result<Target, String> {
        let bad = |why: &str| format!("http_output.url: {why}");
        // Falco strips one pair of quotes around the URL before handing it to libcurl.
        let raw = cfg.url.trim();
        let raw = ['"', '\'']
            .iter()
            .find_map(|q| raw.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)))
            .unwrap_or(raw);
        let uri: Uri = raw
            .parse()
            .map_err(|e| bad(&format!("not a valid URL: {e}")))?;
        let scheme = uri.scheme_str().unwrap_or_default();
        if scheme != "http" && scheme != "https" {
            return Err(bad("expected an http:// or https:// URL"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| bad("the URL has no host"))?
            .as_str()
            .to_string();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority.as_str()),
        };
        if hostport.is_empty() || hostport.starts_with(':') {
            return Err(bad("the URL has no host"));
        }
        let basic_auth = userinfo.map(basic_auth).transpose().map_err(|e| bad(&e))?;
        let mut parts = uri.into_parts();
        parts.authority = Some(
            hostport
                .parse()
                .map_err(|e| bad(&format!("bad host: {e}")))?,
        );
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(hyper::http::uri::PathAndQuery::from_static("/"));
        }
        let uri = Uri::from_parts(parts).map_err(|e| bad(&e.to_string()))?;
        Ok(Target {
            uri,
            basic_auth,
            user_agent: HeaderValue::from_str(&cfg.user_agent)
                .map_err(|_| "http_output.user_agent: not a valid header value".to_string())?,
            content_type: if json {
                "application/json"
            } else {
                "text/plain"
            },
        })
    }

    fn request(&self, body: Bytes) -> io::Result<Request<Full<Bytes>>> {
        let mut req = Request::post(self.uri.clone())
            .header(USER_AGENT, self.user_agent.clone())
            .header(CONTENT_TYPE, self.content_type);
        if let Some(a) = &self.basic_auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        req.body(Full::new(body)).map_err(io::Error::other)
    }
}

/// `user:password` (percent-encoded, as in URLs) as a `Basic` authorization header value.
fn basic_auth(userinfo: &str) -> Result<HeaderValue, String> {
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let plain = format!("{}:{}", percent_decode(user)?, percent_decode(pass)?);
    let mut v = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(plain)
    ))
    .map_err(|_| "bad credentials in the URL".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next(), bytes.next()];
            let hex = match hex {
                [Some(h), Some(l)] => std::str::from_utf8(&[h, l])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok()),
                _ => None,
            };
            out.push(hex.ok_or("bad percent-escape in the URL's credentials")?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| "the URL's credentials are not UTF-8".to_string())
}

/// One POST; `Ok(status)` once an answer arrived.
async fn post(client: &HttpsClient, t: &Target, body: Bytes) -> io::Result<StatusCode> {
    let resp = client
        .request(t.request(body)?)
        .await
        .map_err(io::Error::other)?;
    let status = resp.status();
    // Read a small answer to the end so that the connection goes back to the pool.
    let _ = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await;
    Ok(status)
}

/// Posts `body` with the retry policy; `Ok` once the receiver answered 2xx.
async fn deliver(
    client: &HttpsClient,
    t: &Target,
    body: Bytes,
    timeout: Duration,
    max_retries: u32,
    max_timeouts: u32,
) -> io::Result<()> {
    let mut backoff = FIRST_BACKOFF;
    let (mut errors, mut timeouts) = (0u32, 0u32);
    loop {
        let why = match tokio::time::timeout(timeout, post(client, t, body.clone())).await {
            Ok(Ok(s)) if s.is_success() => return Ok(()),
            Ok(Ok(s)) => {
                let retry = s.is_server_error()
                    || s == StatusCode::TOO_MANY_REQUESTS
                    || s == StatusCode::REQUEST_TIMEOUT;
                let why = format!("receiver answered {}", s.as_u16());
                if !retry || errors >= max_retries {
                    return Err(io::Error::other(why));
                }
                errors += 1;
                why
            }
            Ok(Err(e)) => {
                let why = format!("POST failed: {e}");
                if errors >= max_retries {
                    return Err(io::Error::other(why));
                }
                errors += 1;
                why
            }
            Err(_) => {
                // Falco retries a timed-out call up to max_consecutive_timeouts times, at once.
                if timeouts >= max_timeouts {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("POST timed out {} times", timeouts + 1),
                    ));
                }
                timeouts += 1;
                tracing::debug!(
                    attempt = timeouts,
                    "http output: POST timed out; trying again"
                );
                continue;
            }
        };
        tracing::debug!(reason = %why, attempt = errors, "http output: retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// For plain-http URLs: a client configuration with no roots (never used).
fn empty_tls_config() -> Result<rustls::ClientConfig, String> {
    Ok(client_builder()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}

fn client_builder(
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>, String> {
    rustls::ClientConfig::builder_with_provider(crate::server::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("http_output: TLS setup: {e}"))
}

fn tls_config(cfg: &HttpOutputConfig) -> Result<rustls::ClientConfig, String> {
    let builder = client_builder()?;
    let builder = if cfg.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(insecure::AcceptAnyServerCert(
                crate::server::tls::provider(),
            )))
    } else {
        builder.with_root_certificates(load_trust(cfg)?)
    };
    match &cfg.mtls {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let certs = pem_certs(cert)
                .map_err(|e| format!("http_output.client_cert: {e}"))?
                .into_iter()
                .collect();
            let text = std::fs::read(key).map_err(|e| {
                format!(
                    "http_output.client_key: {}: cannot read: {e}",
                    key.display()
                )
            })?;
            use rustls::pki_types::pem::PemObject;
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
                format!(
                    "http_output.client_key: {}: no private key: {e}",
                    key.display()
                )
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("http_output: client certificate: {e}"))
        }
    }
}

/// The roots that verify the receiver: `ca_cert`, else `ca_bundle`, else every PEM file in `ca_path`.
fn load_trust(cfg: &HttpOutputConfig) -> Result<rustls::RootCertStore, String> {
    use crate::config::HttpCa;
    match &cfg.ca {
        HttpCa::File { key, path } => {
            crate::server::tls::load_roots(path).map_err(|e| format!("http_output.{key}: {e}"))
        }
        HttpCa::Dir(dir) => {
            let mut roots = rustls::RootCertStore::empty();
            let entries = std::fs::read_dir(dir)
                .map_err(|e| format!("http_output.ca_path: {}: cannot read: {e}", dir.display()))?;
            let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            paths.sort();
            for p in paths.iter().filter(|p| p.is_file()) {
                // Like OpenSSL's CApath: files that are not certificates are skipped.
                for c in pem_certs(p).unwrap_or_default() {
                    let _ = roots.add(c);
                }
            }
            if roots.is_empty() {
                return Err(format!(
                    "http_output.ca_path: {}: no CA certificate found (set ca_cert or ca_bundle)",
                    dir.display()
                ));
            }
            Ok(roots)
        }
    }
}

fn pem_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let text = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: bad PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(certs)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_become_basic_auth_and_leave_the_authority() {
        let cfg = HttpOutputConfig {
            url: "'http://al%40ice:s%3Acret@127.0.0.1:9/p?q=1'".into(),
            ..HttpOutputConfig::for_url("")
        };
        let t = Target::new(&cfg, true).unwrap();
        assert_eq!(t.uri.to_string(), "http://127.0.0.1:9/p?q=1");
        // base64("al@ice:s:cret")
        assert_eq!(
            t.basic_auth.unwrap().to_str().unwrap(),
            "Basic YWxAaWNlOnM6Y3JldA=="
        );
        let no_path = Target::new(&HttpOutputConfig::for_url("http://h:1"), false).unwrap();
        assert_eq!(no_path.uri.to_string(), "http://h:1/");
        assert!(no_path.basic_auth.is_none());
    }

    #[test]
    fn bad_urls_are_startup_errors() {
        for url in ["ftp://h/", "http://", "http://user@:80/", "not a url"] {
            let e = Target::new(&HttpOutputConfig::for_url(url), true)
                .err()
                .unwrap_or_else(|| panic!("{url} accepted"));
            assert!(e.starts_with("http_output.url"), "{e}");
        }
    }
}
