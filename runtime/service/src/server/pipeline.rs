//! The evaluation pipeline: a bounded queue of accepted events, one evaluation worker per core, and the
//! outputs, each behind its own bounded queue (`outputs::fanout`).
//!
//! Webhook bodies are parsed by the workers, not by the I/O threads (which only read requests and apply
//! the byte budgets): `parse_and_submit` hands the raw body to the workers' queue, where parse work goes
//! before evaluation (`work`), and waits for the outcome, which decides the HTTP answer.
//!
//! Admission is all-or-nothing per request: `submit` reserves queue room for every event of a body or
//! refuses the whole body (the webhook then answers 503 and the API server retries), so an accepted event
//! is never dropped for lack of room. Room is given back only after the event's alerts have been handed to
//! the outputs' queues; a stuck output drops (and counts) its own alerts rather than stall evaluation,
//! unless `kaudit.output_queue_policy: block` asks for back-pressure up to the HTTP answer.

use super::admission::{BodyBytes, Denied};
use super::metrics::{EventDrop, Metrics, Refusal};
use super::work::{Work, WorkQueue};
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
use kaudit_engine::event::Event;
use kaudit_engine::json::Tok;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Events per work item: big batches spread over the workers, small ones stay cheap.
const CHUNK: usize = 32;
/// At most this long before the shutdown deadline, outputs still busy are given up (see
/// `close_and_wait_until`).
const RELEASE_MARGIN: Duration = Duration::from_millis(200);

/// How long a webhook request waits for a worker to take its body. Parse work goes first, so only
/// workers all held up (e.g. by an output under the `block` policy) make it wait that long; the request
/// is then answered like a full queue (503, retry) and its body is never parsed.
const PARSE_PICKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// `ParseJob::state`: waiting in the queue, taken by a worker, or given up by its request.
const PENDING: u8 = 0;
const TAKEN: u8 = 1;
const CANCELLED: u8 = 2;

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

/// A webhook body for a worker to split into events and queue; its request waits for `reply`.
pub struct ParseJob {
    body: Bytes,
    budget: BodyBytes,
    max_event: usize,
    state: Arc<AtomicU8>,
    reply: tokio::sync::oneshot::Sender<ParseOutcome>,
}

/// What became of a webhook body (the HTTP answer follows from it).
#[derive(Debug)]
pub enum ParseOutcome {
    /// Not JSON, or JSON that is not audit events: the message for the 400 answer.
    Malformed(String),
    /// The parsed body did not fit in the byte budget.
    OverBudget(Denied),
    /// Split into events: how many were accepted and dropped, and whether the accepted ones were queued.
    Split {
        accepted: u64,
        oversized: u64,
        invalid: u64,
        queued: Result<(), Refusal>,
    },
}

type Queue = WorkQueue<ParseJob, Job>;

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
    intake: Arc<Intake>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    outputs: Arc<OutputSet>,
    output_close_timeout: Duration,
    rules: RulesSlot,
}

