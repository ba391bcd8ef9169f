//! Lease management: keeping pulled messages from being delivered again while their alerts are still on
//! the way to the outputs.
//!
//! A pulled message is out for the subscription's ack deadline; if it is not acknowledged by then, Pub/Sub
//! delivers it again. Alerts may take longer than that to reach the outputs (a stuck http receiver, a
//! long queue), so, as Google's high-level client libraries do, every message in flight is leased: its
//! deadline is set to `ack_extension` from now with `modifyAckDeadline`, and renewed each time half of
//! that has passed, until the message is acknowledged. The first extension is sent half of
//! min(`ack_extension`, 10 s) after the pull: 10 s is the shortest ack deadline Pub/Sub lets a
//! subscription have, so it is still in time, and the usual message, acknowledged within milliseconds,
//! costs no extension call at all. A lease is renewed for at most `max_ack_extension`
//! in total (the libraries' default is an hour): past that the message is let go and counted, so a
//! message whose alerts never get out is eventually delivered again (to this or another replica) instead
//! of being held forever. A copy delivered again while the first is still in flight is recognised by its
//! message ID in the source and not evaluated twice.
//!
//! The renewals run on a task of their own: while the outputs are stuck, the source's driver is blocked
//! waiting for queue room and never calls the source, so the source cannot renew from its own calls.

use super::pubsub::PubSub;
pub use crate::cloud::gke_config::LeaseSettings;
use crate::sources::stats::SourceStats;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Pub/Sub's shortest subscription ack deadline.
const MIN_SUBSCRIPTION_DEADLINE: Duration = Duration::from_secs(10);
/// Wait before renewing leases whose `modifyAckDeadline` failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Lease {
    received: Instant,
    /// When the lease must be renewed next.
    due: Instant,
}

#[derive(Debug, Default)]
struct Table {
    leases: HashMap<String, Lease>,
}

/// The leases of the messages in flight, renewed by a background task while `Leases` lives.
pub struct Leases {
    table: Arc<Mutex<Table>>,
    wake: Arc<Notify>,
    task: Option<tokio::task::JoinHandle<()>>,
    settings: LeaseSettings,
}

fn lock(m: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Leases {
    pub fn new(settings: LeaseSettings) -> Leases {
        Leases {
            table: Arc::new(Mutex::new(Table::default())),
            wake: Arc::new(Notify::new()),
            task: None,
            settings,
        }
    }

    fn enabled(&self) -> bool {
        !self.settings.max_total.is_zero()
    }

    /// Starts the renewing task (inside the tokio runtime; once).
    pub fn start(&mut self, pubsub: Arc<PubSub>, stats: Option<Arc<SourceStats>>) {
        if self.task.is_some() || !self.enabled() {
            return;
        }
        let (table, wake, settings) = (self.table.clone(), self.wake.clone(), self.settings);
        self.task = Some(tokio::spawn(renew_loop(
            table, wake, settings, pubsub, stats,
        )));
    }

    /// Leases these just-pulled messages.
    pub fn hold<'a>(&self, ack_ids: impl IntoIterator<Item = &'a str>) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let first = now + self.settings.extension.min(MIN_SUBSCRIPTION_DEADLINE) / 2;
        let mut t = lock(&self.table);
        for id in ack_ids {
            t.leases.insert(
                id.to_string(),
                Lease {
                    received: now,
                    due: first,
                },
            );
        }
        drop(t);
        self.wake.notify_one();
    }

    /// These messages were acknowledged (or their acknowledgement was attempted): stop renewing them.
    pub fn release<'a>(&self, ack_ids: impl IntoIterator<Item = &'a str>) {
        let mut t = lock(&self.table);
        for id in ack_ids {
            t.leases.remove(id);
        }
    }

    /// Messages leased now.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.table).leases.len()
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// What one pass over the table decided: the deadlines to ask for (seconds → ack IDs), how many leases
/// ran out of extension, and when the next pass is due.
#[derive(Debug, Default, PartialEq)]
struct Pass {
    extend: BTreeMap<u64, Vec<String>>,
    let_go: u64,
    next: Option<Instant>,
}

