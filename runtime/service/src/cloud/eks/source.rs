//! The EKS poller as a pipeline [`Source`]: batches of audit Event documents in, acknowledged positions
//! written to the checkpoint file under `kaudit.state_dir`.

use super::{Checkpoint, CloudWatch, Cursors, EksNext, EksPoller, PageSource};
use crate::cloud::eks_config::{EksConfig, PLUGIN_NAME};
use crate::sources::{checkpoint, Batch, Next, Source, SourceError};
use std::path::{Path, PathBuf};

pub struct EksSource<S = CloudWatch> {
    name: String,
    poller: EksPoller<S>,
    /// The checkpoint file; `None` without `kaudit.state_dir`.
    checkpoint: Option<PathBuf>,
}

/// The source's name in logs, metrics and the checkpoint file name.
pub fn source_name(cfg: &EksConfig) -> String {
    format!("{PLUGIN_NAME}:{}", cfg.cluster)
}

impl EksSource<CloudWatch> {
    /// The source on CloudWatch Logs (the SDK's configuration chain), resuming from the checkpoint in
    /// `state_dir`, if there is one.
    pub fn open(cfg: EksConfig, state_dir: Option<&Path>) -> Result<Self, String> {
        let pages = CloudWatch::new(cfg.clone());
        EksSource::with_pages(cfg, pages, state_dir)
    }
}

impl<S: PageSource + 'static> EksSource<S> {
    /// The source over any page source (tests use a stand-in).
    pub fn with_pages(cfg: EksConfig, pages: S, state_dir: Option<&Path>) -> Result<Self, String> {
        let name = source_name(&cfg);
        let origin = cfg.origin.clone();
        let path = state_dir.map(|d| checkpoint::path_for(d, &name));
        let saved = match &path {
            None => {
                tracing::warn!(
                    source = %name,
                    "no kaudit.state_dir: a restart starts again {} s before the time of the restart, so \
                     events written while kaudit was down are lost and events of the last {} s are repeated",
                    cfg.shift.as_secs(),
                    cfg.shift.as_secs()
                );
                None
            }
            Some(p) => match checkpoint::read(p) {
                Ok(None) => None,
                Ok(Some(bytes)) => Some(serde_json::from_slice::<Checkpoint>(&bytes).map_err(|e| {
                    format!(
                        "{origin}: checkpoint {} is unreadable ({e}); remove it to start again at now - shift",
                        p.display()
                    )
                })?),
                Err(e) => return Err(format!("{origin}: checkpoint {}: {e}", p.display())),
            },
        };
        if let Some(c) = &saved {
            tracing::info!(source = %name, streams = c.cursors.streams.len(), "resuming from the checkpoint");
        }
        let poller = EksPoller::new(cfg, pages, saved).map_err(|e| format!("{origin}: {e}"))?;
        Ok(EksSource {
            name,
            poller,
            checkpoint: path,
        })
    }
}

impl<S: PageSource + 'static> Source for EksSource<S> {
    type Position = Cursors;

    fn name(&self) -> String {
        self.name.clone()
    }

    async fn next_batch(&mut self) -> Result<Next<Cursors>, SourceError> {
        match self.poller.next_batch().await {
            Ok(EksNext::Idle) => Ok(Next::Idle),
            Ok(EksNext::Batch(b)) => {
                let mut dropped = Vec::new();
                if b.truncated > 0 {
                    dropped.push(("truncated", b.truncated));
                }
                if b.too_large > 0 {
                    dropped.push(("oversized", b.too_large));
                }
                Ok(Next::Batch(Batch {
                    docs: b.docs,
                    position: b.position,
                    records: b.records,
                    dropped,
                    newest_record_ns: b.newest_record_ns,
                }))
            }
            Err(e) => Err(SourceError(e.0)),
        }
    }

    async fn ack(&mut self, done: Vec<Cursors>) -> Result<(), SourceError> {
        let (Some(path), Some(last)) = (&self.checkpoint, done.into_iter().last()) else {
            return Ok(());
        };
        let data = serde_json::to_vec(&self.poller.checkpoint(last))
            .map_err(|e| SourceError(e.to_string()))?;
        let path = path.clone();
        // fsync can take a while on a busy disk: off the runtime's worker threads.
        tokio::task::spawn_blocking(move || checkpoint::write_atomic(&path, &data))
            .await
            .map_err(|e| SourceError(e.to_string()))?
            .map_err(|e| SourceError(format!("writing the checkpoint: {e}")))
    }
}
