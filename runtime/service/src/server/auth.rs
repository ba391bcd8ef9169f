//! Request authentication (Falco has none): an optional bearer token compared in constant time, and the
//! client-certificate result of the TLS layer (`tls::ClientAuth`).

use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Default)]
pub struct BearerToken {
    expected: Option<Vec<u8>>,
}

impl BearerToken {
    pub fn new(token: Option<&str>) -> BearerToken {
        BearerToken {
            expected: token.map(|t| t.as_bytes().to_vec()),
        }
    }

    pub fn required(&self) -> bool {
        self.expected.is_some()
    }

    /// Checks an `Authorization` header value. Always true when no token is configured.
    pub fn check(&self, authorization: Option<&[u8]>) -> bool {
        let Some(expected) = &self.expected else {
            return true;
        };
        let Some(value) = authorization else {
            return false;
        };
        // The scheme is case-insensitive (RFC 7235); the token is compared in constant time. Only the
        // token's length can leak through timing, which is not secret in practice.
        let presented = match value.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => {
                value.get(7..).unwrap_or_default()
            }
            _ => return false,
        };
        let presented = presented.trim_ascii();
        bool::from(presented.ct_eq(expected.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_the_bearer_token() {
        let t = BearerToken::new(Some("s3cret"));
        assert!(t.required());
        assert!(t.check(Some(b"Bearer s3cret")));
        assert!(t.check(Some(b"bearer s3cret ")));
        assert!(!t.check(Some(b"Bearer s3cre")));
        assert!(!t.check(Some(b"Bearer s3cretX")));
        assert!(!t.check(Some(b"Basic s3cret")));
        assert!(!t.check(Some(b"s3cret")));
        assert!(!t.check(None));
    }

    #[test]
    fn no_token_configured_accepts_everything() {
        let t = BearerToken::new(None);
        assert!(!t.required());
        assert!(t.check(None));
        assert!(t.check(Some(b"Bearer whatever")));
    }
}
