//! A small JSON-over-HTTPS client for Google's REST APIs (Pub/Sub, OAuth, Container, the metadata
//! server): hyper with rustls on `ring` and the system's root certificates, a deadline on every call
//! and a size limit on every answer.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode};
use std::time::Duration;

/// Largest answer read: a memory budget per call. A pull of audit-sized messages fits easily; a pull
/// of larger messages that does not fit fails, and the source asks for fewer at a time.
pub const MAX_ANSWER: usize = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct Http {
    client: crate::cloud::https::HttpsClient,
}

/// An answer: status and body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Http {
    pub fn new() -> Result<Http, String> {
        Ok(Http {
            client: crate::cloud::https::client()?,
        })
    }

    /// One call; `headers` are added as given. Errors are network failures and timeouts.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
        timeout: Duration,
        max_answer: usize,
    ) -> Result<Answer, String> {
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let typed = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !typed {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| format!("{url}: {e}"))?;
        let call = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), max_answer)
                .collect()
                .await
                .map_err(|e| format!("{url}: reading the answer: {e}"))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| format!("{url}: no answer within {timeout:?}"))?
    }
}

impl Answer {
    /// The body as JSON when the status is a success, else an error naming the call.
    pub fn json(self, what: &str) -> Result<serde_json::Value, String> {
        if !self.status.is_success() {
            let head = self
                .body
                .get(..self.body.len().min(500))
                .unwrap_or_default();
            let text = String::from_utf8_lossy(head).into_owned();
            return Err(format!(
                "{what}: HTTP {}: {}",
                self.status.as_u16(),
                text.trim()
            ));
        }
        if self.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("{what}: the answer is not JSON: {e}"))
    }
}
