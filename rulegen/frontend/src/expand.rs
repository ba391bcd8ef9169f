//! Falco's list handling, which is textual (docs/semantics.md#list-expansion): list items naming other lists are
//! expanded one level when lists are compiled, and list names in condition text are replaced by the items before
//! parsing — even inside quoted strings, and whatever the word means there.
//!
//! Real Falco confirmed the quirks reproduced here (conformance/micro/FINDINGS.md §2.6;
//! docs/semantics.md#list-expansion): items with spaces are double-quoted, items with commas split into several
//! values, an empty list drops one neighbouring comma, and nested list names expand only one level.

/// Falco's quoting rule for list items and exception values: wrap in `"` only when the text
/// contains a space and does not already start with a quote. Nothing is escaped.
pub fn quote_item(item: &str) -> String {
    if item.contains(' ') && !item.starts_with(['"', '\'']) {
        format!("\"{item}\"")
    } else {
        item.to_string()
    }
}

/// Falco's rule for an exception value under a list comparison: wrap in `(`…`)` unless it already
/// starts with `(`.
pub fn paren_item(item: &str) -> String {
    if item.starts_with('(') {
        item.to_string()
    } else {
        format!("({item})")
    }
}

/// Compiled items of one list: each raw item that names a list visible to it (`visible` returns that
/// list's **raw** items) is replaced by those items; other items are kept verbatim. Only one level is
/// expanded: items of the referenced list that name lists stay literal.
pub fn compile_list_items<'a>(
    raw: &[String],
    visible: impl Fn(&str) -> Option<&'a [String]>,
) -> Vec<String> {
    compile_list_items_tracked(raw, visible).0
}

/// `compile_list_items`, also returning the names of the lists it expanded (in item order, with
/// repeats), which Falco marks as used.
pub fn compile_list_items_tracked<'a>(
    raw: &[String],
    visible: impl Fn(&str) -> Option<&'a [String]>,
) -> (Vec<String>, Vec<String>) {
    let mut items = Vec::with_capacity(raw.len());
    let mut used = Vec::new();
    for item in raw {
        match visible(item) {
            Some(referenced) => {
                used.push(item.clone());
                items.extend(referenced.iter().cloned());
            }
            None => items.push(item.clone()),
        }
    }
    (items, used)
}

/// Substitutes every list's name in `text`, one list after the other in the given (definition)
/// order; `lists` holds (name, compiled items).
pub fn expand_lists(text: &str, lists: &[(&str, &[String])]) -> String {
    expand_lists_tracked(text, lists).0
}

/// `expand_lists`, also telling for each list whether it was substituted at least once (Falco marks
/// those lists as used).
pub fn expand_lists_tracked(text: &str, lists: &[(&str, &[String])]) -> (String, Vec<bool>) {
    let mut current = text.as_bytes().to_vec();
    let mut used = Vec::with_capacity(lists.len());
    for (name, items) in lists {
        let (next, hit) = substitute(&current, name.as_bytes(), items);
        used.push(hit);
        if hit {
            current = next;
        }
    }
    // Only whole input segments and whole items are concatenated, and only ASCII bytes are removed,
    // so the result is valid UTF-8; the lossy conversion merely keeps this total.
    (
        String::from_utf8(current)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        used,
    )
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_delim(b: u8) -> bool {
    is_blank(b) || matches!(b, b'(' | b')' | b',' | b'=')
}

/// Finds `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let rel = hay.get(i..)?.iter().position(|&b| b == first)?;
        i += rel;
        if hay.get(i..i + needle.len()) == Some(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// One list's substitution pass, in a single left-to-right sweep.
///
/// Falco rebuilds the whole text after every replacement; this keeps the same observable result in
/// linear time. The processed part lives in `out`; Falco's scan may reach back into it only to
/// swallow blanks and one comma before a match, which `out` supports by popping. After a
/// replacement Falco resumes the search one byte past the inserted blank — which skips the first
/// byte of the remaining text when the replacement started the text — reproduced by `skip`.
fn substitute(text: &[u8], name: &[u8], items: &[String]) -> (Vec<u8>, bool) {
    // An empty name would match everywhere; Falco's loader never produces one.
    if name.is_empty() {
        return (text.to_vec(), false);
    }
    let sub = items
        .iter()
        .map(|i| quote_item(i))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut rest = 0usize; // start of the unprocessed part of `text`
    let mut skip = 0usize;
    let mut hit = false;
    while let Some(at) = find(text, name, rest + skip) {
        let end = at + name.len();
        let before = if at > rest {
            text.get(at - 1).copied()
        } else {
            out.last().copied()
        };
        let after = text.get(end).copied();
        let bounded = before.is_none_or(is_delim) && after.is_none_or(is_delim);
        if !bounded {
            // Not a whole word: keep the first byte and search on from the next one.
            out.extend_from_slice(text.get(rest..=at).unwrap_or_default());
            rest = at + 1;
            skip = 0;
            continue;
        }
        hit = true;
        out.extend_from_slice(text.get(rest..at).unwrap_or_default());
        while out.last().is_some_and(|&b| is_blank(b)) {
            out.pop();
        }
        let mut end = end;
        while text.get(end).is_some_and(|&b| is_blank(b)) {
            end += 1;
        }
        if sub.is_empty() {
            if out.last() == Some(&b',') {
                out.pop();
            } else if text.get(end) == Some(&b',') {
                end += 1;
            }
        }
        if out.is_empty() {
            out.extend_from_slice(sub.as_bytes());
            out.push(b' ');
            skip = 1;
        } else {
            out.push(b' ');
            out.extend_from_slice(sub.as_bytes());
            out.push(b' ');
            skip = 0;
        }
        rest = end;
    }
    out.extend_from_slice(text.get(rest..).unwrap_or_default());
    (out, hit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn find_respects_start() {
        assert_eq!(find(b"abcabc", b"bc", 0), Some(1));
        assert_eq!(find(b"abcabc", b"bc", 2), Some(4));
        assert_eq!(find(b"abcabc", b"bc", 5), None);
        assert_eq!(find(b"ab", b"abc", 0), None);
    }

    #[test]
    fn replacement_at_text_start_skips_one_byte_like_falco() {
        // Falco: "l l" -> "a " + "l"; the search restarts one past the inserted blank, i.e. at "l"+1.
        let items = s(&["a"]);
        assert_eq!(expand_lists("l l", &[("l", &items)]), "a l");
        // Not at the start: the search resumes right at the remaining text.
        assert_eq!(expand_lists("(l l)", &[("l", &items)]), "( a a )");
    }
}
