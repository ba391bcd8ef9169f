//! Condition and output texts, with the file offset of each of their bytes when it can be known, so
//! a parse error inside a condition points at the exact place in the rules file.

use crate::span::Span;

/// A condition (or other text) value together with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub text: String,
    /// The value node's span (for quoted scalars: the opening quote).
    pub span: Span,
    /// File byte offset of every byte of `text` (plus one for its end), when the text could be
    /// aligned with what is written in the file (verbatim, folded or block scalars, simple escapes);
    /// lets condition offsets map to exact file positions.
    pub map: Option<Vec<u32>>,
}

impl Text {
    /// The file byte offset of byte `rel` of the text (`rel == len` is the end), if known.
    pub fn file_offset(&self, rel: usize) -> Option<u32> {
        self.map.as_ref()?.get(rel).copied()
    }

    /// Drops `lead` bytes from the start and keeps `len` bytes (trimming).
    pub fn trim_to(&mut self, lead: usize, len: usize) {
        self.text = self.text.get(lead..lead + len).unwrap_or("").to_string();
        self.map = self
            .map
            .take()
            .and_then(|m| m.get(lead..=lead + len).map(<[u32]>::to_vec));
    }
}

/// Aligns a scalar's decoded text with its source, starting at byte `start` of `src`: equal bytes
/// are matched; source blanks, line breaks and escape backslashes that the text lacks are skipped;
/// text blanks the source lacks (folding) map to the next source byte. None when they diverge.
pub fn align(src: &str, start: usize, text: &str) -> Option<Vec<u32>> {
    let s = src.as_bytes();
    let t = text.as_bytes();
    let mut map = Vec::with_capacity(t.len() + 1);
    let (mut i, mut j) = (0usize, start);
    while let Some(&tc) = t.get(i) {
        match s.get(j) {
            Some(&sc) if sc == tc => {
                map.push(j as u32);
                i += 1;
                j += 1;
            }
            Some(&sc) if sc == b' ' || sc == b'\t' || sc == b'\n' || sc == b'\r' || sc == b'\\' => {
                j += 1
            }
            _ if tc.is_ascii_whitespace() => {
                map.push(j.min(s.len()) as u32);
                i += 1;
            }
            _ => return None,
        }
    }
    map.push(j.min(s.len()) as u32);
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_maps_folded_and_escaped_text() {
        let src = "x: >\n  a b\n  c\n";
        let m = align(src, 7, "a b c\n").unwrap();
        assert_eq!(&m[..5], &[7, 8, 9, 11, 13]);
        let src = r#"x: "a \"q\" b""#;
        let m = align(src, 4, "a \"q\" b").unwrap();
        assert_eq!(m[2], 7);
        assert_eq!(align("x: abc", 3, "abd"), None);
    }
}
