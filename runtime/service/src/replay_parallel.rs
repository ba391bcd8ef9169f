//! Replay on every core: the calling thread reads (and decompresses) the input in chunks of whole
//! lines, worker threads run an ordinary [`Replayer`] over each chunk, and the calling thread writes each
//! chunk's alerts and diagnostics in input order and adds up the statistics. The output is the serial
//! replay's, byte for byte, as long as no rule reads a field that depends on the events before it in the
//! stream (`evt.num`, `evt.reltime*`): each worker numbers the events of its chunk from 1, so callers
//! use this only when [`rules_read_sequence`] says no, and keep the serial path for small or piped input
//! (see [`worth_parallel`]).
//!
//! Memory stays bounded whatever the input size: at most `2 × threads` chunks (each about
//! [`CHUNK_BYTES`], or one line if a line is longer) are read ahead of the writer.

use crate::replay::{input::is_unfinished_json, Input, ReplayStats, Replayer};
use kaudit_engine::alert::AlertFormat;
use kaudit_engine::engine::{Engine, Plan};
use kaudit_engine::formats::Format;
use std::collections::BTreeMap;
use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Bytes of input per chunk: large enough that handing a chunk to a thread costs nothing next to
/// evaluating it, small enough that the read-ahead stays a few MiB.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Below this input size (bytes on disk) the serial replay is used: spawning threads and the extra copy
/// of each chunk do not pay off.
pub const MIN_PARALLEL_BYTES: u64 = 8 << 20;

/// Field names whose value depends on the events before the current one; a rule set that mentions
/// any of them is replayed serially. (A textual check of the rule files: conservative, never unsound,
/// since a field can only be used by writing its name.)
const SEQUENCE_FIELDS: [&str; 2] = ["evt.num", "evt.reltime"];

/// Whether any of the rule texts mentions a field that needs stream-wide numbering.
pub fn rules_read_sequence<'t>(rule_texts: impl IntoIterator<Item = &'t str>) -> bool {
    rule_texts
        .into_iter()
        .any(|t| SEQUENCE_FIELDS.iter().any(|f| t.contains(f)))
}

/// Whether `input` should be replayed on `threads` threads: a regular file of at least
/// [`MIN_PARALLEL_BYTES`] whose first line is a whole JSON document (a pretty-printed file, whose
/// documents span lines, is left to the serial replayer, which reads it whole).
pub fn worth_parallel(input: &mut Input, threads: usize) -> io::Result<bool> {
    if !big_enough(input.size, threads) {
        return Ok(false);
    }
    let buf = input.reader.fill_buf()?;
    let first = buf
        .split(|&b| b == b'\n')
        .find(|l| !l.trim_ascii().is_empty())
        .unwrap_or_default();
    // A first line longer than the buffer counts as unfinished: serial, to be safe.
    let whole = buf.contains(&b'\n') && !is_unfinished_json(first);
    Ok(whole)
}

/// Whether an input of `size` bytes (None: a pipe or stdin) is large enough for `threads` threads.
fn big_enough(size: Option<u64>, threads: usize) -> bool {
    threads > 1 && size.is_some_and(|s| s >= MIN_PARALLEL_BYTES)
}

/// Settings every worker's `Replayer` gets (the serial replayer's public knobs).
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    pub max_event_size: usize,
    /// Bytes of input per chunk ([`CHUNK_BYTES`] unless testing).
    pub chunk_bytes: usize,
    /// Worker threads (at least one).
    pub threads: usize,
    /// The documents' format (`Replayer::input_format`).
    pub input_format: Option<Format>,
}

impl WorkerSettings {
    pub fn new(max_event_size: usize, threads: usize) -> WorkerSettings {
        WorkerSettings {
            max_event_size,
            chunk_bytes: CHUNK_BYTES,
            threads,
            input_format: None,
        }
    }
}

/// One chunk of whole lines and the number of its first line.
struct Chunk {
    seq: u64,
    first_line: u64,
    bytes: Vec<u8>,
}

/// What a worker made of a chunk.
struct Done {
    seq: u64,
    alerts: Vec<u8>,
    diag: Vec<u8>,
    stats: ReplayStats,
}

