//! Replaying audit logs: JSON Lines files (the kube-apiserver log backend format), plain or gzip-compressed,
//! or stdin, through an engine, writing alerts (docs/semantics.md#ingestion).
//!
//! Each non-blank line is one document (`input` also finds the documents of pretty-printed and
//! concatenated JSON). A document is an Event, an EventList or an array of those (`ingest`), or, detected
//! by its members unless `--input-format` forces one, a cloud export that `kaudit_engine::formats`
//! converts: a GKE LogEntry (or an array of them), AKS diagnostic records, a CloudWatch Logs
//! subscription document. Unlike Falco's file reader there is no 64 KiB line limit (a deliberate
//! difference), and a bad line never stops the run: malformed, truncated, non-UTF-8 and non-audit lines
//! are reported with `file:line` and skipped. Events without a parsable `stageTimestamp`, or larger than
//! `maxEventSize`, are dropped and counted, as upstream drops them; so are cloud records that carry no
//! audit event, by reason.

pub mod follow;
pub mod input;

pub use input::{open_input, Input};

use kaudit_engine::alert::AlertFormat;
use kaudit_engine::engine::{Engine, Plan};
use kaudit_engine::event::Event;
use kaudit_engine::formats::{self, Converted, Format};
use kaudit_engine::ingest;
use std::collections::BTreeMap;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

