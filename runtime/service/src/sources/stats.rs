//! Per-source counters for `/metrics` and the source part of `/healthz`.

use super::Batch;
use crate::server::metrics::escape_label as escape;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What one source did so far.
#[derive(Debug)]
pub struct SourceStats {
    pub name: String,
    /// Records read (lines, log entries, messages), before conversion.
    pub records: AtomicU64,
    /// Audit documents the records became.
    pub documents: AtomicU64,
    /// Events queued for evaluation.
    pub events: AtomicU64,
    dropped: Mutex<BTreeMap<&'static str, u64>>,
    /// Newest record time seen (ns since the epoch; 0 = none yet).
    newest_record_ns: AtomicU64,
    /// When the last acknowledgement (checkpoint) succeeded.
    last_ack: Mutex<Option<Instant>>,
    /// Since when the source keeps failing (`None` = healthy).
    failing_since: Mutex<Option<Instant>>,
    /// Ack deadlines extended (GKE: one per message per `modifyAckDeadline`).
    pub ack_extensions: AtomicU64,
    /// Messages let go in flight after the longest lease (GKE `max_ack_extension`).
    pub leases_expired: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SourceStats {
    pub fn new(name: impl Into<String>) -> SourceStats {
        SourceStats {
            name: name.into(),
            records: AtomicU64::new(0),
            documents: AtomicU64::new(0),
            events: AtomicU64::new(0),
            dropped: Mutex::new(BTreeMap::new()),
            newest_record_ns: AtomicU64::new(0),
            last_ack: Mutex::new(None),
            failing_since: Mutex::new(None),
            ack_extensions: AtomicU64::new(0),
            leases_expired: AtomicU64::new(0),
        }
    }

    pub fn ack_extended(&self, messages: u64) {
        self.ack_extensions.fetch_add(messages, Relaxed);
    }

    pub fn leases_let_go(&self, messages: u64) {
        self.leases_expired.fetch_add(messages, Relaxed);
    }

    pub fn read<P>(&self, b: &Batch<P>) {
        self.records.fetch_add(b.records, Relaxed);
        self.documents.fetch_add(b.docs.len() as u64, Relaxed);
        for &(why, n) in &b.dropped {
            self.dropped(why, n);
        }
        if let Some(t) = b.newest_record_ns {
            self.saw_record_time(t);
        }
    }

    /// A record (or event) of this time (ns since the epoch) was read.
    pub fn saw_record_time(&self, ns: u64) {
        self.newest_record_ns.fetch_max(ns, Relaxed);
    }

    pub fn dropped(&self, why: &'static str, n: u64) {
        *lock(&self.dropped).entry(why).or_insert(0) += n;
    }

    pub fn dropped_count(&self, why: &str) -> u64 {
        lock(&self.dropped).get(why).copied().unwrap_or(0)
    }

    pub fn failed(&self) {
        lock(&self.failing_since).get_or_insert_with(Instant::now);
    }

    pub fn succeeded(&self) {
        *lock(&self.failing_since) = None;
    }

    pub fn acked(&self) {
        *lock(&self.last_ack) = Some(Instant::now());
        self.succeeded();
    }

    /// How long the source has been failing without a success in between.
    pub fn failing_for(&self) -> Option<Duration> {
        lock(&self.failing_since).map(|t| t.elapsed())
    }
}

/// A counter family: metric name, help text, and how to read it from a source.
type Counter = (&'static str, &'static str, fn(&SourceStats) -> u64);

/// Every source of a running server.
#[derive(Debug, Default)]
pub struct Registry {
    sources: Mutex<Vec<Arc<SourceStats>>>,
    /// `/healthz` fails while a source has been failing for longer than this (`None` = never).
    unhealthy_after: Mutex<Option<Duration>>,
}

impl Registry {
    /// Sets how long a source may fail before `/healthz` turns unhealthy.
    pub fn set_unhealthy_after(&self, limit: Option<Duration>) {
        *lock(&self.unhealthy_after) = limit;
    }

    /// The source that makes `/healthz` unhealthy, if any, and for how long it has been failing.
    pub fn unhealthy(&self) -> Option<(String, Duration)> {
        let limit = (*lock(&self.unhealthy_after))?;
        self.failing_longer_than(limit)
    }

    pub fn add(&self, name: impl Into<String>) -> Arc<SourceStats> {
        let s = Arc::new(SourceStats::new(name));
        lock(&self.sources).push(s.clone());
        s
    }

    /// The first source that has failed for longer than `limit`, with how long.
    pub fn failing_longer_than(&self, limit: Duration) -> Option<(String, Duration)> {
        lock(&self.sources).iter().find_map(|s| {
            s.failing_for()
                .filter(|d| *d > limit)
                .map(|d| (s.name.clone(), d))
        })
    }

