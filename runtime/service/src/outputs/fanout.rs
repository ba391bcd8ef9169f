//! One bounded queue and one thread per output, so that a stuck output (stdout into a pipe nobody reads,
//! a `program_output` that never reads, an http receiver that never answers) loses only its own alerts:
//! evaluation and the other outputs go on. Alerts that do not fit are dropped, counted as
//! `kaudit_output_alerts_total{output=...,result="dropped"}` and reported by rate-limited log lines
//! (`crate::logging`, cause `output_dropped`), or, with the `block` policy, evaluation waits for room.
//!
//! `close_all` ends them within a deadline: each output drains its queue and closes; an output still busy
//! at the deadline is abandoned (its thread is left to die with the process) and its undelivered alerts are
//! counted and returned.

use super::queue::{AlertQueue, FullPolicy, Popped, Pushed};
use super::{Alert, Output};
use crate::limited;
use crate::logging::LogGate;
use crate::server::metrics::Metrics;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often an idle output thread looks at the SIGHUP flag.
const IDLE_TICK: Duration = Duration::from_millis(250);
/// Alerts dropped because an output is stuck (one cause for all outputs: the line names the output).
static OUTPUT_DROPPED: LogGate = LogGate::new("output_dropped");

/// The queue settings of every output (`outputs_queue.capacity`, `kaudit.output_queue_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Alerts each output may hold before new ones are dropped (or wait, with `Block`).
    pub capacity: usize,
    pub policy: FullPolicy,
    /// `buffered_outputs`: flush when the queue runs empty instead of after every alert.
    pub buffered: bool,
}

struct Lane {
    name: String,
    queue: Arc<AlertQueue>,
    /// Sends once when the output's thread has closed the output.
    finished: Mutex<Receiver<()>>,
    /// `Output::abort_handle`, called when the lane is abandoned.
    abort: Option<Box<dyn Fn() + Send + Sync>>,
}

/// The running outputs.
pub struct OutputSet {
    lanes: Vec<Lane>,
    metrics: Arc<Metrics>,
    /// Undelivered alerts of `abandon_all`, reported by the next `close_all`.
    abandoned_earlier: AtomicU64,
}

impl OutputSet {
    /// Starts one thread per output. `reopen` is raised by SIGHUP; every output reopens once per raise.
    /// `capacities` may give an output its own capacity (by name), e.g. `http_output.buffer_size`.
    pub fn start(
        outputs: Vec<Box<dyn Output>>,
        settings: QueueSettings,
        capacities: &[(&str, usize)],
        reopen: Arc<AtomicBool>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<OutputSet> {
        let generation = Arc::new(AtomicU64::new(0));
        let mut lanes = Vec::new();
        for out in outputs {
            let name = out.name().to_string();
            let capacity = capacities
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(settings.capacity, |(_, c)| *c);
            let queue = Arc::new(AlertQueue::new(capacity, settings.policy));
            let (tx, finished) = std::sync::mpsc::channel();
            let abort = out.abort_handle();
            let runner = Runner {
                out,
                queue: queue.clone(),
                buffered: settings.buffered,
                reopen: reopen.clone(),
                generation: generation.clone(),
                metrics: metrics.clone(),
            };
            std::thread::Builder::new()
                .name(format!("kaudit-out-{name}"))
                .spawn(move || {
                    runner.run();
                    let _ = tx.send(());
                })?;
            lanes.push(Lane {
                name,
                queue,
                finished: Mutex::new(finished),
                abort,
            });
        }
        Ok(OutputSet {
            lanes,
            metrics,
            abandoned_earlier: AtomicU64::new(0),
        })
    }

    /// Hands `alert` to every output. Never waits with the drop policy. Returns the positions of the
    /// outputs whose full queue dropped it (empty, without allocating, in the normal case).
    pub fn send(&self, alert: Alert) -> Vec<usize> {
        let alert = Arc::new(alert);
        let mut dropped = Vec::new();
        for (i, lane) in self.lanes.iter().enumerate() {
            match lane.queue.push(alert.clone()) {
                Pushed::Queued => {
                    self.metrics
                        .output_queue_depth
                        .fetch_add(1, Ordering::Relaxed);
                }
                Pushed::Dropped => {
                    dropped.push(i);
                    self.metrics.output(&lane.name, "dropped");
                    limited!(
                        OUTPUT_DROPPED,
                        warn,
                        output = %lane.name,
                        "output queue full: alert dropped (the output is stuck or too slow)"
                    );
                }
            }
        }
        dropped
    }

    /// Closes every output, giving up at `deadline`. Returns the number of alerts not delivered (counted
    /// as dropped) by the outputs that were still busy then; it is logged once, here.
    pub fn close_all(&self, deadline: Instant) -> u64 {
        for lane in &self.lanes {
            lane.queue.close(deadline);
        }
        let mut lost = 0;
        for lane in &self.lanes {
            let left = deadline.saturating_duration_since(Instant::now());
            let finished = lane.finished.lock().unwrap_or_else(|p| p.into_inner());
            match finished.recv_timeout(left) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
                Err(RecvTimeoutError::Timeout) => lost += self.abandon(lane),
            }
        }
        lost + self.abandoned_earlier.swap(0, Ordering::SeqCst)
    }

