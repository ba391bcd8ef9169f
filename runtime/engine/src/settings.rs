//! Run settings shared by `replay` and the webhook (docs/semantics.md#selection-and-evaluation-order, #json-alerts,
//! #configuration), and Falco's `-o key=value` override syntax for them.
//!
//! `Settings` is a plain struct with Falco's code defaults. `apply_override("key=value")` parses one `-o`
//! argument into a key path (`a.b`, `list[2]`, `list[]` to append; `\.` and `\[` escape) and a value, and
//! hands them to `Settings::set`. Extending it (webserver, outputs, ...): add fields, then match more paths in
//! `set` — it returns `Ok(false)` for a key it does not know, so a wrapper can try its own keys first and
//! fall back to this one (or the other way round). `plan` turns the engine's rules plus these settings into
//! the evaluation `Plan` (minimum priority, `rules:` selections, re-enable order).

use crate::engine::{Plan, RuleMatching, RuleMeta};
use kaudit_frontend::ir::Priority;
use std::fmt;

/// Everything a run needs to decide which rules run and how alerts look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub rule_matching: RuleMatching,
    /// `priority`: rules less severe than this are not loaded at all.
    pub min_priority: Priority,
    pub json_output: bool,
    pub json_include_output_property: bool,
    pub json_include_tags_property: bool,
    pub json_include_message_property: bool,
    pub json_include_output_fields_property: bool,
    pub time_format_iso_8601: bool,
    /// The `rules:` list, in order. `None` marks an index no override has filled (`rules[3]` set before
    /// `rules[2]`); such holes are ignored.
    pub rule_selections: Vec<Option<RuleSelection>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rule_matching: RuleMatching::First,
            min_priority: Priority::Debug,
            json_output: false,
            json_include_output_property: true,
            json_include_tags_property: true,
            json_include_message_property: false,
            json_include_output_fields_property: true,
            time_format_iso_8601: false,
            rule_selections: Vec::new(),
        }
    }
}

/// One entry of falco.yaml's `rules:` list: `- enable: {rule: "A*"}` or `- disable: {tag: k8s}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleSelection {
    pub enable: bool,
    /// Rule-name pattern; only `*` is special (see `matches_wildcard`).
    pub rule: Option<String>,
    pub tag: Option<String>,
}

/// A malformed or unsupported `-o` override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub key: String,
    pub msg: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "option '{}': {}", self.key, self.msg)
    }
}

impl std::error::Error for SettingsError {}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
    /// `key[]`: append a new element.
    Append,
}

/// Splits `key=value` (at the first `=`) and parses the key into path segments.
pub fn parse_override(arg: &str) -> Result<(Vec<PathSeg>, String), SettingsError> {
    let err = |msg: &str| SettingsError {
        key: arg.to_string(),
        msg: msg.to_string(),
    };
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| err("expected key=value"))?;
    let path = parse_key_path(key).map_err(|m| err(&m))?;
    if path.is_empty() {
        return Err(err("empty key"));
    }
    Ok((path, unquote_yaml_scalar(value.trim())))
}

/// `a.b[0].c` → `[Key(a), Key(b), Index(0), Key(c)]`; a backslash makes the next character literal.
pub fn parse_key_path(key: &str) -> Result<Vec<PathSeg>, String> {
    let mut path = Vec::new();
    let mut cur = String::new();
    let mut chars = key.chars().peekable();
    let mut after_bracket = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => cur.push(n),
                None => return Err("key ends with a backslash".into()),
            },
            '.' => {
                if !cur.is_empty() {
                    path.push(PathSeg::Key(std::mem::take(&mut cur)));
                } else if !after_bracket {
                    return Err("empty key segment".into());
                }
                after_bracket = false;
            }
            '[' => {
                if !cur.is_empty() {
                    path.push(PathSeg::Key(std::mem::take(&mut cur)));
                }
                let mut idx = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some(d) => idx.push(d),
                        None => return Err("unbalanced '['".into()),
                    }
                }
                if idx.is_empty() {
                    path.push(PathSeg::Append);
                } else {
                    let n = idx
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| format!("bad list index '{idx}'"))?;
                    path.push(PathSeg::Index(n));
                }
                after_bracket = true;
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        path.push(PathSeg::Key(cur));
    }
    Ok(path)
}

