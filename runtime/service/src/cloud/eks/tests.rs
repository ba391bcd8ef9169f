//! The poller against an in-memory log group that behaves like `FilterLogEvents`: events sorted by
//! timestamp, `startTime` inclusive, pages of at most `limit` events with a token to the next one.

use super::client::{CallError, LogEvent, Page};
use super::*;
use std::sync::{Arc, Mutex};

/// Each call's start time and token.
type Calls = Arc<Mutex<Vec<(i64, Option<String>)>>>;

#[derive(Clone, Default)]
struct FakeGroup {
    events: Arc<Mutex<Vec<LogEvent>>>,
    calls: Calls,
    fail_next: Arc<Mutex<Option<String>>>,
}

impl FakeGroup {
    fn put(&self, stream: &str, timestamp: i64, id: &str) {
        let mut ev = self.events.lock().unwrap();
        ev.push(LogEvent {
            stream: stream.into(),
            timestamp,
            id: id.into(),
            message: format!("{{\"auditID\":\"{id}\"}}"),
        });
        ev.sort_by_key(|e| e.timestamp);
    }
}

impl PageSource for FakeGroup {
    async fn fetch(
        &mut self,
        log_group: &str,
        start: i64,
        next_token: Option<String>,
        limit: i32,
    ) -> Result<Page, CallError> {
        assert_eq!(log_group, "/aws/eks/c1/cluster");
        self.calls.lock().unwrap().push((start, next_token.clone()));
        if let Some(m) = self.fail_next.lock().unwrap().take() {
            return Err(CallError(m));
        }
        let all: Vec<LogEvent> = self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.timestamp >= start)
            .cloned()
            .collect();
        let from: usize = next_token.map(|t| t.parse().unwrap()).unwrap_or(0);
        let to = (from + limit as usize).min(all.len());
        Ok(Page {
            events: all[from..to].to_vec(),
            next_token: (to < all.len()).then(|| to.to_string()),
        })
    }
}

fn config(buffer_size: usize) -> EksConfig {
    EksConfig {
        origin: "plugins[0]".into(),
        cluster: "c1".into(),
        region: None,
        profile: None,
        shift: Duration::from_secs(1),
        polling_interval: Duration::from_millis(10),
        buffer_size,
        max_event_size: 1000,
    }
}

/// Audit IDs of every batch until the poller goes idle.
async fn drain<S: PageSource>(p: &mut EksPoller<S>) -> (Vec<String>, Option<Cursors>) {
    let mut ids = Vec::new();
    let mut last = None;
    while let EksNext::Batch(b) = p.next_batch().await.unwrap() {
        for d in &b.docs {
            let v: serde_json::Value = serde_json::from_slice(d).unwrap();
            ids.push(v["auditID"].as_str().unwrap().to_string());
        }
        last = Some(b.position);
    }
    (ids, last)
}

fn checkpoint_of(c: Cursors) -> Option<Checkpoint> {
    Some(Checkpoint {
        log_group: "/aws/eks/c1/cluster".into(),
        cursors: c,
    })
}

#[tokio::test]
async fn pages_are_followed_and_batches_hold_at_most_buffer_size() {
    let g = FakeGroup::default();
    let now = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()) as i64;
    for i in 0..7 {
        g.put("kube-apiserver-audit-a", now + i, &format!("e{i}"));
    }
    let mut p = EksPoller::new(config(3), g.clone(), None).unwrap();
    let mut sizes = Vec::new();
    while let EksNext::Batch(b) = p.next_batch().await.unwrap() {
        sizes.push(b.docs.len());
    }
    assert_eq!(sizes, [3, 3, 1]);
    let calls = g.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3, "three pages of three: {calls:?}");
    assert!(calls[0].0 <= now - 1000 + 50, "first start is now - shift");
}

#[tokio::test]
async fn events_sharing_a_millisecond_across_polls_are_taken_once() {
    let g = FakeGroup::default();
    g.put("kube-apiserver-audit-a", 5_000, "a1");
    g.put("kube-apiserver-audit-a", 5_000, "a2");
    let mut p = EksPoller::new(config(100), g.clone(), checkpoint_of(Cursors::default())).unwrap();
    p.first_start = 0;
    assert_eq!(drain(&mut p).await.0, ["a1", "a2"]);
    // Ingested after that poll, same millisecond, plus a later one and one in another stream that is
    // older than stream a's position but within the lookback.
    g.put("kube-apiserver-audit-a", 5_000, "a3");
    g.put("kube-apiserver-audit-a", 5_001, "a4");
    g.put("kube-apiserver-audit-b", 4_500, "b1");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (ids, _) = drain(&mut p).await;
    let mut ids = ids;
    ids.sort();
    assert_eq!(ids, ["a3", "a4", "b1"]);
    // The next poll starts 1 s before the newest position and finds nothing new.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(drain(&mut p).await.0.is_empty());
    assert_eq!(g.calls.lock().unwrap().last().unwrap().0, 4_001);
}

