//! `ka.uri.param[key]`: query parameters of `requestURI`, parsed the way Go's `net/url` does for the
//! plugin. Upstream is all-or-nothing: if the URL or any part of its query fails to parse (a bad `%`
//! escape, a `;`, a control character), every parameter of that event is missing.

use crate::event::{Event, Top};
use crate::value::{Val, Values};
use kaudit_frontend::ir::FieldArg;
use std::borrow::Cow;

/// `ka.uri.param[key]`: the first value of query parameter `key`.
pub fn ka_uri_param<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
    if !ev.has_audit_id() {
        return;
    }
    let FieldArg::Key(key) = arg else { return };
    let Some(uri) = ev.top(Top::RequestUri) else {
        return;
    };
    let uri = uri.text();
    if let Ok(Some(v)) = query_param(&uri, key) {
        out.push(Val::Str(Cow::Owned(v)));
    }
}

/// Why a URL was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadUrl;

/// The first value of `key` in the query of `uri`; `Err` when Go's URL or query parsing fails.
pub fn query_param(uri: &str, key: &str) -> Result<Option<String>, BadUrl> {
    let query = raw_query(uri)?;
    let mut found = None;
    for part in query.split('&') {
        if part.contains(';') {
            return Err(BadUrl);
        }
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = unescape(k, true)?;
        let v = unescape(v, true)?;
        if found.is_none() && k == key {
            found = Some(v);
        }
    }
    Ok(found)
}

/// The raw query of `uri` after the checks `url.Parse` makes on the other parts.
fn raw_query(uri: &str) -> Result<&str, BadUrl> {
    let (rest, fragment) = uri.split_once('#').unwrap_or((uri, ""));
    unescape(fragment, false)?;
    if rest.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(BadUrl);
    }
    let rest = strip_scheme(rest)?;
    let (path, query) = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        (rest.get(..rest.len() - 1).unwrap_or(""), "")
    } else {
        rest.split_once('?').unwrap_or((rest, ""))
    };
    // A relative reference's first segment may not contain a colon.
    if !path.starts_with('/') && path.split('/').next().is_some_and(|seg| seg.contains(':')) {
        return Err(BadUrl);
    }
    let path = match path.strip_prefix("//") {
        Some(auth_and_path) if !path.starts_with("///") => auth_and_path
            .find('/')
            .map_or("", |i| auth_and_path.get(i..).unwrap_or("")),
        _ => path,
    };
    unescape(path, false)?;
    Ok(query)
}

/// Removes a leading `scheme:` the way Go's `getScheme` recognises it.
fn strip_scheme(s: &str) -> Result<&str, BadUrl> {
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err(BadUrl),
            b':' => return Ok(s.get(i + 1..).unwrap_or("")),
            _ => return Ok(s),
        }
    }
    Ok(s)
}

/// `%XX` decoding (and `+` → space in query mode); a malformed escape is an error. Invalid UTF-8 after
/// decoding is replaced (values are text).
fn unescape(s: &str, query: bool) -> Result<String, BadUrl> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || (query && c == b'+')) {
        return Ok(s.to_string());
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hi = b
                    .get(i + 1)
                    .and_then(|h| (*h as char).to_digit(16))
                    .ok_or(BadUrl)?;
                let lo = b
                    .get(i + 2)
                    .and_then(|h| (*h as char).to_digit(16))
                    .ok_or(BadUrl)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::testing::vals;

    fn p(uri: &str, key: &str) -> Result<Option<String>, BadUrl> {
        query_param(uri, key)
    }

    #[test]
    fn decodes_values() {
        let u = "/api/v1/namespaces/default/pods/p/exec?command=ls&command=-l&stdin=true&container=a+b&x=%2Fetc%20y&flag&empty=";
        assert_eq!(
            p(u, "command").unwrap().as_deref(),
            Some("ls"),
            "first value wins"
        );
        assert_eq!(p(u, "container").unwrap().as_deref(), Some("a b"));
        assert_eq!(p(u, "x").unwrap().as_deref(), Some("/etc y"));
        assert_eq!(p(u, "flag").unwrap().as_deref(), Some(""));
        assert_eq!(p(u, "empty").unwrap().as_deref(), Some(""));
        assert_eq!(p(u, "nope").unwrap(), None);
        assert_eq!(p("/api?a=1#frag", "a").unwrap().as_deref(), Some("1"));
        assert_eq!(p("/api?", "a").unwrap(), None);
    }

    #[test]
    fn one_bad_part_hides_every_parameter() {
        assert_eq!(p("/api?a=1&b=%zz", "a"), Err(BadUrl));
        assert_eq!(p("/api?a=1;b=2", "a"), Err(BadUrl));
        assert_eq!(p("/api?a=1&c;=2", "a"), Err(BadUrl));
        assert_eq!(p("/a%zz/b?a=1", "a"), Err(BadUrl));
        assert_eq!(p("/api?a=1\u{1}", "a"), Err(BadUrl));
        assert_eq!(p("/api?a=1#%zz", "a"), Err(BadUrl));
        assert_eq!(p(":x?a=1", "a"), Err(BadUrl));
    }

    #[test]
    fn extractor_applies_gate_and_key() {
        let ev = r#"{"auditID":"x","requestURI":"/p/exec?command=sh&command=id&tty=1"}"#;
        assert_eq!(vals(ev, "ka.uri.param", Some("command")), vec!["sh"]);
        assert!(vals(ev, "ka.uri.param", Some("stdin")).is_empty());
        let bad = r#"{"auditID":"x","requestURI":"/p/exec?command=sh&x=%zz"}"#;
        assert!(vals(bad, "ka.uri.param", Some("command")).is_empty());
        let no_id = r#"{"requestURI":"/p/exec?command=sh"}"#;
        assert!(vals(no_id, "ka.uri.param", Some("command")).is_empty());
    }
}
