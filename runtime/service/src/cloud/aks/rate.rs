//! The plugin's rate limit (`rate_limit_events_per_second`, `rate_limit_burst`): a token bucket over
//! diagnostic records. The plugin waits per record; here a received batch takes its records' tokens at
//! once and the next receive waits until the bucket is positive again, which keeps the same average
//! rate without holding received events in memory while waiting.

use std::time::{Duration, Instant};

pub struct RateLimit {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    pub fn new(per_second: u32, burst: u32) -> RateLimit {
        let burst = f64::from(burst.max(1));
        RateLimit {
            per_second: f64::from(per_second.max(1)),
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_second).min(self.burst);
        self.at = now;
    }

    /// Records that the next receive may take (at least 1 when it may go ahead at all).
    pub fn available(&mut self, now: Instant) -> usize {
        self.refill(now);
        if self.tokens < 1.0 {
            0
        } else {
            self.tokens as usize
        }
    }

    /// How long until a record may pass.
    pub fn wait_time(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
    }

    /// `n` records were read.
    pub fn take(&mut self, n: u64, now: Instant) {
        self.refill(now);
        self.tokens -= n as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_the_rate() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(10, 20);
        assert_eq!(r.available(t0), 20);
        r.take(25, t0);
        assert_eq!(r.available(t0), 0);
        // 5 tokens owed plus one to pass: 0.6 s at 10 per second.
        let w = r.wait_time(t0);
        assert!((w.as_secs_f64() - 0.6).abs() < 1e-6, "{w:?}");
        assert_eq!(r.available(t0 + Duration::from_millis(600)), 1);
        assert_eq!(
            r.available(t0 + Duration::from_secs(100)),
            20,
            "capped at the burst"
        );
    }
}
