//! The evaluation pipeline: a bounded queue of accepted events, one evaluation worker per core, and the
//! outputs, each behind its own bounded queue (`outputs::fanout`).
//!
//! Admission is all-or-nothing per request: `submit` reserves queue room for every event of a body or
//! refuses the whole body (the webhook then answers 503 and the API server retries), so an accepted event
//! is never dropped for lack of room. Room is given back only after the event's alerts have been handed to
//! the outputs' queues; a stuck output drops (and counts) its own alerts rather than stall evaluation,
//! unless `kaudit.output_queue_policy: block` asks for back-pressure up to the HTTP answer.

use super::admission::BodyBytes;
use super::metrics::{EventDrop, Metrics, Refusal};
use crate::config::PipelineConfig;
use crate::limited;
use crate::logging::LogGate;
use crate::outputs::fanout::{OutputSet, QueueSettings};
use crate::outputs::{Alert, Output};
use crate::sources::driver::Completion;
use crate::sources::handoff::Handoff;
use bytes::Bytes;
use kaudit_engine::alert::AlertFormat;
use kaudit_engine::engine::{Engine, Plan};
use kaudit_engine::event::{Event, EventIndex};
use kaudit_engine::json::{Text, Tok};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Events per work item: big batches spread over the workers, small ones stay cheap.
const CHUNK: usize = 32;
/// At most this long before the shutdown deadline, outputs still busy are given up (see
/// `close_and_wait_until`).
const RELEASE_MARGIN: Duration = Duration::from_millis(200);

/// Events a client can make invalid at will (rate-limited log lines; the counters have every one).
static INVALID_EVENT: LogGate = LogGate::new("invalid_event");

struct Job {
    body: Bytes,
    /// The tape the webhook built for the whole body (shared by the body's jobs).
    tape: Arc<Vec<Tok>>,
    /// Each event's index (its object's token, top-level members and time), computed by the split.
    events: Vec<EventIndex>,
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

/// The rule set in force: workers take the inner `Arc` once per job, and a reload replaces it whole, so a
/// swap lands between jobs and no event is evaluated partly by each rule set. A `RwLock` around an `Arc`
/// (rather than the arc-swap crate) because reads are one short lock per job of up to `CHUNK` events.
pub type RulesSlot = Arc<RwLock<Arc<EvalContext>>>;

/// The context in force now (a poisoned lock still holds a whole context: swaps are a single store).
pub fn current(slot: &RwLock<Arc<EvalContext>>) -> Arc<EvalContext> {
    slot.read().unwrap_or_else(|p| p.into_inner()).clone()
}

pub struct Pipeline {
    room: Arc<Semaphore>,
    capacity: usize,
    jobs: Mutex<Option<Sender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    outputs: Arc<OutputSet>,
    output_close_timeout: Duration,
    next_num: AtomicU64,
    metrics: Arc<Metrics>,
    rules: RulesSlot,
}

impl Pipeline {
    /// Starts the workers and the outputs' threads. `capacities`: outputs with their own queue capacity.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        ctx: EvalContext,
        outputs: Vec<Box<dyn Output>>,
        cfg: &PipelineConfig,
        queues: QueueSettings,
        capacities: &[(&str, usize)],
        reopen: Arc<AtomicBool>,
        metrics: Arc<Metrics>,
        output_close_timeout: Duration,
    ) -> std::io::Result<Pipeline> {
        // Pull sources' batches are done only once every output has taken (or dropped) their alerts.
        let mut outputs = outputs;
        let handoff = Handoff::wrap(&mut outputs);
        let outputs = Arc::new(OutputSet::start(
            outputs,
            queues,
            capacities,
            reopen,
            metrics.clone(),
        )?);
        let (job_tx, job_rx) = std::sync::mpsc::channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let rules: RulesSlot = Arc::new(RwLock::new(Arc::new(ctx)));
        let first_time = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();
        for i in 0..cfg.workers.max(1) {
            let w = Worker {
                rules: rules.clone(),
                jobs: job_rx.clone(),
                outputs: outputs.clone(),
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
            outputs,
            output_close_timeout,
            next_num: AtomicU64::new(1),
            metrics,
            rules,
        })
    }

    /// The rule set in force, for hot reload (`reload::spawn`).
    pub fn rules_slot(&self) -> RulesSlot {
        self.rules.clone()
    }

