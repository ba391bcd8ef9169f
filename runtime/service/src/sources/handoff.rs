//! Releasing a pull source's batch only once its alerts were handed to every output.
//!
//! Every output has its own FIFO queue and thread (`outputs::fanout`), and every alert is offered to all
//! of them in one order (numbered under a lock here). An output "has" an alert once it wrote it (or
//! failed to: retrying the batch would not help it) or its full queue dropped it (counted as dropped).
//! So "every alert of this job was handed over" is "every output has as many alerts as had been sent
//! when the job's last alert was sent", and `Handoff` counts, per output, the alerts it has, holding each
//! job's completion until the slowest output reaches the job's mark. A crash then cannot lose an alert
//! whose batch was acknowledged: it was in every output's hands before the acknowledgement. An output
//! abandoned at the shutdown deadline never reaches the mark, so its batches are not acknowledged and are
//! read again after a restart. A drop counts when it happens, so while a stuck output drops, a batch may
//! be released before that output wrote the alerts queued ahead of the drop: with the drop policy a stuck
//! output's alerts carry no guarantee anyway (`output_queue_policy: block` keeps it).

use super::driver::Completion;
use crate::outputs::fanout::OutputSet;
use crate::outputs::{Alert, Output};
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Default)]
pub struct Handoff {
    /// Held while an alert is numbered and queued, so that queue order is numbering order.
    send_order: Mutex<()>,
    sent: AtomicU64,
    waiting: Mutex<Waiting>,
    /// No output to wait for: completions are released at once.
    immediate: bool,
}

#[derive(Debug, Default)]
struct Waiting {
    /// Alerts each output has (written or dropped), by output position.
    has: Vec<u64>,
    /// Completions by the number of alerts that must be handed over first.
    marks: BTreeMap<u64, Vec<Arc<Completion>>>,
}

