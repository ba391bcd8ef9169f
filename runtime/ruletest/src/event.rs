//! Test events written in YAML, turned into the JSON text the engines read.
//!
//! A plain YAML scalar is typed as YAML 1.2's core schema does (`true`, `12`, `~`), a quoted one is
//! always a string, so `code: 201` is a number and `name: "201"` a string, as in the audit JSON.
//! Fixtures (named base events) are edited with JSON pointers (RFC 6901): `set` replaces or adds a
//! member (creating missing objects on the way), `remove` deletes one.

use kaudit_frontend::yaml::{Node, NodeKind};
use serde_json::{Map, Number, Value};

/// A YAML node as JSON. Mapping keys are taken as strings; duplicate keys keep the last value.
pub fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Scalar { text, quoted } => {
            if *quoted {
                Value::String(text.clone())
            } else {
                plain_scalar(text)
            }
        }
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(pairs) => {
            let mut m = Map::new();
            for (k, v) in pairs {
                m.insert(k.key_text(), to_json(v));
            }
            Value::Object(m)
        }
    }
}

/// YAML 1.2 core-schema resolution of a plain scalar.
fn plain_scalar(t: &str) -> Value {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = t.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = t.parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    let looks_float = digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_float {
        if let Some(n) = t.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(t.to_string())
}

/// The reference tokens of a JSON pointer (`/a/b~1c` → `a`, `b/c`); `Err` if it does not start with `/`.
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!(
            "`{pointer}` is not a JSON pointer (it must start with `/`)"
        ));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// Sets the member at `pointer`, creating objects for missing members on the way. In an array the last
/// token is an index (the element is replaced) or `-` (appended).
pub fn set(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let toks = tokens(pointer)?;
    let Some((last, path)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    let mut cur = doc;
    for t in path {
        cur = match cur {
            Value::Object(m) => m
                .entry(t.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            Value::Array(a) => {
                let i = index(t, a.len(), pointer)?;
                a.get_mut(i)
                    .ok_or_else(|| format!("`{pointer}`: no element {i}"))?
            }
            _ => return Err(format!("`{pointer}`: `{t}` is inside a scalar")),
        };
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) if last == "-" => a.push(value),
        Value::Array(a) => {
            let i = index(last, a.len(), pointer)?;
            if let Some(slot) = a.get_mut(i) {
                *slot = value;
            }
        }
        _ => return Err(format!("`{pointer}`: `{last}` is inside a scalar")),
    }
    Ok(())
}

/// Removes the member at `pointer` (an error if it is absent, so a stale edit is noticed).
pub fn remove(doc: &mut Value, pointer: &str) -> Result<(), String> {
    let toks = tokens(pointer)?;
    let Some((last, path)) = toks.split_last() else {
        return Err("cannot remove the whole event".into());
    };
    let mut cur = doc;
    for t in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => index(t, a.len(), pointer).ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("`{pointer}`: no member `{t}`"))?;
    }
    let removed = match cur {
        Value::Object(m) => m.remove(last).is_some(),
        Value::Array(a) => match index(last, a.len(), pointer) {
            Ok(i) => {
                a.remove(i);
                true
            }
            Err(_) => false,
        },
        _ => false,
    };
    if removed {
        Ok(())
    } else {
        Err(format!("`{pointer}`: nothing to remove"))
    }
}

fn index(t: &str, len: usize, pointer: &str) -> Result<usize, String> {
    match t.parse::<usize>() {
        Ok(i) if i < len => Ok(i),
        _ => Err(format!(
            "`{pointer}`: `{t}` is not an index of an array of {len}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(src: &str) -> Value {
        let docs = kaudit_frontend::yaml::parse(src, 0).expect("test YAML parses");
        to_json(&docs[0])
    }

    #[test]
    fn plain_scalars_are_typed_and_quoted_ones_are_strings() {
        let v = yaml("a: 201\nb: \"201\"\nc: true\nd: 'true'\ne: ~\nf: -3\ng: 1.5\nh: 2024-01-01T00:00:00Z\ni: system:anonymous\n");
        assert_eq!(
            v,
            json!({"a": 201, "b": "201", "c": true, "d": "true", "e": null, "f": -3, "g": 1.5,
                   "h": "2024-01-01T00:00:00Z", "i": "system:anonymous"})
        );
    }

    #[test]
    fn set_creates_members_and_replaces_or_appends_array_elements() {
        let mut v = json!({"spec": {"containers": [{"image": "a"}]}});
        set(&mut v, "/spec/containers/0/image", json!("b")).unwrap();
        set(&mut v, "/spec/containers/-", json!({"image": "c"})).unwrap();
        set(&mut v, "/spec/hostNetwork", json!(true)).unwrap();
        set(&mut v, "/metadata/a~1b", json!(1)).unwrap();
        assert_eq!(
            v,
            json!({"spec": {"containers": [{"image": "b"}, {"image": "c"}], "hostNetwork": true},
                   "metadata": {"a/b": 1}})
        );
        assert!(set(&mut v, "/spec/containers/5/image", json!(1)).is_err());
        assert!(set(&mut v, "spec", json!(1)).is_err());
    }

    #[test]
    fn remove_deletes_or_reports_a_stale_pointer() {
        let mut v = json!({"a": {"b": 1}, "l": [1, 2]});
        remove(&mut v, "/a/b").unwrap();
        remove(&mut v, "/l/0").unwrap();
        assert_eq!(v, json!({"a": {}, "l": [2]}));
        assert!(remove(&mut v, "/a/b").is_err());
        assert!(remove(&mut v, "/x/y").is_err());
    }
}
