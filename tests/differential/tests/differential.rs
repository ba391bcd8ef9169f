//! The compiled engine against the interpreter, on the same rule files: identical rule tables, and
//! identical matches (rule indices, both `rule_matching` modes, several plans) on every conformance event,
//! the Falco reference corpus and 100,000 generated events; plus the conformance cases whose rule set is
//! compiled here, run on the compiled engine alone.

use kaudit_difftest::gen::{Generator, Rng, Vocabulary};
use kaudit_difftest::{compare, conformance_dir, have_conformance, matches, pairs, plans, Pair};
use kaudit_engine::engine::{Engine, Plan, RuleMatching};
use kaudit_engine::event::Event;
use kaudit_engine::ingest::split_events;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Says loudly that conformance data is missing; fails under CI, where it must be present.
fn conformance_available(test: &str) -> bool {
    if have_conformance() {
        return true;
    }
    let msg = format!(
        "!!! {test}: conformance data not found at {} (set KAUDIT_CONFORMANCE_DIR); SKIPPED",
        conformance_dir().display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("{msg}");
    false
}

/// Every event of a JSON Lines document (Event, EventList or array per line); unusable lines are skipped.
fn events_of(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Ok(evs) = split_events(line) {
            out.extend(evs.into_iter().map(<[u8]>::to_vec));
        }
    }
    out
}

fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// What comparing a batch of events found.
#[derive(Default)]
struct Tally {
    events: usize,
    alerts: usize,
    /// (pair index, rule index) → events it matched (every rule evaluated, `all` matching).
    per_rule: BTreeMap<(usize, usize), usize>,
}

