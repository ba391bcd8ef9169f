//! `program_output`: pipe alert lines to a shell command (`sh -c`). With `keep_alive` one process gets
//! every line on its standard input (restarted after it dies); without it a process runs per alert and is
//! waited for, as Falco does.
//!
//! The process is shared with `abort_handle`, so that a shutdown giving up on a program that never reads
//! (or never exits) kills it instead of leaving it behind.

use super::{line_writer, write_line, Alert, Output};
use crate::config::ProgramOutputConfig;
use std::io::{self, BufWriter, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often `finish` looks whether the program has exited.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// The running process, reachable from the abort handle while the output's thread is stuck writing.
type SharedChild = Arc<Mutex<Option<Child>>>;

pub struct ProgramOutput {
    program: String,
    keep_alive: bool,
    buffered: bool,
    child: SharedChild,
    stdin: Option<BufWriter<ChildStdin>>,
}

impl ProgramOutput {
    pub fn new(cfg: &ProgramOutputConfig, buffered: bool) -> ProgramOutput {
        ProgramOutput {
            program: cfg.program.clone(),
            keep_alive: cfg.keep_alive,
            buffered,
            child: Arc::default(),
            stdin: None,
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.program)
            .stdin(Stdio::piped())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("program output: no stdin pipe"))?;
        self.stdin = Some(line_writer(stdin, self.buffered));
        *lock(&self.child) = Some(child);
        Ok(())
    }

    /// Closes the program's input and waits for it to exit.
    fn finish(&mut self) -> io::Result<()> {
        let flushed = match self.stdin.take() {
            Some(mut stdin) => stdin.flush(),
            None => Ok(()),
        };
        // Polled rather than `wait`ed, so the abort handle can still reach (and kill) the process.
        let status = loop {
            let mut slot = lock(&self.child);
            let Some(child) = slot.as_mut() else {
                return flushed;
            };
            if let Some(status) = child.try_wait()? {
                *slot = None;
                break status;
            }
            drop(slot);
            std::thread::sleep(EXIT_POLL);
        };
        flushed?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "program output exited with {status}"
            )));
        }
        Ok(())
    }
}

fn lock(m: &Mutex<Option<Child>>) -> std::sync::MutexGuard<'_, Option<Child>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Output for ProgramOutput {
    fn name(&self) -> &str {
        "program"
    }

    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        if self.stdin.is_none() {
            self.spawn()?;
        }
        let res = match self.stdin.as_mut() {
            Some(stdin) => write_line(stdin, alert),
            None => Err(io::Error::other("program output not running")),
        };
        if res.is_err() {
            // The process died (broken pipe): reap it and start a new one for the next alert.
            let _ = self.finish();
        }
        res
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.keep_alive {
            return self.finish();
        }
        let res = match self.stdin.as_mut() {
            Some(stdin) => stdin.flush(),
            None => Ok(()),
        };
        if res.is_err() {
            let _ = self.finish();
        }
        res
    }

    fn close(&mut self, _deadline: std::time::Instant) -> io::Result<()> {
        self.finish()
    }

    fn abort_handle(&self) -> Option<Box<dyn Fn() + Send + Sync>> {
        let child = self.child.clone();
        Some(Box::new(move || {
            if let Some(c) = lock(&child).as_mut() {
                let _ = c.kill();
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::text_alert;
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kaudit-program-output-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("out.txt")
    }

    #[test]
    fn keep_alive_pipes_every_line_to_one_process() {
        let path = temp("ka");
        let cfg = ProgramOutputConfig {
            program: format!("cat >> '{}'", path.display()),
            keep_alive: true,
        };
        let mut out = ProgramOutput::new(&cfg, false);
        out.write(&text_alert("one")).unwrap();
        out.flush().unwrap();
        out.write(&text_alert("two")).unwrap();
        out.close(std::time::Instant::now()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
    }

    #[test]
    fn without_keep_alive_a_process_runs_per_alert() {
        let path = temp("nk");
        // Each process appends its input plus a marker, so two alerts give two markers.
        let cfg = ProgramOutputConfig {
            program: format!("cat >> '{0}'; echo end >> '{0}'", path.display()),
            keep_alive: false,
        };
        let mut out = ProgramOutput::new(&cfg, false);
        for l in ["a", "b"] {
            out.write(&text_alert(l)).unwrap();
            out.flush().unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nend\nb\nend\n");
    }

    #[test]
    fn a_failing_program_is_an_error() {
        let cfg = ProgramOutputConfig {
            program: "cat > /dev/null; exit 3".into(),
            keep_alive: false,
        };
        let mut out = ProgramOutput::new(&cfg, false);
        out.write(&text_alert("x")).unwrap();
        assert!(out.flush().is_err());
    }

    #[test]
    fn the_abort_handle_kills_a_program_that_never_reads() {
        let cfg = ProgramOutputConfig {
            program: "exec sleep 30".into(),
            keep_alive: true,
        };
        let mut out = ProgramOutput::new(&cfg, false);
        let abort = out.abort_handle().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Fills the pipe (64 KiB), then blocks: nobody reads.
            let line = "x".repeat(1000);
            let res = (0..1000)
                .try_for_each(|_| out.write(&text_alert(&line)).and_then(|()| out.flush()));
            let _ = tx.send(res.is_err());
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(rx.try_recv().is_err(), "the writer should be blocked");
        abort();
        let failed = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the blocked write returns once the program is killed");
        assert!(failed, "writing to a killed program is an error");
    }
}
