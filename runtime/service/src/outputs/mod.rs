//! Alert outputs (Falco's output channels, docs/semantics.md#configuration): stdout, file, program and http.
//!
//! Outputs run on one dispatcher thread (`dispatch`), fed by a bounded queue from the evaluation workers:
//! when an output is slow the queue fills, the workers wait, the event queue fills, and the webhook answers
//! 503 (the API server retries) — nothing accepted is lost. The http output is the exception by design: it
//! has its own bounded buffer and counts what it drops, so an unreachable receiver cannot stall detection.

pub mod file;
pub mod http;
pub mod program;
pub mod stdout;

use crate::config::OutputsConfig;
use crate::server::metrics::Metrics;
use kaudit_frontend::ir::Priority;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
}

/// Builds the outputs enabled in the configuration. `json` is the alert format (http Content-Type).
pub fn build(
    cfg: &OutputsConfig,
    json: bool,
    metrics: &Arc<Metrics>,
) -> Result<Vec<Box<dyn Output>>, String> {
    let mut outs: Vec<Box<dyn Output>> = Vec::new();
    if cfg.stdout {
        outs.push(Box::new(stdout::StdoutOutput::new(cfg.buffered)));
    }
    if let Some(f) = &cfg.file {
        outs.push(Box::new(file::FileOutput::open(f, cfg.buffered)?));
    }
    if let Some(p) = &cfg.program {
        outs.push(Box::new(program::ProgramOutput::new(p, cfg.buffered)));
    }
    if let Some(h) = &cfg.http {
        outs.push(Box::new(http::HttpOutput::start(h, json, metrics.clone())?));
    }
    Ok(outs)
}

/// Runs the outputs until every sender of `rx` is gone, then closes them (deadline: `close_timeout` after
/// the queue ended). `reopen` is raised by SIGHUP.
pub fn dispatch(
    rx: Receiver<Alert>,
    mut outputs: Vec<Box<dyn Output>>,
    buffered: bool,
    reopen: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    close_timeout: Duration,
) {
    let reopen_if_asked = |outputs: &mut Vec<Box<dyn Output>>| {
        if reopen.swap(false, Ordering::SeqCst) {
            for o in outputs.iter_mut() {
                if let Err(e) = o.reopen() {
                    tracing::error!(output = o.name(), error = %e, "cannot reopen output");
                }
            }
        }
    };
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(a) => a,
            Err(RecvTimeoutError::Timeout) => {
                reopen_if_asked(&mut outputs);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        reopen_if_asked(&mut outputs);
        let mut next = Some(first);
        while let Some(alert) = next {
            metrics.output_queue_depth.fetch_sub(1, Ordering::Relaxed);
            for o in outputs.iter_mut() {
                let res = o
                    .write(&alert)
                    .and_then(|()| if buffered { Ok(()) } else { o.flush() });
                match res {
                    // The http output counts its own deliveries (they happen later).
                    Ok(()) if o.name() == "http" => {}
                    Ok(()) => metrics.output(o.name(), "sent"),
                    Err(e) => {
                        metrics.output(o.name(), "failed");
                        tracing::error!(output = o.name(), error = %e, rule = %alert.rule, "output failed");
                    }
                }
            }
            next = rx.try_recv().ok();
        }
        // Buffered outputs are flushed whenever the queue runs empty, so a quiet period never leaves
        // alerts sitting in a buffer.
        if buffered {
            for o in outputs.iter_mut() {
                if let Err(e) = o.flush() {
                    tracing::error!(output = o.name(), error = %e, "output flush failed");
                }
            }
        }
    }
    let deadline = Instant::now() + close_timeout;
    for o in outputs.iter_mut() {
        if let Err(e) = o.close(deadline) {
            tracing::error!(output = o.name(), error = %e, "output close failed");
        }
    }
}
