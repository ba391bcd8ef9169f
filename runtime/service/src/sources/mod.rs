//! Event sources: where audit events come from (the webhook, files that keep growing, cloud logging
//! services), all feeding one pipeline: queue → workers → outputs → acknowledgements.
//!
//! # The contract
//!
//! A pull source implements [`Source`]: a stream of [`Batch`]es, each holding audit *documents* (the
//! bytes of an `audit.k8s.io/v1` Event, EventList or array of those; a source that reads another format
//! converts first, e.g. [`kaudit_engine::formats`]), plus a position that says how far the source is
//! once this batch is done. [`driver::run`] is the only caller:
//!
//! 1. It calls [`Source::next_batch`] and splits every document with [`kaudit_engine::ingest`] (the one
//!    owner of bytes → events, shared with the webhook). A document that is not audit data is counted
//!    as dropped (`not_audit`); single bad events in it are dropped alone, as the webhook does.
//! 2. It queues the events, *waiting* for queue room (a pull source is slowed down, never refused).
//! 3. When every event of a batch has been evaluated and every output was handed all its alerts
//!    (`handoff`), the batch is done. [`Source::ack`] then receives the positions of done batches **in the
//!    order the batches were produced**, never one whose predecessors are not done yet. So a file can
//!    store "offset after this batch", a Pub/Sub source can acknowledge the batch's messages, and a
//!    checkpoint written in `ack` never covers an event whose alerts could still be lost.
//! 4. A batch whose evaluation panicked is never acknowledged (nor is any later one): after a restart
//!    it is read again. That is the at-least-once half; sources deduplicate with their checkpoints
//!    (what was acknowledged is never read again), which is the "nothing repeated" half.
//!
//! `next_batch` must not wait for new data longer than about a second: when nothing is there it returns
//! [`Next::Idle`], which lets the driver deliver acknowledgements and notice shutdown while the source is
//! quiet. `Ok(Next::End)` ends the source (a file read without follow); `Err` is counted, logged and
//! retried after a back-off (the source decides inside `next_batch` whether an error is permanent, by
//! returning it again). On shutdown the driver stops calling `next_batch` (it may drop a pending
//! `next_batch` future at that point: a source must not lose data it has not returned yet, which
//! polling sources get for free), waits until every queued batch is done, delivers the last
//! acknowledgements, and returns.
//!
//! # The webhook
//!
//! The webhook is the push adapter of the same path: each request body is one document, split by the same
//! `ingest` function and queued into the same pipeline with all-or-nothing admission
//! (`Pipeline::submit`); its acknowledgement is the HTTP answer (200 = queued, 503 = send it again), since
//! the API server keeps no position for kaudit to store.

pub mod checkpoint;
pub mod driver;
pub mod file;
pub mod follow;
pub mod handoff;
pub mod stats;

use bytes::Bytes;
use std::fmt;
use std::future::Future;

/// A batch of audit documents read by a source.
#[derive(Debug)]
pub struct Batch<P> {
    /// Audit documents (Event, EventList or array), each split on its own.
    pub docs: Vec<Bytes>,
    /// Where the source is once this batch is done; handed back to [`Source::ack`].
    pub position: P,
    /// Records the source read for this batch (lines, log entries, messages), before conversion.
    pub records: u64,
    /// Records the source could not turn into audit documents, by reason (a short snake_case label).
    pub dropped: Vec<(&'static str, u64)>,
    /// Time of the newest record in the batch (ns since the epoch), for the lag metric.
    pub newest_record_ns: Option<u64>,
}

impl<P> Batch<P> {
    /// A batch of documents, one record each.
    pub fn new(docs: Vec<Bytes>, position: P) -> Batch<P> {
        Batch {
            records: docs.len() as u64,
            docs,
            position,
            dropped: Vec::new(),
            newest_record_ns: None,
        }
    }
}

/// What [`Source::next_batch`] found.
#[derive(Debug)]
pub enum Next<P> {
    Batch(Batch<P>),
    /// Nothing new for now (return within about a second of waiting).
    Idle,
    /// The source has ended.
    End,
}

/// A source failed (a read error, an unreachable service). Retried after a back-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError(pub String);

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceError {}

impl From<std::io::Error> for SourceError {
    fn from(e: std::io::Error) -> Self {
        SourceError(e.to_string())
    }
}

/// A pull source of audit documents. See the module documentation for the contract.
pub trait Source: Send + 'static {
    /// How far the source is once a batch is done (a file's inode and offset, Pub/Sub ack ids, ...).
    type Position: Send + 'static;

    /// Name for logs and metric labels (e.g. `file:/var/log/audit.log`, `k8saudit-eks:my-cluster`).
    fn name(&self) -> String;

    /// Hands the source its counters before the first batch (for counters only the source sees, such as
    /// GKE's lease renewals).
    fn attach(&mut self, _stats: std::sync::Arc<stats::SourceStats>) {}

    /// The next batch, [`Next::Idle`] after about a second without data, or [`Next::End`].
    fn next_batch(
        &mut self,
    ) -> impl Future<Output = Result<Next<Self::Position>, SourceError>> + Send;

    /// These batches are done, oldest first: record the position of the last one (checkpoint, ack).
    fn ack(
        &mut self,
        done: Vec<Self::Position>,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;
}

/// Starts the pull sources `cfg` configures on `server`, and sets when a failing source makes
/// `/healthz` unhealthy.
pub fn start_configured(
    server: &mut crate::server::Server,
    cfg: &crate::config::ServeConfig,
) -> Result<(), String> {
    let sc = &cfg.sources;
    server
        .metrics()
        .sources
        .set_unhealthy_after(Some(sc.unhealthy_after));
    if let Some(dir) = &sc.state_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("kaudit.state_dir: cannot create {}: {e}", dir.display()))?;
    }
    for f in &sc.files {
        let src =
            file::FileSource::open(&f.path, sc.state_dir.as_deref(), cfg.limits.max_batch_size)
                .map_err(|e| format!("{}: {e}", f.origin))?;
        tracing::info!(path = %f.path.display(), "following the audit log file");
        server.add_source(src);
    }
    crate::cloud::start(server, cfg)
}
