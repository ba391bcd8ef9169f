//! Replaying audit logs: JSON Lines files (the kube-apiserver log backend format), plain or gzip-compressed,
//! or stdin, through an engine, writing alerts (docs/semantics.md#ingestion).
//!
//! Each non-blank line is one document: an Event, an EventList or an array of those (`ingest`). Unlike
//! Falco's file reader there is no 64 KiB line limit (a deliberate difference), and a bad line never stops
//! the run: malformed, truncated, non-UTF-8 and non-audit lines are reported with `file:line` and skipped.
//! Events without a parsable `stageTimestamp`, or larger than `maxEventSize`, are dropped and counted, as
//! upstream drops them.

use kaudit_engine::alert::AlertFormat;
use kaudit_engine::engine::{Engine, Plan};
use kaudit_engine::event::Event;
use kaudit_engine::ingest;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub source: String,
    /// 1-based line number.
    pub line: u64,
    pub msg: String,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub lines: u64,
    /// Events evaluated.
    pub events: u64,
    /// Events dropped for a missing or invalid `stageTimestamp`.
    pub dropped_events: u64,
    pub alerts: u64,
    pub alerts_per_rule: BTreeMap<String, u64>,
    /// Lines skipped as malformed / not audit data, in input order.
    pub bad_lines: Vec<LineError>,
}

/// An opened input: a line reader plus, for regular files, the (compressed) size and a counter of bytes
/// consumed so far (for progress display).
pub struct Input {
    pub name: String,
    pub reader: Box<dyn BufRead>,
    pub size: Option<u64>,
    pub consumed: Rc<Cell<u64>>,
}

struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl Input {
    /// An input over any reader (already decompressed), e.g. in-memory data.
    pub fn from_reader(name: &str, reader: Box<dyn BufRead>) -> Input {
        Input {
            name: name.to_string(),
            reader,
            size: None,
            consumed: Rc::new(Cell::new(0)),
        }
    }
}

/// Opens `path` (`-` = stdin); gzip input is detected by its magic bytes and decompressed.
pub fn open_input(path: &str) -> io::Result<Input> {
    let consumed = Rc::new(Cell::new(0));
    let (raw, size, name): (Box<dyn Read>, Option<u64>, String) = if path == "-" {
        (Box::new(io::stdin()), None, "<stdin>".to_string())
    } else {
        let f = File::open(path).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
        let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        (Box::new(f), size, path.to_string())
    };
    let mut buffered = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: raw,
            count: Rc::clone(&consumed),
        },
    );
    let first = buffered.fill_buf()?;
    let (is_empty, is_gzip) = (first.is_empty(), first.starts_with(&[0x1f, 0x8b]));
    // An input that ended before its first byte stays ended: a terminal's Ctrl-D is one end of input, and
    // reading again would wait for another.
    let reader: Box<dyn BufRead> = if is_empty {
        Box::new(io::empty())
    } else if is_gzip {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    };
    Ok(Input {
        name,
        reader,
        size,
        consumed,
    })
}

/// Feeds lines through an engine and writes alerts.
pub struct Replayer<'a> {
    engine: &'a dyn Engine,
    plan: &'a Plan,
    format: &'a AlertFormat,
    next_num: u64,
    first_time_ns: Option<u64>,
    stats: ReplayStats,
    alert_buf: Vec<u8>,
    matches: Vec<usize>,
    /// Show a progress line on stderr for large inputs.
    pub progress: bool,
    /// Events whose compact JSON is larger are dropped (the k8saudit plugin's `maxEventSize`).
    pub max_event_size: usize,
    /// Flush the output after every event that alerted (for live streams such as a pipe on stdin).
    pub flush_each_event: bool,
}

