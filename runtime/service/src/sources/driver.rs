//! The one loop that runs a pull [`Source`]: read a batch, split its documents into events
//! (`kaudit_engine::ingest`, as the webhook does), queue them (waiting for room), and hand the positions
//! of done batches back to the source in production order.

use super::stats::SourceStats;
use super::{Next, Source};
use crate::server::http::AppState;
use crate::server::metrics::EventDrop;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// First and largest wait after a failed `next_batch`.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Held by every queued job of a batch; when the last one is dropped (its events evaluated and their
/// alerts handed to every output, see `handoff`) the batch is done. A job dropped by a panic marks it failed.
#[derive(Debug)]
pub struct Completion {
    seq: u64,
    failed: AtomicBool,
    tx: UnboundedSender<Done>,
}

impl Completion {
    /// A completion reporting to `tx` (tests of the pipeline side).
    #[cfg(test)]
    pub(crate) fn new_for_test(seq: u64, tx: UnboundedSender<Done>) -> Completion {
        Completion {
            seq,
            failed: AtomicBool::new(false),
            tx,
        }
    }

    /// The batch must not be acknowledged (its evaluation did not finish).
    pub fn fail(&self) {
        self.failed.store(true, Relaxed);
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        let ok = !self.failed.load(Relaxed) && !std::thread::panicking();
        // The driver may be gone at shutdown; nothing is left to acknowledge then.
        let _ = self.tx.send(Done { seq: self.seq, ok });
    }
}

/// A batch finished evaluating (`ok`) or failed.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    seq: u64,
    ok: bool,
}

impl Done {
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// Positions of queued batches, released to `ack` only as a done prefix in production order.
struct AckOrder<P> {
    next_seq: u64,
    /// Position and state (`None` = in flight, `Some(ok)` = done) of every batch not yet acknowledged.
    pending: BTreeMap<u64, (P, Option<bool>)>,
    /// A batch failed: nothing from it on is ever acknowledged (it is read again after a restart).
    stuck: bool,
}

impl<P> AckOrder<P> {
    fn new() -> Self {
        AckOrder {
            next_seq: 0,
            pending: BTreeMap::new(),
            stuck: false,
        }
    }

    fn push(&mut self, position: P) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(seq, (position, None));
        seq
    }

    fn done(&mut self, d: Done) {
        if let Some(entry) = self.pending.get_mut(&d.seq) {
            entry.1 = Some(d.ok);
        }
    }

    /// Batches still being evaluated.
    fn in_flight(&self) -> usize {
        self.pending.values().filter(|(_, s)| s.is_none()).count()
    }

    /// The positions that may be acknowledged now, oldest first.
    fn ready(&mut self) -> Vec<P> {
        let mut out = Vec::new();
        while !self.stuck {
            match self.pending.first_entry() {
                Some(e) if e.get().1 == Some(true) => out.push(e.remove().0),
                Some(e) if e.get().1 == Some(false) => self.stuck = true,
                _ => break,
            }
        }
        out
    }
}

