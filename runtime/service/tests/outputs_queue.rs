//! One queue per output: with the default `drop` policy an output that never returns loses only its own
//! alerts (counted as dropped), evaluation and the other outputs get everything, and the shutdown gives up
//! on the stuck output at its deadline.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_support;

use kaudit_service::outputs::{Alert, Output};
use server_support::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An output whose first write never returns (a pipe nobody reads).
struct Stuck;

impl Output for Stuck {
    fn name(&self) -> &str {
        "stuck"
    }

    fn write(&mut self, _alert: &Alert) -> std::io::Result<()> {
        loop {
            std::thread::park();
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_output_drops_its_own_alerts_while_the_others_get_all_of_them() {
    let good = Collect::default();
    let cfg = config(&[
        "kaudit.output_queue_capacity=8",
        "kaudit.shutdown_timeout_ms=1000",
    ]);
    let srv = start(
        &cfg,
        Arc::new(VerbEngine::new(&["create"])),
        vec![Box::new(Stuck), Box::new(good.clone())],
    )
    .await;
    let a = srv.addr();
    let n = 200;
    for i in 0..n {
        let r = post_json(a, "/k8s_audit", &event("create", i)).await;
        assert_eq!(r.status, 200, "evaluation never waits for the stuck output");
        // Every alert reaches the healthy output. (Waiting for it keeps its own small queue from
        // overflowing on this machine's scheduling hiccups: only the stuck output may drop.)
        let t0 = Instant::now();
        while good.lines().len() <= i && t0.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(good.lines().len(), i + 1);
    }
    // The stuck output holds one alert in its write and 8 in its queue; the rest were dropped.
    let dropped = metric(
        a,
        "kaudit_output_alerts_total{output=\"stuck\",result=\"dropped\"}",
    )
    .await;
    assert_eq!(dropped, Some((n - 9) as f64));
    assert_eq!(
        metric(
            a,
            "kaudit_output_alerts_total{output=\"collect\",result=\"sent\"}"
        )
        .await,
        Some(n as f64)
    );

    let t1 = Instant::now();
    let summary = srv.stop().await;
    let took = t1.elapsed();
    assert!(
        took < Duration::from_millis(1000 + 2000),
        "shutdown gives up on the stuck output at its deadline (took {took:?})"
    );
    assert_eq!(summary.events_evaluated, n as u64);
    assert_eq!(summary.alerts, n as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_block_policy_a_stuck_output_still_cannot_hold_the_shutdown() {
    let cfg = config(&[
        "kaudit.workers=1",
        "kaudit.output_queue_capacity=2",
        "kaudit.output_queue_policy=block",
        "kaudit.shutdown_timeout_ms=1000",
    ]);
    let srv = start(
        &cfg,
        Arc::new(VerbEngine::new(&["create"])),
        vec![Box::new(Stuck)],
    )
    .await;
    let a = srv.addr();
    let batch: Vec<String> = (0..10).map(|i| event("create", i)).collect();
    assert_eq!(
        post_json(a, "/k8s_audit", &event_list(&batch)).await.status,
        200
    );
    // The worker then waits for room behind the stuck output: 1 in its write, 2 queued, 7 events left.
    let t0 = Instant::now();
    while metric(a, "kaudit_queue_depth").await != Some(7.0) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the worker never blocked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        metric(a, "kaudit_queue_depth").await,
        Some(7.0),
        "blocked, not dropping"
    );
    let t0 = Instant::now();
    let summary = srv.stop().await;
    assert!(
        t0.elapsed() < Duration::from_millis(1000 + 2000),
        "took {:?}",
        t0.elapsed()
    );
    // Every accepted event is evaluated or reported as undelivered; the stuck output's alerts are counted
    // as dropped.
    assert_eq!(summary.events_evaluated + summary.events_undelivered, 10);
    assert!(summary.alerts >= 3);
}
