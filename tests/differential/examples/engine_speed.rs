//! A quick engine-only timing: the Falco reference corpus (parsed once) through the compiled engine and
//! through the interpreter, both `rule_matching` modes, for the `current` rule set.
//!
//!     cargo run --release -p kaudit-difftest --example engine_speed [ROUNDS]

use kaudit_difftest::{conformance_dir, matches};
use kaudit_engine::engine::{Engine, Plan, RuleMatching};
use kaudit_engine::event::Event;
use kaudit_engine::ingest::split_events;
use std::io::Read;
use std::time::Instant;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let path = conformance_dir().join("falco-reference/corpus-20k.jsonl.gz");
    let mut text = Vec::new();
    if let Err(e) = std::fs::File::open(&path)
        .and_then(|f| flate2::read::GzDecoder::new(f).read_to_end(&mut text))
    {
        eprintln!("{}: {e}", path.display());
        std::process::exit(1);
    }
    let docs: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .flat_map(|l| split_events(l).unwrap_or_default())
        .collect();
    let events: Vec<Event<'_>> = docs.iter().filter_map(|d| Event::parse(d).ok()).collect();
    #[cfg(kaudit_no_conformance)]
    let pair: kaudit_difftest::Pair = {
        eprintln!("built without the conformance data: nothing to time");
        std::process::exit(1);
    };
    #[cfg(not(kaudit_no_conformance))]
    let Some(pair) = kaudit_difftest::upstream_pairs()
        .into_iter()
        .find(|p| p.name == "current")
    else {
        return;
    };
    for matching in [RuleMatching::First, RuleMatching::All] {
        let plan = Plan::new(
            pair.interp.rules(),
            matching,
            kaudit_frontend::ir::Priority::Debug,
        );
        let engines: [(&str, &dyn Engine); 2] =
            [("compiled", pair.compiled), ("interpreted", &pair.interp)];
        for (name, engine) in engines {
            let start = Instant::now();
            let mut hits = 0;
            for _ in 0..rounds {
                for ev in &events {
                    hits += matches(engine, ev, &plan).len();
                }
            }
            let secs = start.elapsed().as_secs_f64();
            let n = events.len() * rounds;
            println!(
                "{matching:?} {name:12} {n} events {secs:.3} s {:>10.0} events/s ({hits} matches)",
                n as f64 / secs
            );
        }
    }
}
