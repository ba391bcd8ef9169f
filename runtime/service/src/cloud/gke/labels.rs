//! `fetch_cluster_metadata`: a cluster's own labels (`resourceLabels` from the Container API) added to
//! each entry's resource labels before conversion, so they become event annotations as with the plugin.
//! Google's own resource labels (`cluster_name`, `location`, `project_id`) are never replaced. Fetched
//! labels are reused for `cache_expiration`; a failed fetch is logged and the entry goes on without them.
//!
//! The endpoint is `container.googleapis.com` unless `CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER` names
//! another base URL: the variable gcloud reads for the same purpose (private or regional endpoints, a
//! test double). A failed fetch is retried for the next entry of that cluster, at most once per
//! `RETRY_AFTER`, so a Container API that is down costs one call (and one log line) per interval, not
//! one per entry.

use super::auth::Credentials;
use super::http::Http;
use hyper::Method;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ENDPOINT: &str = "https://container.googleapis.com";
/// gcloud's endpoint override for the Container API.
pub const ENDPOINT_VAR: &str = "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER";
/// Wait after a failed fetch before the same cluster's labels are asked for again.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Largest Container API answer read (a cluster description is a few KiB).
const MAX_ANSWER: usize = 4 * 1024 * 1024;
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const GOOGLE_LABELS: [&str; 3] = ["cluster_name", "location", "project_id"];
/// Clusters remembered at once (entries name their cluster; a hostile feed must not grow this).
const MAX_CLUSTERS: usize = 1024;

pub struct ClusterLabels {
    base: String,
    http: Http,
    creds: Arc<Credentials>,
    ttl: Duration,
    cache: HashMap<String, Cached>,
}

enum Cached {
    /// Labels fetched at this time.
    Labels(Map<String, Value>, Instant),
    /// The fetch failed at this time.
    Failed(Instant),
}

impl ClusterLabels {
    pub fn new(http: Http, creds: Arc<Credentials>, ttl: Duration) -> ClusterLabels {
        let base = std::env::var(ENDPOINT_VAR)
            .ok()
            .map(|v| v.trim().trim_end_matches('/').to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| ENDPOINT.to_string());
        ClusterLabels {
            base,
            http,
            creds,
            ttl,
            cache: HashMap::new(),
        }
    }

    /// Adds the cluster's labels to `entry.resource.labels`.
    pub async fn enrich(&mut self, entry: &mut Value) {
        let Some(name) = cluster_resource_name(entry) else {
            return;
        };
        let extra = match self.cache.get(&name) {
            Some(Cached::Labels(l, at)) if at.elapsed() < self.ttl => l.clone(),
            Some(Cached::Failed(at)) if at.elapsed() < RETRY_AFTER.min(self.ttl) => return,
            _ => {
                let fetched = self.fetch(&name).await;
                if self.cache.len() >= MAX_CLUSTERS {
                    self.cache.clear();
                }
                match fetched {
                    Ok(l) => {
                        self.cache
                            .insert(name, Cached::Labels(l.clone(), Instant::now()));
                        l
                    }
                    Err(e) => {
                        tracing::warn!("cluster labels of {name}: {e}");
                        self.cache.insert(name, Cached::Failed(Instant::now()));
                        return;
                    }
                }
            }
        };
        merge_labels(entry, &extra);
    }

    async fn fetch(&self, name: &str) -> Result<Map<String, Value>, String> {
        let auth = self.creds.header().await?;
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let v = self
            .http
            .call(
                Method::GET,
                &format!("{}/v1/{name}", self.base),
                &headers,
                None,
                CALL_TIMEOUT,
                MAX_ANSWER,
            )
            .await?
            .json("Container API clusters.get")?;
        Ok(v.get("resourceLabels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.is_string())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// `projects/P/locations/L/clusters/C` from the entry's resource labels, when all three are plain
/// names. They come from the entry, so only letters, digits, `-`, `_`, and the `.` and `:` of
/// domain-scoped project IDs go into the request path (never `.` or `..` alone).
fn cluster_resource_name(entry: &Value) -> Option<String> {
    let labels = entry.pointer("/resource/labels")?.as_object()?;
    let get = |k: &str| labels.get(k).and_then(Value::as_str).unwrap_or_default();
    let plain = |v: &str| {
        !v.is_empty()
            && v.len() <= 128
            && v.bytes().any(|b| b != b'.')
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    };
    ["project_id", "location", "cluster_name"]
        .iter()
        .all(|k| plain(get(k)))
        .then(|| {
            format!(
                "projects/{}/locations/{}/clusters/{}",
                get("project_id"),
                get("location"),
                get("cluster_name")
            )
        })
}

/// Sets `extra` labels on `entry.resource.labels`, keeping Google's own.
pub fn merge_labels(entry: &mut Value, extra: &Map<String, Value>) {
    let Some(labels) = entry
        .pointer_mut("/resource/labels")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (k, v) in extra {
        if !GOOGLE_LABELS.contains(&k.as_str()) {
            labels.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_plain_cluster_names_reach_the_request_path() {
        let entry = |p: &str, l: &str, c: &str| json!({"resource": {"labels": {"project_id": p, "location": l, "cluster_name": c}}});
        assert_eq!(
            cluster_resource_name(&entry("example.com:proj-1", "europe-west1-b", "prod_2")),
            Some("projects/example.com:proj-1/locations/europe-west1-b/clusters/prod_2".into())
        );
        for bad in [
            entry("..", "l", "c"),
            entry("p", "l/../x", "c"),
            entry("p", "l", "c?x=1"),
            entry("p", "", "c"),
            entry("p", "l", &"c".repeat(129)),
            json!({"resource": {"labels": {"project_id": "p", "location": "l"}}}),
            json!({"resource": {}}),
        ] {
            assert_eq!(cluster_resource_name(&bad), None, "{bad}");
        }
    }

    #[test]
    fn cluster_labels_never_replace_googles_own() {
        let mut e = json!({"resource": {"type": "k8s_cluster", "labels": {
            "cluster_name": "c1", "location": "europe-west1", "project_id": "p", "team": "old"}}});
        let extra = json!({"cluster_name": "evil", "team": "payments", "env": "prod"});
        merge_labels(&mut e, extra.as_object().unwrap());
        assert_eq!(
            e["resource"]["labels"],
            json!({"cluster_name": "c1", "location": "europe-west1", "project_id": "p",
                   "team": "payments", "env": "prod"})
        );
        let mut no_labels = json!({"resource": {"type": "k8s_cluster"}});
        merge_labels(&mut no_labels, extra.as_object().unwrap());
        assert_eq!(no_labels, json!({"resource": {"type": "k8s_cluster"}}));
    }
}
