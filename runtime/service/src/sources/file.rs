//! The file source of `kaudit serve` (`open_params: "file:///var/log/kubernetes/audit.log"`): follows the
//! API server's log backend (`follow`), one line per audit document, and saves its position under
//! `kaudit.state_dir` once the alerts of the lines before it were handed to the outputs.

use super::follow::{FileCheckpoint, FilePos, Follower};
use super::{Batch, Next, Source, SourceError};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Pause between reads when the file has nothing new.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longest wait inside `next_batch` before answering `Idle`.
const IDLE_AFTER: Duration = Duration::from_millis(500);
/// Bytes read per batch.
const BATCH_BYTES: usize = 4 << 20;

pub struct FileSource {
    follower: Follower,
    /// Checkpoint file (`None` without `kaudit.state_dir`).
    checkpoint: Option<PathBuf>,
}

impl FileSource {
    /// Follows `path`, resuming from its checkpoint in `state_dir` when there is one. Lines longer than
    /// `max_line` are skipped and counted. Warnings (what a restart loses, rotations while stopped) are
    /// logged here, once.
    pub fn open(
        path: &Path,
        state_dir: Option<&Path>,
        max_line: usize,
    ) -> Result<FileSource, String> {
        let name = source_name(path);
        let checkpoint = state_dir.map(|d| super::checkpoint::path_for(d, &name));
        let resume = match &checkpoint {
            Some(c) => FileCheckpoint::load(c, path).map_err(|e| e.to_string())?,
            None => {
                tracing::warn!(
                    source = %name,
                    "no kaudit.state_dir: the position in the file is not saved; after a restart the file is read again from its start and its alerts repeat"
                );
                None
            }
        };
        let (follower, warnings) = Follower::open(path, resume, max_line)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for w in warnings {
            tracing::warn!(source = %name, "{w}");
        }
        if let Some(p) = resume {
            tracing::info!(source = %name, inode = p.ino, offset = p.offset, "resuming from the checkpoint");
        }
        Ok(FileSource {
            follower,
            checkpoint,
        })
    }
}

/// The metric label and checkpoint name of a followed file.
pub fn source_name(path: &Path) -> String {
    format!("file:{}", path.display())
}

impl Source for FileSource {
    type Position = FilePos;

    fn name(&self) -> String {
        source_name(self.follower.path())
    }

    async fn next_batch(&mut self) -> Result<Next<FilePos>, SourceError> {
        let started = Instant::now();
        loop {
            let before = self.follower.position();
            let polled = self
                .follower
                .poll(BATCH_BYTES)
                .map_err(|e| SourceError(format!("{}: {e}", self.follower.path().display())))?;
            let moved = polled.end.is_some() && polled.end != before;
            if let (true, Some(end)) = (moved, polled.end) {
                let records = polled.lines.len() as u64 + polled.too_long;
                let docs: Vec<Bytes> = polled
                    .lines
                    .into_iter()
                    .filter(|l| !l.trim_ascii().is_empty())
                    .map(Bytes::from)
                    .collect();
                let mut batch = Batch::new(docs, end);
                batch.records = records;
                if polled.too_long > 0 {
                    batch.dropped.push(("line_too_long", polled.too_long));
                }
                return Ok(Next::Batch(batch));
            }
            if started.elapsed() >= IDLE_AFTER {
                return Ok(Next::Idle);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn ack(&mut self, done: Vec<FilePos>) -> Result<(), SourceError> {
        let (Some(file), Some(pos)) = (&self.checkpoint, done.last()) else {
            return Ok(());
        };
        FileCheckpoint::save(file, self.follower.path(), *pos)
            .map_err(|e| SourceError(format!("checkpoint {}: {e}", file.display())))
    }
}
