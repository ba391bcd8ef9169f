//! `kaudit-validate FILE`: the reading limit as a whole process, for bench/replay.sh.
//!
//! Reads FILE line by line exactly as `kaudit replay` does (a 64 KiB buffered reader, `read_until`) and
//! has serde_json validate each non-blank line into `IgnoredAny`; prints the count of valid and invalid
//! lines. Comparing `kaudit replay` with this process shows what rule evaluation costs on top of merely
//! reading the same bytes.

use std::io::{BufRead, BufReader};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: kaudit-validate FILE");
        return ExitCode::from(2);
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("kaudit-validate: {path}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::with_capacity(1 << 14);
    let (mut ok, mut bad) = (0u64, 0u64);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("kaudit-validate: {path}: {e}");
                return ExitCode::from(1);
            }
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(&line) {
            Ok(_) => ok += 1,
            Err(_) => bad += 1,
        }
    }
    println!("{ok} valid, {bad} invalid");
    ExitCode::SUCCESS
}
