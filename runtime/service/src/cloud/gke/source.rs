//! The GKE source: Pub/Sub messages holding Cloud Logging `LogEntry` documents (a log sink on the
//! cluster's audit logs), converted with the plugin's mapping (`kaudit_engine::formats::gke`) and
//! acknowledged only once the alerts of their events were handed to the outputs. Falco's plugin
//! acknowledges each message before evaluating it, so a crash loses what was in flight; here a crash
//! leaves the messages unacknowledged and Pub/Sub delivers them again.
//!
//! Pub/Sub may also deliver a message again after it was acknowledged (its delivery is at least once);
//! the IDs of the last acknowledged messages are remembered so such a copy is acknowledged and skipped.
//! Messages in flight are leased (`lease`) so they are not delivered again while their alerts are on
//! the way; a copy that still arrives while the first is in flight (a lease that ran out, Pub/Sub's own
//! duplicates) is not evaluated either: it is acknowledged with its own batch, which the driver
//! acknowledges only after the first copy's batch.

use super::auth::Credentials;
use super::http::Http;
use super::labels::ClusterLabels;
use super::lease::Leases;
use super::pubsub::{emulator_host, PubSub};
use crate::cloud::gke_config::{GkeConfig, PLUGIN_NAME};
use crate::sources::stats::SourceStats;
use crate::sources::{Batch, Next, Source, SourceError};
use bytes::Bytes;
use kaudit_engine::formats::gke::{convert_entry, GkeDrop};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Pause after an empty pull.
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// Acknowledged message IDs remembered for deduplication.
const RECENT_IDS: usize = 100_000;

/// A message's acknowledgement handle and ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub ack_id: String,
    pub message_id: String,
}

pub struct GkeSource {
    name: String,
    max_messages: usize,
    /// Messages asked for by the next pull: halved after a failed pull (an answer over the size budget
    /// fails), doubled back after each good one.
    pull_size: usize,
    max_event_size: usize,
    pubsub: Arc<PubSub>,
    labels: Option<ClusterLabels>,
    recent: RecentIds,
    leases: Leases,
    /// IDs of the messages pulled and evaluated but not acknowledged yet.
    in_flight: HashSet<String>,
    stats: Option<Arc<SourceStats>>,
}

pub fn source_name(cfg: &GkeConfig) -> String {
    format!("{PLUGIN_NAME}:{}", cfg.subscription)
}

impl GkeSource {
    pub fn open(cfg: &GkeConfig) -> Result<GkeSource, String> {
        let http = Http::new().map_err(|e| format!("{}: {e}", cfg.origin))?;
        let creds = if emulator_host().is_some() {
            Credentials::anonymous(http.clone())
        } else {
            Credentials::find(cfg.credentials_file.as_deref(), http.clone())
                .map_err(|e| format!("{}: {e}", cfg.origin))?
        };
        tracing::info!(
            subscription = %cfg.subscription,
            credentials = %creds.origin,
            "reading GKE audit logs from Pub/Sub"
        );
        let creds = Arc::new(creds);
        Ok(GkeSource {
            name: source_name(cfg),
            max_messages: cfg.max_messages,
            pull_size: cfg.max_messages,
            max_event_size: cfg.max_event_size,
            pubsub: Arc::new(PubSub::new(&cfg.subscription, http.clone(), creds.clone())),
            labels: cfg
                .fetch_cluster_metadata
                .then(|| ClusterLabels::new(http, creds, cfg.cache_expiration)),
            recent: RecentIds::default(),
            leases: Leases::new(cfg.lease),
            in_flight: HashSet::new(),
            stats: None,
        })
    }

    /// One message's data as an audit Event, or the reason it is dropped.
    async fn convert(&mut self, data: &[u8]) -> Result<String, GkeDrop> {
        let mut entry: serde_json::Value =
            serde_json::from_slice(data).map_err(|_| GkeDrop::Unparsable)?;
        let plain = convert_entry(&entry, self.max_event_size)?;
        // Labels are looked up only for entries the plugin accepts, as it does.
        let Some(labels) = self.labels.as_mut() else {
            return Ok(plain);
        };
        labels.enrich(&mut entry).await;
        convert_entry(&entry, self.max_event_size)
    }
}

