//! The evaluation workers' queue: two kinds of work, bodies to parse and events to evaluate, with bodies
//! first. A webhook request waits for its body's parse (its answer depends on it), while queued events
//! wait only for their turn: taking parse work first keeps the answer's latency to one parse, however
//! many events are queued.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

/// One item of work.
pub enum Work<P, E> {
    Parse(P),
    Eval(E),
}

struct Queues<P, E> {
    parse: VecDeque<P>,
    eval: VecDeque<E>,
    closed: bool,
}

/// A closable two-priority queue shared by the workers.
pub struct WorkQueue<P, E> {
    queues: Mutex<Queues<P, E>>,
    ready: Condvar,
}

impl<P, E> Default for WorkQueue<P, E> {
    fn default() -> Self {
        WorkQueue {
            queues: Mutex::new(Queues {
                parse: VecDeque::new(),
                eval: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }
}

impl<P, E> WorkQueue<P, E> {
    fn lock(&self) -> MutexGuard<'_, Queues<P, E>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a body to parse; gives it back once the queue is closed.
    pub fn push_parse(&self, p: P) -> Result<(), P> {
        let mut q = self.lock();
        if q.closed {
            return Err(p);
        }
        q.parse.push_back(p);
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// Queues all of `items` or, once the queue is closed, none (they are given back): the jobs of one
    /// body are queued together, so a shutdown never takes part of a body.
    pub fn push_evals(&self, items: Vec<E>) -> Result<(), Vec<E>> {
        let mut q = self.lock();
        if q.closed {
            return Err(items);
        }
        let n = items.len();
        q.eval.extend(items);
        drop(q);
        if n == 1 {
            self.ready.notify_one();
        } else {
            self.ready.notify_all();
        }
        Ok(())
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Refuses new work; the workers finish what is queued, then `next` gives `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next item (parse work first), waiting for one; `None` once closed and drained.
    pub fn next(&self) -> Option<Work<P, E>> {
        let mut q = self.lock();
        loop {
            if let Some(p) = q.parse.pop_front() {
                return Some(Work::Parse(p));
            }
            if let Some(e) = q.eval.pop_front() {
                return Some(Work::Eval(e));
            }
            if q.closed {
                return None;
            }
            q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_work_goes_first_and_close_drains() {
        let q: WorkQueue<u32, u32> = WorkQueue::default();
        q.push_evals(vec![1, 2]).unwrap();
        q.push_parse(10).unwrap();
        q.close();
        assert!(q.push_parse(11).is_err() && q.push_evals(vec![3]).is_err());
        let order: Vec<String> = std::iter::from_fn(|| q.next())
            .map(|w| match w {
                Work::Parse(p) => format!("p{p}"),
                Work::Eval(e) => format!("e{e}"),
            })
            .collect();
        assert_eq!(order, ["p10", "e1", "e2"]);
    }

    #[test]
    fn a_waiting_worker_wakes_for_new_work() {
        let q = std::sync::Arc::new(WorkQueue::<u32, u32>::default());
        let w = {
            let q = q.clone();
            std::thread::spawn(move || matches!(q.next(), Some(Work::Eval(7))))
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        q.push_evals(vec![7]).unwrap();
        assert!(w.join().unwrap());
    }
}
