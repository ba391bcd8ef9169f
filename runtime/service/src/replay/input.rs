//! Opening replay inputs (files, gzip, stdin) and finding the documents in them: one per line (JSON
//! Lines, the API server's log backend), or, for a file holding pretty-printed or concatenated JSON
//! documents (a cloud console download, a Firehose object), one per JSON value.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Range;
use std::rc::Rc;

/// An opened input: a line reader plus, for regular files, the (compressed) size and a counter of bytes
/// consumed so far (for progress display).
pub struct Input {
    pub name: String,
    pub reader: Box<dyn BufRead>,
    pub size: Option<u64>,
    pub consumed: Rc<Cell<u64>>,
}

struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl Input {
    /// An input over any reader (already decompressed), e.g. in-memory data.
    pub fn from_reader(name: &str, reader: Box<dyn BufRead>) -> Input {
        Input {
            name: name.to_string(),
            reader,
            size: None,
            consumed: Rc::new(Cell::new(0)),
        }
    }
}

/// Opens `path` (`-` = stdin); gzip input is detected by its magic bytes and decompressed.
pub fn open_input(path: &str) -> io::Result<Input> {
    let consumed = Rc::new(Cell::new(0));
    let (raw, size, name): (Box<dyn Read>, Option<u64>, String) = if path == "-" {
        (Box::new(io::stdin()), None, "<stdin>".to_string())
    } else {
        let f = File::open(path).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
        let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        (Box::new(f), size, path.to_string())
    };
    let mut buffered = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: raw,
            count: Rc::clone(&consumed),
        },
    );
    let first = buffered.fill_buf()?;
    let (is_empty, is_gzip) = (first.is_empty(), first.starts_with(&[0x1f, 0x8b]));
    // An input that ended before its first byte stays ended: a terminal's Ctrl-D is one end of input, and
    // reading again would wait for another.
    let reader: Box<dyn BufRead> = if is_empty {
        Box::new(io::empty())
    } else if is_gzip {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    };
    Ok(Input {
        name,
        reader,
        size,
        consumed,
    })
}

/// Whether `line` is the start of a JSON value that continues on later lines (a pretty-printed file):
/// it parses as JSON up to its end and needs more.
pub fn is_unfinished_json(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    (t.starts_with(b"{") || t.starts_with(b"["))
        && serde_json::from_slice::<serde::de::IgnoredAny>(t).is_err_and(|e| e.is_eof())
}

/// The byte ranges of the JSON values written one after the other in `text` (blanks between them
/// allowed), or `None` when `text` is not such a sequence of at least `min` values.
pub fn concatenated_values(text: &[u8], min: usize) -> Option<Vec<Range<usize>>> {
    let mut out = Vec::new();
    let mut stream =
        serde_json::Deserializer::from_slice(text).into_iter::<serde::de::IgnoredAny>();
    let mut start = 0;
    loop {
        while text.get(start).is_some_and(|b| b.is_ascii_whitespace()) {
            start += 1;
        }
        match stream.next() {
            None => break,
            Some(Ok(_)) => {
                let end = stream.byte_offset();
                out.push(start..end);
                start = end;
            }
            Some(Err(_)) => return None,
        }
    }
    (out.len() >= min).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_first_lines_of_pretty_printed_documents() {
        assert!(is_unfinished_json(b"{"));
        assert!(is_unfinished_json(b"  [ {"));
        assert!(is_unfinished_json(br#"{"kind": "EventList","#));
        assert!(!is_unfinished_json(br#"{"kind":"Event"}"#));
        assert!(!is_unfinished_json(b"{broken"));
        assert!(!is_unfinished_json(b"hello"));
    }

    #[test]
    fn concatenated_values_are_found_with_their_ranges() {
        let t = b" {\"a\":1}{\"b\":[2]}\n [3] ";
        let r = concatenated_values(t, 2).unwrap();
        let parts: Vec<&[u8]> = r.iter().map(|r| &t[r.clone()]).collect();
        assert_eq!(parts, vec![&b"{\"a\":1}"[..], b"{\"b\":[2]}", b"[3]"]);
        assert!(concatenated_values(br#"{"a":1}"#, 2).is_none(), "one value");
        assert!(
            concatenated_values(br#"{"a":1}{"#, 1).is_none(),
            "truncated"
        );
        assert!(concatenated_values(b"", 1).is_none());
    }
}
