//! The evaluation pipeline: a bounded queue of accepted events, one evaluation worker per core, and a
//! bounded queue of alerts to the output dispatcher.
//!
//! Admission is all-or-nothing per request: `submit` reserves queue room for every event of a body or
//! refuses the whole body (the webhook then answers 503 and the API server retries), so an accepted event
//! is never dropped for lack of room. Room is given back only after the event's alerts have been handed to
//! the output queue, so a slow output pushes back all the way to the HTTP answer.

use super::admission::BodyBytes;
use super::metrics::{EventDrop, Metrics, Refusal};
use crate::config::PipelineConfig;
use crate::limited;
use crate::logging::LogGate;
use crate::outputs::{self, Alert, Output};
use crate::sources::driver::Completion;
use crate::sources::handoff::Handoff;
use bytes::Bytes;
use kaudit_engine::alert::AlertFormat;
use kaudit_engine::engine::{Engine, Plan};
use kaudit_engine::event::Event;
use kaudit_engine::json::Tok;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Events per work item: big batches spread over the workers, small ones stay cheap.
const CHUNK: usize = 32;

/// Events a client can make invalid at will (rate-limited log lines; the counters have every one).
static INVALID_EVENT: LogGate = LogGate::new("invalid_event");

struct Job {
    body: Bytes,
    /// The tape the webhook built for the whole body (shared by the body's jobs).
    tape: Arc<Vec<Tok>>,
    /// Tape index of each event's object.
    events: Vec<usize>,
    /// `evt.num` of the first event.
    first_num: u64,
    /// Queue room held until the job is done.
    _room: Option<OwnedSemaphorePermit>,
    /// The body's bytes in the byte budget, held until every job of the body is done.
    _bytes: Option<Arc<BodyBytes>>,
    /// A pull source's batch: done when the last of its jobs lets go of it, after the job's alerts
    /// were handed to the outputs (`sources::handoff`).
    done: Option<Arc<Completion>>,
}

impl Drop for Job {
    fn drop(&mut self) {
        // Dropped by a panicking worker: the batch's events were not all evaluated.
        if std::thread::panicking() {
            if let Some(d) = &self.done {
                d.fail();
            }
        }
    }
}

/// What the jobs of one submission hold until the last of them is done.
struct Held {
    /// A webhook body's reservation in the byte budget.
    bytes: Option<BodyBytes>,
    /// A pull source's batch (see `Job::done`).
    done: Option<Arc<Completion>>,
}

/// What evaluation needs, shared by the workers.
pub struct EvalContext {
    pub engine: Arc<dyn Engine>,
    pub plan: Plan,
    pub format: AlertFormat,
}

pub struct Pipeline {
    room: Arc<Semaphore>,
    capacity: usize,
    jobs: Mutex<Option<Sender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
    next_num: AtomicU64,
    metrics: Arc<Metrics>,
}

impl Pipeline {
    /// Starts the workers and the output dispatcher.
    pub fn start(
        ctx: EvalContext,
        outputs: Vec<Box<dyn Output>>,
        cfg: &PipelineConfig,
        buffered: bool,
        reopen: Arc<AtomicBool>,
        metrics: Arc<Metrics>,
        output_close_timeout: Duration,
    ) -> std::io::Result<Pipeline> {
        let (alert_tx, alert_rx) =
            std::sync::mpsc::sync_channel::<Alert>(cfg.output_queue_capacity.max(1));
        // Pull sources' batches are done only once their alerts were handed to the outputs.
        let mut outputs = outputs;
        let handoff = Handoff::wrap(&mut outputs);
        let m = metrics.clone();
        let dispatcher = std::thread::Builder::new()
            .name("kaudit-outputs".into())
            .spawn(move || {
                outputs::dispatch(alert_rx, outputs, buffered, reopen, m, output_close_timeout)
            })?;
        let (job_tx, job_rx) = std::sync::mpsc::channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let ctx = Arc::new(ctx);
        let first_time = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();
        for i in 0..cfg.workers.max(1) {
            let w = Worker {
                ctx: ctx.clone(),
                jobs: job_rx.clone(),
                alerts: alert_tx.clone(),
                handoff: handoff.clone(),
                metrics: metrics.clone(),
                first_time: first_time.clone(),
            };
            workers.push(
                std::thread::Builder::new()
                    .name(format!("kaudit-eval-{i}"))
                    .spawn(move || w.run())?,
            );
        }
        Ok(Pipeline {
            room: Arc::new(Semaphore::new(cfg.queue_capacity.max(1))),
            capacity: cfg.queue_capacity.max(1),
            jobs: Mutex::new(Some(job_tx)),
            workers: Mutex::new(workers),
            dispatcher: Mutex::new(Some(dispatcher)),
            next_num: AtomicU64::new(1),
            metrics,
        })
    }