/// Admission to the event queue, shared by the pipeline (pull sources) and the workers (webhook bodies).
struct Intake {
    room: Arc<Semaphore>,
    capacity: usize,
    queue: Queue,
    next_num: AtomicU64,
    metrics: Arc<Metrics>,
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
        let intake = Arc::new(Intake {
            room: Arc::new(Semaphore::new(cfg.queue_capacity.max(1))),
            capacity: cfg.queue_capacity.max(1),
            queue: Queue::default(),
            next_num: AtomicU64::new(1),
            metrics: metrics.clone(),
        });
        let rules: RulesSlot = Arc::new(RwLock::new(Arc::new(ctx)));
        let first_time = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();
        for i in 0..cfg.workers.max(1) {
            let w = Worker {
                rules: rules.clone(),
                intake: intake.clone(),
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
            intake,
            workers: Mutex::new(workers),
            outputs,
            output_close_timeout,
            rules,
        })
    }

    /// The rule set in force, for hot reload (`reload::spawn`).
    pub fn rules_slot(&self) -> RulesSlot {
        self.rules.clone()
    }

    /// Has a worker split a webhook body into events and queue every event of it or none of them, and
    /// returns what became of it. `budget` (the body's reservation in the byte budget, grown by the tape)
    /// is released when the last of its events is evaluated.
    pub async fn parse_and_submit(
        &self,
        body: Bytes,
        budget: BodyBytes,
        max_event: usize,
    ) -> ParseOutcome {
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        let state = Arc::new(AtomicU8::new(PENDING));
        let job = ParseJob {
            body,
            budget,
            max_event,
            state: state.clone(),
            reply,
        };
        let refused = |why| ParseOutcome::Split {
            accepted: 0,
            oversized: 0,
            invalid: 0,
            queued: Err(why),
        };
        if self.intake.queue.push_parse(job).is_err() {
            return refused(Refusal::ShuttingDown);
        }
        if let Ok(outcome) = tokio::time::timeout(PARSE_PICKUP_TIMEOUT, &mut answer).await {
            return outcome.unwrap_or_else(|_| refused(Refusal::ShuttingDown));
        }
        // Given up only if no worker has taken it; one that has will answer soon.
        if state
            .compare_exchange(PENDING, CANCELLED, Relaxed, Relaxed)
            .is_ok()
        {
            return refused(Refusal::QueueFull);
        }
        answer
            .await
            .unwrap_or_else(|_| refused(Refusal::ShuttingDown))
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
            .intake
            .room
            .clone()
            .acquire_many_owned(self.intake.room_for(events.len()))
            .await
            .map_err(|_| Refusal::ShuttingDown)?;
        self.intake.enqueue(
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

    /// Events accepted and not yet evaluated.
    pub fn depth(&self) -> u64 {
        self.intake.metrics.queue_depth.load(Relaxed)
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
        self.intake.queue.close();
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

impl Intake {
    /// Queue room to reserve for `n` events: a body with more events than the whole queue still gets in
    /// once the queue is empty.
    fn room_for(&self, n: usize) -> u32 {
        u32::try_from(n.min(self.capacity)).unwrap_or(u32::MAX)
    }

    /// Splits a webhook body and queues all of its events or none (on a worker: see `ParseJob`).
    fn parse_and_queue(
        &self,
        body: Bytes,
        mut budget: BodyBytes,
        max_event: usize,
    ) -> ParseOutcome {
        let split = match super::http::split(&body, max_event) {
            Ok(s) => s,
            Err(msg) => return ParseOutcome::Malformed(msg),
        };
        // The parse (tape) is held with the body until evaluation: it counts against the same budget.
        if let Err(why) = budget.grow(std::mem::size_of_val(split.tape.as_slice())) {
            return ParseOutcome::OverBudget(why);
        }
        let (n, oversized, invalid) = (split.events.len() as u64, split.oversized, split.invalid);
        let m = &self.metrics;
        m.events_received
            .fetch_add(n + oversized + invalid, Relaxed);
        for _ in 0..oversized {
            m.event_dropped(EventDrop::Oversized);
        }
        for _ in 0..invalid {
            m.event_dropped(EventDrop::Invalid);
        }
        let queued = if split.roots.is_empty() {
            Ok(())
        } else {
            match self
                .room
                .clone()
                .try_acquire_many_owned(self.room_for(split.roots.len()))
            {
                Ok(room) => self.enqueue(
                    room,
                    body,
                    split.tape,
                    split.roots,
                    Held {
                        bytes: Some(budget),
                        done: None,
                    },
                ),
                Err(_) => Err(Refusal::QueueFull),
            }
        };
        if queued.is_err() {
            m.events_refused.fetch_add(n, Relaxed);
        }
        ParseOutcome::Split {
            accepted: n,
            oversized,
            invalid,
            queued,
        }
    }

    /// Splits reserved events into jobs and queues them for the workers, all or none; each job holds
    /// `held`.
    fn enqueue(
        &self,
        room: OwnedSemaphorePermit,
        body: Bytes,
        tape: Vec<Tok>,
        events: Vec<usize>,
        held: Held,
    ) -> Result<(), Refusal> {
        let Held { bytes, done } = held;
        let n = events.len();
        let mut room = Some(room);
        let tape = Arc::new(tape);
        let bytes = bytes.map(Arc::new);
        let first_num = self.next_num.fetch_add(n as u64, Relaxed);
        let mut offset = 0;
        let mut chunks = events.chunks(CHUNK).peekable();
        let mut jobs = Vec::with_capacity(n.div_ceil(CHUNK));
        while let Some(chunk) = chunks.next() {
            let part = if chunks.peek().is_none() {
                room.take()
            } else {
                room.as_mut()
                    .and_then(|r| r.split(chunk.len().min(r.num_permits())))
            };
            jobs.push(Job {
                body: body.clone(),
                tape: tape.clone(),
                events: chunk.to_vec(),
                first_num: first_num + offset,
                _room: part,
                _bytes: bytes.clone(),
                done: done.clone(),
            });
            offset += chunk.len() as u64;
        }
        // Counted before the workers can see the jobs (they count them down).
        self.metrics.queue_depth.fetch_add(n as u64, Relaxed);
        self.metrics.events_queued.fetch_add(n as u64, Relaxed);
        if self.queue.push_evals(jobs).is_err() {
            // Closed between the reservation and now: none of the events was queued.
            self.metrics.queue_depth.fetch_sub(n as u64, Relaxed);
            self.metrics.events_queued.fetch_sub(n as u64, Relaxed);
            return Err(Refusal::ShuttingDown);
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Worker {
    rules: RulesSlot,
    intake: Arc<Intake>,
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
            let mut job = match self.intake.queue.next() {
                Some(Work::Eval(j)) => j,
                Some(Work::Parse(p)) => {
                    // A body its request gave up waiting for is dropped unparsed.
                    if p.state
                        .compare_exchange(PENDING, TAKEN, Relaxed, Relaxed)
                        .is_ok()
                    {
                        let outcome = self.intake.parse_and_queue(p.body, p.budget, p.max_event);
                        // The request may have gone (client closed): its events stay queued.
                        let _ = p.reply.send(outcome);
                    }
                    continue;
                }
                None => return,
            };
            // Once per job: a reload in the middle of the job applies from the next one.
            let ctx = current(&self.rules);
            for (k, &root) in job.events.iter().enumerate() {
                self.eval_one(&ctx, &job, k, root, &mut matches, &mut buf);
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
