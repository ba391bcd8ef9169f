//! TLS for the webhook: rustls (ring provider) from one PEM file holding the certificate chain and the
//! private key (Falco's `ssl_certificate` / k8saudit's `sslCertificate`), optional client certificates.
//!
//! Client certificates are *offered, not required* at the TLS layer, and a presented certificate is
//! accepted by the handshake as long as the client proves it owns the key. The chain is verified against
//! the CA bundle right after the handshake (`ClientAuth::verify`), so a missing or untrusted certificate
//! becomes an HTTP 401 that is counted, instead of an anonymous handshake failure.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use std::path::Path;
use std::sync::Arc;

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate and the first private key of a PEM file.
pub fn load_cert_and_key(
    path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: bad PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate found (expected certificate and key in one PEM file)",
            path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        format!(
            "{}: no usable private key (expected certificate and key in one PEM file): {e}",
            path.display()
        )
    })?;
    Ok((certs, key))
}

/// Reads a PEM CA bundle into a root store.
pub fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&text) {
        let cert = cert.map_err(|e| format!("{}: bad PEM certificate: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: unusable CA certificate: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no CA certificate found", path.display()));
    }
    Ok(roots)
}

/// Verifies client certificate chains after the handshake.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientAuth {
    pub fn from_ca_file(path: &Path) -> Result<ClientAuth, String> {
        let roots = load_roots(path)?;
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(ClientAuth { inner })
    }

    /// Whether the certificates a client presented chain to the CA bundle.
    pub fn verify(&self, presented: Option<&[CertificateDer<'_>]>) -> bool {
        match presented {
            Some([end_entity, intermediates @ ..]) => self
                .inner
                .verify_client_cert(end_entity, intermediates, UnixTime::now())
                .is_ok(),
            _ => false,
        }
    }
}

/// The handshake half of `ClientAuth`: offers client authentication, checks the client's signature (proof
/// of key possession) and defers the chain check to `ClientAuth::verify`.
#[derive(Debug)]
struct OfferClientCert {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for OfferClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The server TLS configuration (ALPN h2 and http/1.1).
pub fn server_config(
    pem: &Path,
    client_auth: Option<&ClientAuth>,
) -> Result<Arc<ServerConfig>, String> {
    let (certs, key) = load_cert_and_key(pem)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = match client_auth {
        Some(ca) => builder.with_client_cert_verifier(Arc::new(OfferClientCert {
            inner: ca.inner.clone(),
        })),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", pem.display()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
