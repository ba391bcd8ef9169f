//! Request deadlines of a connection, for both protocols: a connection must complete its first request
//! head within `header_timeout` of being accepted, and one with no request in progress is closed after
//! `idle_timeout`. HTTP/2 connections that send only the preface and a PING now and then (which hyper
//! answers without a request ever starting) are cut this way too; Go's `ReadHeaderTimeout` and
//! `IdleTimeout` are the model.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Which deadline ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// No complete first request head within `header_timeout`.
    Header,
    /// No request in progress for `idle_timeout`.
    Idle,
}

struct State {
    in_progress: usize,
    /// When the connection last became free of requests.
    free_since: Instant,
    served: bool,
}

/// Shared by a connection's requests (each holds a [`InRequest`]) and its watchdog ([`Activity::expired`]).
pub struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new(State {
                in_progress: 0,
                free_since: Instant::now(),
                served: false,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request has started (its head is complete); the guard ends it.
    pub fn request(self: &Arc<Self>) -> InRequest {
        self.lock().in_progress += 1;
        self.changed.notify_waiters();
        InRequest(self.clone())
    }

    /// Resolves when a deadline passes with no request in progress.
    pub async fn expired(&self, header_timeout: Duration, idle_timeout: Duration) -> Expired {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (deadline, which) = {
                let st = self.lock();
                if st.in_progress > 0 {
                    (None, Expired::Idle)
                } else if st.served {
                    (Some(st.free_since + idle_timeout), Expired::Idle)
                } else {
                    (Some(st.free_since + header_timeout), Expired::Header)
                }
            };
            match deadline {
                None => changed.await,
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(d) => return which,
                        _ = changed => {}
                    }
                }
            }
        }
    }
}

/// A request in progress; dropping it (the response is ready or the request was abandoned) restarts the
/// idle deadline.
pub struct InRequest(Arc<Activity>);

impl Drop for InRequest {
    fn drop(&mut self) {
        {
            let mut st = self.0.lock();
            st.in_progress -= 1;
            st.served = true;
            st.free_since = Instant::now();
        }
        self.0.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn header_deadline_then_idle_deadline_and_none_while_busy() {
        let a = Activity::new();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(a.expired(ms(100), ms(1000)).await, Expired::Header);
        assert_eq!(t0.elapsed(), ms(100));

        let a = Activity::new();
        let r = a.request();
        let watch = {
            let a = a.clone();
            tokio::spawn(async move { a.expired(ms(100), ms(1000)).await })
        };
        tokio::time::sleep(ms(5000)).await;
        assert!(
            !watch.is_finished(),
            "a request in progress has no deadline"
        );
        let freed = Instant::now();
        drop(r);
        assert_eq!(watch.await.unwrap(), Expired::Idle);
        assert_eq!(freed.elapsed(), ms(1000));
    }
}
