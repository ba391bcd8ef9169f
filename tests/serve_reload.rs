//! `kaudit serve -r FILE` reloads its rule file when it changes and at SIGHUP, keeps the old rules on a
//! broken edit (log, metric, /healthz), still reopens output files at SIGHUP, and does not watch files with
//! `watch_config_files=false`. The real binary on 127.0.0.1 (the abuse suite's harness).

mod abuse_support;

use abuse_support::{event, event_list, post_audit, request, Kaudit};
use std::path::Path;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(10);

const RELOADED: &str = "- rule: Any create, reloaded\n  desc: every create\n  condition: ka.verb = create\n  output: reloaded id=%ka.auditid\n  priority: WARNING\n  source: k8s_audit\n";
const BROKEN: &str = "- rule: Broken\n  desc: unknown field\n  condition: ka.no_such_field = create\n  output: broken id=%ka.auditid\n  priority: WARNING\n  source: k8s_audit\n";

fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn metric(k: &Kaudit, name: &str) -> Option<u64> {
    k.metrics().lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|v| v.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    })
}

const OK: &str = "kaudit_rules_reload_total{result=\"ok\"}";
const FAILED: &str = "kaudit_rules_reload_total{result=\"failed\"}";

fn wait_metric(k: &Kaudit, name: &str, want: u64) {
    let until = Instant::now() + Duration::from_secs(30);
    while metric(k, name) != Some(want) {
        assert!(
            Instant::now() < until,
            "{name} never reached {want}: {:?}",
            metric(k, name)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Posts one `create` event and waits for its alert line in `file`.
fn alert_for(k: &Kaudit, id: usize, file: &Path) -> String {
    let a = post_audit(
        k,
        None,
        event_list(&[event("create", id)]).as_bytes(),
        LIMIT,
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let needle = format!("id=id-{id}");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(&needle)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < until,
            "no alert for {needle} in {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_reloads_changed_rules_keeps_them_on_a_broken_edit_and_reopens_outputs_at_sighup() {
    let k = Kaudit::start("reload", &[]);
    let rules = k.dir.join("rules.yaml");
    assert!(alert_for(&k, 0, &k.alerts).contains("created id=id-0"));

    replace(&rules, RELOADED);
    wait_metric(&k, OK, 1);
    assert!(alert_for(&k, 1, &k.alerts).contains("reloaded id=id-1"));

    replace(&rules, BROKEN);
    wait_metric(&k, FAILED, 1);
    let health = request(k.addr(), "GET", "/healthz", None, b"", LIMIT).unwrap();
    assert_eq!(health.status, 200);
    assert!(
        health.body.contains("rules reload failed") && health.body.contains("no_such_field"),
        "{}",
        health.body
    );
    assert!(k
        .stderr_lines()
        .iter()
        .any(|l| l.contains("rules reload failed")));
    assert!(alert_for(&k, 2, &k.alerts).contains("reloaded id=id-2"));

    // SIGHUP: the output file is reopened (logrotate moved it away) and the broken file is tried again.
    let rotated = k.dir.join("alerts.old");
    std::fs::rename(&k.alerts, &rotated).unwrap();
    k.signal("HUP");
    wait_metric(&k, FAILED, 2);
    assert!(alert_for(&k, 3, &k.alerts).contains("reloaded id=id-3"));
    assert_eq!(metric(&k, OK), Some(1));

    // A good edit after a broken one clears the /healthz detail.
    replace(&rules, RELOADED.replace("reloaded id", "again id").as_str());
    wait_metric(&k, OK, 2);
    let health = request(k.addr(), "GET", "/healthz", None, b"", LIMIT).unwrap();
    assert_eq!(health.body, "ok\n");
    assert!(alert_for(&k, 4, &k.alerts).contains("again id=id-4"));
}

#[test]
fn without_watch_config_files_only_sighup_reloads() {
    let k = Kaudit::start("reload-nowatch", &["watch_config_files=false".to_string()]);
    let rules = k.dir.join("rules.yaml");
    replace(&rules, RELOADED);
    // Three poll periods of the watching mode: nothing may happen.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(metric(&k, OK), Some(0));
    assert!(alert_for(&k, 0, &k.alerts).contains("created id=id-0"));
    k.signal("HUP");
    wait_metric(&k, OK, 1);
    assert!(alert_for(&k, 1, &k.alerts).contains("reloaded id=id-1"));
}
