//! The json plugin's fields (`json.*` and their legacy `jevt.*` names), docs/semantics.md#json-fields. No auditID gate.

use crate::event::Event;
use crate::value::{Val, Values};
use kaudit_frontend::ir::FieldArg;
use std::borrow::Cow;

/// `json.value[ptr]`: the value at a JSON pointer (leading `/` optional, `~1` → `/` then `~0` → `~`);
/// an empty pointer gives the whole event as compact JSON.
pub fn json_value<'e>(ev: &'e Event<'e>, arg: &FieldArg, out: &mut Values<'e>) {
    let FieldArg::Key(ptr) = arg else { return };
    if ptr.is_empty() {
        out.push(Val::Str(ev.compact_text()));
        return;
    }
    let ptr = ptr.strip_prefix('/').unwrap_or(ptr);
    let mut tokens = ptr.split('/').map(unescape_token);
    let Some(first) = tokens.next() else { return };
    // Holds the tape of an untaped subtree (`managedFields`) if the pointer leads into one; inside it
    // everything is taped, so one is enough.
    let retaped = std::cell::OnceCell::new();
    let Some(mut node) = ev.member(&first) else {
        return;
    };
    for t in tokens {
        if node.is_untaped() {
            let Some(tape) = retaped.get_or_init(|| node.retape()).as_deref() else {
                return;
            };
            match crate::json::Node::new(node.source(), tape, 0) {
                Some(n) => node = n,
                None => return,
            }
        }
        match node.step(&t) {
            Some(n) => node = n,
            None => return,
        }
    }
    out.push(Val::Str(node.text()));
}

fn unescape_token(t: &str) -> Cow<'_, str> {
    if t.contains('~') {
        Cow::Owned(t.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(t)
    }
}

/// `json.obj`: the event re-indented with two spaces, as Go's `json.Indent` prints it.
pub fn json_obj<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    out.push(Val::Str(Cow::Owned(indent(&ev.compact_text()))));
}

/// `json.rawtime`: the event time in ns as decimal text.
pub fn json_rawtime<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    if let Some(ns) = ev.time_ns() {
        out.push(Val::Str(Cow::Owned(ns.to_string())));
    }
}

/// Indents compact JSON: a newline and two spaces per level before each member/element, `": "` after
/// keys, empty containers kept as `{}`/`[]`.
pub fn indent(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut need_indent = false;
    let mut in_str = false;
    let mut esc = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    for c in compact.chars() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if matches!(c, ' ' | '\n' | '\r' | '\t') {
            continue;
        }
        if need_indent && c != '}' && c != ']' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                need_indent = true;
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            '}' | ']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::fields::testing::vals;

    const EV: &str = r#"{"kind":"Event","auditID":"ev-1","a/b":{"~1":"tilde-one","x~y":2},"arr":[10,{"k":"v"}],"dup":1,"dup":2,"":"empty-key","requestObject":{"spec":{"x":[true]}},"stageTimestamp":"2024-01-02T03:04:05.123456789Z"}"#;

    #[test]
    fn pointers() {
        assert_eq!(vals(EV, "json.value", Some("/kind")), vec!["Event"]);
        assert_eq!(
            vals(EV, "jevt.value", Some("kind")),
            vec!["Event"],
            "leading slash optional"
        );
        assert_eq!(vals(EV, "json.value", Some("/a~1b/~01")), vec!["tilde-one"]);
        assert_eq!(vals(EV, "json.value", Some("/a~1b/x~0y")), vec!["2"]);
        assert_eq!(vals(EV, "json.value", Some("/arr/1/k")), vec!["v"]);
        assert_eq!(
            vals(EV, "json.value", Some("/arr/01")),
            vec![r#"{"k":"v"}"#]
        );
        assert_eq!(vals(EV, "json.value", Some("/arr/-0")), vec!["10"]);
        assert!(vals(EV, "json.value", Some("/arr/-1")).is_empty());
        assert!(vals(EV, "json.value", Some("/arr/2")).is_empty());
        assert_eq!(
            vals(EV, "json.value", Some("/arr")),
            vec![r#"[10,{"k":"v"}]"#]
        );
        assert_eq!(vals(EV, "json.value", Some("/dup")), vec!["1"]);
        assert_eq!(vals(EV, "json.value", Some("/")), vec!["empty-key"]);
        assert_eq!(
            vals(EV, "json.value", Some("/requestObject/spec/x/0")),
            vec!["true"]
        );
        assert!(vals(EV, "json.value", Some("/kind/x")).is_empty());
        assert!(vals(EV, "json.value", Some("/nope")).is_empty());
        assert_eq!(vals(EV, "json.value", Some("")), vec![EV.to_string()]);
    }

    #[test]
    fn pointers_reach_into_untaped_managed_fields() {
        let ev = r#"{"auditID":"x","requestObject":{"metadata":{"name":"n","managedFields":[{"manager":"kubectl","fieldsV1":{"f:spec":{ }}},{"manager":"kcm"}]}},"managedFields":{"top":[1]}}"#;
        for (ptr, want) in [
            ("/requestObject/metadata/managedFields/0/manager", "kubectl"),
            ("/requestObject/metadata/managedFields/1/manager", "kcm"),
            (
                "/requestObject/metadata/managedFields/0/fieldsV1",
                r#"{"f:spec":{}}"#,
            ),
            (
                "/requestObject/metadata/managedFields/0/fieldsV1/f:spec",
                "{}",
            ),
            ("/requestObject/metadata/name", "n"),
            ("/managedFields/top/0", "1"),
        ] {
            assert_eq!(vals(ev, "json.value", Some(ptr)), vec![want], "{ptr}");
        }
        assert_eq!(
            vals(
                ev,
                "jevt.value",
                Some("/requestObject/metadata/managedFields")
            ),
            vec![r#"[{"manager":"kubectl","fieldsV1":{"f:spec":{}}},{"manager":"kcm"}]"#]
        );
        assert!(vals(
            ev,
            "json.value",
            Some("/requestObject/metadata/managedFields/2")
        )
        .is_empty());
        assert!(vals(
            ev,
            "json.value",
            Some("/requestObject/metadata/managedFields/0/x")
        )
        .is_empty());
    }

    #[test]
    fn rawtime_is_decimal_text() {
        assert_eq!(vals(EV, "jevt.rawtime", None), vec!["1704164645123456789"]);
        assert_eq!(vals(EV, "json.rawtime", None), vec!["1704164645123456789"]);
    }

    #[test]
    fn obj_is_go_indented() {
        let ev = r#"{"kind":"Event","auditID":"ev-1","user":{"username":"u"},"e":{},"l":[],"n":[1,"a:b, {c}"]}"#;
        assert_eq!(
            vals(ev, "jevt.obj", None),
            vec!["{\n  \"kind\": \"Event\",\n  \"auditID\": \"ev-1\",\n  \"user\": {\n    \"username\": \"u\"\n  },\n  \"e\": {},\n  \"l\": [],\n  \"n\": [\n    1,\n    \"a:b, {c}\"\n  ]\n}"]
        );
    }
}
