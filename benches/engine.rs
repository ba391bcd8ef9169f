//! `cargo bench --bench engine`: the engines against the cost of merely reading the same JSON.
//!
//! For each corpus (the generated mix, per-class slices of it, a real audit log, Falco's 20k reference
//! corpus) and single-threaded, every function processes the whole corpus once per iteration:
//! - `serde_json_validate`: serde_json parsing each event into `IgnoredAny` (the reading limit);
//! - `sonic_rs_validate`: the same with sonic-rs, a SIMD JSON parser (a second reference);
//! - `kaudit_parse`: what `kaudit replay` does with each line before the rules: validate, tape (into one
//!   reused tape), recognise the document and index its events (`ingest::split_tape_into`);
//! - `interpreter`: the same + the interpreter over the bundled rules (rules/*.yaml);
//! - `compiled`: the same + the compiled engine (the same rules, generated at build time).
//!
//! (Until issue 14's fifth pass these used `Event::parse`, which allocates a tape per event: that
//! allocation is not what replay or the webhook pay, and it understated kaudit against the validators.)
//!
//! Throughput is reported in events/s and bytes/s. bench/run.sh turns the results into ratios.

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use kaudit_corpus::{generate, generate_class, Class};
use kaudit_engine::engine::{Engine, Plan, RuleMatching};
use kaudit_engine::event::Event;
use kaudit_engine::ingest::{self, DocTape, DEFAULT_MAX_EVENT_SIZE};
use kaudit_engine::interp::Interpreter;
use kaudit_frontend::ir::Priority;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The bundled rules compiled to native code, exactly as the `kaudit` binary compiles them (the root
/// build.rs hands the rule files to every target of this package).
mod compiled {
    kaudit_macros::compile_rules!();
}

/// The seed and size of the mixed corpus; bench/run.sh generates the same file for the webhook.
const SEED: u64 = 1;
const MIXED_EVENTS: usize = 5_000;

struct Corpus {
    name: String,
    events: Vec<Vec<u8>>,
}

impl Corpus {
    fn bytes(&self) -> u64 {
        self.events.iter().map(|e| e.len() as u64).sum()
    }
}

fn from_generated(name: &str, c: kaudit_corpus::Corpus) -> Corpus {
    let events = c.iter().map(|(e, _)| e.to_vec()).collect();
    Corpus {
        name: name.to_string(),
        events,
    }
}

fn from_json_lines(name: &str, text: &[u8]) -> Corpus {
    let events = text
        .split(|b| *b == b'\n')
        .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .map(<[u8]>::to_vec)
        .collect();
    Corpus {
        name: name.to_string(),
        events,
    }
}

fn shared_conformance_dir() -> PathBuf {
    std::env::var_os("KAUDIT_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"))
}

/// A corpus read from shared/, or `None` with a loud message when it is not there.
fn shared_corpus(name: &str, path: &Path) -> Option<Corpus> {
    let raw = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "!!! SKIPPING corpus {name}: cannot read {}: {e}",
                path.display()
            );
            return None;
        }
    };
    let text = if path.extension().is_some_and(|x| x == "gz") {
        let mut out = Vec::new();
        if let Err(e) = flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out) {
            eprintln!("!!! SKIPPING corpus {name}: {}: {e}", path.display());
            return None;
        }
        out
    } else {
        raw
    };
    Some(from_json_lines(name, &text))
}

