//! `stdout_output`: one alert per line on standard output.

use super::{line_writer, write_line, Alert, Output};
use std::io::{self, BufWriter, Write};

pub struct StdoutOutput {
    out: BufWriter<io::Stdout>,
}

impl StdoutOutput {
    pub fn new(buffered: bool) -> StdoutOutput {
        StdoutOutput {
            out: line_writer(io::stdout(), buffered),
        }
    }
}

impl Output for StdoutOutput {
    fn name(&self) -> &str {
        "stdout"
    }

    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        write_line(&mut self.out, alert)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
