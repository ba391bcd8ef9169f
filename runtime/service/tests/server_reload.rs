//! Hot reload under load: a client posts EventLists continuously while the rule file is replaced, first by
//! a valid new rule set, then by a broken one. Every posted event must produce exactly the alerts of one
//! rule set (all old or all new, never a mix, none lost), the swap must happen, and the broken edit must
//! keep the new rules, count a failed reload and show in /healthz.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_support;

use kaudit_engine::engine::Engine;
use kaudit_engine::interp::Interpreter;
use kaudit_frontend::load::load_files;
use kaudit_service::server::pipeline::EvalContext;
use kaudit_service::server::{reload, Server};
use server_support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One rule: every `create` alerts with `gen=v1`.
const V1: &str = r#"
- rule: Created v1
  desc: any create
  condition: ka.verb=create
  output: "gen=v1 id=%ka.auditid"
  priority: WARNING
  source: k8s_audit
"#;

/// Two rules (rule_matching: all): every `create` alerts twice, `gen=v2a` and `gen=v2b`.
const V2: &str = r#"
- rule: Created v2a
  desc: any create
  condition: ka.verb=create
  output: "gen=v2a id=%ka.auditid"
  priority: WARNING
  source: k8s_audit
- rule: Created v2b
  desc: any create, again
  condition: ka.verb in (create, update)
  output: "gen=v2b id=%ka.auditid"
  priority: NOTICE
  source: k8s_audit
"#;

/// A condition on a field that does not exist: the file does not load.
const BROKEN: &str = r#"
- rule: Created broken
  desc: broken
  condition: ka.no_such_field=create
  output: "gen=broken id=%ka.auditid"
  priority: WARNING
  source: k8s_audit
"#;

/// Replaces the file whole (write then rename), as editors and ConfigMap updates do.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn build(path: PathBuf, cfg: kaudit_service::config::ServeConfig) -> reload::Build {
    Box::new(move || {
        let res = load_files(std::slice::from_ref(&path));
        let Some(ruleset) = res.ruleset else {
            return Err(res.render());
        };
        let interp = Interpreter::new(&ruleset).map_err(|e| e.to_string())?;
        let engine: Arc<dyn Engine> = Arc::new(interp);
        Ok(EvalContext {
            plan: cfg.settings.plan(engine.rules()),
            format: format(false),
            engine,
        })
    })
}

async fn wait_for_metric(addr: std::net::SocketAddr, name: &str, want: f64) {
    let until = Instant::now() + Duration::from_secs(20);
    while metric(addr, name).await != Some(want) {
        assert!(Instant::now() < until, "{name} never reached {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_file_edits_under_load_swap_whole_rule_sets_and_broken_edits_keep_the_old_ones() {
    let dir = std::env::temp_dir().join(format!("kaudit-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, V1).unwrap();

    let cfg = config(&["rule_matching=all"]);
    let make = build(rules.clone(), cfg.clone());
    let ctx = make().expect("v1 loads");
    let out = Collect::default();
    let server = Server::start(&cfg, ctx, vec![Box::new(out.clone())])
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let hup = Arc::new(AtomicBool::new(false));
    let watch = reload::Watch::new(vec![rules.clone()], Duration::from_millis(50), make);
    reload::spawn(watch, &server.rules_slot(), server.metrics(), hup.clone()).unwrap();
    let trigger = server.trigger();
    let done = tokio::spawn(server.run());

    // The load: batches of 16 events, ids counting up, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let poster = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut next = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let batch: Vec<String> = (next..next + 16).map(|i| event("create", i)).collect();
                let r = post_json(addr, "/k8s-audit", &event_list(&batch)).await;
                if r.status == 200 {
                    next += 16;
                } else {
                    assert_eq!(r.status, 503, "{}", r.body);
                }
            }
            next
        })
    };

    let ok = "kaudit_rules_reload_total{result=\"ok\"}";
    let failed = "kaudit_rules_reload_total{result=\"failed\"}";
    tokio::time::sleep(Duration::from_millis(300)).await;
    replace(&rules, V2);
    wait_for_metric(addr, ok, 1.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    replace(&rules, BROKEN);
    wait_for_metric(addr, failed, 1.0).await;
    let health = request(addr, "GET", "/healthz", &[], "").await;
    assert_eq!(health.status, 200);
    assert!(
        health.body.contains("rules reload failed") && health.body.contains("no_such_field"),
        "{}",
        health.body
    );
    assert_eq!(metric(addr, ok).await, Some(1.0));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // SIGHUP's path: a forced reload of the unchanged (still broken) file fails again.
    hup.store(true, Ordering::SeqCst);
    wait_for_metric(addr, failed, 2.0).await;

    stop.store(true, Ordering::SeqCst);
    let posted = tokio::time::timeout(Duration::from_secs(20), poster)
        .await
        .unwrap()
        .unwrap();
    trigger.fire();
    let summary = tokio::time::timeout(Duration::from_secs(20), done)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.events_evaluated, posted as u64);

    // Per event: the set of generations that alerted on it.
    let mut by_event: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for line in out.lines() {
        let gen = line
            .split("gen=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let id: usize = line.split("id=id-").nth(1).unwrap().trim().parse().unwrap();
        by_event.entry(id).or_default().push(gen.to_string());
    }
    let (mut old, mut new) = (0, 0);
    for id in 0..posted {
        let mut gens = by_event.remove(&id).unwrap_or_default();
        gens.sort();
        match gens
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["v1"] => old += 1,
            ["v2a", "v2b"] => new += 1,
            other => panic!("event {id}: alerts {other:?}, not one whole rule set"),
        }
    }
    assert!(
        by_event.is_empty(),
        "alerts for events never posted: {by_event:?}"
    );
    eprintln!("{posted} events posted: {old} evaluated by the old rules, {new} by the new");
    assert!(
        old > 0 && new > 0,
        "no swap under load: {old} old, {new} new"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