impl<'a> Replayer<'a> {
    pub fn new(engine: &'a dyn Engine, plan: &'a Plan, format: &'a AlertFormat) -> Replayer<'a> {
        Replayer {
            engine,
            plan,
            format,
            next_num: 1,
            first_time_ns: None,
            stats: ReplayStats::default(),
            alert_buf: Vec::with_capacity(4096),
            matches: Vec::new(),
            progress: false,
            max_event_size: ingest::DEFAULT_MAX_EVENT_SIZE,
            flush_each_event: false,
        }
    }

    /// Reads every line of `input`. Alerts go to `out`, one diagnostic line per bad line to `diag`.
    /// Only I/O errors (reading the input, writing output) stop it.
    pub fn feed_input(
        &mut self,
        input: &mut Input,
        out: &mut dyn Write,
        diag: &mut dyn Write,
    ) -> io::Result<()> {
        let show_progress =
            self.progress && input.size.is_some_and(|s| s >= 4 << 20) && io::stderr().is_terminal();
        let mut last_progress = Instant::now();
        let mut line = Vec::with_capacity(1 << 14);
        let mut lineno = 0u64;
        loop {
            line.clear();
            let n = input.reader.read_until(b'\n', &mut line).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{}: line {}: {e}", input.name, lineno + 1),
                )
            })?;
            if n == 0 {
                break;
            }
            lineno += 1;
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            self.feed_line(&input.name, lineno, &line, out, diag)?;
            if show_progress && last_progress.elapsed() >= Duration::from_millis(250) {
                last_progress = Instant::now();
                let pct = input
                    .size
                    .map_or(0, |s| input.consumed.get().saturating_mul(100) / s.max(1));
                write!(
                    diag,
                    "\rkaudit replay: {}: {pct:3}%  {} events  {} alerts",
                    input.name, self.stats.events, self.stats.alerts
                )?;
            }
        }
        if show_progress {
            write!(diag, "\r\x1b[2K")?;
        }
        Ok(())
    }

    /// Processes one line (without its line break).
    pub fn feed_line(
        &mut self,
        source: &str,
        lineno: u64,
        line: &[u8],
        out: &mut dyn Write,
        diag: &mut dyn Write,
    ) -> io::Result<()> {
        self.stats.lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let bad = |stats: &mut ReplayStats, diag: &mut dyn Write, msg: String| -> io::Result<()> {
            writeln!(diag, "kaudit: {source}:{lineno}: {msg}")?;
            stats.bad_lines.push(LineError {
                source: source.to_string(),
                line: lineno,
                msg,
            });
            Ok(())
        };
        if let Err(e) = std::str::from_utf8(line) {
            return bad(
                &mut self.stats,
                diag,
                format!("not valid UTF-8 (at byte {})", e.valid_up_to()),
            );
        }
        let split = match ingest::split_document(line, self.max_event_size) {
            Ok(split) => split,
            Err(e) => return bad(&mut self.stats, diag, e.to_string()),
        };
        for dropped in &split.dropped {
            self.stats.dropped_events += 1;
            writeln!(diag, "kaudit: {source}:{lineno}: event dropped: {dropped}")?;
        }
        for mut ev in split.events {
            let Some(time_ns) = ev.time_ns() else {
                // split_document already drops these; kept so an event never evaluates without a time.
                self.stats.dropped_events += 1;
                writeln!(
                    diag,
                    "kaudit: {source}:{lineno}: event dropped: no valid stageTimestamp"
                )?;
                continue;
            };
            ev.set_num(self.next_num);
            self.next_num += 1;
            ev.set_first_time_ns(*self.first_time_ns.get_or_insert(time_ns));
            self.stats.events += 1;
            self.eval_event(&ev, out)?;
        }
        Ok(())
    }

    fn eval_event(&mut self, ev: &Event<'_>, out: &mut dyn Write) -> io::Result<()> {
        self.matches.clear();
        let matches = &mut self.matches;
        self.engine.eval(ev, self.plan, &mut |i| matches.push(i));
        if self.matches.is_empty() {
            return Ok(());
        }
        self.alert_buf.clear();
        for &i in &self.matches {
            let Some(rule) = self.engine.rules().get(i) else {
                continue;
            };
            self.format.format_event(&mut self.alert_buf, rule, ev);
            self.stats.alerts += 1;
            match self.stats.alerts_per_rule.get_mut(&rule.name) {
                Some(n) => *n += 1,
                None => {
                    self.stats.alerts_per_rule.insert(rule.name.clone(), 1);
                }
            }
        }
        out.write_all(&self.alert_buf)?;
        if self.flush_each_event {
            out.flush()?;
        }
        Ok(())
    }

    pub fn stats(&self) -> &ReplayStats {
        &self.stats
    }

    pub fn finish(self) -> ReplayStats {
        self.stats
    }
}