    /// Prometheus text for every source (nothing when there is none).
    pub fn render(&self, o: &mut String) {
        let sources = lock(&self.sources);
        if sources.is_empty() {
            return;
        }
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let counters: [Counter; 3] = [
            (
                "kaudit_source_records_read_total",
                "Records read by the source (lines, log entries, messages).",
                |s| s.records.load(Relaxed),
            ),
            (
                "kaudit_source_documents_total",
                "Audit documents the source's records became.",
                |s| s.documents.load(Relaxed),
            ),
            (
                "kaudit_source_events_total",
                "Events from the source queued for evaluation.",
                |s| s.events.load(Relaxed),
            ),
        ];
        // Only sources that lease their records (GKE) have these; others show no series.
        let leasing: [Counter; 2] = [
            (
                "kaudit_source_ack_extensions_total",
                "Ack deadlines of records in flight extended (GKE modifyAckDeadline, per message).",
                |s| s.ack_extensions.load(Relaxed),
            ),
            (
                "kaudit_source_leases_expired_total",
                "Records let go in flight after the longest lease; the service delivers them again.",
                |s| s.leases_expired.load(Relaxed),
            ),
        ];
        let every = counters.into_iter().map(|c| (c, false));
        for ((name, help, value), only_nonzero) in
            every.chain(leasing.into_iter().map(|c| (c, true)))
        {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
            for s in sources.iter().filter(|s| !only_nonzero || value(s) > 0) {
                let _ = writeln!(o, "{name}{{source=\"{}\"}} {}", escape(&s.name), value(s));
            }
        }
        let _ = writeln!(o, "# HELP kaudit_source_dropped_total Records or events the source dropped, by reason.\n# TYPE kaudit_source_dropped_total counter");
        for s in sources.iter() {
            for (why, n) in lock(&s.dropped).iter() {
                let _ = writeln!(
                    o,
                    "kaudit_source_dropped_total{{source=\"{}\",reason=\"{why}\"}} {n}",
                    escape(&s.name)
                );
            }
        }
        let _ = writeln!(o, "# HELP kaudit_source_lag_seconds Age of the newest record read (now minus its time).\n# TYPE kaudit_source_lag_seconds gauge");
        for s in sources.iter() {
            let t = s.newest_record_ns.load(Relaxed);
            if t > 0 {
                let lag = now_ns.saturating_sub(t) as f64 / 1e9;
                let _ = writeln!(
                    o,
                    "kaudit_source_lag_seconds{{source=\"{}\"}} {lag:.3}",
                    escape(&s.name)
                );
            }
        }
        let _ = writeln!(o, "# HELP kaudit_source_checkpoint_age_seconds Time since the source's last acknowledgement or checkpoint.\n# TYPE kaudit_source_checkpoint_age_seconds gauge");
        for s in sources.iter() {
            if let Some(t) = *lock(&s.last_ack) {
                let _ = writeln!(
                    o,
                    "kaudit_source_checkpoint_age_seconds{{source=\"{}\"}} {:.3}",
                    escape(&s.name),
                    t.elapsed().as_secs_f64()
                );
            }
        }
        let _ = writeln!(o, "# HELP kaudit_source_failing_seconds How long the source has been failing (0 = healthy).\n# TYPE kaudit_source_failing_seconds gauge");
        for s in sources.iter() {
            let f = s.failing_for().map_or(0.0, |d| d.as_secs_f64());
            let _ = writeln!(
                o,
                "kaudit_source_failing_seconds{{source=\"{}\"}} {f:.3}",
                escape(&s.name)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn renders_per_source_counters_and_health() {
        let r = Registry::default();
        let s = r.add("file:/a\"b");
        let mut b = Batch::new(vec![Bytes::from_static(b"{}")], ());
        b.records = 3;
        b.dropped.push(("not_gke_audit", 2));
        s.read(&b);
        s.events.fetch_add(5, Relaxed);
        let mut o = String::new();
        r.render(&mut o);
        assert!(
            o.contains("kaudit_source_records_read_total{source=\"file:/a\\\"b\"} 3\n"),
            "{o}"
        );
        assert!(
            o.contains("kaudit_source_documents_total{source=\"file:/a\\\"b\"} 1\n"),
            "{o}"
        );
        assert!(
            o.contains("kaudit_source_events_total{source=\"file:/a\\\"b\"} 5\n"),
            "{o}"
        );
        assert!(o.contains("reason=\"not_gke_audit\"} 2\n"), "{o}");
        assert!(
            !o.contains("kaudit_source_lag_seconds{"),
            "no record time yet: {o}"
        );
        assert!(r.failing_longer_than(Duration::ZERO).is_none());
        s.failed();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            r.failing_longer_than(Duration::from_millis(1)).map(|x| x.0),
            Some("file:/a\"b".to_string())
        );
        assert!(r.failing_longer_than(Duration::from_secs(60)).is_none());
        s.acked();
        assert!(r.failing_longer_than(Duration::ZERO).is_none());
    }

    #[test]
    fn lease_counters_show_only_for_sources_that_lease() {
        let r = Registry::default();
        let file = r.add("file:/a");
        let gke = r.add("k8saudit-gke:s");
        let mut o = String::new();
        r.render(&mut o);
        assert!(
            o.contains("# TYPE kaudit_source_ack_extensions_total counter\n"),
            "{o}"
        );
        assert!(!o.contains("kaudit_source_ack_extensions_total{"), "{o}");
        gke.ack_extended(7);
        gke.leases_let_go(2);
        let mut o = String::new();
        r.render(&mut o);
        assert!(
            o.contains("kaudit_source_ack_extensions_total{source=\"k8saudit-gke:s\"} 7\n"),
            "{o}"
        );
        assert!(
            o.contains("kaudit_source_leases_expired_total{source=\"k8saudit-gke:s\"} 2\n"),
            "{o}"
        );
        assert!(
            !o.contains(&format!("ack_extensions_total{{source=\"{}\"}}", file.name)),
            "{o}"
        );
    }
}
