//! Field extraction checked against real Falco answers: every `output_fields` entry of the micro
//! cases' expected alerts and of the 20k-event reference corpus must equal what our extractors give
//! for the event that produced the alert.
//!
//! Data: `$KAUDIT_CONFORMANCE_DIR` (default `../shared/conformance` from the workspace root). Without
//! it the tests are ignored (see kaudit-testkit), except under `CI=true`, where they fail.
//!
//! The Falco runs used TZ=UTC; these tests make the process zone UTC too, so local-time fields can
//! be compared.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kaudit_engine::event::{Event, Top};
use kaudit_engine::fields;
use kaudit_engine::ingest;
use kaudit_engine::value::{Val, Values};
use kaudit_frontend::catalog::{lookup, ArgKind, FieldType};
use kaudit_frontend::ir::{FieldArg, FieldRef};
use serde_json::Value as J;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::PathBuf;

/// Makes the process's local zone UTC, once, before any test formats a time (the Falco runs used
/// TZ=UTC). `Once` keeps the two tests of this binary from racing on the environment.
fn force_utc() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("TZ", "UTC"));
}

/// Owned copy of one event's bytes and its parse settings (events borrow their buffer).
struct Stored {
    raw: Vec<u8>,
    num: u64,
}

fn load_events(text: &str) -> Vec<Stored> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(split) = ingest::split_document(line.as_bytes(), ingest::DEFAULT_MAX_EVENT_SIZE)
        else {
            continue;
        };
        for ev in split.events {
            out.push(Stored {
                raw: ev.raw().to_vec(),
                num: out.len() as u64 + 1,
            });
        }
    }
    out
}

fn field_ref(key: &str) -> Option<FieldRef> {
    let (name, arg) = match key.find('[') {
        Some(i) => (&key[..i], Some(key[i + 1..].strip_suffix(']')?)),
        None => (key, None),
    };
    let info = lookup(name)?;
    let arg = match (info.arg, arg) {
        (_, None) => FieldArg::None,
        (ArgKind::Index, Some(a)) => FieldArg::Index(a.parse().ok()?),
        (_, Some(a)) => FieldArg::Key(a.to_string()),
    };
    Some(FieldRef { id: info.id, arg })
}

/// Known, accepted differences: (alerts file, output field). Each is skipped in that file only, and
/// must still differ there: an entry that no longer differs fails the test, so the list cannot rot.
///
/// Upstream's JSON parser unescapes a string the first time anything inspects it and re-quotes it (Go
/// style) when an enclosing object is later printed, so the text of an object depends on which fields
/// were extracted before; kaudit always keeps the original escapes. In `miss_nonstring_text` the output
/// reads `labels/s` before `labels` (`caf\u00e9` → `café`). The case's `kaudit_expect` file records
/// kaudit's decided text, which is checked without exception.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "expected/miss_nonstring_text.jsonl",
    "jevt.value[/requestObject/metadata/labels]",
)];

/// Falco puts these in output_fields as integer ns, and prints them in the output text in the forms
/// below (micro case `drv_evt_fields`: `time=03:04:05.123456789 s=03:04:05
/// iso=2024-01-02T03:04:05.123456789+0000 dt=2024-01-02 03:04:05.123456789 dts=2024-01-02 03:04:05`).
/// Our extractors give the text; it is compared with Falco's instant rendered by chrono in UTC.
const TIME_TEXT_FIELDS: &[(&str, &str)] = &[
    ("evt.time", "%H:%M:%S%.9f"),
    ("evt.time.s", "%H:%M:%S"),
    ("evt.time.iso8601", "%Y-%m-%dT%H:%M:%S%.9f+0000"),
    ("evt.datetime", "%Y-%m-%d %H:%M:%S%.9f"),
    ("evt.datetime.s", "%Y-%m-%d %H:%M:%S"),
];

/// The text Falco's integer-ns value `want` stands for, in `format` (UTC).
fn time_text(want: &J, format: &str) -> J {
    match want.as_i64() {
        Some(ns) => J::String(
            chrono::DateTime::from_timestamp_nanos(ns)
                .format(format)
                .to_string(),
        ),
        None => want.clone(),
    }
}
/// Depend on how the stream was fed or on the machine.
const SKIPPED: &[&str] = &[
    "evt.num",
    "evt.hostname",
    "evt.reltime",
    "evt.reltime.s",
    "evt.reltime.ns",
];

fn as_json(v: &Values<'_>, ty: FieldType, list: bool) -> J {
    let one = |x: &Val<'_>| match x {
        Val::Str(s) => J::String(s.to_string()),
        Val::Num(n) => J::from(*n),
        Val::Bool(b) => J::Bool(*b),
    };
    let _ = ty;
    if v.is_empty() {
        J::Null
    } else if list {
        J::Array(v.iter().map(one).collect())
    } else {
        one(&v[0])
    }
}

/// The output fields of `alert` whose extraction on `ev` differs from Falco's value.
struct Mismatches {
    /// Fields not listed in `known`, as "field: want X, got Y".
    unexpected: Vec<String>,
    /// Fields listed in `known` that do differ.
    known: Vec<String>,
}

