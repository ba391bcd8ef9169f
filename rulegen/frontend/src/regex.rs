//! The `regex` operator's pattern, validated and built in this one place: the type checker calls
//! [`full_match`] to reject a bad pattern when the rules load (with RE2's wording for the common
//! mistakes), and both engines build their matcher with the very same call, so a rule set that loads
//! can never hold a pattern that fails to build later.
//!
//! Falco's libs use RE2 `FullMatch`: the whole value must match. The pattern is checked as written first
//! (so `a)(b` is an error, as in RE2, and is not turned into a valid group by the anchoring wrapper), then
//! compiled anchored at both ends.

use ::regex::{Regex, RegexBuilder};

/// Compiled-program budget per pattern (RE2's default memory budget is of the same order).
const SIZE_LIMIT: usize = 1 << 22;

/// Validates `pattern` and compiles it anchored at both ends. The error is the message the loader
/// reports (`invalid regex pattern: <detail>: <pattern>`).
pub fn full_match(pattern: &str) -> Result<Regex, String> {
    let build = |p: &str| RegexBuilder::new(p).size_limit(SIZE_LIMIT).build();
    build(pattern).map_err(|e| message(pattern, &e))?;
    build(&format!(r"\A(?:{pattern})\z")).map_err(|e| message(pattern, &e))
}

/// RE2's wording for the common syntax errors, falling back to the regex crate's message.
fn message(pattern: &str, err: &::regex::Error) -> String {
    let detail = match err {
        ::regex::Error::Syntax(s) => {
            if s.contains("unclosed group") {
                "missing )".to_string()
            } else if s.contains("unopened group") {
                "unexpected )".to_string()
            } else if s.contains("unclosed character class") {
                "missing ]".to_string()
            } else if s.contains("repetition operator missing expression") {
                "missing argument to repetition operator".to_string()
            } else {
                s.lines()
                    .rev()
                    .find(|l| l.starts_with("error:"))
                    .map_or("invalid pattern".to_string(), |l| {
                        l.trim_start_matches("error:").trim().to_string()
                    })
            }
        }
        other => other.to_string(),
    };
    format!("invalid regex pattern: {detail}: {pattern}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_value_must_match() {
        let re = full_match("ab|c").unwrap();
        assert!(re.is_match("ab") && re.is_match("c"));
        assert!(!re.is_match("abc") && !re.is_match("xab"));
    }

    #[test]
    fn the_anchoring_wrapper_cannot_repair_a_bad_pattern() {
        // `\A(?:a)(b)\z` would compile; the pattern as written does not.
        let err = full_match("a)(b").unwrap_err();
        assert_eq!(err, "invalid regex pattern: unexpected ): a)(b");
        assert_eq!(
            full_match("(a").unwrap_err(),
            "invalid regex pattern: missing ): (a"
        );
        assert_eq!(
            full_match("[a").unwrap_err(),
            "invalid regex pattern: missing ]: [a"
        );
        assert_eq!(
            full_match("*").unwrap_err(),
            "invalid regex pattern: missing argument to repetition operator: *"
        );
    }

    #[test]
    fn oversized_programs_are_rejected() {
        let err = full_match("(a{1000}){1000}").unwrap_err();
        assert!(err.starts_with("invalid regex pattern: "), "{err}");
    }
}
