//! Releasing a pull source's batch only once its alerts were handed to every output.
//!
//! The output queue is a FIFO with one consumer (the dispatcher), which hands each alert to the outputs
//! in order. So "every alert of this job was handed over" is "the outputs have been handed as many
//! alerts as had been sent when the job's last alert was sent". `Handoff` numbers alerts as they are
//! sent (under a lock, so queue order is numbering order), counts them as the last output takes them,
//! and holds each job's completion until the count reaches the job's mark. A crash then cannot lose an
//! alert whose batch was acknowledged: it was in an output's hands before the acknowledgement.

use super::driver::Completion;
use crate::outputs::{Alert, Output};
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SendError, SyncSender};
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
    handed: u64,
    /// Completions by the number of alerts that must be handed over first.
    marks: BTreeMap<u64, Vec<Arc<Completion>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Handoff {
    /// Wraps the last of `outputs` so that it reports each alert it is handed.
    pub fn wrap(outputs: &mut Vec<Box<dyn Output>>) -> Arc<Handoff> {
        let handoff = Arc::new(Handoff {
            immediate: outputs.is_empty(),
            ..Handoff::default()
        });
        if let Some(last) = outputs.pop() {
            outputs.push(Box::new(Reporting {
                inner: last,
                handoff: handoff.clone(),
            }));
        }
        handoff
    }

    /// Queues `alert` (blocking while the queue is full), numbering it.
    pub fn send(&self, tx: &SyncSender<Alert>, alert: Alert) -> Result<(), SendError<Alert>> {
        let _order = lock(&self.send_order);
        tx.send(alert)?;
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Releases `done` once the outputs were handed every alert sent so far (the caller's included).
    pub fn release_after_sent(&self, done: Arc<Completion>) {
        if self.immediate {
            return;
        }
        let mark = self.sent.load(Ordering::SeqCst);
        let mut w = lock(&self.waiting);
        if w.handed < mark {
            w.marks.entry(mark).or_default().push(done);
        }
    }

    /// The last output was handed one more alert.
    fn handed(&self) {
        let released = {
            let mut w = lock(&self.waiting);
            w.handed += 1;
            let next = w.handed + 1;
            let later = w.marks.split_off(&next);
            std::mem::replace(&mut w.marks, later)
        };
        // Dropping the completions (outside the lock) reports the batches done.
        drop(released);
    }
}

/// The last output, reporting every alert it was handed (whatever the write's outcome: a failed write
/// is the output's to count and report; retrying the batch would not help it).
struct Reporting {
    inner: Box<dyn Output>,
    handoff: Arc<Handoff>,
}

impl Output for Reporting {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        let r = self.inner.write(alert);
        self.handoff.handed();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_frontend::ir::Priority;
    use tokio::sync::mpsc::unbounded_channel;

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

    #[test]
    fn a_completion_waits_for_the_alerts_sent_before_it() {
        let mut outs: Vec<Box<dyn Output>> = vec![Box::new(Sink), Box::new(Sink)];
        let h = Handoff::wrap(&mut outs);
        assert_eq!(outs.len(), 2);
        assert_eq!(
            outs[1].name(),
            "sink",
            "the wrapper keeps the output's name"
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(10);
        let (done_tx, mut done_rx) = unbounded_channel();
        h.send(&tx, alert()).unwrap();
        h.send(&tx, alert()).unwrap();
        h.release_after_sent(Arc::new(Completion::new_for_test(1, done_tx.clone())));
        h.send(&tx, alert()).unwrap();
        h.release_after_sent(Arc::new(Completion::new_for_test(2, done_tx)));
        // The dispatcher hands queued alerts to the outputs, the last one reporting.
        let mut handed = 0;
        while let Ok(a) = rx.try_recv() {
            for o in outs.iter_mut() {
                o.write(&a).unwrap();
            }
            handed += 1;
            let got: Vec<u64> = std::iter::from_fn(|| done_rx.try_recv().ok())
                .map(|d| d.seq())
                .collect();
            match handed {
                1 => assert!(got.is_empty()),
                2 => assert_eq!(got, vec![1]),
                _ => assert_eq!(got, vec![2]),
            }
        }
        assert_eq!(handed, 3);
    }

    #[test]
    fn without_outputs_completions_are_released_at_once() {
        let mut outs: Vec<Box<dyn Output>> = Vec::new();
        let h = Handoff::wrap(&mut outs);
        let (done_tx, mut done_rx) = unbounded_channel();
        h.release_after_sent(Arc::new(Completion::new_for_test(5, done_tx)));
        assert_eq!(done_rx.try_recv().map(|d| d.seq()).ok(), Some(5));
    }
}
