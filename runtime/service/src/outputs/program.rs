//! `program_output`: pipe alert lines to a shell command (`sh -c`). With `keep_alive` one process gets
//! every line on its standard input (restarted after it dies); without it a process runs per alert and is
//! waited for, as Falco does.

use super::{line_writer, write_line, Alert, Output};
use crate::config::ProgramOutputConfig;
use std::io::{self, BufWriter, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

pub struct ProgramOutput {
    program: String,
    keep_alive: bool,
    buffered: bool,
    running: Option<(Child, BufWriter<ChildStdin>)>,
}

impl ProgramOutput {
    pub fn new(cfg: &ProgramOutputConfig, buffered: bool) -> ProgramOutput {
        ProgramOutput {
            program: cfg.program.clone(),
            keep_alive: cfg.keep_alive,
            buffered,
            running: None,
        }
    }

    fn spawn(&self) -> io::Result<(Child, BufWriter<ChildStdin>)> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.program)
            .stdin(Stdio::piped())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("program output: no stdin pipe"))?;
        Ok((child, line_writer(stdin, self.buffered)))
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some((mut child, mut stdin)) = self.running.take() {
            let flushed = stdin.flush();
            drop(stdin);
            let status = child.wait()?;
            flushed?;
            if !status.success() {
                return Err(io::Error::other(format!(
                    "program output exited with {status}"
                )));
            }
        }
        Ok(())
    }
}

impl Output for ProgramOutput {
    fn name(&self) -> &str {
        "program"
    }

    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        if self.running.is_none() {
            self.running = Some(self.spawn()?);
        }
        let res = match self.running.as_mut() {
            Some((_, stdin)) => write_line(stdin, alert),
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
        let res = match self.running.as_mut() {
            Some((_, stdin)) => stdin.flush(),
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
}
