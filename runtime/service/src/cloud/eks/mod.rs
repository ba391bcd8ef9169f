//! EKS: the cluster's audit events from CloudWatch Logs, as Falco's `k8saudit-eks` plugin reads them
//! (`FilterLogEvents` on `/aws/eks/<cluster>/cluster`, streams `kube-apiserver-audit*`), with a
//! checkpoint so that a restart neither loses nor repeats events.
//!
//! A poll runs `FilterLogEvents` from [`Cursors::poll_start`] through every page; each event that the
//! cursors call new becomes one audit document of a batch (at most `buffer_size` per batch, and a batch
//! never spans pages). When a poll has read the last page, the next one starts `polling_interval` later.
//! The position of a batch is the cursors after it; the checkpoint stores the position of the newest
//! batch whose alerts reached the outputs. Because `FilterLogEvents` returns events sorted by
//! timestamp, every event older than a stored position was in an earlier, finished batch.

pub mod client;
pub mod cursor;
pub mod source;

use crate::cloud::eks_config::EksConfig;
use bytes::Bytes;
use client::{CallError, LogEvent};
pub use cursor::Cursors;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// CloudWatch marks a message it cut at its 256 KiB event limit with this suffix; the JSON is broken.
const TRUNCATED_SUFFIX: &str = "[Truncated...]";

/// The most a `next_batch` call sleeps before reporting "idle" (the driver wants control back often).
const IDLE_SLICE: Duration = Duration::from_secs(1);

/// What the checkpoint file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub log_group: String,
    pub cursors: Cursors,
}

/// A batch read from CloudWatch.
#[derive(Debug, Default)]
pub struct EksBatch {
    /// One audit Event JSON per CloudWatch log event.
    pub docs: Vec<Bytes>,
    /// The cursors once this batch is done (what the checkpoint stores).
    pub position: Cursors,
    /// Log events read for this batch, new ones only.
    pub records: u64,
    /// Events dropped because CloudWatch truncated them.
    pub truncated: u64,
    /// Events larger than `max_event_size`.
    pub too_large: u64,
    /// Timestamp of the newest event, ns since the epoch.
    pub newest_record_ns: Option<u64>,
}

/// What a `next_batch` call found.
#[derive(Debug)]
pub enum EksNext {
    Batch(EksBatch),
    Idle,
}

/// A poll in progress.
struct Poll {
    start: i64,
    /// `None` before the first page and after the last one.
    next_token: Option<String>,
    first_page_done: bool,
}

/// Where events come from: the real client, or a stand-in in tests.
pub trait PageSource: Send {
    fn fetch(
        &mut self,
        log_group: &str,
        start: i64,
        next_token: Option<String>,
        limit: i32,
    ) -> impl std::future::Future<Output = Result<client::Page, CallError>> + Send;
}

/// The SDK client as a [`PageSource`], built on first use (loading the SDK's configuration may call
/// the instance-metadata service, which must not hold up the server's start).
pub struct CloudWatch {
    cfg: EksConfig,
    client: Option<aws_sdk_cloudwatchlogs::Client>,
}

impl CloudWatch {
    pub fn new(cfg: EksConfig) -> CloudWatch {
        CloudWatch { cfg, client: None }
    }
}

impl PageSource for CloudWatch {
    async fn fetch(
        &mut self,
        log_group: &str,
        start: i64,
        next_token: Option<String>,
        limit: i32,
    ) -> Result<client::Page, CallError> {
        let client = match &self.client {
            Some(c) => c,
            None => self.client.insert(client::connect(&self.cfg).await),
        };
        client::fetch_page(client, log_group, start, next_token, limit).await
    }
}

/// The poller: pages in, batches of new events out.
pub struct EksPoller<S> {
    cfg: EksConfig,
    log_group: String,
    pages: S,
    /// Read position (ahead of the checkpoint while batches are in flight).
    cursors: Cursors,
    /// Start of the very first poll when there is no checkpoint: now - shift, by the local clock.
    first_start: i64,
    poll: Option<Poll>,
    /// Events of the current page not yet put into a batch.
    pending: VecDeque<LogEvent>,
    next_poll_at: Option<Instant>,
}

