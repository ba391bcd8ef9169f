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
    files: Vec<PathBuf>,
    poll: Duration,
    build: Build,
    /// The files as they were when the watch was made.
    seen: Vec<Seen>,
}

impl Watch {
    /// Takes note of the files as they are now: make it before reading them for the first context, so
    /// that an edit made while kaudit starts is a change, not the starting point.
    pub fn new(files: Vec<PathBuf>, poll: Duration, build: Build) -> Watch {
        let seen = files.iter().map(look).collect();
        Watch {
            files,
            poll,
            build,
            seen,
        }
    }
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
    mut watch: Watch,
    slot: Weak<std::sync::RwLock<Arc<EvalContext>>>,
    metrics: Arc<Metrics>,
    hup: Arc<AtomicBool>,
) {
    loop {
        std::thread::sleep(watch.poll);
        let Some(slot) = slot.upgrade() else {
            return;
        };
        let mut changed = false;
        for (path, last) in watch.files.iter().zip(watch.seen.iter_mut()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_engine::alert::AlertFormat;
    use kaudit_engine::engine::Engine;
    use kaudit_engine::interp::Interpreter;
    use kaudit_engine::settings::Settings;
    use std::sync::atomic::AtomicUsize;
    use std::sync::RwLock;
    use std::time::Instant;

    fn empty_context() -> EvalContext {
        let engine: Arc<dyn Engine> =
            Arc::new(Interpreter::new(&Default::default()).expect("an empty rule set interprets"));
        let settings = Settings::default();
        EvalContext {
            plan: settings.plan(engine.rules()),
            format: AlertFormat::new(&settings),
            engine,
        }
    }

    fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A fresh directory holding `rules.yaml` with the text "a".
    fn watched_file(test: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("kaudit-reload-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("rules.yaml");
        std::fs::write(&file, "a").unwrap();
        (dir, file)
    }

    /// The starting point is taken when the watch is made (before the first context is read), not when
    /// the thread first runs: an edit made in between reloads.
    #[test]
    fn an_edit_while_starting_is_a_change() {
        let (dir, file) = watched_file("start");
        let watch = Watch::new(
            vec![file.clone()],
            Duration::from_millis(10),
            Box::new(|| Ok(empty_context())),
        );
        std::fs::write(&file, "bb").unwrap();
        let slot: RulesSlot = Arc::new(RwLock::new(Arc::new(empty_context())));
        let metrics = Arc::new(Metrics::default());
        let thread = spawn(watch, &slot, metrics.clone(), Arc::default()).unwrap();
        wait_until("the reload of an edit made before the thread ran", || {
            metrics.rules_reload_ok.load(Ordering::SeqCst) == 1
        });
        drop(slot);
        thread.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_a_content_change_or_a_forced_reload_rebuilds_and_a_failure_keeps_the_slot() {
        let (dir, file) = watched_file("unit");
        let builds = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(AtomicBool::new(false));
        let (b, f) = (builds.clone(), fail.clone());
        let watch = Watch::new(
            vec![file.clone()],
            Duration::from_millis(10),
            Box::new(move || {
                b.fetch_add(1, Ordering::SeqCst);
                if f.load(Ordering::SeqCst) {
                    Err("broken".into())
                } else {
                    Ok(empty_context())
                }
            }),
        );
        let first = Arc::new(empty_context());
        let slot: RulesSlot = Arc::new(RwLock::new(first.clone()));
        let metrics = Arc::new(Metrics::default());
        let hup = Arc::new(AtomicBool::new(false));
        let thread = spawn(watch, &slot, metrics.clone(), hup.clone()).unwrap();

        // Same bytes written again (a new modification time): no rebuild.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&file, "a").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(builds.load(Ordering::SeqCst), 0);

        // New bytes: one rebuild, swapped in.
        std::fs::write(&file, "b").unwrap();
        wait_until("a reload", || {
            metrics.rules_reload_ok.load(Ordering::SeqCst) == 1
        });
        let second = super::super::pipeline::current(&slot);
        assert!(!Arc::ptr_eq(&first, &second));

        // A failing build: counted, reported, and the slot keeps the previous context.
        fail.store(true, Ordering::SeqCst);
        hup.store(true, Ordering::SeqCst);
        wait_until("a failed reload", || {
            metrics.rules_reload_failed.load(Ordering::SeqCst) == 1
        });
        assert_eq!(metrics.reload_error().as_deref(), Some("broken"));
        assert!(Arc::ptr_eq(
            &second,
            &super::super::pipeline::current(&slot)
        ));
        assert_eq!(builds.load(Ordering::SeqCst), 2);

        // The thread ends once the pipeline (the slot's last owner) is gone.
        drop(slot);
        wait_until("the thread to end", || thread.is_finished());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
