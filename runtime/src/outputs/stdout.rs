//! `stdout_output`: one alert per line on standard output.

use super::{Alert, Output};
use std::io::{self, BufWriter, Write};

pub struct StdoutOutput {
    out: BufWriter<io::Stdout>,
}

impl StdoutOutput {
    pub fn new(buffered: bool) -> StdoutOutput {
        // Unbuffered mode still goes through a small buffer; the dispatcher flushes after every alert.
        let cap = if buffered { 64 * 1024 } else { 8 * 1024 };
        StdoutOutput {
            out: BufWriter::with_capacity(cap, io::stdout()),
        }
    }
}

impl Output for StdoutOutput {
    fn name(&self) -> &str {
        "stdout"
    }

    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        self.out.write_all(&alert.line)?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
