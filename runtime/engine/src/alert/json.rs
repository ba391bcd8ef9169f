//! The JSON writer alerts use: compact, with the escaping of nlohmann::json's `dump()` (what Falco uses):
//! `"` and `\` escaped, `\b \f \n \r \t` in short form, other control characters below 0x20 as `\u00xx`
//! (lower-case hex); DEL and non-ASCII UTF-8 are written as they are.

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        // `start <= i`: both only move forward, and `start` stops one past the last escaped byte.
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b & 0xf));
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
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
    write_str(out, &String::from_utf8_lossy(b));
}

/// Appends a decimal unsigned integer.
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(n.to_string().as_bytes());
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

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        let mut v = Vec::new();
        write_bytes_as_str(&mut v, b"a\xffb");
        assert_eq!(String::from_utf8(v).unwrap(), "\"a\u{fffd}b\"");
    }
}