/// Replays `input` on `settings.threads` worker threads; alerts go to `out` and diagnostics to `diag`, in input
/// order. Returns the statistics of this input (to be added to the caller's with [`add_stats`]).
pub fn feed_input_parallel(
    engine: &dyn Engine,
    plan: &Plan,
    format: &AlertFormat,
    settings: WorkerSettings,
    input: &mut Input,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> io::Result<ReplayStats> {
    let threads = settings.threads.max(1);
    let (work_tx, work_rx) = mpsc::sync_channel::<Chunk>(threads);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let name = input.name.clone();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let name = &name;
            scope.spawn(move || {
                let mut replayer = Replayer::new(engine, plan, format);
                replayer.max_event_size = settings.max_event_size;
                replayer.input_format = settings.input_format;
                loop {
                    // The lock is held only while taking one chunk.
                    let next = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok(chunk)) = next else { break };
                    let done = run_chunk(&mut replayer, name, chunk);
                    if done_tx.send(done).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut writer = InOrder::new(out, diag);
        let result = read_chunks(input, settings.chunk_bytes.max(1), |chunk, in_flight| {
            work_tx
                .send(chunk)
                .map_err(|_| io::Error::other("replay workers stopped"))?;
            *in_flight += 1;
            // Keep at most 2 × threads chunks between the reader and the writer.
            while *in_flight >= 2 * threads as u64 {
                let done = done_rx
                    .recv()
                    .map_err(|_| io::Error::other("replay workers stopped"))?;
                *in_flight -= writer.accept(done)?;
            }
            while let Ok(done) = done_rx.try_recv() {
                *in_flight -= writer.accept(done)?;
            }
            Ok(())
        });
        // Closing the work queue ends the workers once they have drained it.
        drop(work_tx);
        let mut result = result;
        for done in done_rx.iter() {
            if result.is_ok() {
                result = writer.accept(done).map(|_| ());
            }
        }
        result.and_then(|()| writer.finish())
    })
}

/// Reads `input` as chunks of whole lines and hands each to `send` (with the count of chunks in flight).
///
/// Each chunk is read in one go and cut at its last line break (the partial line after it starts the
/// next chunk): this thread's share of the work is the read and a vectorised newline count per chunk,
/// so the cores are left to the workers. (Reading line by line here, and splitting lines byte by byte
/// in the workers, cost a fifth of the 2-thread run.) A line longer than a chunk makes a chunk of its own.
fn read_chunks(
    input: &mut Input,
    chunk_bytes: usize,
    mut send: impl FnMut(Chunk, &mut u64) -> io::Result<()>,
) -> io::Result<()> {
    let mut in_flight = 0u64;
    let mut seq = 0u64;
    let mut next_line = 1u64;
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let mut bytes = Vec::with_capacity(chunk_bytes + (chunk_bytes >> 3));
        bytes.append(&mut partial);
        let mut eof = false;
        // The carried partial line holds no line break (it is what follows the last one).
        let mut has_break = false;
        // Fill to the chunk size, then on until the chunk holds a line break. `read_to_end` reads
        // into the chunk's spare capacity (without zeroing it), mostly straight from the file.
        while bytes.len() < chunk_bytes || !has_break {
            let old = bytes.len();
            // Past the chunk size (a line longer than a chunk), read on a chunk's worth at a time.
            let want = match chunk_bytes.saturating_sub(old) {
                0 => chunk_bytes,
                room => room,
            } as u64;
            let n = (&mut input.reader)
                .take(want)
                .read_to_end(&mut bytes)
                .map_err(|e| {
                    let line = next_line + memchr::memchr_iter(b'\n', &bytes).count() as u64;
                    io::Error::new(e.kind(), format!("{}: line {line}: {e}", input.name))
                })?;
            if n == 0 {
                eof = true;
                break;
            }
            has_break =
                has_break || memchr::memchr(b'\n', bytes.get(old..).unwrap_or_default()).is_some();
        }
        if !eof {
            if let Some(cut) = memchr::memrchr(b'\n', &bytes) {
                partial.extend_from_slice(bytes.get(cut + 1..).unwrap_or_default());
                bytes.truncate(cut + 1);
            }
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let breaks = memchr::memchr_iter(b'\n', &bytes).count() as u64;
        let lines = breaks + u64::from(bytes.last() != Some(&b'\n'));
        send(
            Chunk {
                seq,
                first_line: next_line,
                bytes,
            },
            &mut in_flight,
        )?;
        seq += 1;
        next_line += lines;
    }
}

/// Runs the serial replayer over one chunk, collecting its output and its own statistics.
fn run_chunk(replayer: &mut Replayer<'_>, source: &str, chunk: Chunk) -> Done {
    let mut alerts = Vec::new();
    let mut diag = Vec::new();
    let mut lineno = chunk.first_line;
    let mut rest = chunk.bytes.as_slice();
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(at) => (rest.get(..at), rest.get(at + 1..)),
            None => (Some(rest), None),
        };
        let line = line.unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Writing to a Vec cannot fail.
        let _ = replayer.feed_line(source, lineno, line, &mut alerts, &mut diag);
        lineno += 1;
        rest = next.unwrap_or_default();
    }
    Done {
        seq: chunk.seq,
        alerts,
        diag,
        stats: replayer.take_stats(),
    }
}

