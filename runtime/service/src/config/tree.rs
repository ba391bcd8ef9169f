//! A small YAML document model for falco.yaml, and Falco's `-o key=value` overrides applied to it.
//!
//! Scalars are kept as text and decoded when a key is read, the way Falco's YAML library does
//! (`yes`/`on`/`true` are all booleans), so a value given with `-o` behaves like the same value in the
//! file.

use kaudit_engine::settings::{parse_key_path, PathSeg};
use std::fmt;

/// One node of a configuration document. Map entries keep their file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Node {
    #[default]
    Null,
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// A location-carrying configuration error.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Node {
    /// Parses a YAML document (the first one of the text; an empty text is an empty map).
    pub fn parse_yaml(text: &str, origin: &str) -> Result<Node, ConfigError> {
        use saphyr::LoadableYamlNode;
        let docs = saphyr::Yaml::load_from_str(text)
            .map_err(|e| ConfigError(format!("{origin}: invalid YAML: {e}")))?;
        match docs.into_iter().next() {
            None => Ok(Node::Map(Vec::new())),
            Some(doc) => from_yaml(doc, origin),
        }
    }

    /// The child at a dotted path of map keys (`webserver.listen_port`).
    pub fn get(&self, path: &str) -> Option<&Node> {
        let mut cur = self;
        for key in path.split('.') {
            cur = cur.child(key)?;
        }
        Some(cur)
    }

    /// The value of a map key.
    pub fn child(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Map entries (empty for anything else).
    pub fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries) => entries,
            _ => &[],
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Scalar(_) => "a scalar",
            Node::Seq(_) => "a sequence",
            Node::Map(_) => "a map",
        }
    }

    /// Applies one `-o key=value` override (Falco's syntax): the key is a dotted path, `name[n]`
    /// addresses element n of a sequence, `name[]` appends a new element, and a backslash escapes a
    /// `.`, `[` or `]` that belongs to a key name. The value is read as YAML, so `-o x=[a,b]` sets a list.
    pub fn apply_override(&mut self, spec: &str) -> Result<(), ConfigError> {
        let (key, value) = split_override(spec)
            .ok_or_else(|| ConfigError(format!("-o {spec}: expected key=value")))?;
        let path = parse_key_path(key).map_err(|e| ConfigError(format!("-o {spec}: {e}")))?;
        if path.is_empty() {
            return Err(ConfigError(format!("-o {spec}: empty key")));
        }
        let value = override_value(value);
        set_path(self, &path, value).map_err(|e| ConfigError(format!("-o {spec}: {e}")))
    }
}

/// An override value: a YAML flow collection (`[a, b]`, `{k: v}`) or quoted scalar is read as YAML;
/// anything else is taken literally, so commands and URLs with `: ` or `#` survive as typed.
fn override_value(value: &str) -> Node {
    let v = value.trim();
    let yaml_like =
        v.starts_with('[') || v.starts_with('{') || v.starts_with('"') || v.starts_with('\'');
    if yaml_like {
        if let Ok(n) = Node::parse_yaml(v, "-o value") {
            return n;
        }
    }
    Node::Scalar(v.to_string())
}

fn from_yaml(y: saphyr::Yaml<'_>, origin: &str) -> Result<Node, ConfigError> {
    use saphyr::{Scalar, Yaml};
    Ok(match y {
        Yaml::Value(Scalar::Null) => Node::Null,
        Yaml::Value(Scalar::Boolean(b)) => Node::Scalar(b.to_string()),
        Yaml::Value(Scalar::Integer(i)) => Node::Scalar(i.to_string()),
        Yaml::Value(Scalar::FloatingPoint(f)) => Node::Scalar(f.into_inner().to_string()),
        Yaml::Value(Scalar::String(s)) => Node::Scalar(s.into_owned()),
        Yaml::Representation(s, _, _) => Node::Scalar(s.into_owned()),
        Yaml::Tagged(_, inner) => from_yaml(*inner, origin)?,
        Yaml::Sequence(items) => Node::Seq(
            items
                .into_iter()
                .map(|i| from_yaml(i, origin))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = match from_yaml(k, origin)? {
                    Node::Scalar(s) => s,
                    Node::Null => String::new(),
                    other => {
                        return Err(ConfigError(format!(
                            "{origin}: map keys must be scalars, found {}",
                            other.kind()
                        )))
                    }
                };
                entries.push((key, from_yaml(v, origin)?));
            }
            Node::Map(entries)
        }
        Yaml::Alias(_) => {
            return Err(ConfigError(format!(
                "{origin}: YAML aliases are not supported"
            )))
        }
        Yaml::BadValue => return Err(ConfigError(format!("{origin}: invalid YAML value"))),
    })
}

/// Splits at the first `=` that is not escaped.
fn split_override(spec: &str) -> Option<(&str, &str)> {
    let bytes = spec.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'\\') => i += 2,
            Some(b'=') => return Some((spec.get(..i)?, spec.get(i + 1..)?)),
            _ => i += 1,
        }
    }
    None
}