/// Compares every pair on `events` (split over the available cores), panicking on the first difference.
fn compare_all(pairs: &[Pair], events: &[Vec<u8>], origin: &str) -> Tally {
    let plans: Vec<Vec<Plan>> = pairs.iter().map(|p| plans(p.compiled)).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = events.len().div_ceil(threads).max(1);
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = events
            .chunks(chunk)
            .enumerate()
            .map(|(c, batch)| {
                let plans = &plans;
                s.spawn(move || {
                    let mut t = Tally::default();
                    for (i, bytes) in batch.iter().enumerate() {
                        let Ok(ev) = Event::parse(bytes) else {
                            continue;
                        };
                        t.events += 1;
                        for (p, (pair, plans)) in pairs.iter().zip(plans).enumerate() {
                            match compare(pair, plans, &ev) {
                                Ok(a) => t.alerts += a,
                                Err(e) => panic!(
                                    "{origin} event {}: {e}\nevent: {}",
                                    c * chunk + i,
                                    String::from_utf8_lossy(bytes)
                                ),
                            }
                            // The last plan evaluates every rule with `all` matching.
                            if let Some(every) = plans.last() {
                                for r in matches(pair.compiled, &ev, every) {
                                    *t.per_rule.entry((p, r)).or_default() += 1;
                                }
                            }
                        }
                    }
                    t
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut total = Tally::default();
    for t in tallies {
        total.events += t.events;
        total.alerts += t.alerts;
        for (k, v) in t.per_rule {
            *total.per_rule.entry(k).or_default() += v;
        }
    }
    total
}

#[test]
fn rule_tables_agree() {
    for pair in pairs() {
        let (a, b) = (pair.compiled.rules(), pair.interp.rules());
        assert_eq!(a.len(), b.len(), "{}", pair.name);
        assert!(!a.is_empty(), "rule set {} compiled to no rules", pair.name);
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.name, y.name);
            assert_eq!(x.priority, y.priority, "{}", x.name);
            assert_eq!(x.source, y.source, "{}", x.name);
            assert_eq!(x.tags, y.tags, "{}", x.name);
            assert_eq!(x.enabled, y.enabled, "{}", x.name);
            assert_eq!(x.output, y.output, "{}", x.name);
        }
    }
}

#[test]
fn conformance_and_micro_events_agree() {
    if !conformance_available("conformance_and_micro_events_agree") {
        return;
    }
    let pairs = pairs();
    let dir = conformance_dir();
    let mut events = Vec::new();
    for f in files_in(&dir.join("events"), "json")
        .into_iter()
        .chain(files_in(&dir.join("micro/events"), "json"))
    {
        events.extend(events_of(&std::fs::read(&f).unwrap_or_default()));
    }
    let Tally {
        events: n, alerts, ..
    } = compare_all(&pairs, &events, "conformance");
    assert!(n > 100, "only {n} conformance events parsed");
    assert!(
        alerts > 0,
        "no rule matched any conformance event: the comparison is vacuous"
    );
    eprintln!("conformance + micro: {n} events, {alerts} matches, engines agree");
}

#[test]
fn falco_reference_corpus_agrees() {
    if !conformance_available("falco_reference_corpus_agrees") {
        return;
    }
    let path = conformance_dir().join("falco-reference/corpus-20k.jsonl.gz");
    let mut text = Vec::new();
    let read = std::fs::File::open(&path)
        .and_then(|f| flate2::read::GzDecoder::new(f).read_to_end(&mut text));
    if let Err(e) = read {
        panic!("{}: {e}", path.display());
    }
    let events = events_of(&text);
    let pairs = pairs();
    let Tally {
        events: n, alerts, ..
    } = compare_all(&pairs, &events, "corpus");
    assert_eq!(n, 20_000);
    assert!(alerts > 1000, "{alerts}");
    eprintln!("falco-reference corpus: {n} events, {alerts} matches, engines agree");
}

#[test]
fn generated_events_agree() {
    const EVENTS: usize = 100_000;
    let pairs = pairs();
    let vocabs: Vec<Vocabulary> = pairs
        .iter()
        .map(|p| Vocabulary::harvest(&p.ruleset))
        .collect();
    let mut events = Vec::with_capacity(EVENTS);
    for (k, vocab) in vocabs.iter().enumerate() {
        let mut gen = Generator {
            rng: Rng::new(0x6b61_7564_6974 + k as u64),
            vocab,
        };
        let share = EVENTS / vocabs.len() + usize::from(k < EVENTS % vocabs.len());
        events.extend((0..share).map(|_| gen.event()));
    }
    assert_eq!(events.len(), EVENTS);
    let Tally {
        events: n,
        alerts,
        per_rule,
    } = compare_all(&pairs, &events, "generated");
    assert_eq!(n, EVENTS, "every generated event parses");
    // The generator must reach the rules, or agreeing proves little.
    for (p, pair) in pairs.iter().enumerate() {
        let k8s_rules = pair
            .compiled
            .rules()
            .iter()
            .filter(|r| r.source == "k8s_audit")
            .count();
        let reached = per_rule.keys().filter(|(q, _)| *q == p).count();
        eprintln!("generated: rule set {} - {reached} of {k8s_rules} k8s_audit rules matched at least once", pair.name);
        assert!(
            reached * 2 >= k8s_rules,
            "rule set {}: only {reached} of {k8s_rules} rules ever matched",
            pair.name
        );
    }
    // getopt() rules must be reached too, or their agreement is vacuous.
    if let Some(p) = pairs.iter().position(|p| p.name == "bundled") {
        for (r, rule) in pairs[p].compiled.rules().iter().enumerate() {
            if rule.name.starts_with("Option ") {
                let n = per_rule.get(&(p, r)).copied().unwrap_or(0);
                eprintln!("generated: bundled rule {:?} matched {n} events", rule.name);
                assert!(n > 0, "bundled rule {:?} never matched", rule.name);
            }
        }
    }
    eprintln!("generated: {n} events, {alerts} matches, engines agree");
}

/// A saphyr YAML tree as JSON (enough for `cases.yaml`).
fn yaml_to_json(y: &saphyr::Yaml<'_>) -> Value {
    use saphyr::{Scalar, Yaml};
    match y {
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        Yaml::Value(Scalar::Integer(i)) => Value::from(*i),
        Yaml::Value(Scalar::FloatingPoint(f)) => Value::from(f.into_inner()),
        Yaml::Value(Scalar::String(s)) => Value::String(s.to_string()),
        Yaml::Representation(s, _, _) => Value::String(s.to_string()),
        Yaml::Tagged(_, inner) => yaml_to_json(inner),
        Yaml::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match yaml_to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

#[test]
fn conformance_cases_pass_on_the_compiled_engine() {
    use saphyr::LoadableYamlNode;
    if !conformance_available("conformance_cases_pass_on_the_compiled_engine") {
        return;
    }
    let dir = conformance_dir();
    let text = std::fs::read_to_string(dir.join("cases.yaml")).unwrap_or_default();
    let docs = saphyr::Yaml::load_from_str(&text).unwrap_or_default();
    let manifest = docs.first().map(yaml_to_json).unwrap_or(Value::Null);
    let cases = manifest["cases"].as_array().cloned().unwrap_or_default();
    assert!(!cases.is_empty(), "no cases in cases.yaml");

    let sets: [(&'static dyn Engine, &[&str]); 2] = [
        (
            &kaudit_difftest::current::ENGINE,
            kaudit_difftest::current::RULE_FILES,
        ),
        (
            &kaudit_difftest::legacy::ENGINE,
            kaudit_difftest::legacy::RULE_FILES,
        ),
    ];
    let mut ran = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let rules: Vec<PathBuf> = case["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|r| dir.join(r))
            .collect();
        let Some((engine, _)) = sets.iter().find(|(_, files)| {
            files.len() == rules.len()
                && files
                    .iter()
                    .zip(&rules)
                    .all(|(f, r)| Path::new(f).ends_with(r.strip_prefix(&dir).unwrap_or(r)))
        }) else {
            continue;
        };
        let events_path = dir.join(case["events"].as_str().unwrap_or(""));
        let file = std::fs::File::open(&events_path)
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", events_path.display()));
        let plan = Plan::new(
            engine.rules(),
            RuleMatching::First,
            kaudit_frontend::ir::Priority::Debug,
        );
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut priorities: Vec<String> = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.unwrap_or_default();
            for bytes in events_of(line.as_bytes()) {
                let Ok(ev) = Event::parse(&bytes) else {
                    continue;
                };
                for r in matches(*engine, &ev, &plan) {
                    if let Some(meta) = engine.rules().get(r) {
                        *counts.entry(meta.name.clone()).or_default() += 1;
                        priorities.push(meta.priority.name().to_ascii_uppercase());
                    }
                }
            }
        }
        let expect = &case["expect"];
        let total: u64 = counts.values().sum();
        if let Some(detect) = expect["detect"].as_bool() {
            assert_eq!(total > 0, detect, "{name}: detect (alerts: {counts:?})");
        }
        let norm = |p: &str| match p.to_ascii_uppercase().as_str() {
            "INFO" => "INFORMATIONAL".to_string(),
            other => other.to_string(),
        };
        for p in expect["priorities_seen"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            assert!(
                priorities.iter().any(|q| *q == norm(p)),
                "{name}: priority {p} not seen ({priorities:?})"
            );
        }
        for p in expect["priorities_absent"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            assert!(
                !priorities.iter().any(|q| *q == norm(p)),
                "{name}: priority {p} seen"
            );
        }
        if let Some(expected) = expect["counts"].as_object() {
            for (rule, n) in expected {
                let got = counts.get(rule).copied().unwrap_or(0);
                assert_eq!(Some(got), n.as_u64(), "{name}: count of {rule:?}");
            }
        }
        ran += 1;
    }
    assert!(ran >= 80, "only {ran} cases use a compiled rule set");
    eprintln!("{ran} conformance cases pass on the compiled engine");
}
