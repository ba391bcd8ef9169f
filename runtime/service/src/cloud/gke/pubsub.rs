//! Pub/Sub's REST API v1, the calls a subscriber needs: `subscriptions.pull`, `subscriptions.acknowledge`
//! and `subscriptions.modifyAckDeadline` (lease renewals, see `lease`). `PUBSUB_EMULATOR_HOST` (host:port) sends them over plain HTTP without
//! credentials, as Google's client libraries do.

use super::auth::Credentials;
use super::http::{Http, MAX_ANSWER};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use hyper::Method;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const ENDPOINT: &str = "https://pubsub.googleapis.com";
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Acknowledge requests are limited to 512 KiB; ack IDs are a few hundred bytes.
const ACK_CHUNK: usize = 1000;

/// One pulled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub ack_id: String,
    pub message_id: String,
    pub data: Vec<u8>,
}

pub struct PubSub {
    base: String,
    subscription: String,
    http: Http,
    creds: Arc<Credentials>,
}

impl PubSub {
    pub fn new(subscription: &str, http: Http, creds: Arc<Credentials>) -> PubSub {
        PubSub {
            base: match emulator_host() {
                Some(h) => format!("http://{h}"),
                None => ENDPOINT.into(),
            },
            subscription: subscription.to_string(),
            http,
            creds,
        }
    }

    async fn post(&self, verb: &str, body: serde_json::Value) -> Result<serde_json::Value, String> {
        self.post_within(verb, body, CALL_TIMEOUT).await
    }

    async fn post_within(
        &self,
        verb: &str,
        body: serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, String> {
        let url = format!("{}/v1/{}:{verb}", self.base, self.subscription);
        let auth = self.creds.header().await?;
        let mut headers = Vec::new();
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        self.http
            .call(
                Method::POST,
                &url,
                &headers,
                Some(Bytes::from(body.to_string())),
                timeout,
                MAX_ANSWER,
            )
            .await?
            .json(&format!("Pub/Sub {verb} on {}", self.subscription))
    }

    /// Up to `max` messages; empty when none is waiting (the call does not wait for new ones).
    pub async fn pull(&self, max: usize) -> Result<Vec<Received>, String> {
        // returnImmediately keeps each call short, so acknowledgements are never held behind a
        // long poll (the source waits between empty pulls instead).
        let v = self
            .post(
                "pull",
                json!({"maxMessages": max, "returnImmediately": true}),
            )
            .await?;
        let Some(list) = v.get("receivedMessages").and_then(|l| l.as_array()) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(list.len());
        for m in list {
            let field = |v: &'_ serde_json::Value, k: &str| -> String {
                v.get(k)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let ack_id = field(m, "ackId");
            if ack_id.is_empty() {
                continue;
            }
            let msg = m.get("message").unwrap_or(&serde_json::Value::Null);
            // A message that is not base64 still has to be acknowledged (it can never be read).
            let data = STANDARD.decode(field(msg, "data")).unwrap_or_default();
            out.push(Received {
                ack_id,
                message_id: field(msg, "messageId"),
                data,
            });
        }
        Ok(out)
    }

    pub async fn acknowledge(&self, ack_ids: &[String]) -> Result<(), String> {
        for chunk in ack_ids.chunks(ACK_CHUNK) {
            self.post("acknowledge", json!({ "ackIds": chunk })).await?;
        }
        Ok(())
    }

    /// Sets the ack deadline of these messages to `seconds` from now (at most 600).
    pub async fn modify_ack_deadline(
        &self,
        ack_ids: &[String],
        seconds: u64,
        timeout: Duration,
    ) -> Result<(), String> {
        for chunk in ack_ids.chunks(ACK_CHUNK) {
            self.post_within(
                "modifyAckDeadline",
                json!({ "ackIds": chunk, "ackDeadlineSeconds": seconds.min(600) }),
                timeout.min(CALL_TIMEOUT),
            )
            .await?;
        }
        Ok(())
    }
}

/// `PUBSUB_EMULATOR_HOST`, when set.
pub fn emulator_host() -> Option<String> {
    std::env::var("PUBSUB_EMULATOR_HOST")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}