fn set_path(node: &mut Node, path: &[PathSeg], value: Node) -> Result<(), String> {
    let Some((step, rest)) = path.split_first() else {
        *node = value;
        return Ok(());
    };
    let next_is_seq = matches!(rest.first(), Some(PathSeg::Index(_) | PathSeg::Append));
    let fresh = || {
        if next_is_seq {
            Node::Seq(Vec::new())
        } else {
            Node::Map(Vec::new())
        }
    };
    match step {
        PathSeg::Key(k) => {
            if !matches!(node, Node::Map(_)) {
                if matches!(node, Node::Null) {
                    *node = Node::Map(Vec::new());
                } else {
                    return Err(format!("'{k}': parent is {}, not a map", node.kind()));
                }
            }
            let Node::Map(entries) = node else {
                return Err("internal: not a map".into());
            };
            let pos = match entries.iter().rposition(|(ek, _)| ek == k) {
                Some(p) => p,
                None => {
                    entries.push((k.clone(), fresh()));
                    entries.len() - 1
                }
            };
            match entries.get_mut(pos) {
                Some((_, child)) => set_path(child, rest, value),
                None => Err("internal: lost map entry".into()),
            }
        }
        PathSeg::Index(i) => {
            if matches!(node, Node::Null) {
                *node = Node::Seq(Vec::new());
            }
            let Node::Seq(items) = node else {
                return Err(format!("[{i}]: parent is {}, not a sequence", node.kind()));
            };
            // Falco grows the sequence up to the index.
            while items.len() <= *i {
                items.push(Node::Null);
            }
            match items.get_mut(*i) {
                Some(child) => set_path(child, rest, value),
                None => Err("internal: index out of range".into()),
            }
        }
        PathSeg::Append => {
            if matches!(node, Node::Null) {
                *node = Node::Seq(Vec::new());
            }
            let Node::Seq(items) = node else {
                return Err(format!("[]: parent is {}, not a sequence", node.kind()));
            };
            items.push(fresh_for(rest));
            match items.last_mut() {
                Some(child) => set_path(child, rest, value),
                None => Err("internal: empty sequence".into()),
            }
        }
    }
}

fn fresh_for(rest: &[PathSeg]) -> Node {
    match rest.first() {
        None => Node::Null,
        Some(PathSeg::Key(_)) => Node::Map(Vec::new()),
        Some(_) => Node::Seq(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(t: &str) -> Node {
        Node::parse_yaml(t, "test").unwrap()
    }

    #[test]
    fn parses_maps_sequences_and_scalars_as_text() {
        let n = doc("a: 1\nb: true\nc: [x, 'y']\nd:\n  e: ~\n");
        assert_eq!(n.get("a"), Some(&Node::Scalar("1".into())));
        assert_eq!(n.get("b"), Some(&Node::Scalar("true".into())));
        assert_eq!(
            n.get("c"),
            Some(&Node::Seq(vec![
                Node::Scalar("x".into()),
                Node::Scalar("y".into())
            ]))
        );
        assert_eq!(n.get("d.e"), Some(&Node::Null));
        assert_eq!(n.get("d.missing"), None);
    }

    #[test]
    fn invalid_yaml_is_an_error_naming_the_origin() {
        let e = Node::parse_yaml("a: [1, 2\n", "falco.yaml").unwrap_err();
        assert!(e.0.starts_with("falco.yaml: invalid YAML"), "{e}");
    }

    #[test]
    fn override_sets_nested_keys_and_creates_missing_maps() {
        let mut n = doc("webserver:\n  listen_port: 8765\n");
        n.apply_override("webserver.listen_port=9000").unwrap();
        n.apply_override("http_output.url=http://127.0.0.1:2801/")
            .unwrap();
        assert_eq!(
            n.get("webserver.listen_port"),
            Some(&Node::Scalar("9000".into()))
        );
        assert_eq!(
            n.get("http_output.url"),
            Some(&Node::Scalar("http://127.0.0.1:2801/".into()))
        );
    }

    #[test]
    fn override_indexes_and_appends_sequences() {
        let mut n =
            doc("plugins:\n  - name: k8saudit\n    open_params: 'http://:9765/k8s-audit'\n");
        n.apply_override("plugins[0].open_params=http://:7000/x")
            .unwrap();
        n.apply_override("rules[].disable.rule=Foo").unwrap();
        n.apply_override("rules[].enable.tag=bar").unwrap();
        let Some(Node::Seq(plugins)) = n.get("plugins") else {
            panic!("plugins")
        };
        assert_eq!(
            plugins[0].get("open_params"),
            Some(&Node::Scalar("http://:7000/x".into()))
        );
        let Some(Node::Seq(rules)) = n.get("rules") else {
            panic!("rules")
        };
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules[1].get("enable.tag"),
            Some(&Node::Scalar("bar".into()))
        );
    }

    #[test]
    fn override_value_is_yaml_and_key_escapes_work() {
        let mut n = Node::Map(Vec::new());
        n.apply_override("load_plugins=[k8saudit, json]").unwrap();
        n.apply_override(r"static_fields.a\.b=c=d").unwrap();
        n.apply_override("empty=").unwrap();
        n.apply_override(
            "program_output.program=jq '{text: .output}' | curl -H 'X: y' # no comment",
        )
        .unwrap();
        n.apply_override("quoted='a: b'").unwrap();
        assert_eq!(
            n.get("load_plugins"),
            Some(&Node::Seq(vec![
                Node::Scalar("k8saudit".into()),
                Node::Scalar("json".into())
            ]))
        );
        assert_eq!(
            n.child("static_fields").and_then(|s| s.child("a.b")),
            Some(&Node::Scalar("c=d".into()))
        );
        assert_eq!(n.get("empty"), Some(&Node::Scalar(String::new())));
        assert_eq!(
            n.get("program_output.program"),
            Some(&Node::Scalar(
                "jq '{text: .output}' | curl -H 'X: y' # no comment".into()
            ))
        );
        assert_eq!(n.get("quoted"), Some(&Node::Scalar("a: b".into())));
    }

    #[test]
    fn malformed_overrides_are_errors() {
        let mut n = doc("a: 1\n");
        assert!(n.apply_override("novalue").is_err());
        assert!(n.apply_override("a.b=1").is_err(), "a is a scalar");
        assert!(n.apply_override("x[abc]=1").is_err());
        assert!(n.apply_override("x[1=1").is_err());
        assert!(n.apply_override("=1").is_err());
    }
}