/// Writes the end-of-run summary (events, alerts per rule, skipped lines).
pub fn write_summary(stats: &ReplayStats, diag: &mut dyn Write) -> io::Result<()> {
    let mut line = format!(
        "kaudit replay: {}, {}",
        count(stats.events, "event", "events"),
        count(stats.alerts, "alert", "alerts")
    );
    if !stats.bad_lines.is_empty() {
        line += &format!(
            ", {}",
            count(
                stats.bad_lines.len() as u64,
                "malformed line",
                "malformed lines"
            )
        );
    }
    if stats.dropped_events > 0 {
        let what = "without a valid stageTimestamp";
        line += &format!(
            ", {} {what}",
            count(stats.dropped_events, "event", "events")
        );
    }
    writeln!(diag, "{line}")?;
    for (rule, n) in &stats.alerts_per_rule {
        writeln!(diag, "  {n:>8}  {rule}")?;
    }
    if !stats.bad_lines.is_empty() {
        const SHOWN: usize = 20;
        let list: Vec<String> = stats
            .bad_lines
            .iter()
            .take(SHOWN)
            .map(|b| format!("{}:{}", b.source, b.line))
            .collect();
        let more = stats.bad_lines.len().saturating_sub(SHOWN);
        let tail = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        writeln!(diag, "  malformed lines: {}{tail}", list.join(", "))?;
    }
    Ok(())
}