/// Falco parses `-o` values as YAML; for the scalars these keys take, that means stripping one level of
/// matching quotes.
fn unquote_yaml_scalar(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

/// YAML 1.1 booleans as yaml-cpp accepts them (docs/semantics.md#scalar-values).
pub fn parse_bool(v: &str) -> Option<bool> {
    const TRUE: &[&str] = &["y", "yes", "true", "on"];
    const FALSE: &[&str] = &["n", "no", "false", "off"];
    let lower = v.to_ascii_lowercase();
    let spelled_ok = v == lower || v == v.to_ascii_uppercase() || {
        let mut cs = v.chars();
        let capital = cs.next().is_some_and(|c| c.is_ascii_uppercase());
        capital && cs.as_str() == cs.as_str().to_ascii_lowercase()
    };
    if !spelled_ok {
        return None;
    }
    if TRUE.contains(&lower.as_str()) {
        Some(true)
    } else if FALSE.contains(&lower.as_str()) {
        Some(false)
    } else {
        None
    }
}

impl Settings {
    /// Applies one Falco `-o key=value` override.
    pub fn apply_override(&mut self, arg: &str) -> Result<(), SettingsError> {
        let (path, value) = parse_override(arg)?;
        match self.set(&path, &value) {
            Ok(true) => Ok(()),
            Ok(false) => Err(SettingsError {
                key: arg.to_string(),
                msg: "unknown or unsupported key".into(),
            }),
            Err(msg) => Err(SettingsError {
                key: arg.to_string(),
                msg,
            }),
        }
    }

    /// Sets the key at `path` to the scalar `value`. `Ok(false)`: not a key of this struct.
    pub fn set(&mut self, path: &[PathSeg], value: &str) -> Result<bool, String> {
        let bool_val = || parse_bool(value).ok_or_else(|| format!("'{value}' is not a boolean"));
        let [PathSeg::Key(first), rest @ ..] = path else {
            return Ok(false);
        };
        match (first.as_str(), rest) {
            ("rule_matching", []) => {
                self.rule_matching = match value.to_ascii_lowercase().as_str() {
                    "first" => RuleMatching::First,
                    "all" => RuleMatching::All,
                    _ => {
                        return Err(format!(
                            "rule_matching must be 'first' or 'all', not '{value}'"
                        ))
                    }
                }
            }
            ("priority", []) => {
                self.min_priority =
                    Priority::parse(value).ok_or_else(|| format!("invalid priority '{value}'"))?
            }
            ("json_output", []) => self.json_output = bool_val()?,
            ("json_include_output_property", []) => self.json_include_output_property = bool_val()?,
            ("json_include_tags_property", []) => self.json_include_tags_property = bool_val()?,
            ("json_include_message_property", []) => {
                self.json_include_message_property = bool_val()?
            }
            ("json_include_output_fields_property", []) => {
                self.json_include_output_fields_property = bool_val()?
            }
            ("time_format_iso_8601", []) => self.time_format_iso_8601 = bool_val()?,
            ("rules", [slot, PathSeg::Key(op), PathSeg::Key(what)]) => {
                let enable = match op.as_str() {
                    "enable" => true,
                    "disable" => false,
                    _ => {
                        return Err(format!(
                            "rules entries take 'enable' or 'disable', not '{op}'"
                        ))
                    }
                };
                let idx = match slot {
                    PathSeg::Index(i) => *i,
                    PathSeg::Append => self.rule_selections.len(),
                    PathSeg::Key(_) => {
                        return Err("rules is a list: use rules[N] or rules[]".into())
                    }
                };
                if self.rule_selections.len() <= idx {
                    self.rule_selections.resize(idx + 1, None);
                }
                let Some(cell) = self.rule_selections.get_mut(idx) else {
                    return Err(format!("rules[{idx}] is past the end of the list"));
                };
                let sel = cell.get_or_insert_with(RuleSelection::default);
                sel.enable = enable;
                match what.as_str() {
                    "rule" => sel.rule = Some(value.to_string()),
                    "tag" => sel.tag = Some(value.to_string()),
                    _ => {
                        return Err(format!(
                            "a rules selection matches by 'rule' or 'tag', not '{what}'"
                        ))
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Adds a `rules:` selection at the end (for config-file loaders).
    pub fn push_selection(&mut self, sel: RuleSelection) {
        self.rule_selections.push(Some(sel));
    }

    /// The evaluation plan for `rules` (docs/semantics.md#selection-and-evaluation-order): `k8s_audit` rules at or
    /// above the minimum priority; initially the ones enabled in the files, in load order; then each selection in
    /// order disables matching rules or appends newly enabled ones at the end (so re-enabled rules move last).
    pub fn plan(&self, rules: &[RuleMeta]) -> Plan {
        let loaded = |r: &RuleMeta| r.source == "k8s_audit" && r.priority <= self.min_priority;
        let mut order: Vec<usize> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| loaded(r) && r.enabled)
            .map(|(i, _)| i)
            .collect();
        for sel in self.rule_selections.iter().flatten() {
            let hit = |r: &RuleMeta| {
                sel.rule
                    .as_deref()
                    .is_some_and(|p| matches_wildcard(p, &r.name))
                    || sel
                        .tag
                        .as_deref()
                        .is_some_and(|t| r.tags.iter().any(|x| x == t))
            };
            if sel.enable {
                for (i, r) in rules.iter().enumerate() {
                    if loaded(r) && hit(r) && !order.contains(&i) {
                        order.push(i);
                    }
                }
            } else {
                order.retain(|&i| !rules.get(i).is_some_and(hit));
            }
        }
        Plan {
            order,
            matching: self.rule_matching,
        }
    }
}

/// Falco's rule-name wildcard: only `*` is special, and the matcher never backtracks — after a `*` the next
/// literal run is matched at its first occurrence.
pub fn matches_wildcard(pattern: &str, s: &str) -> bool {
    let Some(star) = pattern.find('*') else {
        return pattern == s;
    };
    if star > 0 {
        return s.get(..star) == Some(&pattern[..star])
            && matches_wildcard(&pattern[star..], &s[star..]);
    }
    let rest = pattern.trim_start_matches('*');
    if rest.is_empty() {
        return true;
    }
    let literal = &rest[..rest.find('*').unwrap_or(rest.len())];
    match s.find(literal) {
        Some(at) => matches_wildcard(&rest[literal.len()..], &s[at + literal.len()..]),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_frontend::ir::Output;

    fn meta(name: &str, prio: Priority, enabled: bool, tags: &[&str]) -> RuleMeta {
        RuleMeta {
            name: name.into(),
            priority: prio,
            source: "k8s_audit".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            output: Output::default(),
            enabled,
        }
    }

    #[test]
    fn overrides_set_scalar_keys() {
        let mut s = Settings::default();
        s.apply_override("rule_matching=all").unwrap();
        s.apply_override("priority=INFO").unwrap();
        s.apply_override("json_output=true").unwrap();
        s.apply_override("json_include_tags_property=False")
            .unwrap();
        s.apply_override("time_format_iso_8601=yes").unwrap();
        s.apply_override("json_include_message_property=\"on\"")
            .unwrap();
        assert_eq!(s.rule_matching, RuleMatching::All);
        assert_eq!(s.min_priority, Priority::Informational);
        assert!(s.json_output && !s.json_include_tags_property && s.time_format_iso_8601);
        assert!(s.json_include_message_property);
    }

    #[test]
    fn overrides_reject_bad_values_and_unknown_keys() {
        let mut s = Settings::default();
        assert!(s.apply_override("rule_matching=some").is_err());
        assert!(s.apply_override("priority=loud").is_err());
        // Falco's spellings only (the same parser as rule files): no `warn` alias.
        assert!(s.apply_override("priority=warn").is_err());
        assert!(s.apply_override("json_output=tRUE").is_err());
        assert!(s.apply_override("no_such_key=1").is_err());
        assert!(s.apply_override("json_output").is_err());
        assert!(s.apply_override("rules[x].enable.rule=a").is_err());
        assert!(s.apply_override("rules[0].toggle.rule=a").is_err());
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn overrides_build_rule_selections() {
        let mut s = Settings::default();
        s.apply_override("rules[1].enable.rule=B").unwrap();
        s.apply_override("rules[0].disable.rule=*").unwrap();
        s.apply_override("rules[].disable.tag=k8s").unwrap();
        let sels: Vec<_> = s.rule_selections.iter().flatten().cloned().collect();
        assert_eq!(
            sels,
            vec![
                RuleSelection {
                    enable: false,
                    rule: Some("*".into()),
                    tag: None
                },
                RuleSelection {
                    enable: true,
                    rule: Some("B".into()),
                    tag: None
                },
                RuleSelection {
                    enable: false,
                    rule: None,
                    tag: Some("k8s".into())
                },
            ]
        );
    }

    #[test]
    fn key_paths_honour_escapes() {
        assert_eq!(
            parse_key_path(r"a\.b[2].c[]").unwrap(),
            vec![
                PathSeg::Key("a.b".into()),
                PathSeg::Index(2),
                PathSeg::Key("c".into()),
                PathSeg::Append
            ]
        );
        assert!(parse_key_path("a[1").is_err());
    }

    #[test]
    fn wildcard_is_non_backtracking() {
        assert!(matches_wildcard("*", "anything"));
        assert!(matches_wildcard("K8s*", "K8s Secret Created"));
        assert!(matches_wildcard("*Secret*", "K8s Secret Created"));
        assert!(matches_wildcard("A*C", "ABC"));
        assert!(!matches_wildcard("A*C", "ABD"));
        assert!(!matches_wildcard("exact", "exactly"));
        // The literal after `*` is taken at its first occurrence: no retry at the later "abc".
        assert!(!matches_wildcard("*abc", "xabcabc"));
        assert!(matches_wildcard("*abc", "xxabc"));
    }

    #[test]
    fn plan_filters_priority_and_reorders_reenabled_rules() {
        let rules = vec![
            meta("A", Priority::Warning, true, &["k8s"]),
            meta("B", Priority::Notice, true, &["other"]),
            meta("C", Priority::Warning, false, &["k8s"]),
            meta("D", Priority::Debug, true, &[]),
        ];
        let mut s = Settings::default();
        assert_eq!(s.plan(&rules).order, vec![0, 1, 3]);

        s.apply_override("priority=notice").unwrap();
        assert_eq!(s.plan(&rules).order, vec![0, 1]);
        // A rule below the minimum priority cannot be re-enabled.
        s.apply_override("rules[0].enable.rule=D").unwrap();
        assert_eq!(s.plan(&rules).order, vec![0, 1]);

        let mut s = Settings::default();
        for o in [
            "rules[0].disable.rule=*",
            "rules[1].enable.rule=B",
            "rules[2].enable.rule=A",
        ] {
            s.apply_override(o).unwrap();
        }
        assert_eq!(s.plan(&rules).order, vec![1, 0]);

        let mut s = Settings::default();
        s.apply_override("rules[0].disable.tag=k8s").unwrap();
        assert_eq!(s.plan(&rules).order, vec![1, 3]);
        s.apply_override("rules[1].enable.tag=k8s").unwrap();
        assert_eq!(s.plan(&rules).order, vec![1, 3, 0, 2]);
    }
}
