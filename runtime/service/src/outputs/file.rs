//! `file_output`: append alert lines to a file. With `keep_alive` the file stays open and SIGHUP reopens it
//! (log rotation); without it the file is opened for every alert, as Falco does.

use super::{line_writer, write_line, Alert, Output};
use crate::config::FileOutputConfig;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct FileOutput {
    path: PathBuf,
    keep_alive: bool,
    buffered: bool,
    file: Option<BufWriter<File>>,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl FileOutput {
    /// Opens (creates) the file up front so a bad path is a startup error, not a stream of failures.
    pub fn open(cfg: &FileOutputConfig, buffered: bool) -> Result<FileOutput, String> {
        let f = open_append(&cfg.filename).map_err(|e| {
            format!(
                "file_output.filename: cannot open {}: {e}",
                cfg.filename.display()
            )
        })?;
        Ok(FileOutput {
            path: cfg.filename.clone(),
            keep_alive: cfg.keep_alive,
            buffered,
            file: cfg.keep_alive.then(|| line_writer(f, buffered)),
        })
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.file.is_none() {
            self.file = Some(line_writer(open_append(&self.path)?, self.buffered));
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("file output not open"))
    }
}

impl Output for FileOutput {
    fn name(&self) -> &str {
        "file"
    }

    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        let res = write_line(self.writer()?, alert);
        if res.is_err() {
            // Start from a fresh handle next time (the file may have been removed or the disk filled).
            self.file = None;
        }
        res
    }

    fn flush(&mut self) -> io::Result<()> {
        let res = match self.file.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        };
        if !self.keep_alive {
            self.file = None;
        }
        res
    }

    fn reopen(&mut self) -> io::Result<()> {
        if let Some(mut w) = self.file.take() {
            w.flush()?;
        }
        if self.keep_alive {
            self.writer()?;
        }
        Ok(())
    }

    fn close(&mut self, _deadline: std::time::Instant) -> io::Result<()> {
        match self.file.take() {
            Some(mut w) => w.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::text_alert;
    use super::*;

    #[test]
    fn appends_lines_and_reopens_after_rotation() {
        let dir = std::env::temp_dir().join(format!("kaudit-file-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.txt");
        std::fs::write(&path, "old\n").unwrap();
        let cfg = FileOutputConfig {
            filename: path.clone(),
            keep_alive: true,
        };
        let mut out = FileOutput::open(&cfg, false).unwrap();
        out.write(&text_alert("one")).unwrap();
        out.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\none\n");

        // Rotation: the file is moved away; without a reopen the line would go to the moved file.
        let rotated = dir.join("events.txt.1");
        std::fs::rename(&path, &rotated).unwrap();
        out.reopen().unwrap();
        out.write(&text_alert("two")).unwrap();
        out.close(std::time::Instant::now()).unwrap();
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "old\none\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn without_keep_alive_each_alert_reopens_the_file() {
        let dir =
            std::env::temp_dir().join(format!("kaudit-file-output-nk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.txt");
        let mut out = FileOutput::open(
            &FileOutputConfig {
                filename: path.clone(),
                keep_alive: false,
            },
            false,
        )
        .unwrap();
        out.write(&text_alert("a")).unwrap();
        out.flush().unwrap();
        std::fs::remove_file(&path).unwrap();
        out.write(&text_alert("b")).unwrap();
        out.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b\n");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn unopenable_path_is_a_startup_error() {
        let cfg = FileOutputConfig {
            filename: "/nonexistent-dir-kaudit/x.txt".into(),
            keep_alive: true,
        };
        let e = FileOutput::open(&cfg, false).err().unwrap();
        assert!(e.starts_with("file_output.filename"), "{e}");
    }
}