/// Writes finished chunks in sequence order, holding back those that finish early.
struct InOrder<'w> {
    out: &'w mut dyn Write,
    diag: &'w mut dyn Write,
    next: u64,
    waiting: BTreeMap<u64, Done>,
    stats: ReplayStats,
}

impl<'w> InOrder<'w> {
    fn new(out: &'w mut dyn Write, diag: &'w mut dyn Write) -> InOrder<'w> {
        InOrder {
            out,
            diag,
            next: 0,
            waiting: BTreeMap::new(),
            stats: ReplayStats::default(),
        }
    }

    /// Takes one finished chunk; returns how many chunks were written.
    fn accept(&mut self, done: Done) -> io::Result<u64> {
        self.waiting.insert(done.seq, done);
        let mut written = 0;
        while let Some(done) = self.waiting.remove(&self.next) {
            self.out.write_all(&done.alerts)?;
            self.diag.write_all(&done.diag)?;
            add_stats(&mut self.stats, done.stats);
            self.next += 1;
            written += 1;
        }
        Ok(written)
    }

    fn finish(self) -> io::Result<ReplayStats> {
        if !self.waiting.is_empty() {
            return Err(io::Error::other("replay: a chunk was lost"));
        }
        Ok(self.stats)
    }
}

/// Adds the statistics of a later part of the input to `total`.
pub fn add_stats(total: &mut ReplayStats, part: ReplayStats) {
    total.lines += part.lines;
    total.events += part.events;
    total.dropped_events += part.dropped_events;
    total.alerts += part.alerts;
    for (rule, n) in part.alerts_per_rule {
        *total.alerts_per_rule.entry(rule).or_insert(0) += n;
    }
    total.bad_lines.extend(part.bad_lines);
    total.records += part.records;
    for (why, n) in part.records_dropped {
        *total.records_dropped.entry(why).or_insert(0) += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_engine::alert::LocalZone;
    use kaudit_engine::interp::Interpreter;
    use kaudit_engine::settings::Settings;

    const RULES: &str = "- rule: creates\n  desc: d\n  condition: ka.verb = create\n  output: u=%ka.user.name t=%evt.time\n  priority: NOTICE\n  source: k8s_audit\n- rule: alice\n  desc: d\n  condition: ka.user.name = alice\n  output: a=%ka.target.name\n  priority: INFO\n  source: k8s_audit\n";

    fn event(i: usize) -> String {
        let user = ["alice", "bob", "carol"][i % 3];
        let verb = ["create", "get", "delete", "create"][i % 4];
        format!(
            r#"{{"kind":"Event","auditID":"id-{i}","stage":"ResponseComplete","verb":"{verb}","user":{{"username":"{user}"}},"objectRef":{{"name":"obj-{i}"}},"stageTimestamp":"2024-01-02T03:04:{:02}.{i:09}Z"}}"#,
            i % 60
        )
    }

    /// Lines of every kind the serial replayer treats specially: events, lists, blank and broken
    /// lines, non-UTF-8 bytes, events without a time, CRLF endings, and no final line break.
    fn input() -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0..600 {
            match i % 50 {
                7 => data.extend_from_slice(b"{broken\n"),
                13 => data.extend_from_slice(b"\n"),
                19 => data.extend_from_slice(b"{\"kind\":\"Event\",\"x\":\"\xff\"}\n"),
                23 => data.extend_from_slice(event(i).replace("2024-01-02T", "never ").as_bytes()),
                29 => data.extend_from_slice(
                    format!(
                        r#"{{"kind":"EventList","items":[{},{}]}}"#,
                        event(i),
                        event(i + 1)
                    )
                    .as_bytes(),
                ),
                31 => data.extend_from_slice(format!("{}\r", event(i)).as_bytes()),
                _ => data.extend_from_slice(event(i).as_bytes()),
            }
            if i % 50 != 7 && i % 50 != 13 && i % 50 != 19 {
                data.push(b'\n');
            }
        }
        data.extend_from_slice(event(9999).as_bytes());
        data
    }

    fn run(parallel: Option<(usize, usize)>) -> (Vec<u8>, Vec<u8>, ReplayStats) {
        let res = kaudit_frontend::load::load_sources(&[("r.yaml", RULES)]);
        let engine = Interpreter::new(res.ruleset.as_ref().expect("rules load")).expect("compile");
        let settings = Settings {
            rule_matching: kaudit_engine::engine::RuleMatching::All,
            ..Settings::default()
        };
        let plan = settings.plan(engine.rules());
        let mut format = AlertFormat::new(&settings);
        format.zone = LocalZone::Utc;
        let mut input = Input::from_reader("mem", Box::new(io::Cursor::new(input())));
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        let stats = match parallel {
            None => {
                let mut r = Replayer::new(&engine, &plan, &format);
                r.feed_input(&mut input, &mut out, &mut diag).expect("I/O");
                r.finish()
            }
            Some((threads, chunk_bytes)) => {
                let worker = WorkerSettings {
                    max_event_size: kaudit_engine::ingest::DEFAULT_MAX_EVENT_SIZE,
                    chunk_bytes,
                    threads,
                    input_format: None,
                };
                feed_input_parallel(
                    &engine, &plan, &format, worker, &mut input, &mut out, &mut diag,
                )
                .expect("I/O")
            }
        };
        (out, diag, stats)
    }

    #[test]
    fn parallel_output_and_summary_equal_the_serial_ones() {
        let serial = run(None);
        assert!(serial.2.alerts > 300, "the input alerts: {:?}", serial.2);
        assert!(serial.2.bad_lines.len() >= 24 && serial.2.dropped_events >= 12);
        for (threads, chunk) in [(1, 1), (2, 1), (2, 700), (3, 4096), (4, 1 << 20)] {
            let par = run(Some((threads, chunk)));
            assert!(
                par.0 == serial.0,
                "alerts differ: {threads} threads, {chunk} B"
            );
            assert!(
                par.1 == serial.1,
                "diagnostics differ: {threads} threads, {chunk} B"
            );
            assert_eq!(par.2, serial.2, "{threads} threads, {chunk} B chunks");
        }
    }

    #[test]
    fn sequence_fields_are_detected_in_rule_text() {
        assert!(!rules_read_sequence([RULES]));
        assert!(rules_read_sequence([RULES, "output: n=%evt.num"]));
        assert!(rules_read_sequence(["condition: evt.reltime.s > 3"]));
    }

    #[test]
    fn only_large_files_of_whole_lines_go_parallel() {
        assert!(!big_enough(None, 8));
        assert!(!big_enough(Some(MIN_PARALLEL_BYTES - 1), 8));
        assert!(!big_enough(Some(1 << 30), 1));
        assert!(big_enough(Some(MIN_PARALLEL_BYTES), 2));
        let big = |text: &str| {
            let mut input = Input::from_reader("mem", Box::new(io::Cursor::new(text.to_string())));
            input.size = Some(MIN_PARALLEL_BYTES);
            worth_parallel(&mut input, 2).expect("in memory")
        };
        assert!(big(&format!("\n{}\n", event(1))));
        assert!(!big("{\n  \"kind\": \"Event\"\n}\n"), "pretty-printed");
    }
}
