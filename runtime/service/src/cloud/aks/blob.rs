//! The checkpoint store on Blob storage, in the layout of Azure's Event Hubs checkpoint stores: one
//! empty blob per partition named `<namespace>/<hub>/<consumer group>/checkpoint/<partition>`
//! (lowercase), its position in the metadata `sequencenumber` and `offset`. Falco's plugin stores its
//! checkpoints through Azure's Go SDK in this layout, so kaudit should resume where the plugin stopped
//! (not tested against blobs the plugin wrote).
//!
//! Writes are conditional on the blob's ETag (or on its absence), so two writers cannot silently
//! interleave; after a conflict the stored position is read again and never moved backwards.
//!
//! Plain REST with a SAS (see `sas`): Azure's `azure_storage_blob` crate needs another `azure_core`
//! release than the Event Hubs crate, and Cargo links only one.

use super::checkpoint::{CheckpointStore, PartitionCheckpoint};
use super::sas::{StorageAccount, VERSION};
use crate::cloud::https::percent_encode as encode;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{HeaderMap, Method, Request, StatusCode};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Error answers are short XML documents; anything longer is cut.
const MAX_ANSWER: usize = 64 * 1024;
/// Metadata values read back are numbers and offsets; longer ones are not a checkpoint.
const MAX_META: usize = 64;

pub struct BlobCheckpoints {
    account: StorageAccount,
    container: String,
    prefix: String,
    client: crate::cloud::https::HttpsClient,
    /// The SAS in use and when to sign a new one.
    sas: Option<(String, Option<SystemTime>)>,
    /// ETag of each partition's blob as last read or written.
    etags: HashMap<String, String>,
    container_ready: bool,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl BlobCheckpoints {
    /// The store for `hub` in the namespace `namespace` (its host name) and `group`.
    pub fn new(
        account: StorageAccount,
        container: &str,
        namespace: &str,
        hub: &str,
        group: &str,
    ) -> Result<BlobCheckpoints, String> {
        let prefix = format!("{namespace}/{hub}/{group}/checkpoint/").to_lowercase();
        Ok(BlobCheckpoints {
            account,
            container: container.to_string(),
            prefix,
            client: crate::cloud::https::client()?,
            sas: None,
            etags: HashMap::new(),
            container_ready: false,
        })
    }

    fn sas(&mut self) -> String {
        let now = SystemTime::now();
        match &self.sas {
            Some((s, renew)) if renew.is_none_or(|r| now < r) => s.clone(),
            _ => {
                let fresh = self.account.sas(now);
                let s = fresh.0.clone();
                self.sas = Some(fresh);
                s
            }
        }
    }

    /// The URL of the container (`blob` = `None`) or of a partition's blob, with the SAS.
    fn url(&mut self, blob: Option<&str>, query: &str) -> String {
        let sas = self.sas();
        let mut u = format!("{}/{}", self.account.blob_endpoint, self.container);
        if let Some(p) = blob {
            let name = format!("{}{}", self.prefix, p.to_lowercase());
            for seg in name.split('/') {
                u.push('/');
                u.push_str(&encode(seg));
            }
        }
        format!("{u}?{query}{sas}")
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Answer, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .header("x-ms-version", VERSION);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        // The URL carries the SAS: errors name the container only.
        let what = format!("blob container {}", self.container);
        let call = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok(Answer {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| format!("{what}: no answer within {CALL_TIMEOUT:?}"))?
    }

    /// Creates the container unless it exists (once per run).
    async fn ensure_container(&mut self) -> Result<(), String> {
        if self.container_ready {
            return Ok(());
        }
        let url = self.url(None, "restype=container&");
        let a = self.call(Method::PUT, &url, &[]).await?;
        if !(a.status.is_success() || a.status == StatusCode::CONFLICT) {
            return Err(failure("creating the checkpoint container", &a));
        }
        self.container_ready = true;
        Ok(())
    }

    /// The stored checkpoint and ETag of partition `p`.
    async fn read(
        &mut self,
        p: &str,
    ) -> Result<Option<(PartitionCheckpoint, Option<String>)>, String> {
        let url = self.url(Some(p), "");
        let a = self.call(Method::HEAD, &url, &[]).await?;
        if a.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !a.status.is_success() {
            return Err(failure(
                &format!("reading the checkpoint of partition {p}"),
                &a,
            ));
        }
        let header = |k: &str| {
            a.headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= MAX_META)
                .map(str::to_string)
        };
        let Some(seq) = header("x-ms-meta-sequencenumber").and_then(|s| s.parse::<i64>().ok())
        else {
            return Err(format!(
                "the checkpoint blob of partition {p} has no sequencenumber; remove it to start over"
            ));
        };
        Ok(Some((
            PartitionCheckpoint {
                sequence_number: seq,
                offset: header("x-ms-meta-offset"),
            },
            header("etag"),
        )))
    }

    async fn put(&mut self, p: &str, cp: &PartitionCheckpoint) -> Result<Answer, String> {
        let url = self.url(Some(p), "");
        let mut headers = vec![
            ("x-ms-blob-type", "BlockBlob".to_string()),
            ("content-length", "0".to_string()),
            ("x-ms-meta-sequencenumber", cp.sequence_number.to_string()),
        ];
        if let Some(o) = cp.offset.as_ref().filter(|o| o.len() <= MAX_META) {
            headers.push(("x-ms-meta-offset", o.clone()));
        }
        match self.etags.get(p) {
            Some(e) => headers.push(("if-match", e.clone())),
            None => headers.push(("if-none-match", "*".to_string())),
        }
        self.call(Method::PUT, &url, &headers).await
    }
}

impl CheckpointStore for BlobCheckpoints {
    async fn load(&mut self, p: &str) -> Result<Option<PartitionCheckpoint>, String> {
        self.ensure_container().await?;
        Ok(self.read(p).await?.map(|(cp, etag)| {
            if let Some(e) = etag {
                self.etags.insert(p.to_string(), e);
            }
            cp
        }))
    }

    async fn save(&mut self, p: &str, cp: &PartitionCheckpoint) -> Result<(), String> {
        self.ensure_container().await?;
        for _ in 0..2 {
            let a = self.put(p, cp).await?;
            if a.status.is_success() {
                if let Some(e) = a.headers.get("etag").and_then(|v| v.to_str().ok()) {
                    self.etags.insert(p.to_string(), e.to_string());
                }
                return Ok(());
            }
            // Someone else wrote the blob since it was read: take theirs unless ours is newer.
            if a.status == StatusCode::PRECONDITION_FAILED || a.status == StatusCode::CONFLICT {
                self.etags.remove(p);
                if let Some((stored, etag)) = self.read(p).await? {
                    if let Some(e) = etag {
                        self.etags.insert(p.to_string(), e);
                    }
                    if stored.sequence_number >= cp.sequence_number {
                        tracing::warn!(
                            partition = p,
                            stored = stored.sequence_number,
                            ours = cp.sequence_number,
                            "another reader moved the checkpoint further; kept"
                        );
                        return Ok(());
                    }
                }
                continue;
            }
            return Err(failure(
                &format!("writing the checkpoint of partition {p}"),
                &a,
            ));
        }
        Err(format!(
            "writing the checkpoint of partition {p}: another writer keeps changing it"
        ))
    }
}

/// An error naming the call, the status and the storage error code.
fn failure(what: &str, a: &Answer) -> String {
    let code = a
        .headers
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = String::from_utf8_lossy(a.body.get(..a.body.len().min(300)).unwrap_or_default());
    format!("{what}: HTTP {} {code} {}", a.status.as_u16(), body.trim())
}
