//! Alert outputs (Falco's output channels, docs/semantics.md#configuration): stdout, syslog, file, program
//! and http.
//!
//! Each output runs on its own thread behind its own bounded queue (`fanout`): the evaluation workers
//! hand every alert to every queue and never wait for an output, so a stuck output loses (and counts)
//! only its own alerts. `kaudit.output_queue_policy: block` restores back-pressure for those who prefer
//! a stalled pipeline to a dropped alert.

pub mod fanout;
pub mod file;
pub mod http;
pub mod program;
pub mod queue;
pub mod stdout;
pub mod syslog;

use crate::config::OutputsConfig;
use kaudit_frontend::ir::Priority;
use std::io::{self, BufWriter, Write};
use std::time::Instant;

/// One rendered alert.
#[derive(Debug, Clone)]
pub struct Alert {
    pub rule: String,
    pub priority: Priority,
    /// The text line or the JSON object, without the trailing newline.
    pub line: Vec<u8>,
    /// Whether `line` is Falco's JSON object (`json_output`).
    pub json: bool,
}

/// A writer for alert lines: a large buffer with `buffered_outputs`, a small one otherwise (the dispatcher
/// then flushes after every alert).
fn line_writer<W: Write>(inner: W, buffered: bool) -> BufWriter<W> {
    BufWriter::with_capacity(if buffered { 64 * 1024 } else { 8 * 1024 }, inner)
}

/// Writes the alert's line and its newline.
fn write_line(w: &mut impl Write, alert: &Alert) -> io::Result<()> {
    w.write_all(&alert.line)?;
    w.write_all(b"\n")
}

/// A text alert with `line`, for the outputs' tests.
#[cfg(test)]
fn text_alert(line: &str) -> Alert {
    Alert {
        rule: "r".into(),
        priority: Priority::Warning,
        line: line.as_bytes().to_vec(),
        json: false,
    }
}

/// An output channel. Errors are counted by the dispatcher and never stop the other outputs.
pub trait Output: Send {
    /// Metric label: `stdout`, `file`, `program`, `http`, ...
    fn name(&self) -> &str;
    fn write(&mut self, alert: &Alert) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
    /// Log rotation (SIGHUP): reopen files.
    fn reopen(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Shutdown: deliver what is pending, giving up at `deadline`.
    fn close(&mut self, _deadline: Instant) -> io::Result<()> {
        self.flush()
    }
    /// Called from another thread when the shutdown gives up on this output (its own thread may be stuck
    /// in `write`): e.g. kill a child process so nothing is left behind.
    fn abort_handle(&self) -> Option<Box<dyn Fn() + Send + Sync>> {
        None
    }
}

/// Builds the outputs enabled in the configuration. `json` is the alert format (http Content-Type).
pub fn build(cfg: &OutputsConfig, json: bool) -> Result<Vec<Box<dyn Output>>, String> {
    let mut outs: Vec<Box<dyn Output>> = Vec::new();
    if cfg.stdout {
        outs.push(Box::new(stdout::StdoutOutput::new(cfg.buffered)));
    }
    if cfg.syslog {
        outs.push(Box::new(syslog::SyslogOutput::new(syslog::DEV_LOG)));
    }
    if let Some(f) = &cfg.file {
        outs.push(Box::new(file::FileOutput::open(f, cfg.buffered)?));
    }
    if let Some(p) = &cfg.program {
        outs.push(Box::new(program::ProgramOutput::new(p, cfg.buffered)));
    }
    if let Some(h) = &cfg.http {
        outs.push(Box::new(http::HttpOutput::new(h, json)?));
    }
    Ok(outs)
}
