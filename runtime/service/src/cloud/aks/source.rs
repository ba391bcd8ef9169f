//! The AKS source: every partition of the hub read in turn, each message a diagnostic records document
//! split by `kaudit_engine::formats::aks` (the parser `kaudit replay` uses), and each partition's position
//! saved to the checkpoint store only once the alerts of its events were handed to the outputs (the
//! driver calls `ack` then). Falco's plugin checkpoints each message as soon as its records were queued,
//! so a crash can lose what was in flight; here a crash leaves the checkpoint behind and the events are
//! read again.
//!
//! "Nothing repeated": a partition is read from just after its checkpoint, and events at or below the
//! last sequence number already taken from a partition are skipped (a hub may hand an event out again
//! after a reconnect).
//!
//! One kaudit reads every partition; there is no partition ownership between replicas (run one replica
//! per hub and consumer group).

use super::blob::BlobCheckpoints;
use super::checkpoint::{CheckpointStore, PartitionCheckpoint};
use super::eventhubs::{namespace_of, EventHub};
use super::hub::{Hub, HubEvent};
use super::rate::RateLimit;
use super::sas::StorageAccount;
use crate::cloud::aks_config::{AksConfig, PLUGIN_NAME};
use crate::sources::{Batch, Next, Source, SourceError};
use bytes::Bytes;
use kaudit_engine::formats::aks;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The largest Event Hubs message (1 MiB on the Premium and Dedicated tiers, 256 KiB on Basic and
/// Standard), with room for framing. A larger body is not from Azure Monitor: dropped unparsed.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024 + 64 * 1024;
/// Events asked for per receive (the plugin's figure).
const RECEIVE_MAX: usize = 100;
/// Bytes of message bodies per batch: a memory budget on top of `RECEIVE_MAX`.
const BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Longest wait for events on one partition before the next one gets its turn.
const RECEIVE_WAIT: Duration = Duration::from_millis(250);
/// Longest pause for the rate limit inside one `next_batch` (the driver wants control back often).
const RATE_SLICE: Duration = Duration::from_secs(1);

/// Where a batch leaves each partition it read from.
pub type Position = Vec<(String, PartitionCheckpoint)>;

pub struct AksSource<H, C> {
    name: String,
    hub: H,
    store: C,
    max_event_size: usize,
    rate: RateLimit,
    /// Partition IDs, read on first use.
    partitions: Vec<String>,
    next: usize,
    /// Per partition, the newest sequence number handed out (or loaded from the checkpoint).
    taken: BTreeMap<String, i64>,
    /// Per partition, the newest checkpoint saved.
    saved: BTreeMap<String, i64>,
    /// Per partition, a done position not saved yet (its save failed).
    unsaved: BTreeMap<String, PartitionCheckpoint>,
}

pub fn source_name(cfg: &AksConfig) -> String {
    format!("{PLUGIN_NAME}:{}/{}", cfg.cluster, cfg.hub_name)
}

impl AksSource<EventHub, BlobCheckpoints> {
    /// The source on Azure: the Event Hubs SDK, checkpoints in the configured blob container.
    pub fn open(cfg: &AksConfig) -> Result<Self, String> {
        let at = &cfg.origin;
        let hub = EventHub::new(
            &cfg.hub_connection_string.0,
            &cfg.hub_name,
            &cfg.consumer_group,
        )
        .map_err(|e| format!("{at}.init_config.event_hub_namespace_connection_string: {e}"))?;
        let account = StorageAccount::parse(&cfg.blob_connection_string.0)
            .map_err(|e| format!("{at}.init_config.blob_storage_connection_string: {e}"))?;
        let store = BlobCheckpoints::new(
            account,
            &cfg.blob_container,
            &namespace_of(&cfg.hub_connection_string.0)?,
            &cfg.hub_name,
            &cfg.consumer_group,
        )?;
        tracing::info!(hub = %cfg.hub_name, consumer_group = %cfg.consumer_group,
            container = %cfg.blob_container, "reading AKS audit logs from Event Hubs");
        Ok(AksSource::with_parts(cfg, hub, store))
    }
}

impl<H: Hub + 'static, C: CheckpointStore + 'static> AksSource<H, C> {
    /// The source over any hub and checkpoint store (tests use stand-ins).
    pub fn with_parts(cfg: &AksConfig, hub: H, store: C) -> AksSource<H, C> {
        AksSource {
            name: source_name(cfg),
            hub,
            store,
            max_event_size: cfg.max_event_size,
            rate: RateLimit::new(cfg.rate_per_second, cfg.rate_burst),
            partitions: Vec::new(),
            next: 0,
            taken: BTreeMap::new(),
            saved: BTreeMap::new(),
            unsaved: BTreeMap::new(),
        }
    }

    /// Reads the partition list and their checkpoints; retried by the driver until it works.
    async fn init(&mut self) -> Result<(), String> {
        let parts = self.hub.partitions().await?;
        if parts.is_empty() {
            return Err("the hub has no partitions".into());
        }
        for p in &parts {
            if let Some(cp) = self.store.load(p).await? {
                self.taken.insert(p.clone(), cp.sequence_number);
                self.saved.insert(p.clone(), cp.sequence_number);
            }
        }
        tracing::info!(source = %self.name, partitions = parts.len(), resumed = self.saved.len(),
            "reading the Event Hub's partitions");
        self.partitions = parts;
        Ok(())
    }

    /// Converts one message; its documents go to `docs`, what was dropped to `dropped`.
    fn convert(&self, ev: &HubEvent, docs: &mut Vec<Bytes>, dropped: &mut Drops) -> u64 {
        if ev.body.len() > MAX_MESSAGE_BYTES {
            dropped.add("oversized_message", 1);
            return 1;
        }
        let c = match aks::records(&ev.body) {
            Ok(c) => c,
            Err(_) => {
                dropped.add("not_records", 1);
                return 1;
            }
        };
        for &(why, n) in &c.dropped {
            dropped.add(why, n);
        }
        for d in c.docs {
            if d.len() > self.max_event_size {
                dropped.add("oversized", 1);
            } else {
                docs.push(Bytes::from(d));
            }
        }
        c.records
    }
}

/// Drop counts by reason, in first-seen order.
#[derive(Default)]
struct Drops(Vec<(&'static str, u64)>);

impl Drops {
    fn add(&mut self, why: &'static str, n: u64) {
        match self.0.iter_mut().find(|(w, _)| *w == why) {
            Some((_, c)) => *c += n,
            None => self.0.push((why, n)),
        }
    }
}

impl<H: Hub + 'static, C: CheckpointStore + 'static> Source for AksSource<H, C> {
    type Position = Position;

    fn name(&self) -> String {
        self.name.clone()
    }

    async fn next_batch(&mut self) -> Result<Next<Position>, SourceError> {
        if self.partitions.is_empty() {
            self.init().await.map_err(SourceError)?;
        }
        let wait = self.rate.wait_time(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait.min(RATE_SLICE)).await;
            return Ok(Next::Idle);
        }
        let n = self.partitions.len();
        let Some(part) = self.partitions.get(self.next % n).cloned() else {
            return Ok(Next::Idle);
        };
        self.next = (self.next + 1) % n;
        let after = self.taken.get(&part).copied();
        // Records per message are unknown before reading; asking for no more messages than the rate
        // allows records keeps the overshoot to one receive.
        let max = self.rate.available(Instant::now()).clamp(1, RECEIVE_MAX);
        let wait = (RECEIVE_WAIT / n as u32).max(Duration::from_millis(20));
        let events = self
            .hub
            .receive(&part, after, max, wait)
            .await
            .map_err(|e| SourceError(format!("partition {part}: {e}")))?;
        if events.is_empty() {
            return Ok(Next::Idle);
        }
        let mut docs = Vec::new();
        let mut dropped = Drops::default();
        let mut records = 0;
        let mut bytes = 0;
        let mut newest_ns = None;
        let mut last: Option<&HubEvent> = None;
        for ev in &events {
            if after.is_some_and(|a| ev.sequence_number <= a)
                || last.is_some_and(|l| ev.sequence_number <= l.sequence_number)
            {
                dropped.add("redelivered", 1);
                continue;
            }
            if bytes >= BATCH_BYTES {
                // The rest is received again by the next call (it starts after `last`).
                break;
            }
            bytes += ev.body.len();
            records += self.convert(ev, &mut docs, &mut dropped);
            newest_ns = newest_ns.max(ev.enqueued_ns);
            last = Some(ev);
        }
        self.rate.take(records, Instant::now());
        let Some(last) = last else {
            // Only copies of events already taken.
            return Ok(Next::Batch(Batch {
                docs,
                position: Vec::new(),
                records,
                dropped: dropped.0,
                newest_record_ns: None,
            }));
        };
        self.taken.insert(part.clone(), last.sequence_number);
        Ok(Next::Batch(Batch {
            docs,
            position: vec![(
                part,
                PartitionCheckpoint {
                    sequence_number: last.sequence_number,
                    offset: last.offset.clone(),
                },
            )],
            records,
            dropped: dropped.0,
            newest_record_ns: newest_ns,
        }))
    }

    async fn ack(&mut self, done: Vec<Position>) -> Result<(), SourceError> {
        // Batches arrive oldest first: the last position of each partition covers the earlier ones.
        // A position whose save failed stays in `unsaved` and is tried again with the next batch.
        for (p, cp) in done.into_iter().flatten() {
            self.unsaved.insert(p, cp);
        }
        let todo: Vec<(String, PartitionCheckpoint)> = self
            .unsaved
            .iter()
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect();
        for (p, cp) in todo {
            if self.saved.get(&p).is_none_or(|&s| s < cp.sequence_number) {
                self.store
                    .save(&p, &cp)
                    .await
                    .map_err(|e| SourceError(format!("checkpoint of partition {p}: {e}")))?;
                self.saved.insert(p.clone(), cp.sequence_number);
            }
            self.unsaved.remove(&p);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// A hub of fixed partitions that answers from memory.
    #[derive(Clone, Default)]
    struct MemHub {
        parts: Arc<Mutex<BTreeMap<String, Vec<HubEvent>>>>,
        fail_next: Arc<Mutex<Option<String>>>,
        /// Hands every event out twice, as a hub may after a reconnect.
        repeat: bool,
    }

    impl Hub for MemHub {
        async fn partitions(&mut self) -> Result<Vec<String>, String> {
            Ok(self.parts.lock().unwrap().keys().cloned().collect())
        }

        async fn receive(
            &mut self,
            partition: &str,
            after: Option<i64>,
            max: usize,
            _wait: Duration,
        ) -> Result<Vec<HubEvent>, String> {
            if let Some(e) = self.fail_next.lock().unwrap().take() {
                return Err(e);
            }
            let parts = self.parts.lock().unwrap();
            let all = parts.get(partition).cloned().unwrap_or_default();
            let mut out: Vec<HubEvent> = all
                .into_iter()
                .filter(|e| after.is_none_or(|a| e.sequence_number > a))
                .take(max)
                .collect();
            if self.repeat {
                out = out.iter().flat_map(|e| [e.clone(), e.clone()]).collect();
            }
            Ok(out)
        }
    }

    #[derive(Clone, Default)]
    struct MemStore(
        Arc<Mutex<HashMap<String, PartitionCheckpoint>>>,
        Arc<Mutex<bool>>,
    );

    impl CheckpointStore for MemStore {
        async fn load(&mut self, p: &str) -> Result<Option<PartitionCheckpoint>, String> {
            Ok(self.0.lock().unwrap().get(p).cloned())
        }
        async fn save(&mut self, p: &str, cp: &PartitionCheckpoint) -> Result<(), String> {
            if std::mem::take(&mut *self.1.lock().unwrap()) {
                return Err("storage unavailable".into());
            }
            self.0.lock().unwrap().insert(p.into(), cp.clone());
            Ok(())
        }
    }

    fn cfg() -> AksConfig {
        crate::cloud::aks_config::tests::sample()
    }

    fn event(seq: i64, body: String) -> HubEvent {
        HubEvent {
            sequence_number: seq,
            offset: Some(format!("o{seq}")),
            enqueued_ns: Some(1_000 + seq as u64),
            body: body.into_bytes(),
        }
    }

    fn records(ids: &[&str]) -> String {
        let recs: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| {
                serde_json::json!({"category": "kube-audit",
                    "properties": {"log": format!("{{\"kind\":\"Event\",\"auditID\":\"{id}\"}}")}})
            })
            .collect();
        serde_json::json!({ "records": recs }).to_string()
    }

    fn ids(b: &Batch<Position>) -> Vec<String> {
        b.docs
            .iter()
            .map(|d| {
                let v: serde_json::Value = serde_json::from_slice(d).unwrap();
                v["auditID"].as_str().unwrap().to_string()
            })
            .collect()
    }

    async fn batch<H: Hub + 'static, C: CheckpointStore + 'static>(
        s: &mut AksSource<H, C>,
    ) -> Option<Batch<Position>> {
        for _ in 0..4 {
            if let Next::Batch(b) = s.next_batch().await.unwrap() {
                return Some(b);
            }
        }
        None
    }

    #[tokio::test]
    async fn converts_counts_drops_and_checkpoints_only_on_ack() {
        let hub = MemHub::default();
        let big = format!("{{\"kind\":\"Event\",\"pad\":\"{}\"}}", "x".repeat(2000));
        let mixed = serde_json::json!({"records": [
            {"category": "kube-audit-admin", "properties": {"log": "{\"kind\":\"Event\",\"auditID\":\"b\"}"}},
            {"category": "kube-apiserver", "properties": {"log": "I0101 klog line"}},
            {"category": "kube-audit", "properties": {"log": "not json"}},
            {"category": "kube-audit", "properties": {"log": big}},
        ]})
        .to_string();
        hub.parts.lock().unwrap().insert(
            "0".into(),
            vec![
                event(0, records(&["a"])),
                event(1, mixed),
                event(2, "{\"no\":\"records\"}".into()),
                event(3, "x".repeat(MAX_MESSAGE_BYTES + 1)),
            ],
        );
        let store = MemStore::default();
        let mut c = cfg();
        c.max_event_size = 1000;
        let mut s = AksSource::with_parts(&c, hub, store.clone());
        let b = batch(&mut s).await.unwrap();
        assert_eq!(ids(&b), ["a", "b"]);
        assert_eq!(b.records, 7);
        assert_eq!(
            b.dropped,
            [
                ("other_category", 1),
                ("bad_log", 1),
                ("oversized", 1),
                ("not_records", 1),
                ("oversized_message", 1)
            ]
        );
        assert_eq!(b.newest_record_ns, Some(1_003));
        assert!(
            store.0.lock().unwrap().is_empty(),
            "nothing saved before ack"
        );
        s.ack(vec![b.position]).await.unwrap();
        assert_eq!(store.0.lock().unwrap()["0"].sequence_number, 3);
        assert_eq!(store.0.lock().unwrap()["0"].offset.as_deref(), Some("o3"));
    }

    #[tokio::test]
    async fn a_failed_save_is_tried_again_with_the_next_batch() {
        let hub = MemHub::default();
        hub.parts.lock().unwrap().insert(
            "0".into(),
            vec![event(0, records(&["a"])), event(1, records(&["b"]))],
        );
        let store = MemStore::default();
        let mut s = AksSource::with_parts(&cfg(), hub.clone(), store.clone());
        let b = batch(&mut s).await.unwrap();
        *store.1.lock().unwrap() = true;
        let e = s.ack(vec![b.position]).await.unwrap_err();
        assert_eq!(e.0, "checkpoint of partition 0: storage unavailable");
        assert!(store.0.lock().unwrap().is_empty());
        // Nothing new in the next batch from partition 0: an empty position list still retries.
        s.ack(vec![Vec::new()]).await.unwrap();
        assert_eq!(store.0.lock().unwrap()["0"].sequence_number, 1);
    }

    #[tokio::test]
    async fn resumes_after_the_checkpoint_and_skips_repeats() {
        let mut hub = MemHub::default();
        hub.parts.lock().unwrap().insert(
            "0".into(),
            (0..6)
                .map(|i| event(i, records(&[&format!("e{i}")])))
                .collect(),
        );
        hub.repeat = true;
        let store = MemStore::default();
        store.0.lock().unwrap().insert(
            "0".into(),
            PartitionCheckpoint {
                sequence_number: 2,
                offset: None,
            },
        );
        let mut s = AksSource::with_parts(&cfg(), hub, store);
        let b = batch(&mut s).await.unwrap();
        assert_eq!(ids(&b), ["e3", "e4", "e5"]);
        assert_eq!(b.dropped, [("redelivered", 3)]);
        assert!(batch(&mut s).await.is_none(), "nothing new after e5");
    }

    #[tokio::test]
    async fn partitions_take_turns_and_errors_name_the_partition() {
        let hub = MemHub::default();
        for p in ["0", "1"] {
            hub.parts
                .lock()
                .unwrap()
                .insert(p.into(), vec![event(0, records(&[&format!("p{p}")]))]);
        }
        *hub.fail_next.lock().unwrap() = Some("link detached".into());
        let mut s = AksSource::with_parts(&cfg(), hub, MemStore::default());
        let e = s.next_batch().await.unwrap_err();
        assert_eq!(e.0, "partition 0: link detached");
        let b1 = batch(&mut s).await.unwrap();
        let b2 = batch(&mut s).await.unwrap();
        assert_eq!(ids(&b1), ["p1"]);
        assert_eq!(ids(&b2), ["p0"]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_holds_records_back() {
        let hub = MemHub::default();
        hub.parts.lock().unwrap().insert(
            "0".into(),
            (0..10).map(|i| event(i, records(&["a", "b"]))).collect(),
        );
        let mut c = cfg();
        c.rate_per_second = 4;
        c.rate_burst = 4;
        let mut s = AksSource::with_parts(&c, hub, MemStore::default());
        let b = batch(&mut s).await.unwrap();
        // 4 tokens: at most 4 messages asked for; they held 8 records.
        assert_eq!(b.records, 8);
        let t0 = tokio::time::Instant::now();
        assert!(matches!(s.next_batch().await.unwrap(), Next::Idle));
        assert!(
            t0.elapsed() >= Duration::from_millis(900),
            "waited for tokens"
        );
    }
}
