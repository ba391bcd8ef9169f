//! `kaudit-corpus`: writes a deterministic audit-traffic corpus as JSON lines and prints its mix.
//!
//! Usage: kaudit-corpus [--seed N] [--events N] [--class NAME] [--out PATH]   (default: stdout)

#![forbid(unsafe_code)]

use kaudit_corpus::{generate, generate_class, Class, Corpus};
use std::io::Write;
use std::process::ExitCode;

struct Args {
    seed: u64,
    events: usize,
    class: Option<Class>,
    out: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seed: 1,
        events: 20_000,
        class: None,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--events" => args.events = value()?.parse().map_err(|e| format!("--events: {e}"))?,
            "--class" => {
                let name = value()?;
                args.class = Some(Class::from_name(&name).ok_or_else(|| {
                    let names: Vec<&str> = Class::ALL.iter().map(|c| c.name()).collect();
                    format!("unknown class {name:?}; one of: {}", names.join(", "))
                })?);
            }
            "--out" | "-o" => args.out = Some(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: kaudit-corpus [--seed N] [--events N] [--class NAME] [--out PATH]"
                        .into(),
                )
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(args)
}

fn summary(c: &Corpus) -> String {
    let mut out = String::new();
    let total = c.events.len().max(1);
    let mut sizes: Vec<usize> = c.events.iter().map(|s| s.end - s.start).collect();
    sizes.sort_unstable();
    let pct = |p: usize| {
        sizes
            .get((sizes.len() * p / 100).min(sizes.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    out.push_str(&format!(
        "{} events, {} bytes, avg {} B, min {} B, p50 {} B, p90 {} B, p99 {} B, max {} B\n",
        c.events.len(),
        c.event_bytes(),
        c.event_bytes() / total,
        sizes.first().copied().unwrap_or(0),
        pct(50),
        pct(90),
        pct(99),
        sizes.last().copied().unwrap_or(0)
    ));
    out.push_str(&format!(
        "{:<26}{:>8}{:>9}{:>10}\n",
        "class", "events", "share", "avg B"
    ));
    for class in Class::ALL {
        let spans: Vec<_> = c.events.iter().filter(|s| s.class == class).collect();
        if spans.is_empty() {
            continue;
        }
        let bytes: usize = spans.iter().map(|s| s.end - s.start).sum();
        out.push_str(&format!(
            "{:<26}{:>8}{:>8.1}%{:>10}\n",
            class.name(),
            spans.len(),
            100.0 * spans.len() as f64 / total as f64,
            bytes / spans.len()
        ));
    }
    out
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kaudit-corpus: {e}");
            return ExitCode::from(2);
        }
    };
    let corpus = match args.class {
        Some(class) => generate_class(args.seed, class, args.events),
        None => generate(args.seed, args.events),
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, &corpus.data).map_err(|e| format!("{path}: {e}")),
        None => std::io::stdout()
            .write_all(&corpus.data)
            .map_err(|e| format!("stdout: {e}")),
    };
    if let Err(e) = written {
        eprintln!("kaudit-corpus: {e}");
        return ExitCode::FAILURE;
    }
    eprint!("{}", summary(&corpus));
    ExitCode::SUCCESS
}
