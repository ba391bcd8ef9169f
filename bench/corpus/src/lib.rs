//! Deterministic generator of realistic Kubernetes audit traffic for kaudit's benchmarks.
//!
//! `generate(seed, n)` returns `n` audit.k8s.io/v1 events as JSON lines; the same seed always gives the
//! same bytes. The mix (`Class::per_mille`) is documented in bench/README.md.

#![forbid(unsafe_code)]

pub mod classes;
pub mod config_objects;
pub mod envelope;
pub mod json;
pub mod rng;
pub mod users;
pub mod workloads;

pub use classes::Class;

use envelope::Clock;
use rng::Rng;

/// Generated events: JSON lines in `data`, one `EventSpan` per event.
pub struct Corpus {
    pub data: Vec<u8>,
    pub events: Vec<EventSpan>,
}

/// One event's bytes `data[start..end]` (no newline) and its class.
#[derive(Debug, Clone, Copy)]
pub struct EventSpan {
    pub start: usize,
    pub end: usize,
    pub class: Class,
}

impl Corpus {
    pub fn event(&self, span: &EventSpan) -> &[u8] {
        self.data.get(span.start..span.end).unwrap_or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Class)> + '_ {
        self.events.iter().map(|s| (self.event(s), s.class))
    }

    /// Total bytes of the events (without newlines).
    pub fn event_bytes(&self) -> usize {
        self.events.iter().map(|s| s.end - s.start).sum()
    }

    fn push(&mut self, json: &str, class: Class) {
        let start = self.data.len();
        self.data.extend_from_slice(json.as_bytes());
        let end = self.data.len();
        self.data.push(b'\n');
        self.events.push(EventSpan { start, end, class });
    }
}

/// The mixed corpus: `n` events drawn from every class by `Class::per_mille`.
pub fn generate(seed: u64, n: usize) -> Corpus {
    let weights: Vec<u64> = Class::ALL.iter().map(|c| c.per_mille()).collect();
    build(seed, n, |rng| Class::ALL[rng.weighted(&weights)])
}

/// `n` events of one class only (for per-class benchmarks).
pub fn generate_class(seed: u64, class: Class, n: usize) -> Corpus {
    build(seed, n, |_| class)
}

fn build(seed: u64, n: usize, mut choose: impl FnMut(&mut Rng) -> Class) -> Corpus {
    let mut rng = Rng::new(seed);
    let mut clock = Clock { micros: 0 };
    let mut corpus = Corpus {
        data: Vec::new(),
        events: Vec::with_capacity(n),
    };
    for _ in 0..n {
        let class = choose(&mut rng);
        // Each event gets its own stream so one class's shape changes do not reshuffle the others.
        let mut event_rng = Rng::new(rng.next_u64());
        let json = class.build(&mut event_rng, &mut clock).to_json();
        corpus.push(&json, class);
    }
    corpus
}
