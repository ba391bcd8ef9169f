//! The syntax Falco checks on names (macros, lists) and on engine and plugin versions.

/// `x`, `x.y.z` → an engine version (a plain unsigned 32-bit number N means 0.N.0).
pub fn parse_engine_version(t: &str) -> Option<[u64; 3]> {
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let n: u32 = t.parse().ok()?;
        return Some([0, u64::from(n), 0]);
    }
    parse_semver(t)
}

/// A strict `x.y.z` semver (pre-release/build suffixes are not used by rule files).
pub fn parse_semver(t: &str) -> Option<[u64; 3]> {
    let mut parts = t.trim().split('.');
    let mut v = [0u64; 3];
    for slot in &mut v {
        let p = parts.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(v)
}

/// `[a-zA-Z]+[a-zA-Z0-9_]*`
pub fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `[^()"'[:space:]=,]+`
pub fn is_bare_string(s: &str) -> bool {
    !s.is_empty()
        && !s.chars().any(|c| {
            matches!(c, '(' | ')' | '"' | '\'' | '=' | ',')
                || c.is_ascii_whitespace()
                || c == '\x0b'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_versions() {
        assert_eq!(parse_engine_version("15"), Some([0, 15, 0]));
        assert_eq!(parse_engine_version("0.26.1"), Some([0, 26, 1]));
        assert_eq!(parse_engine_version("1.2"), None);
        assert_eq!(parse_engine_version("v1.2.3"), None);
    }

    #[test]
    fn names() {
        assert!(is_identifier("a_1") && !is_identifier("1a") && !is_identifier("bad-name"));
        assert!(is_bare_string("k8s-users") && !is_bare_string("a,b") && !is_bare_string("a b"));
    }
}
