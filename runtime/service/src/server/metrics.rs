//! Counters and gauges of the webhook, rendered in the Prometheus text format for `GET /metrics`.
//!
//! Plain atomics on the hot path; the per-rule alert counters sit behind a mutex because their label set is
//! only known at run time (one lock per alert, not per event).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the evaluation-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.1,
];

/// Why a request or an event was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 503: the event queue is full (the API server retries).
    QueueFull,
    /// 503: shutting down.
    ShuttingDown,
    /// 401.
    Unauthorized,
    /// 400: not JSON, or JSON that is not audit events.
    Malformed,
    /// 413.
    TooLarge,
    /// 405.
    Method,
    /// 415.
    ContentType,
    /// 404.
    NotFound,
    /// The body could not be read (client went away, timeout).
    ReadError,
    /// 503: the body-byte budget (global or the client address's) had no room; nothing was read.
    OverBudget,
}

impl Refusal {
    const ALL: [Refusal; 10] = [
        Refusal::QueueFull,
        Refusal::ShuttingDown,
        Refusal::Unauthorized,
        Refusal::Malformed,
        Refusal::TooLarge,
        Refusal::Method,
        Refusal::ContentType,
        Refusal::NotFound,
        Refusal::ReadError,
        Refusal::OverBudget,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::QueueFull => "queue_full",
            Refusal::ShuttingDown => "shutting_down",
            Refusal::Unauthorized => "unauthorized",
            Refusal::Malformed => "malformed",
            Refusal::TooLarge => "too_large",
            Refusal::Method => "method",
            Refusal::ContentType => "content_type",
            Refusal::NotFound => "not_found",
            Refusal::ReadError => "read_error",
            Refusal::OverBudget => "over_budget",
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Why a single event inside an accepted body was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventDrop {
    /// Larger than `maxEventSize`.
    Oversized,
    /// Missing or invalid `stageTimestamp`, or not a JSON object.
    Invalid,
}

#[derive(Default)]
pub struct Metrics {
    pub requests_accepted: AtomicU64,
    refused: [AtomicU64; 10],
    /// Events in accepted bodies (before per-event checks).
    pub events_received: AtomicU64,
    /// Events queued for evaluation.
    pub events_queued: AtomicU64,
    /// Events refused together with their request (queue full / shutting down).
    pub events_refused: AtomicU64,
    pub events_oversized: AtomicU64,
    pub events_invalid: AtomicU64,
    pub events_evaluated: AtomicU64,
    /// Events accepted and not yet evaluated.
    pub queue_depth: AtomicU64,
    /// Alerts waiting for the outputs, summed over every output's queue.
    pub output_queue_depth: AtomicU64,
    /// Connections closed at once because their address held its share (`per_address`), or more than an
    /// even share when only the reserved slots were left (`reserve`).
    pub connections_refused_per_address: AtomicU64,
    pub connections_refused_share: AtomicU64,
    /// Connections closed by a deadline: no complete first request head in time (`header`), or no
    /// request for `idle_timeout` (`idle`).
    pub connections_timed_out_header: AtomicU64,
    pub connections_timed_out_idle: AtomicU64,
    /// Connections open now, and the cap in force (fitted to the file-descriptor limit).
    pub connections_open: AtomicU64,
    pub connections_max: AtomicU64,
    /// Request-body bytes reserved now (being received or queued for evaluation).
    pub body_bytes_in_use: AtomicU64,
    alerts: Mutex<BTreeMap<(String, &'static str), u64>>,
    outputs: Mutex<BTreeMap<(String, &'static str), u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    /// Per-source counters (pull sources; the webhook's are the counters above).
    pub sources: crate::sources::stats::Registry,
    /// Hot reloads of the rules and settings that were swapped in (`ok`) or refused (`failed`).
    pub rules_reload_ok: AtomicU64,
    pub rules_reload_failed: AtomicU64,
    /// Why the last reload failed; cleared by a successful one (shown by /healthz).
    rules_reload_error: Mutex<Option<String>>,
}

impl Metrics {
    pub fn refused(&self, why: Refusal) {
        if let Some(c) = self.refused.get(why.index()) {
            c.fetch_add(1, Relaxed);
        }
    }

    pub fn refused_count(&self, why: Refusal) -> u64 {
        self.refused.get(why.index()).map_or(0, |c| c.load(Relaxed))
    }

    pub fn event_dropped(&self, why: EventDrop) {
        match why {
            EventDrop::Oversized => self.events_oversized.fetch_add(1, Relaxed),
            EventDrop::Invalid => self.events_invalid.fetch_add(1, Relaxed),
        };
    }

    pub fn alert(&self, rule: &str, priority: &'static str) {
        if let Ok(mut m) = self.alerts.lock() {
            *m.entry((rule.to_string(), priority)).or_insert(0) += 1;
        }
    }

    /// Total alerts produced.
    pub fn alerts_total(&self) -> u64 {
        self.alerts.lock().map(|m| m.values().sum()).unwrap_or(0)
    }

    /// `what` is `sent`, `failed` (after retries) or `dropped` (queue full, or not delivered before the
    /// shutdown deadline).
    pub fn output(&self, output: &str, what: &'static str) {
        self.output_n(output, what, 1);
    }

    /// `output`, `n` times.
    pub fn output_n(&self, output: &str, what: &'static str, n: u64) {
        if let Ok(mut m) = self.outputs.lock() {
            *m.entry((output.to_string(), what)).or_insert(0) += n;
        }
    }

    pub fn output_count(&self, output: &str, what: &'static str) -> u64 {
        self.outputs
            .lock()
            .ok()
            .and_then(|m| m.get(&(output.to_string(), what)).copied())
            .unwrap_or(0)
    }

    pub fn eval_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                count.fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_ns
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    /// A reload swapped in new rules and settings.
    pub fn reload_succeeded(&self) {
        self.rules_reload_ok.fetch_add(1, Relaxed);
        *self
            .rules_reload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A reload was refused; the previous rules stay in force.
    pub fn reload_failed(&self, why: String) {
        self.rules_reload_failed.fetch_add(1, Relaxed);
        *self
            .rules_reload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(why);
    }

    /// Why the last reload failed, when the last one did.
    pub fn reload_error(&self) -> Option<String> {
        self.rules_reload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn render(&self) -> String {
        let mut o = String::with_capacity(4096);
        let counter = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            &mut o,
            "kaudit_requests_accepted_total",
            "Webhook requests answered 200.",
            self.requests_accepted.load(Relaxed),
        );
        let _ = writeln!(
            o,
            "# HELP kaudit_requests_refused_total Webhook requests refused, by reason."
        );
        let _ = writeln!(o, "# TYPE kaudit_requests_refused_total counter");
        for r in Refusal::ALL {
            let _ = writeln!(
                o,
                "kaudit_requests_refused_total{{reason=\"{}\"}} {}",
                r.label(),
                self.refused_count(r)
            );
        }
        counter(
            &mut o,
            "kaudit_malformed_bodies_total",
            "Bodies that were not JSON audit events (answered 400).",
            self.refused_count(Refusal::Malformed),
        );
        counter(
            &mut o,
            "kaudit_events_received_total",
            "Events found in request bodies.",
            self.events_received.load(Relaxed),
        );
        counter(
            &mut o,
            "kaudit_events_queued_total",
            "Events accepted for evaluation.",
            self.events_queued.load(Relaxed),
        );
        counter(
            &mut o,
            "kaudit_events_refused_total",
            "Events in requests refused with a retryable status (queue full or shutting down).",
            self.events_refused.load(Relaxed),
        );
        let _ = writeln!(o, "# HELP kaudit_events_dropped_total Events of accepted bodies that were not evaluated, by reason.");
        let _ = writeln!(o, "# TYPE kaudit_events_dropped_total counter");
        let _ = writeln!(
            o,
            "kaudit_events_dropped_total{{reason=\"oversized\"}} {}",
            self.events_oversized.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "kaudit_events_dropped_total{{reason=\"invalid\"}} {}",
            self.events_invalid.load(Relaxed)
        );
        counter(
            &mut o,
            "kaudit_events_evaluated_total",
            "Events evaluated against the rules.",
            self.events_evaluated.load(Relaxed),
        );
        let gauge = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            &mut o,
            "kaudit_queue_depth",
            "Events accepted and waiting for evaluation.",
            self.queue_depth.load(Relaxed),
        );
        gauge(
            &mut o,
            "kaudit_output_queue_depth",
            "Alerts waiting for the outputs, summed over every output's queue.",
            self.output_queue_depth.load(Relaxed),
        );

        self.render_admission(&mut o);

        let _ = writeln!(
            o,
            "# HELP kaudit_alerts_total Alerts produced, by rule and priority."
        );
        let _ = writeln!(o, "# TYPE kaudit_alerts_total counter");
        if let Ok(m) = self.alerts.lock() {
            for ((rule, prio), v) in m.iter() {
                let _ = writeln!(
                    o,
                    "kaudit_alerts_total{{rule=\"{}\",priority=\"{prio}\"}} {v}",
                    escape_label(rule)
                );
            }
        }
        let _ = writeln!(o, "# HELP kaudit_rules_reload_total Hot reloads of rules and settings: swapped in (ok) or refused, old rules kept (failed).");
        let _ = writeln!(o, "# TYPE kaudit_rules_reload_total counter");
        let _ = writeln!(
            o,
            "kaudit_rules_reload_total{{result=\"ok\"}} {}\nkaudit_rules_reload_total{{result=\"failed\"}} {}",
            self.rules_reload_ok.load(Relaxed),
            self.rules_reload_failed.load(Relaxed)
        );
        let _ = writeln!(o, "# HELP kaudit_output_alerts_total Alerts handled by each output: sent, failed or dropped.");
        let _ = writeln!(o, "# TYPE kaudit_output_alerts_total counter");
        if let Ok(m) = self.outputs.lock() {
            for ((out, what), v) in m.iter() {
                let _ = writeln!(
                    o,
                    "kaudit_output_alerts_total{{output=\"{}\",result=\"{what}\"}} {v}",
                    escape_label(out)
                );
            }
        }

        let _ = writeln!(
            o,
            "# HELP kaudit_eval_latency_seconds Time to evaluate one event against the rules."
        );
        let _ = writeln!(o, "# TYPE kaudit_eval_latency_seconds histogram");
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                o,
                "kaudit_eval_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                count.load(Relaxed)
            );
        }
        let n = self.latency_count.load(Relaxed);
        let _ = writeln!(o, "kaudit_eval_latency_seconds_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(
            o,
            "kaudit_eval_latency_seconds_sum {}",
            self.latency_sum_ns.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(o, "kaudit_eval_latency_seconds_count {n}");
        self.sources.render(&mut o);
        o
    }
}

impl Metrics {
    /// Connection budgets, deadlines, the body-byte budget and rate-limited log lines.
    fn render_admission(&self, o: &mut String) {
        let _ = writeln!(o, "# HELP kaudit_connections_closed_total Connections closed by an admission limit or deadline, by reason.");
        let _ = writeln!(o, "# TYPE kaudit_connections_closed_total counter");
        for (reason, c) in [
            ("per_address", &self.connections_refused_per_address),
            ("reserve", &self.connections_refused_share),
            ("header_timeout", &self.connections_timed_out_header),
            ("idle_timeout", &self.connections_timed_out_idle),
        ] {
            let _ = writeln!(
                o,
                "kaudit_connections_closed_total{{reason=\"{reason}\"}} {}",
                c.load(Relaxed)
            );
        }
        for (name, help, v) in [
            (
                "kaudit_connections_open",
                "Connections open now.",
                &self.connections_open,
            ),
            (
                "kaudit_connections_max",
                "Connection cap in force (kaudit.max_connections fitted to the open-files limit).",
                &self.connections_max,
            ),
            (
                "kaudit_body_bytes_in_use",
                "Request-body bytes reserved now: being received or queued for evaluation.",
                &self.body_bytes_in_use,
            ),
        ] {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                v.load(Relaxed)
            );
        }
        let _ = writeln!(o, "# HELP kaudit_log_lines_suppressed_total Log lines dropped by the per-cause rate limit, by cause.");
        let _ = writeln!(o, "# TYPE kaudit_log_lines_suppressed_total counter");
        for (cause, n) in crate::logging::suppressed_counts() {
            let _ = writeln!(
                o,
                "kaudit_log_lines_suppressed_total{{cause=\"{}\"}} {n}",
                escape_label(cause)
            );
        }
    }
}

/// Prometheus label values escape backslash, double quote and newline.
pub(crate) fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_and_histogram() {
        let m = Metrics::default();
        m.refused(Refusal::QueueFull);
        m.refused(Refusal::Malformed);
        m.refused(Refusal::Malformed);
        m.events_received.fetch_add(5, Relaxed);
        m.alert("Rule \"x\"", "Warning");
        m.alert("Rule \"x\"", "Warning");
        m.output("http", "dropped");
        m.eval_latency(Duration::from_micros(3));
        m.eval_latency(Duration::from_millis(50));
        let t = m.render();
        assert!(
            t.contains("kaudit_requests_refused_total{reason=\"queue_full\"} 1\n"),
            "{t}"
        );
        assert!(t.contains("kaudit_malformed_bodies_total 2\n"));
        assert!(t.contains("kaudit_events_received_total 5\n"));
        assert!(t.contains("kaudit_alerts_total{rule=\"Rule \\\"x\\\"\",priority=\"Warning\"} 2\n"));
        assert!(t.contains("kaudit_output_alerts_total{output=\"http\",result=\"dropped\"} 1\n"));
        assert!(
            t.contains("kaudit_eval_latency_seconds_bucket{le=\"0.000005\"} 1\n"),
            "{t}"
        );
        assert!(t.contains("kaudit_eval_latency_seconds_bucket{le=\"0.01\"} 1\n"));
        assert!(t.contains("kaudit_eval_latency_seconds_bucket{le=\"0.1\"} 2\n"));
        assert!(t.contains("kaudit_eval_latency_seconds_count 2\n"));
        assert_eq!(m.alerts_total(), 2);
    }
}