    /// Gives up on every output at once (the shutdown deadline passed while evaluation was still
    /// running): releases evaluation workers waiting for room and drops what is queued.
    pub fn abandon_all(&self) {
        let n: u64 = self.lanes.iter().map(|l| self.abandon(l)).sum();
        self.abandoned_earlier.fetch_add(n, Ordering::SeqCst);
    }

    fn abandon(&self, lane: &Lane) -> u64 {
        let (queued, in_flight) = lane.queue.abandon();
        if let Some(abort) = &lane.abort {
            abort();
        }
        let n = queued + u64::from(in_flight);
        if n == 0 {
            return 0;
        }
        self.metrics.output_n(&lane.name, "dropped", n);
        self.metrics
            .output_queue_depth
            .fetch_sub(queued, Ordering::Relaxed);
        tracing::error!(
            output = %lane.name,
            undelivered = n,
            "output did not finish before the shutdown deadline; its pending alerts are lost"
        );
        n
    }
}

/// The thread of one output.
struct Runner {
    out: Box<dyn Output>,
    queue: Arc<AlertQueue>,
    buffered: bool,
    reopen: Arc<AtomicBool>,
    /// Bumped once per SIGHUP by whichever output thread sees the flag first.
    generation: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

impl Runner {
    fn run(mut self) {
        let mut seen = self.generation.load(Ordering::SeqCst);
        let mut dirty = false;
        loop {
            if self.reopen.swap(false, Ordering::SeqCst) {
                self.generation.fetch_add(1, Ordering::SeqCst);
            }
            let now = self.generation.load(Ordering::SeqCst);
            if now != seen {
                seen = now;
                if let Err(e) = self.out.reopen() {
                    tracing::error!(output = self.out.name(), error = %e, "cannot reopen output");
                }
            }
            // Buffered outputs are flushed whenever the queue runs empty, so a quiet period never leaves
            // alerts sitting in a buffer.
            if dirty && self.queue.is_empty() {
                if let Err(e) = self.out.flush() {
                    tracing::error!(output = self.out.name(), error = %e, "output flush failed");
                }
                dirty = false;
            }
            match self.queue.pop(IDLE_TICK) {
                Popped::Alert(alert) => {
                    self.metrics
                        .output_queue_depth
                        .fetch_sub(1, Ordering::Relaxed);
                    self.write(&alert);
                    dirty = self.buffered;
                    self.queue.done();
                }
                Popped::Idle => {}
                Popped::Finished => break,
            }
        }
        // `close_all` also stops waiting for this thread at the deadline, whatever `close` does.
        if let Err(e) = self.out.close(self.queue.deadline()) {
            tracing::error!(output = self.out.name(), error = %e, "output close failed");
        }
    }

    fn write(&mut self, alert: &Alert) {
        let o = &mut self.out;
        let res = o
            .write(alert)
            .and_then(|()| if self.buffered { Ok(()) } else { o.flush() });
        match res {
            Ok(()) => self.metrics.output(o.name(), "sent"),
            Err(e) => {
                self.metrics.output(o.name(), "failed");
                tracing::error!(output = o.name(), error = %e, rule = %alert.rule, "output failed");
            }
        }
    }
}