    /// Queues every event of `body` or none of them. `tape` is the body's tape (from the webhook's one
    /// parse) and `events` the events' indexes on it: workers neither parse nor index again. `bytes`
    /// (the body's reservation in the byte budget) is released when the last of its events is evaluated.
    pub fn submit(
        &self,
        body: Bytes,
        tape: Vec<Tok>,
        events: Vec<EventIndex>,
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
        events: Vec<EventIndex>,
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
        events: Vec<EventIndex>,
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

    /// Stops accepting, evaluates everything queued, then closes the outputs, all within
    /// `output_close_timeout` from now. Blocking. Returns the number of alerts not delivered.
    pub fn close_and_wait(&self) -> u64 {
        self.close_and_wait_until(Instant::now() + self.output_close_timeout)
    }

    /// `close_and_wait` with an absolute deadline (the rest of the shutdown budget). Evaluation of the
    /// queued events always finishes; at the deadline the outputs still busy are abandoned, which also
    /// releases workers waiting for room (`block` policy), so this returns shortly after `deadline`.
    pub fn close_and_wait_until(&self, deadline: Instant) -> u64 {
        // Outputs are given up a little before the deadline, so that workers released from waiting for
        // room (`block`) can still evaluate what is queued within the budget.
        let margin = (deadline.saturating_duration_since(Instant::now()) / 10).min(RELEASE_MARGIN);
        let release_at = deadline.checked_sub(margin).unwrap_or(deadline);
        lock(&self.jobs).take();
        let workers: Vec<_> = lock(&self.workers).drain(..).collect();
        let joined = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let watchdog = {
            let (outputs, joined) = (self.outputs.clone(), joined.clone());
            std::thread::Builder::new()
                .name("kaudit-shutdown-watchdog".into())
                .spawn(move || {
                    let (done, cv) = &*joined;
                    let mut done = lock(done);
                    while !*done {
                        let left = release_at.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            outputs.abandon_all();
                            return;
                        }
                        done = cv
                            .wait_timeout(done, left)
                            .map(|(g, _)| g)
                            .unwrap_or_else(|p| p.into_inner().0);
                    }
                })
        };
        for w in workers {
            if w.join().is_err() {
                tracing::error!("an evaluation worker panicked");
            }
        }
        *lock(&joined.0) = true;
        joined.1.notify_all();
        if let Ok(w) = watchdog {
            let _ = w.join();
        }
        self.outputs.close_all(deadline)
    }

    /// The outputs, to close them with another deadline (`OutputSet::close_all`).
    pub fn outputs(&self) -> Arc<OutputSet> {
        self.outputs.clone()
    }
}

/// The text of the job's events: the part of the body from its first event to its last, checked for
/// UTF-8 here (once per job, not once per value read; the parser already admitted only UTF-8, so this
/// does not fail on a body the webhook split). A body's jobs check disjoint parts: O(body) in all.
fn job_text(job: &Job) -> Text<'_> {
    let span = |i: Option<&EventIndex>| i.and_then(|ix| job.tape.get(ix.root()));
    let (Some(first), Some(last)) = (span(job.events.first()), span(job.events.last())) else {
        return Text::new("", 0);
    };
    let (start, end) = (first.start as usize, last.end as usize);
    let part = job.body.get(start..end).and_then(kaudit_engine::json::utf8);
    Text::new(part.unwrap_or_default(), start)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Worker {
    rules: RulesSlot,
    jobs: Arc<Mutex<Receiver<Job>>>,
    outputs: Arc<OutputSet>,
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
            // Once per job: a reload in the middle of the job applies from the next one.
            let ctx = current(&self.rules);
            let text = job_text(&job);
            for (k, &ix) in job.events.iter().enumerate() {
                let mut ev = Event::from_index(text, Cow::Borrowed(&job.tape), ix);
                ev.set_num(job.first_num + k as u64);
                self.eval_one(&ctx, ev, &mut matches, &mut buf);
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
        ctx: &EvalContext,
        mut ev: Event<'_>,
        matches: &mut Vec<usize>,
        buf: &mut Vec<u8>,
    ) {
        let started = Instant::now();
        let Some(time_ns) = ev.time_ns() else {
            self.metrics.event_dropped(EventDrop::Invalid);
            limited!(
                INVALID_EVENT,
                warn,
                "audit event without a valid stageTimestamp dropped"
            );
            return;
        };
        let first = match self
            .first_time
            .compare_exchange(0, time_ns, Relaxed, Relaxed)
        {
            Ok(_) => time_ns,
            Err(t) => t,
        };
        ev.set_first_time_ns(first);
        matches.clear();
        ctx.engine.eval(&ev, &ctx.plan, &mut |i| matches.push(i));
        let mut rendered = Vec::with_capacity(matches.len());
        for &i in matches.iter() {
            let Some(rule) = ctx.engine.rules().get(i) else {
                continue;
            };
            buf.clear();
            ctx.format.format_event(buf, rule, &ev);
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            rendered.push(Alert {
                rule: rule.name.clone(),
                priority: rule.priority,
                line: buf.clone(),
                json: ctx.format.json_output,
            });
        }
        self.metrics.eval_latency(started.elapsed());
        for alert in rendered {
            self.metrics.alert(&alert.rule, alert.priority.name());
            // Never waits with the drop policy; with `block` it waits for the slowest output.
            self.handoff.send(&self.outputs, alert);
        }
    }
}