/// Compares every checkable output field of `alert` with the extraction on `ev`.
fn mismatches(ev: &Event<'_>, alert: &serde_json::Map<String, J>, known: &[&str]) -> Mismatches {
    let mut m = Mismatches {
        unexpected: Vec::new(),
        known: Vec::new(),
    };
    for (key, want) in alert {
        let base = key.split('[').next().unwrap_or(key);
        if SKIPPED.contains(&base) {
            continue;
        }
        let Some(f) = field_ref(key) else {
            m.unexpected.push(format!("{key}: unknown field"));
            continue;
        };
        let mut out = Values::new();
        fields::extract(ev, &f, &mut out);
        let info = f.id.info();
        let got = as_json(&out, info.ty, info.list);
        let want = match TIME_TEXT_FIELDS.iter().find(|(name, _)| *name == base) {
            Some((_, format)) => time_text(want, format),
            None => want.clone(),
        };
        if got != want {
            if known.contains(&key.as_str()) {
                m.known.push(key.clone());
            } else {
                m.unexpected.push(format!("{key}: want {want}, got {got}"));
            }
        }
    }
    m
}

/// Checks alerts against events matched by time (and auditID when the alert has it); an alert passes
/// when some candidate event gives every field but the known differences of `what` (an alerts file).
/// Returns (checked alerts, failures); a known difference that no alert shows is a failure.
fn check(events: &[Stored], alerts: &str, what: &str) -> (usize, Vec<String>) {
    let known: Vec<&str> = KNOWN_DIFFERENCES
        .iter()
        .filter(|(file, _)| *file == what)
        .map(|(_, field)| *field)
        .collect();
    let mut seen_known = BTreeSet::new();
    let parsed: Vec<Event<'_>> = events
        .iter()
        .map(|s| {
            let mut e = Event::parse(&s.raw).expect("ingested events parse");
            e.set_num(s.num);
            e
        })
        .collect();
    let mut by_time: HashMap<Option<u64>, Vec<&Event<'_>>> = HashMap::new();
    for e in &parsed {
        by_time.entry(e.time_ns()).or_default().push(e);
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, line) in alerts.lines().enumerate() {
        let Ok(J::Object(alert)) = serde_json::from_str::<J>(line) else {
            continue;
        };
        let Some(J::Object(of)) = alert.get("output_fields") else {
            continue;
        };
        let time = of.get("evt.time").and_then(J::as_u64);
        let id = of.get("ka.auditid").and_then(J::as_str);
        let candidates: Vec<&Event<'_>> = by_time
            .get(&time)
            .into_iter()
            .flatten()
            .copied()
            .filter(|e| {
                id.is_none_or(|id| {
                    e.top(Top::AuditId).and_then(|n| n.as_str()).as_deref() == Some(id)
                })
            })
            .collect();
        if candidates.is_empty() {
            failures.push(format!(
                "{what} alert {}: no event with that time/auditID",
                i + 1
            ));
            continue;
        }
        checked += 1;
        let results: Vec<Mismatches> = candidates
            .iter()
            .map(|e| mismatches(e, of, &known))
            .collect();
        match results.iter().find(|m| m.unexpected.is_empty()) {
            Some(m) => seen_known.extend(m.known.iter().cloned()),
            None => {
                let first = results[0].unexpected.join("; ");
                let rule = alert.get("rule").unwrap_or(&J::Null);
                failures.push(format!("{what} alert {} ({rule}): {first}", i + 1));
            }
        }
    }
    for field in known {
        if !seen_known.contains(field) {
            failures.push(format!(
                "{what}: {field} matches Falco now; remove it from KNOWN_DIFFERENCES"
            ));
        }
    }
    (checked, failures)
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn micro_cases_output_fields() {
    force_utc();
    let dir = kaudit_testkit::conformance_dir();
    let micro = dir.join("micro");
    let manifest = std::fs::read_to_string(micro.join("cases.yaml")).unwrap();
    let (mut events, mut total, mut failures) = (None::<String>, 0, Vec::new());
    for line in manifest.lines() {
        if line.starts_with("- name:") {
            events = None;
        } else if let Some(e) = line.strip_prefix("  events: ") {
            events = (e.trim() != "null").then(|| e.trim().to_string());
        } else if let (Some(ev_file), Some(i)) = (&events, line.find("alerts_file: ")) {
            let file = line[i + "alerts_file: ".len()..]
                .split([',', '}'])
                .next()
                .unwrap_or("")
                .trim();
            let evs = load_events(&std::fs::read_to_string(micro.join(ev_file)).unwrap());
            let alerts = match std::fs::read_to_string(micro.join(file)) {
                Ok(text) => text,
                Err(e) => {
                    failures.push(format!("{file}: cannot read the expected alerts: {e}"));
                    continue;
                }
            };
            let (n, f) = check(&evs, &alerts, file);
            total += n;
            failures.extend(f);
        }
    }
    assert!(total > 100, "only {total} alerts checked");
    assert!(
        failures.is_empty(),
        "{} of {total} alerts differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn gunzip(path: PathBuf) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn reference_corpus_output_fields() {
    force_utc();
    let dir = kaudit_testkit::conformance_dir();
    let refdir = dir.join("falco-reference");
    let events = load_events(&gunzip(refdir.join("corpus-20k.jsonl.gz")));
    assert_eq!(events.len(), 20_000);
    let (n, failures) = check(
        &events,
        &gunzip(refdir.join("alerts-all.jsonl.gz")),
        "alerts-all",
    );
    assert!(n > 5000, "only {n} alerts checked");
    let shown: Vec<&String> = failures.iter().take(30).collect();
    assert!(
        failures.is_empty(),
        "{} of {n} alerts differ, first ones:\n{shown:#?}",
        failures.len()
    );
}
