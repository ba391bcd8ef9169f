//! The path walk upstream uses for per-item fields (docs/semantics.md#ka-field-extraction), and helpers shared by
//! the extractors.
//!
//! `walk` reproduces the plugin's recursive walk: before each path component, an array reached is
//! expanded (every element walks the rest of the path; an element lacking it yields a `None`
//! placeholder) — or, with an index filter, replaced by its element N (out of range: not available).
//! An array reached as the final value is not expanded.

use crate::event::{Event, Top};
use crate::json::Node;
use crate::value::{Val, Values};
use kaudit_frontend::ir::FieldArg;

/// Marker for "the walk could not reach the path" (upstream's not-available error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAvailable;

/// One walk result per reached item; `None` marks an expanded element that lacks the rest of the path.
pub type Reached<'t, 'a> = Vec<Option<Node<'t, 'a>>>;

/// Walks `keys` from `node`; an empty key stays on the current value.
pub fn walk<'t, 'a>(
    node: Node<'t, 'a>,
    filter: Option<usize>,
    keys: &[&str],
    out: &mut Reached<'t, 'a>,
) -> Result<(), NotAvailable> {
    let mut cur = node;
    for (i, k) in keys.iter().enumerate() {
        if cur.is_array() {
            match filter {
                None => {
                    for el in cur.elements() {
                        if walk(el, None, keys.get(i..).unwrap_or(&[]), out).is_err() {
                            out.push(None);
                        }
                    }
                    return Ok(());
                }
                Some(n) => cur = cur.at(n).ok_or(NotAvailable)?,
            }
        }
        if !k.is_empty() {
            cur = cur.step(k).ok_or(NotAvailable)?;
        }
    }
    out.push(Some(cur));
    Ok(())
}

/// Walks `keys` starting at the top-level member `top` of the event.
pub fn walk_top<'e, 'a>(
    ev: &'e Event<'a>,
    top: Top,
    filter: Option<usize>,
    keys: &[&str],
) -> Result<Reached<'e, 'a>, NotAvailable> {
    let start = ev.top(top).ok_or(NotAvailable)?;
    let mut out = Vec::new();
    walk(start, filter, keys, &mut out)?;
    Ok(out)
}

/// The index filter of an optional index argument (key arguments are not indexes: no filter).
pub fn index_filter(arg: &FieldArg) -> Option<usize> {
    match arg {
        // An index beyond usize is necessarily out of range: map it to an index no array has.
        FieldArg::Index(n) => Some(usize::try_from(*n).unwrap_or(usize::MAX)),
        _ => None,
    }
}

/// Appends the text of the value at a plain path below a top-level member (single-value fields).
pub fn push_path<'e>(ev: &'e Event<'e>, top: Top, keys: &[&str], out: &mut Values<'e>) {
    if let Some(n) = ev.top(top).and_then(|n| n.path(keys)) {
        out.push(Val::Str(n.text()));
    }
}

/// Appends the text of every element of the array at a plain path (list fields read with a plain
/// path); a non-array value gives nothing.
pub fn push_array_path<'e>(ev: &'e Event<'e>, top: Top, keys: &[&str], out: &mut Values<'e>) {
    if let Some(n) = ev.top(top).and_then(|n| n.path(keys)) {
        out.extend(n.elements().map(|e| Val::Str(e.text())));
    }
}

/// Appends the text of every reached value, skipping placeholders.
pub fn push_reached<'e>(reached: &Reached<'e, 'e>, out: &mut Values<'e>) {
    out.extend(reached.iter().flatten().map(|n| Val::Str(n.text())));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reached_texts(
        json: &str,
        filter: Option<usize>,
        keys: &[&str],
    ) -> Result<Vec<Option<String>>, NotAvailable> {
        let ev = Event::parse(json.as_bytes()).unwrap();
        let r = walk_top(&ev, Top::RequestObject, filter, keys)?;
        Ok(r.iter().map(|n| n.map(|n| n.text().into_owned())).collect())
    }

    const POD: &str = r#"{"requestObject":{"spec":{"containers":[{"image":"a","ports":[{"p":1}]},{"name":"n"},{"image":null}]}}}"#;

    #[test]
    fn expands_arrays_with_placeholders() {
        assert_eq!(
            reached_texts(POD, None, &["spec", "containers", "image"]).unwrap(),
            vec![Some("a".into()), None, Some("null".into())]
        );
    }

    #[test]
    fn index_filter_selects_one_element() {
        assert_eq!(
            reached_texts(POD, Some(1), &["spec", "containers", "name"]).unwrap(),
            vec![Some("n".into())]
        );
        assert_eq!(
            reached_texts(POD, Some(0), &["spec", "containers", "name"]),
            Err(NotAvailable)
        );
        assert_eq!(
            reached_texts(POD, Some(3), &["spec", "containers", "image"]),
            Err(NotAvailable)
        );
    }

    #[test]
    fn final_array_is_one_value() {
        assert_eq!(
            reached_texts(POD, None, &["spec", "containers", "ports"]).unwrap(),
            vec![Some(r#"[{"p":1}]"#.into()), None, None]
        );
    }

    #[test]
    fn missing_intermediate_is_not_available() {
        assert_eq!(
            reached_texts(POD, None, &["spec", "volumes", "x"]),
            Err(NotAvailable)
        );
        assert_eq!(
            reached_texts(r#"{"x":1}"#, None, &["spec"]),
            Err(NotAvailable)
        );
    }
}