impl Waiting {
    /// Alerts every output has.
    fn handed(&self) -> u64 {
        self.has.iter().copied().min().unwrap_or(0)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Handoff {
    /// Wraps every output so that it reports each alert it is handed; the outputs keep their order, which
    /// is the order `OutputSet` gives its lanes.
    pub fn wrap(outputs: &mut Vec<Box<dyn Output>>) -> Arc<Handoff> {
        let handoff = Arc::new(Handoff {
            immediate: outputs.is_empty(),
            waiting: Mutex::new(Waiting {
                has: vec![0; outputs.len()],
                marks: BTreeMap::new(),
            }),
            ..Handoff::default()
        });
        let inner = std::mem::take(outputs);
        outputs.extend(inner.into_iter().enumerate().map(|(lane, inner)| {
            Box::new(Reporting {
                inner,
                lane,
                handoff: handoff.clone(),
            }) as Box<dyn Output>
        }));
        handoff
    }

    /// Offers `alert` to every output (waiting for room only with the `block` policy), numbering it; the
    /// outputs that dropped it have it.
    pub fn send(&self, outputs: &OutputSet, alert: Alert) {
        let _order = lock(&self.send_order);
        let dropped = outputs.send(alert);
        self.sent.fetch_add(1, Ordering::SeqCst);
        for lane in dropped {
            self.has_one(lane);
        }
    }

    /// Releases `done` once the outputs were handed every alert sent so far (the caller's included).
    pub fn release_after_sent(&self, done: Arc<Completion>) {
        if self.immediate {
            return;
        }
        let mark = self.sent.load(Ordering::SeqCst);
        let mut w = lock(&self.waiting);
        if w.handed() < mark {
            w.marks.entry(mark).or_default().push(done);
        }
    }

    /// Output `lane` has one more alert.
    fn has_one(&self, lane: usize) {
        let released = {
            let mut w = lock(&self.waiting);
            if let Some(n) = w.has.get_mut(lane) {
                *n += 1;
            }
            let next = w.handed() + 1;
            let later = w.marks.split_off(&next);
            std::mem::replace(&mut w.marks, later)
        };
        // Dropping the completions (outside the lock) reports the batches done.
        drop(released);
    }
}

/// An output reporting every alert it was handed (whatever the write's outcome: a failed write is the
/// output's to count and report).
struct Reporting {
    inner: Box<dyn Output>,
    lane: usize,
    handoff: Arc<Handoff>,
}

impl Output for Reporting {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        let r = self.inner.write(alert);
        self.handoff.has_one(self.lane);
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.inner.reopen()
    }

    fn close(&mut self, deadline: Instant) -> io::Result<()> {
        self.inner.close(deadline)
    }

    fn abort_handle(&self) -> Option<Box<dyn Fn() + Send + Sync>> {
        self.inner.abort_handle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::fanout::QueueSettings;
    use crate::outputs::queue::FullPolicy;
    use crate::server::metrics::Metrics;
    use kaudit_frontend::ir::Priority;
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc::{channel, Receiver};
    use std::time::Duration;
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

    /// Takes an alert only when the test lets it (one permit per alert).
    struct Gated(Receiver<()>);
    impl Output for Gated {
        fn name(&self) -> &str {
            "gated"
        }
        fn write(&mut self, _: &Alert) -> io::Result<()> {
            self.0
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| io::Error::other("no permit"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Sink;
    impl Output for Sink {
        fn name(&self) -> &str {
            "sink"
        }
        fn write(&mut self, _: &Alert) -> io::Result<()> {
            Ok(())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn alert() -> Alert {
        Alert {
            rule: "r".into(),
            priority: Priority::Warning,
            line: b"x".to_vec(),
            json: false,
        }
    }

    fn start(outputs: Vec<Box<dyn Output>>, capacity: usize) -> (Arc<Handoff>, OutputSet) {
        let mut outputs = outputs;
        let h = Handoff::wrap(&mut outputs);
        let settings = QueueSettings {
            capacity,
            policy: FullPolicy::Drop,
            buffered: false,
        };
        let reopen = Arc::new(AtomicBool::new(false));
        let set = OutputSet::start(outputs, settings, &[], reopen, Arc::new(Metrics::default()))
            .expect("output threads start");
        (h, set)
    }

    /// The sequence numbers of the completions released within a short wait.
    fn released(
        rx: &mut UnboundedReceiver<super::super::driver::Done>,
        wait: Duration,
    ) -> Vec<u64> {
        let end = Instant::now() + wait;
        let mut got = Vec::new();
        while Instant::now() < end {
            while let Ok(d) = rx.try_recv() {
                got.push(d.seq());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        got
    }

    #[test]
    fn a_completion_waits_until_the_slowest_output_has_the_alerts_sent_before_it() {
        let (permit, gate) = channel();
        let (h, set) = start(vec![Box::new(Sink), Box::new(Gated(gate))], 16);
        let (done_tx, mut done_rx) = unbounded_channel();
        h.send(&set, alert());
        h.send(&set, alert());
        h.release_after_sent(Arc::new(Completion::new_for_test(1, done_tx.clone())));
        h.send(&set, alert());
        h.release_after_sent(Arc::new(Completion::new_for_test(2, done_tx)));
        let short = Duration::from_millis(100);
        // The sink took all three at once; the gated output none yet.
        assert!(released(&mut done_rx, short).is_empty());
        permit.send(()).unwrap();
        assert!(released(&mut done_rx, short).is_empty(), "1 of 2 alerts");
        permit.send(()).unwrap();
        assert_eq!(released(&mut done_rx, short), vec![1]);
        permit.send(()).unwrap();
        assert_eq!(released(&mut done_rx, short), vec![2]);
        assert_eq!(set.close_all(Instant::now() + Duration::from_secs(2)), 0);
    }

    #[test]
    fn an_alert_a_full_queue_dropped_does_not_hold_the_batch() {
        // Capacity 1 and a writer that never gets a permit: the first alert sits in the write, the second
        // in the queue, the third is dropped. The sink has all three; the gated output "has" only the
        // dropped one, so a completion after the third alert still waits for the other two.
        let (_permit, gate) = channel();
        let (h, set) = start(vec![Box::new(Sink), Box::new(Gated(gate))], 1);
        let (done_tx, mut done_rx) = unbounded_channel();
        h.send(&set, alert());
        std::thread::sleep(Duration::from_millis(50)); // the gated thread takes the first into its write
        h.send(&set, alert());
        h.send(&set, alert());
        h.release_after_sent(Arc::new(Completion::new_for_test(7, done_tx)));
        assert!(released(&mut done_rx, Duration::from_millis(100)).is_empty());
        set.abandon_all();
    }

    #[test]
    fn without_outputs_completions_are_released_at_once() {
        let (h, set) = start(Vec::new(), 4);
        let (done_tx, mut done_rx) = unbounded_channel();
        h.send(&set, alert());
        h.release_after_sent(Arc::new(Completion::new_for_test(5, done_tx)));
        assert_eq!(done_rx.try_recv().map(|d| d.seq()).ok(), Some(5));
    }
}