fn corpora() -> Vec<Corpus> {
    let conformance = shared_conformance_dir();
    let mut list = vec![from_generated("mixed", generate(SEED, MIXED_EVENTS))];
    for (class, n) in [
        (Class::ReadMetadata, 2_000),
        (Class::PodCreate, 300),
        (Class::RoleCreate, 1_000),
        (Class::ExecAttachPortForward, 1_000),
    ] {
        list.push(from_generated(
            &format!("class_{}", class.name()),
            generate_class(SEED, class, n),
        ));
    }
    // v1beta1 events without `stageTimestamp`: read and dropped, as Falco drops them (bench/README.md).
    list.extend(shared_corpus(
        "audit2rbac",
        &conformance.join("../data/real/audit2rbac-demo.log"),
    ));
    list.extend(shared_corpus(
        "falco20k",
        &conformance.join("falco-reference/corpus-20k.jsonl.gz"),
    ));
    list.extend(
        SCALING_SIZES
            .iter()
            .map(|&(name, size)| scaling_corpus(name, size)),
    );
    list
}

/// The scaling corpora: (criterion group, event size in bytes). Each holds about 4 MB of one event
/// shape grown to the size, so that the per-event cost can be read against the size.
const SCALING_SIZES: [(&str, usize); 5] = [
    ("size_0.5KB", 512),
    ("size_2KB", 2 << 10),
    ("size_8KB", 8 << 10),
    ("size_32KB", 32 << 10),
    ("size_80KB", 80 << 10),
];

/// Events of `size` bytes that every rule reads the same small part of: a deployment update by a
/// service account whose request object grows with `managedFields` entries, a member no bundled rule or
/// output reads (only 0.5 KB is the bare Metadata-level envelope). The cost per event should follow the
/// bytes rules read, not the bytes of the event.
fn scaling_corpus(name: &str, size: usize) -> Corpus {
    let count = (4 << 20) / size;
    let events = (0..count)
        .map(|i| {
            let head = format!(
                r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"6b1c2d3e-0000-4000-8000-{i:012}","stage":"ResponseComplete","requestURI":"/apis/apps/v1/namespaces/default/deployments/web","verb":"update","user":{{"username":"system:serviceaccount:ops:deployer","groups":["system:serviceaccounts","system:authenticated"]}},"sourceIPs":["10.0.0.7"],"userAgent":"deployer/1.0","objectRef":{{"resource":"deployments","namespace":"default","name":"web","apiGroup":"apps","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}}"#
            );
            let tail = r#","stageTimestamp":"2024-01-02T03:04:05.000000Z","annotations":{"authorization.k8s.io/decision":"allow"}}"#;
            let mut ev = head;
            if ev.len() + tail.len() < size {
                ev.push_str(r#","requestObject":{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","namespace":"default","managedFields":["#);
                let mut k = 0;
                while ev.len() + tail.len() + 40 < size {
                    if k > 0 {
                        ev.push(',');
                    }
                    ev.push_str(&format!(
                        r#"{{"manager":"deployer","operation":"Update","apiVersion":"apps/v1","time":"2024-01-02T03:04:05Z","fieldsType":"FieldsV1","fieldsV1":{{"f:metadata":{{"f:labels":{{"f:app-{k}":{{}}}}}}}}}}"#
                    ));
                    k += 1;
                }
                ev.push_str(r#"]},"spec":{"replicas":3}}"#);
            }
            ev.push_str(tail);
            ev.into_bytes()
        })
        .collect();
    Corpus {
        name: name.to_string(),
        events,
    }
}

/// The bundled rules (rules/*.yaml in file-name order, as build.rs compiles them) for the interpreter.
fn interpreter() -> Option<Interpreter> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let res = kaudit_frontend::load::load_files(&files);
    let Some(ruleset) = res.ruleset else {
        eprintln!(
            "!!! SKIPPING interpreter: the bundled rules do not load:\n{}",
            res.render()
        );
        return None;
    };
    match Interpreter::new(&ruleset) {
        Ok(i) => Some(i),
        Err(e) => {
            eprintln!("!!! SKIPPING interpreter: {e}");
            None
        }
    }
}

fn plan(engine: &dyn Engine) -> Plan {
    Plan::new(engine.rules(), RuleMatching::First, Priority::Debug)
}

/// Reads every line as `kaudit replay` does (one tape, reused) and hands each accepted event to `f`;
/// returns the number of events.
fn each_event(lines: &[Vec<u8>], mut f: impl FnMut(&Event<'_>)) -> usize {
    let mut doc = DocTape::default();
    let mut n = 0;
    for line in lines {
        if let Ok(text) = ingest::split_tape_into(line, DEFAULT_MAX_EVENT_SIZE, &mut doc) {
            for ev in doc.events(text) {
                n += 1;
                f(&ev);
            }
        }
    }
    n
}

/// Parses and evaluates every event; returns (events parsed, alerts).
fn run_engine(engine: &dyn Engine, plan: &Plan, events: &[Vec<u8>]) -> (usize, usize) {
    let mut alerts = 0;
    let parsed = each_event(events, |ev| engine.eval(ev, plan, &mut |_| alerts += 1));
    (parsed, alerts)
}

/// Both reference validators must reject broken JSON, or they would not be honest yardsticks.
fn check_validators_reject_invalid_json() {
    let broken: &[&[u8]] = &[
        br#"{"a":[1,2,}"#,
        br#"{"a":"x"#,
        br#"{"a":tru}"#,
        br#"{"a":1}}"#,
    ];
    for b in broken {
        assert!(
            serde_json::from_slice::<serde::de::IgnoredAny>(b).is_err(),
            "serde_json accepted {b:?}"
        );
        assert!(
            sonic_rs::from_slice::<serde::de::IgnoredAny>(b).is_err(),
            "sonic-rs accepted {b:?}"
        );
    }
}

fn bench_corpus(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    c: &Corpus,
    engines: &[(&str, &dyn Engine)],
) {
    g.throughput(Throughput::ElementsAndBytes {
        elements: c.events.len() as u64,
        bytes: c.bytes(),
    });
    g.bench_function("serde_json_validate", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for e in &c.events {
                ok += usize::from(
                    serde_json::from_slice::<serde::de::IgnoredAny>(black_box(e)).is_ok(),
                );
            }
            ok
        })
    });
    g.bench_function("sonic_rs_validate", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for e in &c.events {
                ok += usize::from(
                    sonic_rs::from_slice::<serde::de::IgnoredAny>(black_box(e)).is_ok(),
                );
            }
            ok
        })
    });
    g.bench_function("kaudit_parse", |b| {
        b.iter(|| {
            each_event(black_box(&c.events), |ev| {
                black_box(ev);
            })
        })
    });
    for (name, engine) in engines {
        let plan = plan(*engine);
        g.bench_function(*name, |b| {
            b.iter(|| run_engine(*engine, &plan, black_box(&c.events)))
        });
    }
}