    /// Queues every event of `body` or none of them. `tape` is the body's tape (from the webhook's one
    /// parse) and `events` the tape indexes of the events' objects: workers do not parse again. `bytes`
    /// (the body's reservation in the byte budget) is released when the last of its events is evaluated.
    pub fn submit(
        &self,
        body: Bytes,
        tape: Vec<Tok>,
        events: Vec<usize>,
        bytes: Option<BodyBytes>,
    ) -> Result<(), Refusal> {
        if events.is_empty() {
            return Ok(());
        }
        let jobs = lock(&self.jobs);
        let Some(tx) = jobs.as_ref() else {
            return Err(Refusal::ShuttingDown);
        };
        let room = self
            .room
            .clone()
            .try_acquire_many_owned(self.room_for(events.len()))
            .map_err(|_| Refusal::QueueFull)?;
        self.enqueue(tx, room, body, tape, events, Held { bytes, done: None })
    }

    /// Queue room to reserve for `n` events: a body with more events than the whole queue still gets in
    /// once the queue is empty.
    fn room_for(&self, n: usize) -> u32 {
        u32::try_from(n.min(self.capacity)).unwrap_or(u32::MAX)
    }

    /// Like `submit` for a pull source (`sources::driver`): waits for queue room instead of refusing, and
    /// holds `done` until every event was evaluated and every output was handed its alerts.
    pub async fn submit_waiting(
        &self,
        body: Bytes,
        tape: Vec<Tok>,
        events: Vec<usize>,
        done: Arc<Completion>,
    ) -> Result<(), Refusal> {
        if events.is_empty() {
            return Ok(());
        }
        let room = self
            .room
            .clone()
            .acquire_many_owned(self.room_for(events.len()))
            .await
            .map_err(|_| Refusal::ShuttingDown)?;
        let jobs = lock(&self.jobs);
        let Some(tx) = jobs.as_ref() else {
            return Err(Refusal::ShuttingDown);
        };
        self.enqueue(
            tx,
            room,
            body,
            tape,
            events,
            Held {
                bytes: None,
                done: Some(done),
            },
        )
    }

    /// Splits reserved events into jobs and sends them to the workers; each job holds `held`.
    fn enqueue(
        &self,
        tx: &Sender<Job>,
        room: OwnedSemaphorePermit,
        body: Bytes,
        tape: Vec<Tok>,
        events: Vec<usize>,
        held: Held,
    ) -> Result<(), Refusal> {
        let Held { bytes, done } = held;
        let n = events.len();
        let mut room = Some(room);
        let first_num = self.next_num.fetch_add(n as u64, Relaxed);
        self.metrics.queue_depth.fetch_add(n as u64, Relaxed);
        self.metrics.events_queued.fetch_add(n as u64, Relaxed);
        let tape = Arc::new(tape);
        let bytes = bytes.map(Arc::new);
        let mut offset = 0;
        let mut chunks = events.chunks(CHUNK).peekable();
        while let Some(chunk) = chunks.next() {
            let part = if chunks.peek().is_none() {
                room.take()
            } else {
                room.as_mut()
                    .and_then(|r| r.split(chunk.len().min(r.num_permits())))
            };
            let job = Job {
                body: body.clone(),
                tape: tape.clone(),
                events: chunk.to_vec(),
                first_num: first_num + offset,
                _room: part,
                _bytes: bytes.clone(),
                done: done.clone(),
            };
            offset += chunk.len() as u64;
            if tx.send(job).is_err() {
                // Workers are gone (cannot happen before close); say so rather than lose events silently.
                tracing::error!("evaluation workers stopped; refusing events");
                return Err(Refusal::ShuttingDown);
            }
        }
        Ok(())
    }

