//! At most one log line per interval for one cause (e.g. "output X dropped alerts"): a stuck output under a
//! flood of events would otherwise write one line per dropped alert. The suppressed occurrences are counted
//! and reported in the next line that gets through; `/metrics` carries the exact totals.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LogGate {
    interval: Duration,
    /// When the last line was let through, and how many occurrences were held back since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogGate {
    pub fn new(interval: Duration) -> LogGate {
        LogGate {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// Records one occurrence. `Some(n)`: write a line now, covering this occurrence and `n` earlier ones
    /// that were held back; `None`: stay quiet.
    pub fn occurrence(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let due =
            s.0.is_none_or(|last| now.duration_since(last) >= self.interval);
        if due {
            let held = s.1;
            *s = (Some(now), 0);
            Some(held)
        } else {
            s.1 += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_held_back_count() {
        let g = LogGate::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(g.occurrence(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(g.occurrence(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(g.occurrence(t0 + Duration::from_secs(10)), Some(5));
        assert_eq!(g.occurrence(t0 + Duration::from_secs(11)), None);
    }
}