/// Decides the renewals due at `now`, marking them renewed (the next one when half the new deadline has
/// passed) and dropping the leases that reached `max_total`.
fn plan(t: &mut Table, settings: LeaseSettings, now: Instant) -> Pass {
    let mut pass = Pass::default();
    t.leases.retain(|id, l| {
        if l.due > now {
            pass.next = Some(pass.next.map_or(l.due, |n| n.min(l.due)));
            return true;
        }
        let left = settings
            .max_total
            .saturating_sub(now.saturating_duration_since(l.received));
        // Pub/Sub deadlines are whole seconds; less than one left means the lease is over.
        let secs = left.min(settings.extension).as_secs();
        if secs == 0 {
            pass.let_go += 1;
            return false;
        }
        pass.extend.entry(secs).or_default().push(id.clone());
        l.due = now + Duration::from_secs(secs) / 2;
        pass.next = Some(pass.next.map_or(l.due, |n| n.min(l.due)));
        true
    });
    pass
}

async fn renew_loop(
    table: Arc<Mutex<Table>>,
    wake: Arc<Notify>,
    settings: LeaseSettings,
    pubsub: Arc<PubSub>,
    stats: Option<Arc<SourceStats>>,
) {
    loop {
        let now = Instant::now();
        let pass = plan(&mut lock(&table), settings, now);
        if pass.let_go > 0 {
            tracing::warn!(
                messages = pass.let_go,
                max_ack_extension = ?settings.max_total,
                "GKE: messages still in flight after the longest lease are let go; Pub/Sub will deliver them again"
            );
            if let Some(s) = &stats {
                s.leases_let_go(pass.let_go);
            }
        }
        for (secs, ids) in pass.extend {
            // A renewal must land well before the deadline it renews.
            let timeout = Duration::from_secs(secs) / 4;
            match pubsub.modify_ack_deadline(&ids, secs, timeout).await {
                Ok(()) => {
                    if let Some(s) = &stats {
                        s.ack_extended(ids.len() as u64);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, messages = ids.len(), "GKE: extending ack deadlines failed; retrying");
                    let retry = Instant::now() + RETRY_AFTER;
                    let mut t = lock(&table);
                    for id in &ids {
                        if let Some(l) = t.leases.get_mut(id) {
                            l.due = l.due.min(retry);
                        }
                    }
                }
            }
        }
        let next = lock(&table)
            .leases
            .values()
            .map(|l| l.due)
            .min()
            .or(pass.next);
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ext: u64, max: u64) -> LeaseSettings {
        LeaseSettings {
            extension: Duration::from_secs(ext),
            max_total: Duration::from_secs(max),
        }
    }

    #[test]
    fn leases_are_renewed_at_half_the_deadline_and_let_go_after_the_maximum() {
        let s = settings(10, 25);
        let t0 = Instant::now();
        let mut t = Table::default();
        t.leases.insert(
            "a".into(),
            Lease {
                received: t0,
                due: t0,
            },
        );
        // At receipt: a 10 s deadline, renewed 5 s later.
        let p = plan(&mut t, s, t0);
        assert_eq!(p.extend, BTreeMap::from([(10, vec!["a".to_string()])]));
        assert_eq!(p.next, Some(t0 + Duration::from_secs(5)));
        // Not due yet: nothing sent.
        let p = plan(&mut t, s, t0 + Duration::from_secs(4));
        assert!(p.extend.is_empty());
        assert_eq!(p.next, Some(t0 + Duration::from_secs(5)));
        // 20 s in: only 5 s of the 25 s maximum are left, so the last deadline asked for is 5 s.
        t.leases.get_mut("a").unwrap().due = t0;
        let p = plan(&mut t, s, t0 + Duration::from_secs(20));
        assert_eq!(p.extend, BTreeMap::from([(5, vec!["a".to_string()])]));
        // At 25 s the lease is over: let go, counted, forgotten.
        let p = plan(&mut t, s, t0 + Duration::from_secs(25));
        assert!(p.extend.is_empty());
        assert_eq!(p.let_go, 1);
        assert!(t.leases.is_empty());
    }

    #[test]
    fn released_messages_are_not_renewed_and_zero_turns_leasing_off() {
        let l = Leases::new(settings(10, 60));
        l.hold(["a", "b"]);
        assert_eq!(l.len(), 2);
        l.release(["a"]);
        assert_eq!(l.len(), 1);
        let off = Leases::new(settings(10, 0));
        off.hold(["a"]);
        assert_eq!(off.len(), 0);
    }
}