/// `n` with the singular or plural noun: "1 event", "2 events".
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_engine::alert::LocalZone;
    use kaudit_engine::engine::RuleMatching;
    use kaudit_engine::interp::Interpreter;
    use kaudit_engine::settings::Settings;

    const RULES: &str = "- rule: creates\n  desc: d\n  condition: ka.verb = create\n  output: n=%evt.num u=%ka.user.name\n  priority: NOTICE\n  source: k8s_audit\n- rule: alice\n  desc: d\n  condition: ka.user.name = alice\n  output: a\n  priority: INFO\n  source: k8s_audit\n";

    fn ev(user: &str, verb: &str) -> String {
        format!(
            r#"{{"kind":"Event","auditID":"x","stage":"ResponseComplete","verb":"{verb}","user":{{"username":"{user}"}},"stageTimestamp":"2024-01-02T03:04:05Z"}}"#
        )
    }

    fn replay(data: String, matching: RuleMatching) -> (String, String, ReplayStats) {
        let res = kaudit_frontend::load::load_sources(&[("r.yaml", RULES)]);
        let engine = Interpreter::new(res.ruleset.as_ref().expect("rules load")).expect("compile");
        let settings = Settings {
            rule_matching: matching,
            ..Settings::default()
        };
        let plan = settings.plan(engine.rules());
        let mut format = AlertFormat::new(&settings);
        format.zone = LocalZone::Utc;
        let mut r = Replayer::new(&engine, &plan, &format);
        let mut input = Input::from_reader("mem", Box::new(io::Cursor::new(data.into_bytes())));
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        r.feed_input(&mut input, &mut out, &mut diag)
            .expect("in-memory I/O");
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(diag).unwrap(),
            r.finish(),
        )
    }

    #[test]
    fn counts_events_alerts_and_bad_lines() {
        let data = format!(
            "{}\n\n[{},{}]\n{{\"kind\":\"Status\"}}\n{{broken\n{}",
            ev("alice", "create"),
            ev("bob", "create"),
            ev("alice", "get"),
            ev("carol", "create").replace("2024-01-02T03:04:05Z", "yesterday"),
        );
        let (out, diag, stats) = replay(data, RuleMatching::All);
        // Event numbers count evaluated events only (the dropped one gets none).
        assert_eq!(
            out,
            "03:04:05.000000000: Notice n=1 u=alice\n03:04:05.000000000: Informational a\n\
             03:04:05.000000000: Notice n=2 u=bob\n03:04:05.000000000: Informational a\n"
        );
        assert_eq!(
            (
                stats.lines,
                stats.events,
                stats.dropped_events,
                stats.alerts
            ),
            (6, 3, 1, 4)
        );
        assert_eq!(stats.alerts_per_rule.get("creates"), Some(&2));
        assert_eq!(stats.alerts_per_rule.get("alice"), Some(&2));
        let bad: Vec<u64> = stats.bad_lines.iter().map(|b| b.line).collect();
        assert_eq!(bad, [4, 5]);
        assert!(
            diag.contains("mem:4: data not recognized as a k8s audit event"),
            "{diag}"
        );
        assert!(diag.contains("mem:6: event dropped"), "{diag}");
    }

    #[test]
    fn first_matching_gives_one_alert_per_event() {
        let data = format!("{}\n{}\n", ev("alice", "create"), ev("alice", "get"));
        let (out, _, stats) = replay(data, RuleMatching::First);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert_eq!(stats.alerts_per_rule.get("creates"), Some(&1));
        assert_eq!(stats.alerts_per_rule.get("alice"), Some(&1));
    }

    #[test]
    fn nanosecond_fields_render_zero_padded() {
        let rules = "- rule: t\n  desc: d\n  condition: ka.verb exists\n  output: ns=%evt.rawtime.ns rel=%evt.reltime reln=%evt.reltime.ns s=%evt.rawtime.s\n  priority: NOTICE\n  source: k8s_audit\n";
        let res = kaudit_frontend::load::load_sources(&[("r.yaml", rules)]);
        let engine = Interpreter::new(res.ruleset.as_ref().expect("rules load")).expect("compile");
        let settings = Settings::default();
        let plan = settings.plan(engine.rules());
        let mut format = AlertFormat::new(&settings);
        format.zone = LocalZone::Utc;
        let mut r = Replayer::new(&engine, &plan, &format);
        let data = format!(
            "{}\n{}\n",
            ev("a", "get").replace("05Z", "05.000005Z"),
            ev("a", "get").replace("05Z", "05.000005042Z")
        );
        let mut input = Input::from_reader("mem", Box::new(io::Cursor::new(data.into_bytes())));
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        r.feed_input(&mut input, &mut out, &mut diag)
            .expect("in-memory I/O");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "03:04:05.000005000: Notice ns=000005000 rel=000000000 reln=000000000 s=1704164645\n\
             03:04:05.000005042: Notice ns=000005042 rel=000000042 reln=000000042 s=1704164645\n"
        );
    }

    #[test]
    fn summary_lists_rules_and_bad_lines() {
        let mut stats = ReplayStats {
            events: 3,
            alerts: 2,
            ..Default::default()
        };
        stats.alerts_per_rule.insert("r".into(), 2);
        stats.bad_lines.push(LineError {
            source: "f".into(),
            line: 7,
            msg: "m".into(),
        });
        let mut out = Vec::new();
        write_summary(&stats, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("kaudit replay: 3 events, 2 alerts, 1 malformed line\n"),
            "{text}"
        );
        assert!(text.contains("       2  r\n"), "{text}");
        assert!(text.contains("malformed lines: f:7\n"), "{text}");
    }

    #[test]
    fn summary_counts_read_in_the_singular_and_omit_what_did_not_happen() {
        let summary = |stats: &ReplayStats| {
            let mut out = Vec::new();
            write_summary(stats, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let clean = ReplayStats {
            events: 1,
            alerts: 1,
            ..Default::default()
        };
        assert_eq!(summary(&clean), "kaudit replay: 1 event, 1 alert\n");
        let dropped = ReplayStats {
            events: 0,
            dropped_events: 1,
            ..Default::default()
        };
        assert_eq!(
            summary(&dropped),
            "kaudit replay: 0 events, 0 alerts, 1 event without a valid stageTimestamp\n"
        );
        let more = ReplayStats {
            events: 2,
            dropped_events: 3,
            ..Default::default()
        };
        assert_eq!(
            summary(&more),
            "kaudit replay: 2 events, 0 alerts, 3 events without a valid stageTimestamp\n"
        );
    }
}