impl<S: PageSource> EksPoller<S> {
    /// A poller that resumes from `checkpoint` (when given) or starts `shift` before now.
    pub fn new(cfg: EksConfig, pages: S, checkpoint: Option<Checkpoint>) -> Result<Self, String> {
        let log_group = cfg.log_group();
        let cursors = match checkpoint {
            Some(c) if c.log_group != log_group => {
                return Err(format!(
                    "the checkpoint is for log group {}, not {log_group}",
                    c.log_group
                ))
            }
            Some(c) => c.cursors,
            None => Cursors::default(),
        };
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let first_start = now_ms.saturating_sub(cfg.shift.as_millis() as i64).max(0);
        Ok(EksPoller {
            cfg,
            log_group,
            pages,
            cursors,
            first_start,
            poll: None,
            pending: VecDeque::new(),
            next_poll_at: None,
        })
    }

    pub fn log_group(&self) -> &str {
        &self.log_group
    }

    /// The checkpoint for a batch position.
    pub fn checkpoint(&self, position: Cursors) -> Checkpoint {
        Checkpoint {
            log_group: self.log_group.clone(),
            cursors: position,
        }
    }

    /// The next batch of new events, or `Idle` after at most about a second without one.
    pub async fn next_batch(&mut self) -> Result<EksNext, CallError> {
        loop {
            if !self.pending.is_empty() {
                let b = self.fill_batch();
                // A page of events taken before (the poll overlap) makes no batch.
                if b.records > 0 {
                    return Ok(EksNext::Batch(b));
                }
                continue;
            }
            match &self.poll {
                Some(p) if p.first_page_done && p.next_token.is_none() => {
                    // The poll has read its last page.
                    self.poll = None;
                    self.next_poll_at = Some(Instant::now() + self.cfg.polling_interval);
                    return Ok(EksNext::Idle);
                }
                Some(_) => self.fetch_next_page().await?,
                None => {
                    if let Some(at) = self.next_poll_at {
                        let now = Instant::now();
                        if at > now {
                            tokio::time::sleep((at - now).min(IDLE_SLICE)).await;
                            if at > Instant::now() {
                                return Ok(EksNext::Idle);
                            }
                        }
                    }
                    let start = self
                        .cursors
                        .poll_start(self.cfg.shift.as_millis() as i64)
                        .unwrap_or(self.first_start);
                    self.cursors.prune_before(start);
                    self.poll = Some(Poll {
                        start,
                        next_token: None,
                        first_page_done: false,
                    });
                }
            }
        }
    }

    async fn fetch_next_page(&mut self) -> Result<(), CallError> {
        let Some(p) = self.poll.as_mut() else {
            return Ok(());
        };
        let limit = i32::try_from(self.cfg.buffer_size).unwrap_or(10_000);
        let page = self
            .pages
            .fetch(&self.log_group, p.start, p.next_token.clone(), limit)
            .await?;
        // A repeated token would loop forever on one page.
        p.next_token = page.next_token.filter(|t| Some(t) != p.next_token.as_ref());
        p.first_page_done = true;
        self.pending.extend(page.events);
        Ok(())
    }

    /// Moves up to `buffer_size` pending events into a batch, skipping those already taken.
    fn fill_batch(&mut self) -> EksBatch {
        let mut b = EksBatch::default();
        let mut newest = None::<i64>;
        while b.docs.len() < self.cfg.buffer_size {
            let Some(e) = self.pending.pop_front() else {
                break;
            };
            if !self.cursors.is_new(&e.stream, e.timestamp, &e.id) {
                continue;
            }
            self.cursors.take(&e.stream, e.timestamp, &e.id);
            b.records += 1;
            newest = newest.max(Some(e.timestamp));
            if e.message.ends_with(TRUNCATED_SUFFIX) {
                b.truncated += 1;
                tracing::warn!(
                    stream = %e.stream,
                    event_id = %e.id,
                    audit_id = audit_id(&e.message).unwrap_or("?"),
                    "CloudWatch truncated this audit event; it cannot be parsed"
                );
                continue;
            }
            if e.message.len() > self.cfg.max_event_size {
                b.too_large += 1;
                continue;
            }
            b.docs.push(Bytes::from(e.message));
        }
        b.newest_record_ns = newest.map(|ms| (ms.max(0) as u64).saturating_mul(1_000_000));
        b.position = self.cursors.clone();
        b
    }
}

/// The `auditID` of a (possibly broken) event text, for the truncation warning.
fn audit_id(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("\"auditID\"")?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let (id, _) = rest.strip_prefix('"')?.split_once('"')?;
    (id.len() <= 64).then_some(id)
}

#[cfg(test)]
mod tests;