#[tokio::test]
async fn a_restart_from_any_acknowledged_batch_loses_and_repeats_nothing() {
    let g = FakeGroup::default();
    let mut want = Vec::new();
    for i in 0..20 {
        // Pairs of events share a millisecond; two streams interleave.
        let stream = if i % 3 == 0 {
            "kube-apiserver-audit-b"
        } else {
            "kube-apiserver-audit-a"
        };
        g.put(stream, 10_000 + i / 2, &format!("e{i:02}"));
        want.push(format!("e{i:02}"));
    }
    // Stop after each possible number of acknowledged batches, restart from that checkpoint.
    for acked in 0..=7 {
        let mut p =
            EksPoller::new(config(3), g.clone(), checkpoint_of(Cursors::default())).unwrap();
        p.first_start = 0;
        let mut seen = Vec::new();
        let mut position = Cursors::default();
        for _ in 0..acked {
            match p.next_batch().await.unwrap() {
                EksNext::Batch(b) => {
                    for d in &b.docs {
                        let v: serde_json::Value = serde_json::from_slice(d).unwrap();
                        seen.push(v["auditID"].as_str().unwrap().to_string());
                    }
                    position = b.position;
                }
                EksNext::Idle => break,
            }
        }
        // Through the file format, as a restart would read it.
        let text = serde_json::to_string(&p.checkpoint(position)).unwrap();
        let ck: Checkpoint = serde_json::from_str(&text).unwrap();
        let mut q = EksPoller::new(config(3), g.clone(), Some(ck)).unwrap();
        q.first_start = 0;
        seen.extend(drain(&mut q).await.0);
        seen.sort();
        assert_eq!(seen, want, "after {acked} acknowledged batches");
    }
}

#[tokio::test]
async fn truncated_and_oversized_messages_are_counted_not_passed_on() {
    let g = FakeGroup::default();
    g.put("kube-apiserver-audit-a", 1, "ok");
    g.events.lock().unwrap().push(LogEvent {
        stream: "kube-apiserver-audit-a".into(),
        timestamp: 2,
        id: "t".into(),
        message: "{\"kind\":\"Event\",\"auditID\":\"abc-1\",\"x\":\"[Truncated...]".into(),
    });
    g.events.lock().unwrap().push(LogEvent {
        stream: "kube-apiserver-audit-a".into(),
        timestamp: 3,
        id: "big".into(),
        message: format!("{{\"auditID\":\"big\",\"pad\":\"{}\"}}", "x".repeat(2000)),
    });
    let mut p = EksPoller::new(config(100), g.clone(), checkpoint_of(Cursors::default())).unwrap();
    p.first_start = 0;
    let EksNext::Batch(b) = p.next_batch().await.unwrap() else {
        panic!("expected a batch")
    };
    assert_eq!(
        (b.records, b.docs.len(), b.truncated, b.too_large),
        (3, 1, 1, 1)
    );
    assert_eq!(b.newest_record_ns, Some(3_000_000));
    assert_eq!(audit_id("{\"auditID\": \"abc-1\",\"x"), Some("abc-1"));
    assert_eq!(audit_id("{\"auditID\":17}"), None);
}

#[tokio::test]
async fn a_failed_call_is_reported_and_the_poll_goes_on_after_it() {
    let g = FakeGroup::default();
    g.put("kube-apiserver-audit-a", 1, "e1");
    *g.fail_next.lock().unwrap() = Some("ThrottlingException: slow down".into());
    let mut p = EksPoller::new(config(100), g.clone(), checkpoint_of(Cursors::default())).unwrap();
    p.first_start = 0;
    let err = p.next_batch().await.unwrap_err();
    assert!(err.0.contains("Throttling"));
    assert_eq!(drain(&mut p).await.0, ["e1"]);
}

#[test]
fn a_checkpoint_of_another_cluster_is_refused() {
    let ck = Checkpoint {
        log_group: "/aws/eks/other/cluster".into(),
        cursors: Cursors::default(),
    };
    let err = EksPoller::new(config(1), FakeGroup::default(), Some(ck))
        .err()
        .unwrap();
    assert!(err.contains("/aws/eks/other/cluster"), "{err}");
}