fn benches(cr: &mut Criterion) {
    check_validators_reject_invalid_json();
    let interp = interpreter();
    let mut engines: Vec<(&str, &dyn Engine)> = Vec::new();
    if let Some(i) = &interp {
        engines.push(("interpreter", i));
    }
    engines.push(("compiled", &compiled::ENGINE));
    for c in corpora() {
        let mut counts = Vec::new();
        for (name, engine) in &engines {
            let (parsed, alerts) = run_engine(*engine, &plan(*engine), &c.events);
            eprintln!(
                "corpus {}: {} events, {} bytes ({} B/event); {name}: {parsed} parsed, {alerts} alerts ({:.1}% of events)",
                c.name,
                c.events.len(),
                c.bytes(),
                c.bytes() / c.events.len().max(1) as u64,
                100.0 * alerts as f64 / c.events.len().max(1) as f64
            );
            counts.push(alerts);
        }
        if counts.windows(2).any(|w| w[0] != w[1]) {
            eprintln!(
                "!!! corpus {}: the engines disagree on the number of alerts: {counts:?}",
                c.name
            );
        }
        let mut g = cr.benchmark_group(&c.name);
        bench_corpus(&mut g, &c, &engines);
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
}

criterion_group! { name = engine; config = config(); targets = benches }
criterion_main!(engine);
