//! `kaudit replay --follow`: follow one growing file (`sources::follow`), evaluating its lines as they
//! come, and save the position under the state directory after their alerts were written and flushed.
//! Stops at SIGTERM/SIGINT after finishing what it read; a crash repeats at most the lines read since the
//! last checkpoint and loses none.

use super::Replayer;
use crate::sources::file::source_name;
use crate::sources::follow::{FileCheckpoint, Follower};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Pause between reads when the file has nothing new.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longer lines are skipped and counted (no line of an audit log comes near it).
const MAX_LINE: usize = 64 << 20;
/// Bytes read per round (alerts are flushed and the checkpoint saved after each round).
const ROUND_BYTES: usize = 4 << 20;

/// A flag raised at the first SIGTERM or SIGINT (watched by a small signal thread).
pub fn stop_on_signal() -> io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
    std::thread::Builder::new()
        .name("kaudit-signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (mut term, mut int) = match (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) {
                    (Ok(t), Ok(i)) => (t, i),
                    (Err(e), _) | (_, Err(e)) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
                flag.store(true, Ordering::SeqCst);
            });
        })?;
    ready_rx
        .recv()
        .map_err(|_| io::Error::other("signal thread ended"))??;
    Ok(stop)
}

/// Follows `path` until `stop` is raised.
pub fn follow(
    replayer: &mut Replayer<'_>,
    path: &Path,
    state_dir: Option<&Path>,
    out: &mut dyn Write,
    diag: &mut dyn Write,
    stop: &AtomicBool,
) -> io::Result<()> {
    let name = source_name(path);
    let checkpoint = state_dir.map(|d| crate::sources::checkpoint::path_for(d, &name));
    let resume = match &checkpoint {
        Some(c) => FileCheckpoint::load(c, path)?,
        None => {
            writeln!(
                diag,
                "kaudit: {}: no state directory (--state-dir or kaudit.state_dir): the position is not saved; after a restart the file is read again from its start and its alerts repeat",
                path.display()
            )?;
            None
        }
    };
    let (mut follower, warnings) = Follower::open(path, resume, MAX_LINE)?;
    for w in warnings {
        writeln!(diag, "kaudit: {w}")?;
    }
    let label = path.display().to_string();
    let mut lineno = 0u64;
    let mut saved = resume;
    while !stop.load(Ordering::SeqCst) {
        let polled = follower.poll(ROUND_BYTES)?;
        for line in &polled.lines {
            lineno += 1;
            replayer.feed_line(&label, lineno, line, out, diag)?;
        }
        if polled.too_long > 0 {
            writeln!(
                diag,
                "kaudit: {label}: {} over-long lines skipped",
                polled.too_long
            )?;
        }
        out.flush()?;
        if let (Some(c), Some(end)) = (&checkpoint, polled.end) {
            if saved != Some(end) {
                FileCheckpoint::save(c, path, end)?;
                saved = Some(end);
            }
        }
        if polled.lines.is_empty() && polled.too_long == 0 {
            std::thread::sleep(POLL_INTERVAL);
        }
    }
    Ok(())
}
