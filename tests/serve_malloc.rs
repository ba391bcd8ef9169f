//! `kaudit serve` runs glibc's malloc with one arena (src/malloc.rs): after a load that goes through
//! every kind of server thread (I/O, parse pool, evaluation workers, the alert output), the process has
//! none of the 64 MiB reservations glibc makes for each extra arena. An explicit
//! `GLIBC_TUNABLES=glibc.malloc.arena_max=N` is left in force, which also shows the check can fail.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

mod common;

use common::process::{post_once, start_serve, terminate_ok};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// An EventList of `n` events, large enough (> 16 KiB) to be parsed on the blocking pool; every event
/// matches the bundled "Attach/Exec Pod" rule, so the output thread writes alerts too.
fn batch(n: usize) -> String {
    let ev = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/p/exec?command=sh","verb":"create","user":{"username":"alice","groups":["system:authenticated"]},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"default","name":"p","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"2024-01-02T03:04:05.000000Z","stageTimestamp":"2024-01-02T03:04:05.100000Z"}"#;
    let items = vec![ev; n].join(",");
    format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{items}]}}"#)
}

/// Anonymous mappings of 32 MiB or more with no access: the reserved rest of glibc's per-arena heaps.
fn arena_reservations(pid: u32) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let Some((a, b)) = f.first().and_then(|r| r.split_once('-')) else {
                return false;
            };
            let size = u64::from_str_radix(b, 16).unwrap() - u64::from_str_radix(a, 16).unwrap();
            f.len() == 5 && f.get(1) == Some(&"---p") && size >= 32 << 20
        })
        .count()
}

/// Runs `kaudit serve` (bundled rules, alerts to /dev/null) under a load from 4 connections at once and
/// returns the arena reservations found while it is still running.
fn reservations_after_load(tunables: Option<&str>) -> usize {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaudit"));
    cmd.arg("serve");
    for o in [
        "webserver.listen_address=127.0.0.1",
        "webserver.listen_port=0",
        "json_output=true",
        "stdout_output.enabled=false",
        "file_output.enabled=true",
        "file_output.filename=/dev/null",
        "kaudit.workers=2",
    ] {
        cmd.arg("-o").arg(o);
    }
    cmd.env_remove("GLIBC_TUNABLES");
    if let Some(t) = tunables {
        cmd.env("GLIBC_TUNABLES", t);
    }
    cmd.stdout(Stdio::null());
    let mut started = start_serve(cmd);
    let addr: SocketAddr = started.addr;
    let body = batch(200);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10 {
                    let status = post_once(addr, &body);
                    assert!(status == 200 || status == 503, "status {status}");
                }
            });
        }
    });
    let found = arena_reservations(started.child.id());
    terminate_ok(&mut started.child, Duration::from_secs(30));
    found
}

#[test]
fn the_server_allocates_from_one_arena_unless_glibc_tunables_says_otherwise() {
    assert_eq!(
        reservations_after_load(None),
        0,
        "kaudit serve created extra malloc arenas"
    );
    // The user's own limit stands: threads then get arenas of their own.
    assert!(reservations_after_load(Some("glibc.malloc.arena_max=8")) > 0);
}
