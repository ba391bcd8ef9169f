//! The JSON writer alerts use: compact, with the escaping of nlohmann::json's `dump()` (what Falco uses):
//! `"` and `\` escaped, `\b \f \n \r \t` in short form, other control characters below 0x20 as `\u00xx`
//! (lower-case hex); DEL and non-ASCII UTF-8 are written as they are.

use crate::json::swar;

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_str_content(out, s);
    out.push(b'"');
}

/// Turns `out[start..]`, raw text just written there, into the content of a JSON string literal (what
/// `write_bytes_as_str` writes between the quotes). Text is written straight into the output and
/// usually needs no escape: then nothing is copied.
pub fn escape_in_place(out: &mut Vec<u8>, start: usize) {
    let Some(tail) = out.get(start..) else { return };
    if next_to_escape(tail, 0).is_none() && std::str::from_utf8(tail).is_ok() {
        return;
    }
    let raw = out.split_off(start);
    match std::str::from_utf8(&raw) {
        Ok(s) => write_str_content(out, s),
        Err(_) => write_str_content(out, &String::from_utf8_lossy(&raw)),
    }
}

/// Appends `s` escaped as the content of a JSON string (no quotes).
fn write_str_content(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    // Runs of bytes that need no escape are copied whole; alert texts rarely contain any.
    while let Some(at) = next_to_escape(bytes, start) {
        out.extend_from_slice(bytes.get(start..at).unwrap_or_default());
        write_escaped(out, bytes.get(at).copied().unwrap_or_default());
        start = at + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

/// Index of the first byte at or after `i` that a JSON string must escape (`"`, `\`, below 0x20),
/// eight bytes at a time.
fn next_to_escape(bytes: &[u8], mut i: usize) -> Option<usize> {
    while let Some(x) = swar::word(bytes, i) {
        let hit = swar::equal_to(x, b'"') | swar::equal_to(x, b'\\') | swar::below(x, 0x20);
        if hit != 0 {
            return Some(i + swar::first_flagged(hit));
        }
        i += 8;
    }
    let rest = bytes.get(i..)?;
    rest.iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p)
}

/// Appends the escape of one byte `next_to_escape` found (any other byte is copied as is).
fn write_escaped(out: &mut Vec<u8>, b: u8) {
    let short: &[u8] = match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        0x08 => b"\\b",
        0x0c => b"\\f",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0..=0x1f => {
            out.extend_from_slice(b"\\u00");
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b & 0xf));
            return;
        }
        _ => {
            out.push(b);
            return;
        }
    };
    out.extend_from_slice(short);
}

/// The lower-case hex digit of a nibble (`n < 16`).
fn hex_digit(n: u8) -> u8 {
    if n < 10 {
        b'0' + n
    } else {
        b'a' + (n - 10)
    }
}

/// Appends raw bytes as a JSON string; invalid UTF-8 becomes U+FFFD (as Falco's JSON dump replaces it).
pub fn write_bytes_as_str(out: &mut Vec<u8>, b: &[u8]) {
    // `from_utf8` takes the ASCII fast path that the lossy decoder lacks; almost every text is valid.
    match std::str::from_utf8(b) {
        Ok(s) => write_str(out, s),
        Err(_) => write_str(out, &String::from_utf8_lossy(b)),
    }
}

/// Appends a decimal unsigned integer.
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        let mut v = Vec::new();
        write_str(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_like_nlohmann() {
        assert_eq!(enc("plain"), "\"plain\"");
        assert_eq!(enc("q\"b\\s/"), r#""q\"b\\s/""#);
        assert_eq!(enc("\n\t\r\u{8}\u{c}"), r#""\n\t\r\b\f""#);
        assert_eq!(enc("ctl\u{1}\u{1f}"), r#""ctl\u0001\u001f""#);
        // DEL and non-ASCII stay raw.
        assert_eq!(enc("del\u{7f} café 😀"), "\"del\u{7f} café 😀\"");
    }

    /// The byte-at-a-time escaper the word-at-a-time one must equal.
    fn reference(s: &str) -> Vec<u8> {
        let mut out = vec![b'"'];
        for &b in s.as_bytes() {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                _ => out.push(b),
            }
        }
        out.push(b'"');
        out
    }

    #[test]
    fn word_at_a_time_escaping_equals_the_byte_loop() {
        // Every ASCII byte and some multi-byte characters, at every offset within a word and past it.
        let mut alphabet: Vec<char> = (0u8..0x80).map(char::from).collect();
        alphabet.extend(['\u{e9}', '\u{4e2d}', '\u{1f600}', '\u{80}', '\u{7ff}']);
        for &c in &alphabet {
            for pad in 0..19 {
                for tail in [0, 1, 9] {
                    let s = format!("{}{c}{}", "a".repeat(pad), "\u{e9}".repeat(tail));
                    let mut v = Vec::new();
                    write_str(&mut v, &s);
                    assert_eq!(v, reference(&s), "{s:?}");
                }
            }
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let s: String = (0..(seed % 40))
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    alphabet[(seed >> 33) as usize % alphabet.len()]
                })
                .collect();
            let mut v = Vec::new();
            write_str(&mut v, &s);
            assert_eq!(v, reference(&s), "{s:?}");
        }
    }

    #[test]
    fn decimal_numbers() {
        for n in [0, 7, 10, 99, 1_000_000_007, u64::MAX] {
            let mut v = Vec::new();
            write_u64(&mut v, n);
            assert_eq!(String::from_utf8(v).unwrap(), n.to_string());
        }
    }

    #[test]
    fn escaping_in_place_equals_writing_a_string() {
        for raw in [
            b"plain".as_slice(),
            b"",
            b"q\"b\\s\n\x01 caf\xc3\xa9",
            b"a\xffb\"",
            b"\xc3",
        ] {
            let mut whole = b"prefix".to_vec();
            write_bytes_as_str(&mut whole, raw);
            let mut inplace = b"prefix\"".to_vec();
            inplace.extend_from_slice(raw);
            escape_in_place(&mut inplace, 7);
            inplace.push(b'"');
            assert_eq!(inplace, whole, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        let mut v = Vec::new();
        write_bytes_as_str(&mut v, b"a\xffb");
        assert_eq!(String::from_utf8(v).unwrap(), "\"a\u{fffd}b\"");
    }
}