/// Largest input read whole as pretty-printed JSON (JSON Lines input has no such limit).
const MAX_DOCUMENT_BYTES: u64 = 1 << 30;

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
    /// Cloud records (GKE entries, AKS records, CloudWatch log events) read from converted documents.
    pub records: u64,
    /// Cloud records that carried no audit event, by reason.
    pub records_dropped: BTreeMap<&'static str, u64>,
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
    /// The tape and event list of the current document, refilled for each one (no per-line allocation).
    doc_tape: ingest::DocTape,
    /// Show a progress line on stderr for large inputs.
    pub progress: bool,
    /// Events whose compact JSON is larger are dropped (the k8saudit plugin's `maxEventSize`).
    pub max_event_size: usize,
    /// Flush the output after every event that alerted (for live streams such as a pipe on stdin).
    pub flush_each_event: bool,
    /// The documents' format; `None` detects it for each document.
    pub input_format: Option<Format>,
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
            doc_tape: ingest::DocTape::default(),
            progress: false,
            max_event_size: ingest::DEFAULT_MAX_EVENT_SIZE,
            flush_each_event: false,
            input_format: None,
        }
    }

    /// Reads every document of `input`. Alerts go to `out`, one diagnostic line per bad line to `diag`.
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
        // Until the first line with data: one line at a time (it decides between JSON Lines and
        // pretty-printed documents, which are read whole).
        loop {
            line.clear();
            let n = read_line(input, lineno, &mut line)?;
            if n == 0 {
                return Ok(());
            }
            lineno += 1;
            if !line.trim_ascii().is_empty() {
                if input::is_unfinished_json(&line) {
                    // A pretty-printed file: its documents span lines.
                    return self.feed_rest_as_documents(input, lineno, line, out, diag);
                }
                self.feed_line(&input.name, lineno, &line, out, diag)?;
                break;
            }
            self.feed_line(&input.name, lineno, &line, out, diag)?;
        }
        // JSON Lines: each line is fed from the reader's buffer where it lies; only a line that spans
        // two reads is copied (into `line`).
        line.clear();
        loop {
            let buf = match input.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let msg = format!("{}: line {}: {e}", input.name, lineno + 1);
                    return Err(io::Error::new(e.kind(), msg));
                }
            };
            if buf.is_empty() {
                if !line.is_empty() {
                    lineno += 1;
                    self.feed_line(&input.name, lineno, &line, out, diag)?;
                }
                break;
            }
            let mut used = 0;
            for nl in memchr::memchr_iter(b'\n', buf) {
                let part = buf.get(used..nl).unwrap_or_default();
                used = nl + 1;
                lineno += 1;
                if line.is_empty() {
                    self.feed_line(&input.name, lineno, strip_cr(part), out, diag)?;
                } else {
                    line.extend_from_slice(part);
                    self.feed_line(&input.name, lineno, strip_cr(&line), out, diag)?;
                    line.clear();
                }
            }
            line.extend_from_slice(buf.get(used..).unwrap_or_default());
            let n = buf.len();
            input.reader.consume(n);
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

    /// Reads the rest of `input` after its first line `first` (line `lineno`) and feeds its JSON values
    /// one by one; when the text is not a sequence of JSON values, its lines are fed instead.
    fn feed_rest_as_documents(
        &mut self,
        input: &mut Input,
        lineno: u64,
        first: Vec<u8>,
        out: &mut dyn Write,
        diag: &mut dyn Write,
    ) -> io::Result<()> {
        let mut text = first;
        (&mut input.reader)
            .take(MAX_DOCUMENT_BYTES)
            .read_to_end(&mut text)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", input.name)))?;
        if text.len() as u64 >= MAX_DOCUMENT_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: a pretty-printed document larger than {} MiB: split it into JSON Lines",
                    input.name,
                    MAX_DOCUMENT_BYTES >> 20
                ),
            ));
        }
        let line_at = |offset: usize| -> u64 {
            // The first line is `lineno`; each line break before `offset` adds one.
            let breaks = text.get(..offset).unwrap_or_default();
            lineno + breaks.iter().filter(|&&b| b == b'\n').count() as u64
        };
        match input::concatenated_values(&text, 1) {
            Some(ranges) => {
                for r in ranges {
                    let at = line_at(r.start);
                    let doc = text.get(r).unwrap_or_default();
                    self.feed_line(&input.name, at, doc, out, diag)?;
                }
            }
            None => {
                for (i, l) in text.split(|&b| b == b'\n').enumerate() {
                    let l = l.strip_suffix(b"\r").unwrap_or(l);
                    self.feed_line(&input.name, lineno + i as u64, l, out, diag)?;
                }
            }
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
        let at = Place { source, lineno };
        match self.input_format {
            None | Some(Format::Audit) => {
                let mut split = std::mem::take(&mut self.doc_tape);
                let result = match ingest::split_tape_into(line, self.max_event_size, &mut split) {
                    Ok(text) => self.eval_split(at, None, text, &split, out, diag),
                    // The parser accepts only UTF-8 (strings are checked, anything else outside them is
                    // a syntax error), so only a rejected line needs the check, for its message.
                    Err(_) if std::str::from_utf8(line).is_err() => {
                        self.bad_utf8(source, lineno, line, diag)
                    }
                    Err(e) if self.input_format.is_some() => {
                        self.bad_line(source, lineno, e.to_string(), diag)
                    }
                    Err(e) => self.feed_other(at, line, e, out, diag),
                };
                self.doc_tape = split;
                result
            }
            Some(_) if std::str::from_utf8(line).is_err() => {
                self.bad_utf8(source, lineno, line, diag)
            }
            Some(f) => match formats::convert(Some(f), line, self.max_event_size) {
                Ok(c) => self.eval_converted(at, c, out, diag),
                Err(msg) => match input::concatenated_values(line, 2) {
                    Some(ranges) => {
                        for r in ranges {
                            let doc = line.get(r).unwrap_or_default();
                            match formats::convert(Some(f), doc, self.max_event_size) {
                                Ok(c) => self.eval_converted(at, c, out, diag)?,
                                Err(msg) => self.bad_line(source, lineno, msg, diag)?,
                            }
                        }
                        Ok(())
                    }
                    None => self.bad_line(source, lineno, msg, diag),
                },
            },
        }
    }

    /// Reports a line that is not UTF-8 (with the offset of its first bad byte).
    fn bad_utf8(
        &mut self,
        source: &str,
        lineno: u64,
        line: &[u8],
        diag: &mut dyn Write,
    ) -> io::Result<()> {
        let valid = std::str::from_utf8(line)
            .err()
            .map_or(line.len(), |e| e.valid_up_to());
        let msg = format!("not valid UTF-8 (at byte {valid})");
        self.bad_line(source, lineno, msg, diag)
    }

    /// A line that is not an audit document: a cloud export, several documents written one after the
    /// other, or a bad line (reported with the audit parser's message, as before formats existed).
    fn feed_other(
        &mut self,
        at: Place<'_>,
        line: &[u8],
        audit_err: ingest::IngestError,
        out: &mut dyn Write,
        diag: &mut dyn Write,
    ) -> io::Result<()> {
        if audit_err.msg == ingest::NOT_RECOGNIZED {
            if let Ok(c) = formats::convert(None, line, self.max_event_size) {
                return self.eval_converted(at, c, out, diag);
            }
        } else if let Some(ranges) = input::concatenated_values(line, 2) {
            for r in ranges {
                let doc = line.get(r).unwrap_or_default();
                match ingest::split_tape(doc, self.max_event_size) {
                    Ok((text, split)) => self.eval_split(at, None, text, &split, out, diag)?,
                    Err(e) if e.msg == ingest::NOT_RECOGNIZED => {
                        match formats::convert(None, doc, self.max_event_size) {
                            Ok(c) => self.eval_converted(at, c, out, diag)?,
                            Err(_) => self.bad_line(at.source, at.lineno, e.to_string(), diag)?,
                        }
                    }
                    Err(e) => self.bad_line(at.source, at.lineno, e.to_string(), diag)?,
                }
            }
            return Ok(());
        }
        self.bad_line(at.source, at.lineno, audit_err.to_string(), diag)
    }

    fn bad_line(
        &mut self,
        source: &str,
        lineno: u64,
        msg: String,
        diag: &mut dyn Write,
    ) -> io::Result<()> {
        writeln!(diag, "kaudit: {source}:{lineno}: {msg}")?;
        self.stats.bad_lines.push(LineError {
            source: source.to_string(),
            line: lineno,
            msg,
        });
        Ok(())
    }

    /// Evaluates the audit documents a cloud export held, counting its dropped records.
    fn eval_converted(
        &mut self,
        at: Place<'_>,
        c: Converted,
        out: &mut dyn Write,
        diag: &mut dyn Write,
    ) -> io::Result<()> {
        self.stats.records += c.records;
        for (why, n) in &c.dropped {
            *self.stats.records_dropped.entry(why).or_insert(0) += n;
        }
        for (k, doc) in c.docs.iter().enumerate() {
            match ingest::split_tape(doc, self.max_event_size) {
                Ok((text, split)) => self.eval_split(at, Some(k + 1), text, &split, out, diag)?,
                Err(e) => {
                    *self.stats.records_dropped.entry("not_audit").or_insert(0) += 1;
                    writeln!(
                        diag,
                        "kaudit: {}:{}: record {}: {e}",
                        at.source,
                        at.lineno,
                        k + 1
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Evaluates the events of one split document (`record`: its place in a cloud export).
    fn eval_split(
        &mut self,
        at: Place<'_>,
        record: Option<usize>,
        doc: &str,
        split: &ingest::DocTape,
        out: &mut dyn Write,
        diag: &mut dyn Write,
    ) -> io::Result<()> {
        let rec = record.map_or(String::new(), |k| format!("record {k}: "));
        for dropped in &split.dropped {
            self.stats.dropped_events += 1;
            writeln!(
                diag,
                "kaudit: {}:{}: {rec}event dropped: {dropped}",
                at.source, at.lineno
            )?;
        }
        for mut ev in split.events(doc) {
            // split_tape accepted only events with a valid time.
            let Some(time_ns) = ev.time_ns() else {
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

    /// The statistics so far, leaving zeroes (a parallel replay collects each chunk's this way).
    pub fn take_stats(&mut self) -> ReplayStats {
        std::mem::take(&mut self.stats)
    }

    /// The statistics so far, to add those of a part replayed elsewhere (`replay_parallel`).
    pub fn stats_mut(&mut self) -> &mut ReplayStats {
        &mut self.stats
    }
}

/// Where a document came from, for diagnostics.
#[derive(Debug, Clone, Copy)]
struct Place<'s> {
    source: &'s str,
    lineno: u64,
}

/// Reads one line (without its line break) into `line`; 0 at the end of the input.
fn read_line(input: &mut Input, lineno: u64, line: &mut Vec<u8>) -> io::Result<usize> {
    let n = input.reader.read_until(b'\n', line).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{}: line {}: {e}", input.name, lineno + 1),
        )
    })?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(n)
}

/// A line without the `\r` of a CRLF line break.
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
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
    if stats.records > 0 {
        let dropped: u64 = stats.records_dropped.values().sum();
        let why: Vec<String> = stats
            .records_dropped
            .iter()
            .map(|(w, n)| format!("{w}={n}"))
            .collect();
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join(", "))
        };
        writeln!(
            diag,
            "  cloud records: {} read, {dropped} without an audit event{why}",
            stats.records
        )?;
    }
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
    fn lines_split_across_reads_replay_like_whole_ones() {
        let data = format!(
            "\n{}\r\n{}\n\n{{broken\r\n{}",
            ev("alice", "create"),
            ev("bob", "create"),
            ev("carol", "create")
        );
        let whole = replay(data.clone(), RuleMatching::First);
        for cap in [1, 7, 64, 300] {
            let res = kaudit_frontend::load::load_sources(&[("r.yaml", RULES)]);
            let engine =
                Interpreter::new(res.ruleset.as_ref().expect("rules load")).expect("compile");
            let settings = Settings::default();
            let plan = settings.plan(engine.rules());
            let mut format = AlertFormat::new(&settings);
            format.zone = LocalZone::Utc;
            let mut r = Replayer::new(&engine, &plan, &format);
            let reader =
                io::BufReader::with_capacity(cap, io::Cursor::new(data.clone().into_bytes()));
            let mut input = Input::from_reader("mem", Box::new(reader));
            let (mut out, mut diag) = (Vec::new(), Vec::new());
            r.feed_input(&mut input, &mut out, &mut diag)
                .expect("in-memory I/O");
            let stats = r.finish();
            assert_eq!(String::from_utf8(out).unwrap(), whole.0, "capacity {cap}");
            assert_eq!(String::from_utf8(diag).unwrap(), whole.1, "capacity {cap}");
            assert_eq!(stats, whole.2, "capacity {cap}");
        }
        assert_eq!(whole.2.lines, 6);
        assert_eq!(whole.2.events, 3);
        assert_eq!(whole.2.bad_lines.len(), 1);
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
