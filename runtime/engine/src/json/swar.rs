//! Byte searches eight bytes at a time in a `u64` ("SIMD within a register"): no `unsafe`, no
//! target features, and for the short strings of audit events faster than a vector search's setup.
//!
//! Each test returns the high bit of every byte that matches. A test may also flag bytes above a true
//! match (a borrow only travels upwards), never below one and never miss one: the lowest flag is
//! always the first match, which is all the callers use (`first_flagged`).

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The eight bytes at `i` as a little-endian word (None when fewer than eight remain).
#[inline]
pub(crate) fn word(bytes: &[u8], i: usize) -> Option<u64> {
    let chunk = bytes.get(i..i + 8)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    Some(u64::from_le_bytes(w))
}

/// Flags the bytes of `x` equal to `b`.
#[inline]
pub(crate) fn equal_to(x: u64, b: u8) -> u64 {
    let v = x ^ (ONES * u64::from(b));
    v.wrapping_sub(ONES) & !v & HIGH
}

/// Flags the bytes of `x` below `n` (`n <= 0x80`; bytes with the high bit set never match).
#[inline]
pub(crate) fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH
}

/// Whether any byte of `x` has its high bit set (is not ASCII).
#[inline]
pub(crate) fn has_non_ascii(x: u64) -> bool {
    x & HIGH != 0
}

/// Offset in the word of the first flagged byte (`flags != 0`).
#[inline]
pub(crate) fn first_flagged(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_flag_the_first_match_at_every_position() {
        for pos in 0..8 {
            for (byte, filler) in [(b'"', b'a'), (b'\\', 0xe9), (0x00, b'~'), (0x1f, 0x80)] {
                let mut w = [filler; 8];
                w[pos] = byte;
                // A second match above the first must not move the answer.
                if pos < 7 {
                    w[7] = byte;
                }
                let x = u64::from_le_bytes(w);
                let flags = equal_to(x, b'"') | equal_to(x, b'\\') | below(x, 0x20);
                assert_eq!(first_flagged(flags), pos, "{w:?}");
            }
        }
        let clean = u64::from_le_bytes(*b"abc~ 123");
        assert_eq!(equal_to(clean, b'"') | below(clean, 0x20), 0);
        assert!(!has_non_ascii(clean) && has_non_ascii(u64::from_le_bytes([0xc3; 8])));
        assert_eq!(word(b"1234567", 0), None);
        assert_eq!(
            word(b"x12345678", 1),
            Some(u64::from_le_bytes(*b"12345678"))
        );
    }
}
