//! The bounded queue in front of one output: evaluation pushes, the output's own thread pops.
//!
//! A plain `Mutex<VecDeque>` with two condition variables rather than a channel, because the outputs need
//! three things channels do not give: the number of alerts not yet delivered (queued plus the one being
//! written) when a shutdown gives up on an output, a push that waits for room but can be released
//! (`abandon`) when the shutdown deadline passes, and a pop that ends once the queue is closed and empty.

use super::Alert;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What happens when an output's queue is full (`kaudit.output_queue_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FullPolicy {
    /// Drop the new alert and count it: a stuck output never stalls evaluation (the default).
    #[default]
    Drop,
    /// Wait for room: evaluation slows to the output's pace and the webhook answers 503 when its own
    /// queue fills (nothing is dropped, but a stuck output stops detection).
    Block,
}

/// What `push` did with the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The queue was full (drop policy) or the output was closed or abandoned.
    Dropped,
}

/// What `pop` found.
pub enum Popped {
    Alert(Arc<Alert>),
    /// Nothing arrived within the wait.
    Idle,
    /// Closed and empty, or abandoned: the output thread ends.
    Finished,
}

#[derive(Default)]
struct State {
    items: VecDeque<Arc<Alert>>,
    /// An alert was popped and is being written (`done` not called yet).
    in_flight: bool,
    /// No more pushes will come; the output drains what is queued.
    closed: bool,
    /// The shutdown gave up on this output: pops end, pushes fail, the queue is cleared.
    abandoned: bool,
    /// Set by `close`: when the shutdown stops waiting for the output.
    deadline: Option<Instant>,
}

pub struct AlertQueue {
    state: Mutex<State>,
    capacity: usize,
    policy: FullPolicy,
    /// Signalled when an item arrives or the queue closes.
    not_empty: Condvar,
    /// Signalled when room frees up or the queue is abandoned.
    not_full: Condvar,
}

impl AlertQueue {
    pub fn new(capacity: usize, policy: FullPolicy) -> AlertQueue {
        AlertQueue {
            state: Mutex::new(State::default()),
            capacity: capacity.max(1),
            policy,
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, alert: Arc<Alert>) -> Pushed {
        let mut s = self.lock();
        loop {
            if s.closed || s.abandoned {
                return Pushed::Dropped;
            }
            if s.items.len() < self.capacity {
                s.items.push_back(alert);
                self.not_empty.notify_one();
                return Pushed::Queued;
            }
            match self.policy {
                FullPolicy::Drop => return Pushed::Dropped,
                FullPolicy::Block => {
                    s = self.not_full.wait(s).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }

    /// The next alert, waiting at most `wait`. The caller reports the end of its write with `done`.
    pub fn pop(&self, wait: Duration) -> Popped {
        let mut s = self.lock();
        if s.abandoned {
            return Popped::Finished;
        }
        if s.items.is_empty() && !s.closed {
            s = self
                .not_empty
                .wait_timeout(s, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        if s.abandoned {
            return Popped::Finished;
        }
        match s.items.pop_front() {
            Some(a) => {
                s.in_flight = true;
                self.not_full.notify_one();
                Popped::Alert(a)
            }
            None if s.closed => Popped::Finished,
            None => Popped::Idle,
        }
    }

    /// The alert from the last `pop` has been written (or failed).
    pub fn done(&self) {
        self.lock().in_flight = false;
    }

    /// No more pushes: the output thread drains the queue, then ends; the shutdown waits until `deadline`.
    pub fn close(&self, deadline: Instant) {
        let mut s = self.lock();
        s.closed = true;
        s.deadline = Some(deadline);
        drop(s);
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// When the shutdown stops waiting (after `close`; far away before it).
    pub fn deadline(&self) -> Instant {
        self.lock()
            .deadline
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    /// Gives up on the output: clears the queue and releases waiting pushers. Returns what was not
    /// delivered: the number of alerts queued, and whether one was being written.
    pub fn abandon(&self) -> (u64, bool) {
        let mut s = self.lock();
        if s.abandoned {
            return (0, false);
        }
        s.abandoned = true;
        let lost = (s.items.len() as u64, s.in_flight);
        s.items.clear();
        drop(s);
        self.not_empty.notify_all();
        self.not_full.notify_all();
        lost
    }

    /// Alerts waiting (not counting the one being written).
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::super::text_alert;
    use super::*;

    fn a(s: &str) -> Arc<Alert> {
        Arc::new(text_alert(s))
    }

    fn line(p: Popped) -> String {
        match p {
            Popped::Alert(a) => String::from_utf8_lossy(&a.line).into_owned(),
            Popped::Idle => "<idle>".into(),
            Popped::Finished => "<finished>".into(),
        }
    }

    #[test]
    fn drop_policy_refuses_past_capacity_without_waiting() {
        let q = AlertQueue::new(2, FullPolicy::Drop);
        assert_eq!(q.push(a("1")), Pushed::Queued);
        assert_eq!(q.push(a("2")), Pushed::Queued);
        assert_eq!(q.push(a("3")), Pushed::Dropped);
        assert_eq!(line(q.pop(Duration::ZERO)), "1");
        q.done();
        assert_eq!(q.push(a("4")), Pushed::Queued);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn close_drains_then_finishes() {
        let q = AlertQueue::new(4, FullPolicy::Drop);
        q.push(a("1"));
        q.close(Instant::now());
        assert_eq!(q.push(a("late")), Pushed::Dropped);
        assert_eq!(line(q.pop(Duration::from_secs(5))), "1");
        assert_eq!(line(q.pop(Duration::from_secs(5))), "<finished>");
    }

    #[test]
    fn idle_pop_returns_after_the_wait() {
        let q = AlertQueue::new(1, FullPolicy::Drop);
        assert_eq!(line(q.pop(Duration::from_millis(10))), "<idle>");
    }

    #[test]
    fn abandon_counts_queued_and_in_flight_and_releases_a_blocked_pusher() {
        let q = Arc::new(AlertQueue::new(1, FullPolicy::Block));
        q.push(a("1"));
        assert_eq!(line(q.pop(Duration::ZERO)), "1"); // being written, never done
        q.push(a("2"));
        let q2 = q.clone();
        let blocked = std::thread::spawn(move || q2.push(a("3")));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!blocked.is_finished(), "block policy waits for room");
        assert_eq!(q.abandon(), (1, true), "one queued + one in flight");
        assert_eq!(blocked.join().unwrap(), Pushed::Dropped);
        assert_eq!(line(q.pop(Duration::ZERO)), "<finished>");
    }

    #[test]
    fn block_policy_resumes_when_room_frees() {
        let q = Arc::new(AlertQueue::new(1, FullPolicy::Block));
        q.push(a("1"));
        let q2 = q.clone();
        let pusher = std::thread::spawn(move || q2.push(a("2")));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(line(q.pop(Duration::ZERO)), "1");
        q.done();
        assert_eq!(pusher.join().unwrap(), Pushed::Queued);
        assert_eq!(line(q.pop(Duration::ZERO)), "2");
    }
}