    /// Events accepted and not yet evaluated.
    pub fn depth(&self) -> u64 {
        self.metrics.queue_depth.load(Relaxed)
    }

    /// Stops accepting, evaluates everything queued, then closes the outputs. Blocking.
    pub fn close_and_wait(&self) {
        lock(&self.jobs).take();
        let workers: Vec<_> = lock(&self.workers).drain(..).collect();
        for w in workers {
            if w.join().is_err() {
                tracing::error!("an evaluation worker panicked");
            }
        }
        if let Some(d) = lock(&self.dispatcher).take() {
            if d.join().is_err() {
                tracing::error!("the output dispatcher panicked");
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Worker {
    ctx: Arc<EvalContext>,
    jobs: Arc<Mutex<Receiver<Job>>>,
    alerts: SyncSender<Alert>,
    handoff: Arc<Handoff>,
    metrics: Arc<Metrics>,
    first_time: Arc<AtomicU64>,
}

impl Worker {
    fn run(self) {
        let mut matches = Vec::new();
        let mut buf = Vec::with_capacity(4096);
        loop {
            let mut job = match lock(&self.jobs).recv() {
                Ok(j) => j,
                Err(_) => return,
            };
            for (k, &root) in job.events.iter().enumerate() {
                self.eval_one(&job, k, root, &mut matches, &mut buf);
                self.metrics.queue_depth.fetch_sub(1, Relaxed);
                self.metrics.events_evaluated.fetch_add(1, Relaxed);
            }
            if let Some(done) = job.done.take() {
                self.handoff.release_after_sent(done);
            }
        }
    }

    fn eval_one(
        &self,
        job: &Job,
        k: usize,
        root: usize,
        matches: &mut Vec<usize>,
        buf: &mut Vec<u8>,
    ) {
        let started = Instant::now();
        let mut ev = match Event::from_tape(&job.body, Cow::Borrowed(&job.tape), root) {
            Ok(ev) => ev,
            Err(e) => {
                self.metrics.event_dropped(EventDrop::Invalid);
                limited!(INVALID_EVENT, warn, error = %e, "invalid audit event dropped");
                return;
            }
        };
        let Some(time_ns) = ev.time_ns() else {
            self.metrics.event_dropped(EventDrop::Invalid);
            limited!(
                INVALID_EVENT,
                warn,
                "audit event without a valid stageTimestamp dropped"
            );
            return;
        };
        ev.set_num(job.first_num + k as u64);
        let first = match self
            .first_time
            .compare_exchange(0, time_ns, Relaxed, Relaxed)
        {
            Ok(_) => time_ns,
            Err(t) => t,
        };
        ev.set_first_time_ns(first);
        matches.clear();
        self.ctx
            .engine
            .eval(&ev, &self.ctx.plan, &mut |i| matches.push(i));
        let mut rendered = Vec::with_capacity(matches.len());
        for &i in matches.iter() {
            let Some(rule) = self.ctx.engine.rules().get(i) else {
                continue;
            };
            buf.clear();
            self.ctx.format.format_event(buf, rule, &ev);
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            rendered.push(Alert {
                rule: rule.name.clone(),
                priority: rule.priority,
                line: buf.clone(),
                json: self.ctx.format.json_output,
            });
        }
        self.metrics.eval_latency(started.elapsed());
        for alert in rendered {
            self.metrics.alert(&alert.rule, alert.priority.name());
            self.metrics.output_queue_depth.fetch_add(1, Relaxed);
            // Blocks while the outputs are behind: that is the back-pressure.
            if self.handoff.send(&self.alerts, alert).is_err() {
                self.metrics.output_queue_depth.fetch_sub(1, Relaxed);
                tracing::error!("output dispatcher stopped; alert lost");
            }
        }
    }
}
