//! Pull sources on the shared pipeline: batches are split by the same ingest path as the webhook,
//! acknowledged in production order only once their events were evaluated and their alerts handed to
//! the outputs (seen by the output before the acknowledgement), not-audit documents are counted, and a failing source turns /healthz unhealthy.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_support;

use bytes::Bytes;
use kaudit_service::server::metrics::Metrics;
use kaudit_service::server::Server;
use kaudit_service::sources::{Batch, Next, Source, SourceError};
use server_support::*;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Hands out `batches` (each a list of documents), then ends; records what `ack` got and what had been
/// evaluated / sent to the outputs at that moment.
struct Scripted {
    batches: Vec<Vec<String>>,
    next: usize,
    metrics: Arc<Metrics>,
    /// The lines the output was handed.
    written: Arc<Mutex<Vec<String>>>,
    acks: Arc<Mutex<Vec<(usize, u64, usize)>>>,
}

impl Source for Scripted {
    type Position = usize;

    fn name(&self) -> String {
        "scripted".into()
    }

    async fn next_batch(&mut self) -> Result<Next<usize>, SourceError> {
        let Some(docs) = self.batches.get(self.next) else {
            return Ok(Next::End);
        };
        let b = Batch::new(
            docs.iter().map(|d| Bytes::from(d.clone())).collect(),
            self.next,
        );
        self.next += 1;
        Ok(Next::Batch(b))
    }

    async fn ack(&mut self, done: Vec<usize>) -> Result<(), SourceError> {
        let evaluated = self.metrics.events_evaluated.load(Relaxed);
        let written = self.written.lock().unwrap().len();
        let mut acks = self.acks.lock().unwrap();
        for p in done {
            acks.push((p, evaluated, written));
        }
        Ok(())
    }
}

/// Fails every time it is asked.
struct Broken;

impl Source for Broken {
    type Position = ();

    fn name(&self) -> String {
        "broken".into()
    }

    async fn next_batch(&mut self) -> Result<Next<()>, SourceError> {
        Err(SourceError("unreachable service".into()))
    }

    async fn ack(&mut self, _: Vec<()>) -> Result<(), SourceError> {
        Ok(())
    }
}

async fn start_with(
    cfg: &kaudit_service::config::ServeConfig,
    out: &Collect,
    add: impl FnOnce(&mut Server),
) -> Running {
    let engine: Arc<dyn kaudit_engine::engine::Engine> = Arc::new(VerbEngine::new(&["create"]));
    let plan = cfg.settings.plan(engine.rules());
    let ctx = kaudit_service::server::pipeline::EvalContext {
        engine,
        plan,
        format: format(false),
    };
    let mut server = Server::start(cfg, ctx, vec![Box::new(out.clone())])
        .await
        .expect("server starts");
    kaudit_service::sources::start_configured(&mut server, cfg).expect("sources");
    add(&mut server);
    Running {
        addrs: server.local_addrs().to_vec(),
        metrics: server.metrics(),
        trigger: server.trigger(),
        done: tokio::spawn(server.run()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_acknowledged_in_order_after_their_events_were_evaluated() {
    // A slow output and a tiny queue: batches complete while later ones wait for room.
    let out = Collect::slow(Duration::from_millis(3));
    let cfg = config(&[
        "kaudit.workers=2",
        "kaudit.queue_capacity=4",
        "kaudit.output_queue_capacity=2",
    ]);
    let mut batches = Vec::new();
    let mut id = 0;
    for b in 0..12 {
        let mut docs = Vec::new();
        for _ in 0..(b % 3 + 1) {
            docs.push(event("create", id));
            id += 1;
        }
        if b == 5 {
            docs.push(r#"{"kind":"Pod"}"#.to_string());
            docs.push(event_list(&[event("create", id), event("get", id + 1)]));
            id += 2;
        }
        batches.push(docs);
    }
    let total_events = id as u64;
    let acks = Arc::new(Mutex::new(Vec::new()));
    let acks2 = acks.clone();
    let out_lines = out.lines.clone();
    let srv = start_with(&cfg, &out, move |s| {
        s.add_source(Scripted {
            batches: batches.clone(),
            next: 0,
            metrics: s.metrics(),
            written: out_lines,
            acks: acks2,
        });
    })
    .await;
    // The source ends after its last batch; wait until all is acknowledged.
    let t0 = std::time::Instant::now();
    while acks.lock().unwrap().len() < 12 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "acks: {:?}",
            acks.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a = srv.addr();
    assert_eq!(
        metric(
            a,
            "kaudit_source_dropped_total{source=\"scripted\",reason=\"not_audit\"}"
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        metric(a, "kaudit_source_events_total{source=\"scripted\"}").await,
        Some(total_events as f64)
    );
    srv.stop().await;
    let acks = acks.lock().unwrap().clone();
    let order: Vec<usize> = acks.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(order, (0..12).collect::<Vec<_>>(), "production order");
    // Events of batches 0..=p, counted the way they were built above.
    let events_through = |p: usize| -> u64 {
        (0..=p)
            .map(|b| (b % 3 + 1) as u64 + if b == 5 { 2 } else { 0 })
            .sum()
    };
    for (p, evaluated, written) in &acks {
        assert!(
            *evaluated >= events_through(*p),
            "batch {p} acknowledged with only {evaluated} events evaluated"
        );
        // Every event but the one `get` (batch 5) alerts; all those alerts reached the output first.
        let alerts = events_through(*p) - u64::from(*p >= 5);
        assert!(
            *written as u64 >= alerts,
            "batch {p} acknowledged with only {written} of its {alerts} alerts handed to the output"
        );
    }
    // Every create alerted once (the one get did not).
    assert_eq!(out.lines().len() as u64, total_events - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_failing_longer_than_the_limit_makes_healthz_unhealthy() {
    let out = Collect::default();
    let cfg = config(&["kaudit.source_unhealthy_after_ms=150"]);
    let srv = start_with(&cfg, &out, |s| s.add_source(Broken)).await;
    let a = srv.addr();
    let r = request(a, "GET", "/healthz", &[], "").await;
    assert_eq!(r.status, 200, "not failing for long yet: {}", r.body);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = request(a, "GET", "/healthz", &[], "").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("source broken failing for"), "{}", r.body);
    let failing = metric(a, "kaudit_source_failing_seconds{source=\"broken\"}")
        .await
        .unwrap();
    assert!(failing >= 0.15, "{failing}");
    srv.stop().await;
}
