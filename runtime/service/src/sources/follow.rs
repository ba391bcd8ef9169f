//! Following a file that keeps growing (the API server's log backend), across rotations, from a saved
//! position.
//!
//! - **Position**: the file's identity (device and inode) and the offset just after the last complete
//!   line handed out. A partial last line (the writer is mid-line) stays unread until its newline comes.
//! - **Rename-and-create** (what the API server's own rotation, lumberjack, does): when the path names a
//!   new file, the old one (still open) is read to its end first, so nothing written before the rename is
//!   lost; a partial line left at its end is handed out as it is (it will never be completed).
//! - **Copy-truncate** (logrotate's `copytruncate`): the open file becomes shorter than what was read, or
//!   its first bytes (up to 1 KiB, kept as a fingerprint) change because it was truncated and written
//!   again past the old offset before kaudit looked, so reading starts again at 0. Lines written between the last read and the copy exist only in the copy:
//!   that race is inherent to copy-truncate (every follower has it); prefer rename-and-create.
//! - **Resume**: at the saved inode and offset when the path still names that file and still starts with
//!   the same bytes (else it was truncated and rewritten while kaudit was down: from 0); when it was rotated
//!   while kaudit was down, the rotated file is looked for by inode in the same directory and read from
//!   the saved offset, then the current file from its start. If it is gone, the current file is read from
//!   its start and a warning says events may be missing.

use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes read per system call.
const CHUNK: usize = 64 * 1024;
/// Bytes at the start of a file kept to recognise it after a truncation (audit lines start alike, the
/// auditID comes within the first ~150 bytes).
const HEAD_BYTES: usize = 1024;

/// Where a follower is: which file (device, inode), how far into it, and a fingerprint of its first
/// bytes (length and hash) to notice a truncated and rewritten file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePos {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
    #[serde(default)]
    pub head_len: u64,
    #[serde(default)]
    pub head_hash: u64,
}

/// What one `poll` found.
#[derive(Debug, Default)]
pub struct Polled {
    /// Complete lines, without their line breaks, in file order (blank lines included).
    pub lines: Vec<Vec<u8>>,
    /// Lines longer than the limit, skipped.
    pub too_long: u64,
    /// Position after everything returned or skipped (`None` before any file was opened).
    pub end: Option<FilePos>,
    /// Rotations noticed during this poll.
    pub rotations: u64,
}

/// A followed file.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<(File, u64, u64)>,
    /// End of the last complete line handed out.
    offset: u64,
    /// Bytes after `offset` read so far (a partial line).
    partial: Vec<u8>,
    /// Skipping the rest of a line that exceeded `max_line`.
    skipping: bool,
    max_line: usize,
    /// The file's first bytes as read (up to `HEAD_BYTES`).
    head: Vec<u8>,
}

