//! The compiled engine against the interpreter, on the same rule files: identical rule tables, and
//! identical matches (rule indices, both `rule_matching` modes, several plans) on every conformance event,
//! the Falco reference corpus and 100,000 generated events (hard bytes included) per rule-set group;
//! the NUL example of docs/semantics.md; plus the conformance cases whose rule set is compiled here, run
//! on the compiled engine alone.
//!
//! Tests that need the conformance data are ignored without it (`cfg(kaudit_no_conformance)`, set by
//! `kaudit_testkit::build_script`); under `CI=true` the build fails instead.

use kaudit_difftest::gen::{Generator, Rng, Vocabulary};
use kaudit_difftest::{bundled_pair, compare, events_of, matches, plans, Pair};
use kaudit_engine::engine::{Engine, Plan};
use kaudit_engine::event::Event;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// Every rule set this build compiled, in both forms.
fn all_pairs() -> Vec<Pair> {
    #[allow(unused_mut)]
    let mut pairs = vec![bundled_pair()];
    #[cfg(not(kaudit_no_conformance))]
    pairs.extend(kaudit_difftest::upstream_pairs());
    pairs
}

#[test]
fn rule_tables_agree() {
    for pair in all_pairs() {
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
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn conformance_and_micro_events_agree() {
    #[cfg(not(kaudit_no_conformance))]
    conformance_and_micro_events_agree_body();
}

#[cfg(not(kaudit_no_conformance))]
fn conformance_and_micro_events_agree_body() {
    let pairs = kaudit_difftest::upstream_pairs();
    let dir = kaudit_testkit::conformance_dir();
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
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn falco_reference_corpus_agrees() {
    #[cfg(not(kaudit_no_conformance))]
    falco_reference_corpus_agrees_body();
}

#[cfg(not(kaudit_no_conformance))]
fn falco_reference_corpus_agrees_body() {
    use std::io::Read;
    let path = kaudit_testkit::conformance_dir().join("falco-reference/corpus-20k.jsonl.gz");
    let mut text = Vec::new();
    let read = std::fs::File::open(&path)
        .and_then(|f| flate2::read::GzDecoder::new(f).read_to_end(&mut text));
    if let Err(e) = read {
        panic!("{}: {e}", path.display());
    }
    let events = events_of(&text);
    let pairs = kaudit_difftest::upstream_pairs();
    let Tally {
        events: n, alerts, ..
    } = compare_all(&pairs, &events, "corpus");
    assert_eq!(n, 20_000);
    assert!(alerts > 1000, "{alerts}");
    eprintln!("falco-reference corpus: {n} events, {alerts} matches, engines agree");
}

/// How many generated events each rule-set group is compared on.
const GENERATED_EVENTS: usize = 100_000;

/// Generates `GENERATED_EVENTS` events from the rule sets' vocabularies (shared out evenly), compares
/// both engines on them, and checks that the generator produced the hard bytes and reached the rules.
fn generated_events_agree(pairs: &[Pair], seed: u64) {
    let vocabs: Vec<Vocabulary> = pairs
        .iter()
        .map(|p| Vocabulary::harvest(&p.ruleset))
        .collect();
    let mut events = Vec::with_capacity(GENERATED_EVENTS);
    for (k, vocab) in vocabs.iter().enumerate() {
        let mut gen = Generator {
            rng: Rng::new(seed + k as u64),
            vocab,
        };
        let share =
            GENERATED_EVENTS / vocabs.len() + usize::from(k < GENERATED_EVENTS % vocabs.len());
        events.extend((0..share).map(|_| gen.event()));
    }
    assert_eq!(events.len(), GENERATED_EVENTS);
    let hard = HardBytes::count(&events);
    eprintln!("generated: {hard:?}");
    hard.assert_present(GENERATED_EVENTS / 200);
    let Tally {
        events: n,
        alerts,
        per_rule,
    } = compare_all(pairs, &events, "generated");
    // Only documents past the parser's depth limit may be rejected (by both engines alike).
    assert!(
        n + hard.too_deep >= GENERATED_EVENTS,
        "only {n} of {GENERATED_EVENTS} generated events parse ({} too deep)",
        hard.too_deep
    );
    // The generator must reach the rules, or agreeing proves little.
    for (p, pair) in pairs.iter().enumerate() {
        let k8s_rules = pair
            .compiled
            .rules()
            .iter()
            .filter(|r| r.source == "k8s_audit")
            .count();
        let reached = per_rule.keys().filter(|(q, _)| *q == p).count();
        eprintln!(
            "generated: rule set {} - {reached} of {k8s_rules} k8s_audit rules matched at least once",
            pair.name
        );
        assert!(
            reached * 2 >= k8s_rules,
            "rule set {}: only {reached} of {k8s_rules} rules ever matched",
            pair.name
        );
        // Rules whose name says which construct they pin must be reached, or their agreement is vacuous.
        for (r, rule) in pair.compiled.rules().iter().enumerate() {
            if rule.name.starts_with("Option ") || rule.name.starts_with("NUL ") {
                let hits = per_rule.get(&(p, r)).copied().unwrap_or(0);
                eprintln!(
                    "generated: {} rule {:?} matched {hits} events",
                    pair.name, rule.name
                );
                assert!(hits > 0, "{} rule {:?} never matched", pair.name, rule.name);
            }
        }
    }
    eprintln!("generated: {n} events, {alerts} matches, engines agree");
}

/// The deepest nesting of objects and arrays in a JSON text (brackets inside strings do not count).
fn max_depth(json: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// How many generated events carry each kind of hard bytes.
#[derive(Debug, Default)]
struct HardBytes {
    nul_escape: usize,
    surrogate_pair: usize,
    escaped_slash: usize,
    raw_control: usize,
    lone_surrogate: usize,
    odd_number: usize,
    duplicate_key: usize,
    deep: usize,
    too_deep: usize,
    empty_string: usize,
    null: usize,
}

impl HardBytes {
    fn count(events: &[Vec<u8>]) -> HardBytes {
        let has = |e: &[u8], needle: &[u8]| memchr::memmem::find(e, needle).is_some();
        let mut h = HardBytes::default();
        for e in events {
            let lower = e.to_ascii_lowercase();
            h.nul_escape += usize::from(has(&lower, b"\\u0000"));
            h.surrogate_pair += usize::from(has(&lower, b"\\ud83d\\ude00"));
            h.escaped_slash += usize::from(has(e, b"\\/"));
            h.raw_control += usize::from(e.iter().any(|&b| b < 0x20 && b != b'\t'));
            h.lone_surrogate += usize::from(has(&lower, b"\\ud800\"") || has(&lower, b"\\udc00x"));
            h.odd_number += usize::from(
                has(e, b":18446744073709551616") || has(e, b":1e400") || has(e, b":-0,"),
            );
            h.duplicate_key += usize::from(has(e, b"dup\\u0000x") || has(e, b"\":null,\""));
            h.deep += usize::from(has(e, b"{\"d\":{\"d\":{\"d\":"));
            h.too_deep += usize::from(max_depth(e) > 512);
            h.empty_string += usize::from(has(e, b":\"\""));
            h.null += usize::from(has(e, b":null"));
        }
        h
    }

    /// Every kind occurs in at least `min` events.
    fn assert_present(&self, min: usize) {
        let kinds = [
            ("\\u0000", self.nul_escape),
            ("surrogate pair", self.surrogate_pair),
            ("\\/", self.escaped_slash),
            ("raw control byte", self.raw_control),
            ("lone surrogate", self.lone_surrogate),
            ("odd number", self.odd_number),
            ("duplicate key", self.duplicate_key),
            ("deep object", self.deep),
            ("empty string", self.empty_string),
            ("null", self.null),
        ];
        for (kind, n) in kinds {
            assert!(
                n >= min,
                "only {n} generated events have a {kind} (want {min})"
            );
        }
        assert!(self.too_deep > 0, "no event goes past the depth limit");
    }
}

#[test]
fn generated_events_agree_on_the_bundled_rules() {
    generated_events_agree(&[bundled_pair()], 0x6b61_7564_6974);
}

#[test]
#[cfg_attr(
    kaudit_no_conformance,
    ignore = "conformance data absent: set KAUDIT_CONFORMANCE_DIR"
)]
fn generated_events_agree_on_the_upstream_rules() {
    #[cfg(not(kaudit_no_conformance))]
    generated_events_agree(&kaudit_difftest::upstream_pairs(), 0x7570_7374_7265);
}

/// The case of docs/semantics.md ("String values and NUL"): JSON strings that decode to text with a
/// NUL byte. Falco's libs see every plugin string up to its first NUL, so each `NUL ...` rule of the
/// bundled set must fire on the first event below and not on the second (which differs only in having
/// no NUL-shortened values that match), on both engines, and outputs show the text before the NUL.
#[test]
fn nul_example_fires_the_same_rules_on_both_engines() {
    use kaudit_engine::alert::AlertFormat;
    use kaudit_engine::settings::Settings;
    let pair = bundled_pair();
    let with_nul = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"nul-1","stage":"ResponseComplete",
        "verb":"get\u0000x","requestURI":"/api/v1/pods\u0000/x",
        "user":{"username":"admin\u0000x","groups":["ops\u0000y","admins"]},
        "objectRef":{"resource":"pods\u0000","subresource":"exec\u0000exec","namespace":"prod\u0000dev","name":"YWRtaW4AeA=="},
        "responseStatus":{"code":200},"stageTimestamp":"2024-01-02T03:04:05.000000Z"}"#;
    let with_nul: Vec<u8> = with_nul.iter().copied().filter(|&b| b != b'\n').collect();
    // The same values with the text after the NUL kept as ordinary characters ("\u0000" -> "0"):
    // no `NUL ...` rule may fire then, so the rules really test the cut.
    let without: Vec<u8> = String::from_utf8_lossy(&with_nul)
        .replace("\\u0000", "0")
        .replace("YWRtaW4AeA==", "YWRtaW4weA==")
        .into_bytes();
    let nul_rules: Vec<(usize, &str)> = pair
        .interp
        .rules()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.name.starts_with("NUL "))
        .map(|(i, r)| (i, r.name.as_str()))
        .collect();
    assert_eq!(nul_rules.len(), 8, "{nul_rules:?}");
    let plans = plans(pair.compiled);
    let every = plans.last().cloned().unwrap_or_else(|| unreachable!());
    for (bytes, expect_fire) in [(&with_nul, true), (&without, false)] {
        let ev = Event::parse(bytes).unwrap_or_else(|e| panic!("{e:?}"));
        if let Err(e) = compare(&pair, &plans, &ev) {
            panic!("engines differ on the NUL example: {e}");
        }
        let fired = matches(pair.compiled, &ev, &every);
        for (i, name) in &nul_rules {
            assert_eq!(
                fired.contains(i),
                expect_fire,
                "rule {name:?} on {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
    // Output text and output fields end at the NUL too.
    let ev = Event::parse(&with_nul).unwrap_or_else(|e| panic!("{e:?}"));
    let settings = Settings {
        json_output: true,
        ..Settings::default()
    };
    let format = AlertFormat::new(&settings);
    let rule = &pair.compiled.rules()[nul_rules[0].0];
    let mut out = Vec::new();
    format.format_event(&mut out, rule, &ev);
    let alert: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
    assert_eq!(alert["output_fields"]["ka.user.name"], "admin", "{alert}");
    let text = alert["output"].as_str().unwrap_or_default();
    assert!(text.ends_with("nul eq user=admin"), "{text}");
}

/// The case docs/semantics.md gives for a real Falco, verbatim (`rules/nul_case.*`): kaudit's answer on
/// both engines is the one the document states.
#[test]
fn documented_nul_case_gives_the_documented_answer() {
    use kaudit_engine::alert::AlertFormat;
    use kaudit_engine::settings::Settings;
    let doc = include_str!("../../../docs/semantics.md");
    let rules = include_str!("../rules/nul_case.yaml");
    let event = include_str!("../rules/nul_case.json");
    let rules_body: String = rules
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        doc.contains(&rules_body),
        "rules/nul_case.yaml differs from docs/semantics.md"
    );
    assert!(
        doc.contains(event.trim()),
        "rules/nul_case.json differs from docs/semantics.md"
    );

    let pair = kaudit_difftest::pair(
        "nul_case",
        &kaudit_difftest::nul_case::ENGINE,
        kaudit_difftest::nul_case::RULE_SOURCES,
    );
    let ev = Event::parse(event.trim().as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
    let plans = plans(pair.compiled);
    if let Err(e) = compare(&pair, &plans, &ev) {
        panic!("engines differ on the documented NUL case: {e}");
    }
    let every = plans.last().cloned().unwrap_or_else(|| unreachable!());
    let settings = Settings {
        json_output: true,
        ..Settings::default()
    };
    let format = AlertFormat::new(&settings);
    let mut outputs = Vec::new();
    for r in matches(pair.compiled, &ev, &every) {
        let rule = &pair.compiled.rules()[r];
        let mut out = Vec::new();
        format.format_event(&mut out, rule, &ev);
        let alert: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        let text = alert["output"].as_str().unwrap_or_default();
        // The text after the time and priority prefix.
        let message = text.splitn(3, ' ').nth(2).unwrap_or_default().to_string();
        outputs.push((rule.name.clone(), message, alert["output_fields"].clone()));
    }
    let names: Vec<&str> = outputs.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["nul eq", "nul in", "nul verb", "nul len"]);
    let messages: Vec<&str> = outputs.iter().map(|(_, m, _)| m.as_str()).collect();
    assert_eq!(
        messages,
        [
            "eq user=admin verb=get",
            "in user=admin",
            "verb verb=get",
            "len user=admin"
        ]
    );
    assert_eq!(outputs[0].2["ka.user.name"], "admin");
    assert_eq!(outputs[0].2["ka.verb"], "get");
}
