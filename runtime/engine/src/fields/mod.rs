//! Field extraction: one extractor per catalog row, index-aligned with `kaudit_frontend::catalog::FieldId`.

pub mod extract;
pub mod generic;
pub mod json_plugin;
pub mod pod;
pub mod rbac;
#[cfg(test)]
pub(crate) mod testing;
pub mod time;
pub mod uri;
pub mod walk;

use crate::event::Event;
use crate::value::Values;
use kaudit_frontend::ir::{FieldArg, FieldRef};

/// An extractor: appends the field's values for `ev` to `out` (appending nothing = missing).
pub type ExtractFn = for<'e> fn(&'e Event<'e>, &FieldArg, &mut Values<'e>);

macro_rules! extractor_table {
    ($($variant:ident : $name:literal, $ty:ident, $list:ident, $arg:ident, $extractor:ident, $doc:literal;)*) => {
        /// Every extractor, indexed by `FieldId as usize`.
        pub static EXTRACTORS: &[ExtractFn] = &[$(extract::$extractor),*];
    };
}
kaudit_frontend::field_catalog!(extractor_table);

/// Extracts `field` from `ev` into `out` (cleared first). Empty `out` afterwards means missing.
pub fn extract<'e>(ev: &'e Event<'e>, field: &FieldRef, out: &mut Values<'e>) {
    out.clear();
    if let Some(f) = EXTRACTORS.get(field.id as usize) {
        f(ev, &field.arg, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_frontend::catalog::{ArgKind, FIELDS};

    fn arg_for(kind: ArgKind) -> FieldArg {
        match kind {
            ArgKind::None => FieldArg::None,
            ArgKind::Index => FieldArg::Index(0),
            ArgKind::Key => FieldArg::Key("/verb".into()),
        }
    }

    #[test]
    fn table_is_aligned_with_the_catalog() {
        assert_eq!(EXTRACTORS.len(), FIELDS.len());
    }

    #[test]
    fn every_ka_field_is_gated_on_audit_id() {
        let body = r#""kind":"Event","verb":"create","user":{"username":"u","groups":["g"]},"objectRef":{"resource":"pods","name":"p"},"requestObject":{"spec":{"containers":[{"name":"c","image":"i"}],"volumes":[{"hostPath":{"path":"/"}}]}},"stageTimestamp":"2024-01-02T03:04:05Z""#;
        let with = format!(r#"{{"auditID":"a",{body}}}"#);
        let without = format!("{{{body}}}");
        let (ev_with, ev_without) = (
            Event::parse(with.as_bytes()).unwrap(),
            Event::parse(without.as_bytes()).unwrap(),
        );
        let mut present = 0;
        for f in FIELDS {
            let r = FieldRef {
                id: f.id,
                arg: arg_for(f.arg),
            };
            let mut out = Values::new();
            extract(&ev_without, &r, &mut out);
            if f.name.starts_with("ka.") {
                assert!(out.is_empty(), "{} without auditID", f.name);
                extract(&ev_with, &r, &mut out);
                present += usize::from(!out.is_empty());
            }
        }
        assert!(
            present > 10,
            "only {present} ka.* fields present on the rich event"
        );
    }

    #[test]
    fn odd_shapes_never_panic() {
        let odd = [
            r#"{"auditID":1,"requestObject":[],"responseObject":"x","user":[],"objectRef":null,"annotations":5}"#,
            r#"{"auditID":null,"requestObject":{"spec":{"containers":{"a":1},"volumes":"v","ports":7,"securityContext":[]},"rules":[[],{"verbs":{}}],"subjects":[1,"s",null]}}"#,
            r#"{"auditID":"x","requestObject":{"spec":{"containers":[null,1,[],{"securityContext":null,"ports":[null,1]}]}}}"#,
            r#"{"auditID":"x","requestURI":"%","stageTimestamp":"junk"}"#,
            r#"{}"#,
        ];
        for json in odd {
            let ev = Event::parse(json.as_bytes()).unwrap();
            for f in FIELDS {
                for arg in [
                    FieldArg::None,
                    FieldArg::Index(0),
                    FieldArg::Index(u64::MAX),
                    FieldArg::Key(String::new()),
                    FieldArg::Key("/a/0/~".into()),
                ] {
                    let mut out = Values::new();
                    extract(&ev, &FieldRef { id: f.id, arg }, &mut out);
                }
            }
        }
    }
}