impl Source for GkeSource {
    type Position = Vec<Delivery>;

    fn name(&self) -> String {
        self.name.clone()
    }

    fn attach(&mut self, stats: Arc<SourceStats>) {
        self.stats = Some(stats);
    }

    async fn next_batch(&mut self) -> Result<Next<Vec<Delivery>>, SourceError> {
        let msgs = match self.pubsub.pull(self.pull_size).await {
            Ok(m) => {
                self.pull_size = (self.pull_size * 2).min(self.max_messages);
                m
            }
            Err(e) => {
                self.pull_size = (self.pull_size / 2).max(1);
                return Err(SourceError(e));
            }
        };
        if msgs.is_empty() {
            tokio::time::sleep(IDLE_WAIT).await;
            return Ok(Next::Idle);
        }
        // Started here rather than in `open`, which may run outside the runtime.
        self.leases.start(self.pubsub.clone(), self.stats.clone());
        self.leases.hold(msgs.iter().map(|m| m.ack_id.as_str()));
        let mut docs = Vec::with_capacity(msgs.len());
        let mut dropped: Vec<(&'static str, u64)> = Vec::new();
        let mut drop = |why: &'static str| match dropped.iter_mut().find(|(w, _)| *w == why) {
            Some((_, n)) => *n += 1,
            None => dropped.push((why, 1)),
        };
        let mut position = Vec::with_capacity(msgs.len());
        for m in &msgs {
            // Every message is acknowledged once the batch is done, converted or not: a message that
            // cannot be converted never will be.
            position.push(Delivery {
                ack_id: m.ack_id.clone(),
                message_id: m.message_id.clone(),
            });
            if self.recent.contains(&m.message_id) || self.in_flight.contains(&m.message_id) {
                drop("redelivered");
                continue;
            }
            if !m.message_id.is_empty() {
                self.in_flight.insert(m.message_id.clone());
            }
            match self.convert(&m.data).await {
                Ok(event) => docs.push(Bytes::from(event)),
                Err(why) => drop(why.label()),
            }
        }
        Ok(Next::Batch(Batch {
            docs,
            position,
            records: msgs.len() as u64,
            dropped,
            newest_record_ns: None,
        }))
    }

    async fn ack(&mut self, done: Vec<Vec<Delivery>>) -> Result<(), SourceError> {
        let all: Vec<Delivery> = done.into_iter().flatten().collect();
        let ids: Vec<String> = all.iter().map(|d| d.ack_id.clone()).collect();
        let acked = self.pubsub.acknowledge(&ids).await;
        // Whatever the outcome, these messages are no longer ours to lease: acknowledged, or (after a
        // failed acknowledgement) delivered again later and then evaluated again (at least once).
        self.leases.release(ids.iter().map(String::as_str));
        for d in all {
            self.in_flight.remove(&d.message_id);
            if acked.is_ok() {
                self.recent.insert(d.message_id);
            }
        }
        acked.map_err(SourceError)
    }
}

/// The last `RECENT_IDS` message IDs, oldest forgotten first.
#[derive(Default)]
struct RecentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    fn contains(&self, id: &str) -> bool {
        !id.is_empty() && self.set.contains(id)
    }

    fn insert(&mut self, id: String) {
        if id.is_empty() || !self.set.insert(id.clone()) {
            return;
        }
        self.order.push_back(id);
        if self.order.len() > RECENT_IDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_are_bounded_and_forget_the_oldest() {
        let mut r = RecentIds::default();
        for i in 0..RECENT_IDS + 5 {
            r.insert(i.to_string());
        }
        assert!(!r.contains("0"));
        assert!(!r.contains("4"));
        assert!(r.contains("5"));
        assert!(r.contains(&(RECENT_IDS + 4).to_string()));
        assert_eq!(r.set.len(), RECENT_IDS);
        assert!(
            !r.contains(""),
            "messages without an ID are never taken as repeats"
        );
    }
}
