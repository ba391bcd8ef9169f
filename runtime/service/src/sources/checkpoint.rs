//! Checkpoints under `kaudit.state_dir`: one small file per source, replaced atomically (write a
//! temporary file, fsync it, rename it over the old one, fsync the directory), so a crash leaves either
//! the old or the new checkpoint, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The checkpoint file of the source called `name` in `dir`: the name with every character that is not
/// alphanumeric, `-`, `_` or `.` replaced by `_`, plus a hash of the full name so that two names that
/// differ only in replaced characters do not share a file.
pub fn path_for(dir: &Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    dir.join(format!("{safe}-{:016x}.checkpoint", fnv1a(name.as_bytes())))
}

/// FNV-1a: stable across builds and platforms (the file name must not change between versions).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Replaces `path` with `data` atomically and durably.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    // The rename itself is durable only once the directory is synced.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The checkpoint's content, or `None` when there is none yet.
pub fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_distinct() {
        let d = Path::new("state");
        let a = path_for(d, "file:/var/log/a.log");
        let b = path_for(d, "file:/var/log/a_log");
        assert_ne!(a, b);
        let f = a.file_name().unwrap().to_str().unwrap();
        assert!(f.starts_with("file__var_log_a.log-"), "{f}");
        assert!(!f.contains('/'));
        assert_eq!(a, path_for(d, "file:/var/log/a.log"), "stable");
    }

    #[test]
    fn write_replaces_and_read_finds_it() {
        let dir = std::env::temp_dir().join(format!("kaudit-ckpt-{}", std::process::id()));
        let p = path_for(&dir, "x");
        assert_eq!(read(&p).unwrap(), None);
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(read(&p).unwrap().as_deref(), Some(&b"two"[..]));
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");
        let _ = fs::remove_dir_all(&dir);
    }
}
