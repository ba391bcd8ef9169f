//! What the GKE and AKS sources share for their REST calls: one HTTPS client setup and one
//! percent-encoding.

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// A pooled HTTP/1.1 client.
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// rustls on `ring` (the provider the rest of kaudit uses; `deny.toml` keeps aws-lc out) with the
/// system's root certificates. Plain `http://` stays allowed because the emulators
/// (`PUBSUB_EMULATOR_HOST`, Azurite, endpoint overrides) speak it; the production endpoints are
/// `https://` URLs built by the sources themselves.
pub fn client() -> Result<HttpsClient, String> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .map_err(|e| format!("no usable root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Percent-encodes everything but RFC 3986's unreserved characters: safe in a query value, a path
/// segment and an `application/x-www-form-urlencoded` body alike.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(
            percent_encode("a b/c+d=é~_.-Z9"),
            "a%20b%2Fc%2Bd%3D%C3%A9~_.-Z9"
        );
    }
}