/// Runs `src` until it ends or `stop` turns true; then waits for its queued batches and delivers their
/// acknowledgements.
pub async fn run<S: Source>(
    mut src: S,
    state: Arc<AppState>,
    stats: Arc<SourceStats>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let name = src.name();
    src.attach(stats.clone());
    let (tx, mut rx) = unbounded_channel::<Done>();
    let mut order = AckOrder::new();
    let mut backoff = BACKOFF_MIN;
    loop {
        deliver(&mut src, &mut order, &mut rx, &stats, &name).await;
        if *stop.borrow() {
            break;
        }
        let next = tokio::select! {
            biased;
            _ = stop.changed() => break,
            r = src.next_batch() => r,
        };
        let batch = match next {
            Ok(Next::Batch(b)) => b,
            Ok(Next::Idle) => {
                stats.succeeded();
                continue;
            }
            Ok(Next::End) => {
                stats.succeeded();
                tracing::info!(source = %name, "source ended");
                break;
            }
            Err(e) => {
                stats.failed();
                tracing::warn!(source = %name, error = %e, retry_in = ?backoff, "source failed");
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        stats.succeeded();
        backoff = BACKOFF_MIN;
        stats.read(&batch);
        let done = Arc::new(Completion {
            seq: order.push(batch.position),
            failed: AtomicBool::new(false),
            tx: tx.clone(),
        });
        for doc in batch.docs {
            if !queue_doc(doc, &state, &stats, &done).await {
                done.fail();
                tracing::warn!(source = %name, "shutting down: the rest of a batch was not queued");
                break;
            }
        }
        // Without events in flight the batch is done right here.
        drop(done);
    }
    // Queued batches still complete (the workers run until the pipeline closes after us).
    while order.in_flight() > 0 {
        match rx.recv().await {
            Some(d) => order.done(d),
            None => break,
        }
    }
    deliver(&mut src, &mut order, &mut rx, &stats, &name).await;
}

/// Splits one document and queues its events; false when the pipeline is shutting down.
async fn queue_doc(
    doc: Bytes,
    state: &Arc<AppState>,
    stats: &SourceStats,
    done: &Arc<Completion>,
) -> bool {
    let max_event = state.limits.max_event_size;
    let split = match state.splitter.split(&doc, max_event).await {
        Ok(s) => s,
        Err(e) => {
            stats.dropped("not_audit", 1);
            tracing::warn!(source = %stats.name, "document dropped: {e}");
            return true;
        }
    };
    let m = &state.metrics;
    for _ in 0..split.oversized {
        m.event_dropped(EventDrop::Oversized);
    }
    for _ in 0..split.invalid {
        m.event_dropped(EventDrop::Invalid);
    }
    if split.oversized > 0 {
        stats.dropped("oversized", split.oversized);
    }
    if split.invalid > 0 {
        stats.dropped("invalid_event", split.invalid);
    }
    // Lag: the newest event time, for sources whose records carry no time of their own.
    if let Some(newest) = split.index.iter().filter_map(|ix| ix.time_ns()).max() {
        stats.saw_record_time(newest);
    }
    let n = split.index.len() as u64;
    m.events_received
        .fetch_add(n + split.oversized + split.invalid, Relaxed);
    match state
        .pipeline
        .submit_waiting(doc, split.tape, split.index, done.clone())
        .await
    {
        Ok(()) => {
            stats.events.fetch_add(n, Relaxed);
            true
        }
        Err(_) => false,
    }
}

/// Collects finished batches and acknowledges the done prefix.
async fn deliver<S: Source>(
    src: &mut S,
    order: &mut AckOrder<S::Position>,
    rx: &mut UnboundedReceiver<Done>,
    stats: &SourceStats,
    name: &str,
) {
    while let Ok(d) = rx.try_recv() {
        if !d.ok {
            tracing::error!(source = %name, "a batch failed in evaluation: it and later batches stay unacknowledged");
        }
        order.done(d);
    }
    let ready = order.ready();
    if ready.is_empty() {
        return;
    }
    match src.ack(ready).await {
        Ok(()) => stats.acked(),
        Err(e) => {
            stats.failed();
            tracing::warn!(source = %name, error = %e, "acknowledgement failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(seq: u64, ok: bool) -> Done {
        Done { seq, ok }
    }

    #[test]
    fn acks_are_released_in_production_order() {
        let mut o = AckOrder::new();
        let (a, b, c) = (o.push("a"), o.push("b"), o.push("c"));
        o.done(d(c, true));
        assert!(o.ready().is_empty(), "c waits for a and b");
        o.done(d(a, true));
        assert_eq!(o.ready(), vec!["a"]);
        assert_eq!(o.in_flight(), 1);
        o.done(d(b, true));
        assert_eq!(o.ready(), vec!["b", "c"]);
        assert_eq!(o.in_flight(), 0);
    }

    #[test]
    fn a_failed_batch_blocks_every_later_ack() {
        let mut o = AckOrder::new();
        let (a, b, c) = (o.push(1), o.push(2), o.push(3));
        o.done(d(a, true));
        o.done(d(b, false));
        o.done(d(c, true));
        assert_eq!(o.ready(), vec![1]);
        let e = o.push(4);
        o.done(d(e, true));
        assert!(o.ready().is_empty());
    }

    #[test]
    fn completion_reports_once_dropped_and_failure_sticks() {
        let (tx, mut rx) = unbounded_channel();
        let c = Arc::new(Completion {
            seq: 7,
            failed: AtomicBool::new(false),
            tx: tx.clone(),
        });
        let c2 = c.clone();
        drop(c);
        assert!(rx.try_recv().is_err(), "a job still holds it");
        drop(c2);
        let got = rx.try_recv().unwrap();
        assert_eq!((got.seq, got.ok), (7, true));
        let c = Completion {
            seq: 8,
            failed: AtomicBool::new(false),
            tx,
        };
        c.fail();
        drop(c);
        assert!(!rx.try_recv().unwrap().ok);
    }
}
