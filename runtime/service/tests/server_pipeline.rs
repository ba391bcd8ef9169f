//! Back-pressure and graceful shutdown: with a slow output and the `block` queue policy the webhook refuses
//! (503 + Retry-After) rather than accept and lose events, counts the refusals, and a shutdown evaluates
//! everything accepted. (The default `drop` policy is covered in `outputs_queue.rs`.)

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_support;

use server_support::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_output_makes_the_server_refuse_retryably_and_nothing_accepted_is_lost() {
    let out = Collect::slow(Duration::from_millis(40));
    let srv = start_alerting_on(
        &["create"],
        out.clone(),
        &[
            "kaudit.workers=1",
            "kaudit.queue_capacity=3",
            "kaudit.output_queue_capacity=1",
            "kaudit.output_queue_policy=block",
            "kaudit.retry_after_seconds=2",
        ],
    )
    .await;
    let a = srv.addr();

    // 20 clients post one event each, as fast as they can; a client that is refused retries, like the
    // API server's webhook backend.
    let mut tasks = Vec::new();
    for i in 0..20 {
        tasks.push(tokio::spawn(async move {
            let mut refusals = 0;
            loop {
                let r = post_json(a, "/k8s_audit", &event("create", i)).await;
                match r.status {
                    200 => return refusals,
                    503 => {
                        assert_eq!(r.headers.get("retry-after").unwrap(), "2");
                        refusals += 1;
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                    s => panic!("unexpected status {s}: {}", r.body),
                }
            }
        }));
    }
    let mut refused = 0;
    for t in tasks {
        refused += t.await.unwrap();
    }
    assert!(
        refused > 0,
        "a 3-event queue behind a 40 ms/alert output must refuse some of 20 posts"
    );
    assert_eq!(
        metric(a, "kaudit_requests_refused_total{reason=\"queue_full\"}").await,
        Some(refused as f64)
    );
    assert_eq!(
        metric(a, "kaudit_events_refused_total").await,
        Some(refused as f64)
    );
    let depth = metric(a, "kaudit_queue_depth").await.unwrap();
    assert!(depth <= 3.0, "queue depth {depth} over capacity");

    let summary = srv.stop().await;
    assert_eq!(summary.events_queued, 20);
    assert_eq!(summary.events_evaluated, 20);
    let mut ids: Vec<String> = out.lines();
    ids.sort();
    assert_eq!(ids.len(), 20, "every accepted event produced its alert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_evaluates_every_accepted_event_and_then_refuses() {
    let out = Collect::slow(Duration::from_millis(10));
    let srv = start_alerting_on(
        &["create", "delete"],
        out.clone(),
        &["kaudit.workers=1", "kaudit.queue_capacity=1000"],
    )
    .await;
    let a = srv.addr();
    let batch: Vec<String> = (0..60)
        .map(|i| event(if i % 2 == 0 { "create" } else { "delete" }, i))
        .collect();
    let r = post_json(a, "/k8s_audit", &event_list(&batch)).await;
    assert_eq!(r.status, 200);
    // Stop right away: 60 alerts at 10 ms each are still pending.
    assert!(out.lines().len() < 60);
    srv.trigger.fire();
    // New connections are refused (listener closed) or answered 503 while draining.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if let Ok(tcp) = tokio::net::TcpStream::connect(a).await {
        let r = tokio::time::timeout(
            Duration::from_secs(2),
            request_over(
                tcp,
                "POST",
                "/k8s_audit",
                &[("content-type", "application/json")],
                &event("create", 99),
            ),
        )
        .await;
        if let Ok(r) = r {
            assert_eq!(r.status, 503);
        }
    }
    let summary = tokio::time::timeout(Duration::from_secs(20), srv.done)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.events_evaluated, 60);
    assert_eq!(summary.alerts, 60);
    assert_eq!(out.lines().len(), 60);
}

/// A batch too large to split on the I/O thread (`split::INLINE_SPLIT_BYTES`) is split on the blocking
/// pool: the answer still counts its events and a malformed one is still a 400 with the parser's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_are_split_off_the_io_threads_with_the_same_answers() {
    let out = Collect::default();
    let srv = start_alerting_on(
        &["create"],
        out.clone(),
        &["kaudit.workers=2", "kaudit.max_event_size=1000"],
    )
    .await;
    let a = srv.addr();
    let mut batch: Vec<String> = (0..300)
        .map(|i| event(if i % 3 == 0 { "create" } else { "get" }, i))
        .collect();
    // One event over maxEventSize and one without a time stamp: dropped on their own.
    batch.push(event("create", 900).replace("alice", &"a".repeat(1000)));
    batch.push(event("create", 901).replace("stageTimestamp", "stage"));
    let body = event_list(&batch);
    assert!(body.len() > kaudit_service::server::split::INLINE_SPLIT_BYTES);
    let r = post_json(a, "/k8s_audit", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body.trim(),
        r#"{"accepted":300,"dropped_oversized":1,"dropped_invalid":1}"#
    );

    let broken = &body[..body.len() - 1];
    let r = post_json(a, "/k8s_audit", broken).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("cannot parse JSON"), "{}", r.body);

    let summary = srv.stop().await;
    assert_eq!(summary.events_evaluated, 300);
    assert_eq!(out.lines().len(), 100);
}