/// The first `len` bytes of `file` (fewer if it is shorter).
fn read_head(file: &File, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = file.read_at(buf.get_mut(got..).unwrap_or_default(), got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok(buf)
}

fn identity(m: &fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

impl Follower {
    /// Starts following `path` at `resume` (or at its start). Returns warnings to log once.
    pub fn open(
        path: &Path,
        resume: Option<FilePos>,
        max_line: usize,
    ) -> io::Result<(Follower, Vec<String>)> {
        let mut f = Follower {
            path: path.to_path_buf(),
            file: None,
            offset: 0,
            partial: Vec::new(),
            skipping: false,
            max_line: max_line.max(1),
            head: Vec::new(),
        };
        let mut warnings = Vec::new();
        let Some(pos) = resume else {
            f.open_path()?;
            return Ok((f, warnings));
        };
        let current = fs::metadata(path).ok().map(|m| (identity(&m), m.len()));
        match current {
            Some(((dev, ino), len)) if (dev, ino) == (pos.dev, pos.ino) => {
                f.open_path()?;
                let head = match &f.file {
                    Some((file, _, _)) => read_head(file, pos.head_len as usize)?,
                    None => Vec::new(),
                };
                let same_start = head.len() as u64 == pos.head_len
                    && super::checkpoint::fnv1a(&head) == pos.head_hash;
                if len >= pos.offset && same_start {
                    f.offset = pos.offset;
                    f.head = head;
                } else if len >= pos.offset {
                    warnings.push(format!(
                        "{}: its first bytes changed: truncated and rewritten while kaudit was stopped; reading from the start",
                        path.display()
                    ));
                } else {
                    warnings.push(format!(
                        "{}: shorter than the saved position ({len} < {}): truncated while kaudit was stopped; reading from the start",
                        path.display(),
                        pos.offset
                    ));
                }
            }
            _ => match find_by_inode(path, pos.dev, pos.ino) {
                Some(old) => {
                    let file = File::open(&old)?;
                    warnings.push(format!(
                        "{}: rotated while kaudit was stopped; reading the rest of {} first",
                        path.display(),
                        old.display()
                    ));
                    f.file = Some((file, pos.dev, pos.ino));
                    f.offset = pos.offset;
                }
                None => {
                    warnings.push(format!(
                        "{}: the file of the saved position is gone (rotated away while kaudit was stopped); reading the current file from the start: events in between may be missing",
                        path.display()
                    ));
                    f.open_path()?;
                }
            },
        }
        Ok((f, warnings))
    }

    /// Opens the path if it exists (a missing file is waited for).
    fn open_path(&mut self) -> io::Result<bool> {
        match File::open(&self.path) {
            Ok(file) => {
                let (dev, ino) = identity(&file.metadata()?);
                self.file = Some((file, dev, ino));
                self.offset = 0;
                self.head.clear();
                self.partial.clear();
                self.skipping = false;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The position after everything handed out so far.
    pub fn position(&self) -> Option<FilePos> {
        self.file.as_ref().map(|(_, dev, ino)| FilePos {
            dev: *dev,
            ino: *ino,
            offset: self.offset,
            head_len: self.head.len() as u64,
            head_hash: super::checkpoint::fnv1a(&self.head),
        })
    }

    /// Reads what is there now: up to about `max_bytes` of complete lines. Never waits.
    pub fn poll(&mut self, max_bytes: usize) -> io::Result<Polled> {
        let mut out = Polled::default();
        let mut budget = max_bytes.max(1);
        let mut buf = vec![0u8; CHUNK];
        // Before reading on: does the file still start as it did? (Truncated and written past the old
        // offset since the last poll, it would otherwise be read from the middle.)
        if let Some((file, _, _)) = &self.file {
            if !self.head.is_empty() && read_head(file, self.head.len())? != self.head {
                self.restart_truncated(&mut out);
            }
        }
        loop {
            if self.file.is_none() && !self.open_path()? {
                break;
            }
            let Some((file, dev, ino)) = &self.file else {
                break;
            };
            let (dev, ino) = (*dev, *ino);
            let at = self.offset + self.partial.len() as u64;
            let n = file.read_at(&mut buf, at)?;
            if n > 0 {
                let got = buf.get(..n).unwrap_or_default();
                self.take(got, &mut out);
                budget = budget.saturating_sub(n);
                if budget == 0 {
                    break;
                }
                continue;
            }
            // At the end of the open file: has it been truncated or replaced?
            let len = file.metadata()?.len();
            if len < at {
                self.restart_truncated(&mut out);
                continue;
            }
            let want = HEAD_BYTES.min(usize::try_from(at).unwrap_or(HEAD_BYTES));
            if self.head.len() < want {
                self.head = read_head(file, want)?;
            }
            match fs::metadata(&self.path) {
                Ok(m) if identity(&m) != (dev, ino) => {
                    // Renamed away and a new file created: the old one is complete.
                    out.rotations += 1;
                    tracing::info!(path = %self.path.display(), "file rotated (renamed and recreated): following the new file");
                    if !self.partial.is_empty() && !self.skipping {
                        out.lines.push(std::mem::take(&mut self.partial));
                    }
                    self.partial.clear();
                    if !self.open_path()? {
                        break;
                    }
                }
                _ => break,
            }
        }
        out.end = self.position();
        Ok(out)
    }

    /// The open file was truncated (copy-truncate rotation): read it again from its start.
    fn restart_truncated(&mut self, out: &mut Polled) {
        out.rotations += 1;
        tracing::info!(path = %self.path.display(), "file truncated (copy-truncate rotation): reading from the start");
        self.offset = 0;
        self.partial.clear();
        self.skipping = false;
        self.head.clear();
    }

    /// Splits newly read bytes into complete lines, keeping a partial last line.
    fn take(&mut self, mut bytes: &[u8], out: &mut Polled) {
        while let Some(i) = memchr(b'\n', bytes) {
            let (head, rest) = bytes.split_at(i);
            let consumed = self.partial.len() + head.len() + 1;
            if self.skipping {
                self.skipping = false;
                self.partial.clear();
            } else if self.partial.len() + head.len() > self.max_line {
                out.too_long += 1;
                self.partial.clear();
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                out.lines.push(line);
            }
            self.offset += consumed as u64;
            bytes = rest.get(1..).unwrap_or_default();
        }
        if self.skipping {
            // The partial bytes of a skipped line still count for the read position.
            self.offset += bytes.len() as u64;
            return;
        }
        self.partial.extend_from_slice(bytes);
        if self.partial.len() > self.max_line {
            out.too_long += 1;
            self.offset += self.partial.len() as u64;
            self.partial.clear();
            self.skipping = true;
        }
    }
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

/// A file in `path`'s directory with this device and inode (a rotated-away log).
fn find_by_inode(path: &Path, dev: u64, ino: u64) -> Option<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && identity(&m) == (dev, ino))
        })
        .map(|e| e.path())
}

/// A saved position: the followed path (to notice a changed configuration) and where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    pub path: String,
    #[serde(flatten)]
    pub pos: FilePos,
}

impl FileCheckpoint {
    /// The saved position for `path` in `file`, if any (a checkpoint of another path is ignored).
    pub fn load(file: &Path, path: &Path) -> io::Result<Option<FilePos>> {
        let Some(bytes) = super::checkpoint::read(file)? else {
            return Ok(None);
        };
        let c: FileCheckpoint = serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: bad checkpoint: {e}", file.display()),
            )
        })?;
        Ok((Path::new(&c.path) == path).then_some(c.pos))
    }

    /// Saves `pos` for `path` atomically.
    pub fn save(file: &Path, path: &Path, pos: FilePos) -> io::Result<()> {
        let c = FileCheckpoint {
            path: path.display().to_string(),
            pos,
        };
        let bytes = serde_json::to_vec(&c).map_err(io::Error::other)?;
        super::checkpoint::write_atomic(file, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    fn dir(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("kaudit-follow-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn append(p: &Path, s: &str) {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap()
            .write_all(s.as_bytes())
            .unwrap();
    }
    /// What logrotate's copytruncate does after copying: empty the file in place (same inode).
    fn truncate(p: &Path) {
        fs::OpenOptions::new()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(0)
            .unwrap();
    }
    fn lines(p: &Polled) -> Vec<String> {
        p.lines
            .iter()
            .map(|l| String::from_utf8(l.clone()).unwrap())
            .collect()
    }

    #[test]
    fn partial_last_line_waits_for_its_newline() {
        let d = dir("partial");
        let p = d.0.join("a.log");
        append(&p, "one\ntw");
        let (mut f, w) = Follower::open(&p, None, 1000).unwrap();
        assert!(w.is_empty());
        let got = f.poll(1 << 20).unwrap();
        assert_eq!(lines(&got), ["one"]);
        assert_eq!(got.end.unwrap().offset, 4);
        append(&p, "o\r\nthree\n");
        assert_eq!(lines(&f.poll(1 << 20).unwrap()), ["two", "three"]);
        assert!(f.poll(1 << 20).unwrap().lines.is_empty());
    }

    #[test]
    fn rename_and_create_drains_the_old_file_first() {
        let d = dir("rename");
        let p = d.0.join("a.log");
        append(&p, "1\n");
        let (mut f, _) = Follower::open(&p, None, 1000).unwrap();
        assert_eq!(lines(&f.poll(1 << 20).unwrap()), ["1"]);
        append(&p, "2\n3-partial");
        fs::rename(&p, d.0.join("a.log.1")).unwrap();
        append(&p, "4\n");
        let got = f.poll(1 << 20).unwrap();
        assert_eq!(lines(&got), ["2", "3-partial", "4"]);
        assert_eq!(got.rotations, 1);
        let new_ino = fs::metadata(&p).unwrap().ino();
        assert_eq!(got.end.unwrap().ino, new_ino);
        assert_eq!(got.end.unwrap().offset, 2);
    }

    #[test]
    fn copy_truncate_starts_again_at_zero() {
        let d = dir("truncate");
        let p = d.0.join("a.log");
        append(&p, "1\n2\n");
        let (mut f, _) = Follower::open(&p, None, 1000).unwrap();
        assert_eq!(lines(&f.poll(1 << 20).unwrap()), ["1", "2"]);
        fs::copy(&p, d.0.join("a.log.1")).unwrap();
        truncate(&p);
        append(&p, "3\n");
        let got = f.poll(1 << 20).unwrap();
        assert_eq!(lines(&got), ["3"]);
        assert_eq!(got.rotations, 1);
    }

    #[test]
    fn copy_truncate_overtaken_by_new_writes_is_noticed_by_the_first_bytes() {
        let d = dir("overtaken");
        let p = d.0.join("a.log");
        append(&p, "{\"auditID\":\"a\"}\n");
        let (mut f, _) = Follower::open(&p, None, 1000).unwrap();
        assert_eq!(lines(&f.poll(1 << 20).unwrap()), ["{\"auditID\":\"a\"}"]);
        assert!(
            f.poll(1 << 20).unwrap().lines.is_empty(),
            "fingerprint taken at the end"
        );
        // Truncated, then more written than had been read before kaudit looks again.
        truncate(&p);
        append(&p, "{\"auditID\":\"b\"}\n{\"auditID\":\"c\"}\n");
        let got = f.poll(1 << 20).unwrap();
        assert_eq!(got.rotations, 1);
        assert_eq!(lines(&got), ["{\"auditID\":\"b\"}", "{\"auditID\":\"c\"}"]);
        // The same while stopped: the saved fingerprint no longer matches.
        let pos = f.position().unwrap();
        assert_eq!(pos.head_len, 32, "two 16-byte lines");
        drop(f);
        truncate(&p);
        append(
            &p,
            "{\"auditID\":\"d\"}\n{\"auditID\":\"e\"}\n{\"auditID\":\"f\"}\n",
        );
        let (mut f, w) = Follower::open(&p, Some(pos), 1000).unwrap();
        assert!(w[0].contains("first bytes changed"), "{w:?}");
        assert_eq!(lines(&f.poll(1 << 20).unwrap()).len(), 3);
    }

    #[test]
    fn resume_at_the_saved_position_even_after_a_rotation_while_stopped() {
        let d = dir("resume");
        let p = d.0.join("a.log");
        append(&p, "1\n2\n");
        let (mut f, _) = Follower::open(&p, None, 1000).unwrap();
        assert_eq!(lines(&f.poll(1 << 20).unwrap()), ["1", "2"]);
        let pos = f.position().unwrap();
        let ck = d.0.join("ck");
        FileCheckpoint::save(&ck, &p, pos).unwrap();
        drop(f);
        // Same file, grown.
        append(&p, "3\n");
        let saved = FileCheckpoint::load(&ck, &p).unwrap();
        assert_eq!(saved, Some(pos));
        assert_eq!(
            FileCheckpoint::load(&ck, Path::new("/other")).unwrap(),
            None
        );
        let (mut f, w) = Follower::open(&p, saved, 1000).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(lines(&f.poll(1 << 20).unwrap()), ["3"]);
        let pos = f.position().unwrap();
        drop(f);
        // Rotated while stopped: the rest of the old file, then the new one.
        append(&p, "4\n");
        fs::rename(&p, d.0.join("a.log.1")).unwrap();
        append(&p, "5\n");
        let (mut f, w) = Follower::open(&p, Some(pos), 1000).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(lines(&f.poll(1 << 20).unwrap()), ["4", "5"]);
        // Rotated away and deleted: the current file from the start, with a warning.
        let pos = f.position().unwrap();
        drop(f);
        fs::remove_file(&p).unwrap();
        fs::remove_file(d.0.join("a.log.1")).unwrap();
        append(&p, "6\n");
        let stale = FilePos {
            ino: pos.ino ^ 0xdead_beef,
            ..pos
        };
        let (mut f, w) = Follower::open(&p, Some(stale), 1000).unwrap();
        assert!(w[0].contains("may be missing"), "{w:?}");
        assert_eq!(lines(&f.poll(1 << 20).unwrap()), ["6"]);
    }

    #[test]
    fn long_lines_are_skipped_and_counted() {
        let d = dir("long");
        let p = d.0.join("a.log");
        append(
            &p,
            &format!("ok\n{}\nok2\n{}", "x".repeat(50), "y".repeat(30)),
        );
        let (mut f, _) = Follower::open(&p, None, 10).unwrap();
        let got = f.poll(1 << 20).unwrap();
        assert_eq!(lines(&got), ["ok", "ok2"]);
        assert_eq!(got.too_long, 2, "one complete, one still being written");
        append(&p, "yyy\nlast\n");
        let got = f.poll(1 << 20).unwrap();
        assert_eq!(lines(&got), ["last"]);
        assert_eq!(got.end.unwrap().offset, fs::metadata(&p).unwrap().len());
    }

    #[test]
    fn a_missing_file_is_waited_for() {
        let d = dir("missing");
        let p = d.0.join("later.log");
        let (mut f, _) = Follower::open(&p, None, 100).unwrap();
        let got = f.poll(100).unwrap();
        assert!(got.lines.is_empty() && got.end.is_none());
        append(&p, "a\n");
        assert_eq!(lines(&f.poll(100).unwrap()), ["a"]);
    }
}
