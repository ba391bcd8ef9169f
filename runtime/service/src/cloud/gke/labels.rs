//! `fetch_cluster_metadata`: a cluster's own labels (`resourceLabels` from the Container API) added to
//! each entry's resource labels before conversion, so they become event annotations as with the plugin.
//! Google's own resource labels (`cluster_name`, `location`, `project_id`) are never replaced. Fetched
//! labels are reused for `cache_expiration`; a failed fetch is logged and the entry goes on without them.

use super::auth::Credentials;
use super::http::Http;
use hyper::Method;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ENDPOINT: &str = "https://container.googleapis.com";
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const GOOGLE_LABELS: [&str; 3] = ["cluster_name", "location", "project_id"];
/// Clusters remembered at once (entries name their cluster; a hostile feed must not grow this).
const MAX_CLUSTERS: usize = 1024;

pub struct ClusterLabels {
    http: Http,
    creds: Arc<Credentials>,
    ttl: Duration,
    cache: HashMap<String, (Map<String, Value>, Instant)>,
}

impl ClusterLabels {
    pub fn new(http: Http, creds: Arc<Credentials>, ttl: Duration) -> ClusterLabels {
        ClusterLabels {
            http,
            creds,
            ttl,
            cache: HashMap::new(),
        }
    }

    /// Adds the cluster's labels to `entry.resource.labels`.
    pub async fn enrich(&mut self, entry: &mut Value) {
        let Some(labels) = entry.pointer("/resource/labels").and_then(Value::as_object) else {
            return;
        };
        let get = |k: &str| labels.get(k).and_then(Value::as_str).unwrap_or_default();
        let name = format!(
            "projects/{}/locations/{}/clusters/{}",
            get("project_id"),
            get("location"),
            get("cluster_name")
        );
        let extra = match self.cache.get(&name) {
            Some((l, at)) if at.elapsed() < self.ttl => l.clone(),
            _ => match self.fetch(&name).await {
                Ok(l) => {
                    if self.cache.len() >= MAX_CLUSTERS {
                        self.cache.clear();
                    }
                    self.cache.insert(name, (l.clone(), Instant::now()));
                    l
                }
                Err(e) => {
                    tracing::warn!("cluster labels of {name}: {e}");
                    return;
                }
            },
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
                &format!("{ENDPOINT}/v1/{name}"),
                &headers,
                None,
                CALL_TIMEOUT,
                4 * 1024 * 1024,
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
