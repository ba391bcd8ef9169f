//! Hot reload of run-time rules and settings (README "Hot reload").
//!
//! A thread polls the watched files (rule files, configuration file) once per `poll`: a changed size or
//! modification time makes it read and hash the content, and only a changed hash triggers a reload (a
//! `touch` does not). SIGHUP triggers a reload whatever the files say. A reload builds the whole new
//! context first and swaps it into the pipeline's slot only if it loaded; otherwise the previous rules
//! stay in force and the failure is logged, counted (`kaudit_rules_reload_total{result="failed"}`) and
//! shown by /healthz. The thread ends when the pipeline is gone.

use super::metrics::Metrics;
use super::pipeline::{EvalContext, RulesSlot};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// Builds a whole evaluation context from the files as they are now, or says why it cannot.
pub type Build = Box<dyn Fn() -> Result<EvalContext, String> + Send>;

/// What to watch and how to rebuild.
pub struct Watch {
    /// Polled for changes; empty = reload on SIGHUP only.
    pub files: Vec<PathBuf>,
    pub poll: Duration,
    pub build: Build,
}

/// What one poll saw of a file: `None` when it cannot be read (a reload then reports the error).
#[derive(Clone, PartialEq, Eq, Default)]
struct Seen {
    stamp: Option<(SystemTime, u64)>,
    hash: Option<u64>,
}

fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn content_hash(path: &PathBuf) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

fn look(path: &PathBuf) -> Seen {
    Seen {
        stamp: stamp(path),
        hash: content_hash(path),
    }
}

/// Starts the reload thread. `hup` is raised by SIGHUP (or a test) to force a reload.
pub fn spawn(
    watch: Watch,
    slot: &RulesSlot,
    metrics: Arc<Metrics>,
    hup: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    let slot = Arc::downgrade(slot);
    std::thread::Builder::new()
        .name("kaudit-reload".into())
        .spawn(move || run(watch, slot, metrics, hup))
}

fn run(
    watch: Watch,
    slot: Weak<std::sync::RwLock<Arc<EvalContext>>>,
    metrics: Arc<Metrics>,
    hup: Arc<AtomicBool>,
) {
    let mut seen: Vec<Seen> = watch.files.iter().map(look).collect();
    loop {
        std::thread::sleep(watch.poll);
        let Some(slot) = slot.upgrade() else {
            return;
        };
        let mut changed = false;
        for (path, last) in watch.files.iter().zip(seen.iter_mut()) {
            let now = stamp(path);
            if now == last.stamp && now.is_some() {
                continue;
            }
            let hash = content_hash(path);
            // A file that went missing reloads (and fails) once, not at every poll.
            changed |= hash != last.hash;
            *last = Seen { stamp: now, hash };
        }
        let forced = hup.swap(false, Ordering::SeqCst);
        if !(changed || forced) {
            continue;
        }
        let why = if forced { "SIGHUP" } else { "file change" };
        match (watch.build)() {
            Ok(ctx) => {
                let rules = ctx.plan.order.len();
                *slot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ctx);
                metrics.reload_succeeded();
                tracing::info!(rules, trigger = why, "rules and settings reloaded");
            }
            Err(e) => {
                tracing::error!(
                    trigger = why,
                    "rules reload failed; the previous rules stay in force: {e}"
                );
                metrics.reload_failed(e);
            }
        }
    }
}
