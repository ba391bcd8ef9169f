//! The rule-test file format (see docs/rule-tests.md), parsed with positions.
//!
//! ```yaml
//! fixtures:                      # optional: named base events
//!   pod: {kind: Event, verb: create, ...}
//! defaults:                      # optional: settings for every test of the file
//!   rule_matching: all
//! tests:
//!   - name: privileged pod alerts
//!     events:
//!       - {fixture: pod, set: {/requestObject/spec/containers/0/securityContext/privileged: true}}
//!     expect:
//!       alerts:
//!         - rule: Create Privileged Pod
//!           count: 1
//!           priority: WARNING
//!           output_contains: "images=[nginx]"
//!       no_alerts: [Create HostNetwork Pod]
//! ```
//! Unknown keys are errors (a misspelt `no_alert:` must not make a test pass vacuously).

use crate::event;
use kaudit_engine::engine::RuleMatching;
use kaudit_frontend::yaml::{self, Node};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A value with the line it was written on (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub line: u32,
    pub value: T,
}

/// One evaluated event: its JSON text and where it came from (`file:line`).
#[derive(Debug, Clone, PartialEq)]
pub struct TestEvent {
    pub origin: String,
    pub json: String,
}

/// Run settings of a test (file defaults merged in).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestSettings {
    pub rule_matching: Option<At<RuleMatching>>,
    /// `-o key=value` overrides, in order.
    pub options: Vec<At<String>>,
    /// Extra rule files loaded after the base rules (paths relative to the test file).
    pub rules: Vec<At<PathBuf>>,
    /// Extra rule text loaded after those files.
    pub rules_text: Vec<At<String>>,
}

impl TestSettings {
    /// Whether the test needs more rules than the base set (then it runs on the interpreter).
    pub fn has_extra_rules(&self) -> bool {
        !self.rules.is_empty() || !self.rules_text.is_empty()
    }
}

/// What one rule's alerts must look like.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertExpect {
    pub line: u32,
    pub rule: String,
    /// Exactly this many alerts (default: at least one).
    pub count: Option<At<u64>>,
    pub priority: Option<At<String>>,
    /// The whole rendered output (the message, without time and priority).
    pub output: Option<At<String>>,
    pub output_contains: Vec<At<String>>,
    /// `output_fields` members that must have these values.
    pub fields: Vec<At<(String, Value)>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    pub alerts: Vec<AlertExpect>,
    pub no_alerts: Vec<At<String>>,
    /// No rule other than those under `alerts` may alert.
    pub only: Option<At<bool>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub name: String,
    pub line: u32,
    pub events: Vec<TestEvent>,
    pub settings: TestSettings,
    pub expect: Expect,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    pub path: String,
    pub tests: Vec<TestCase>,
}

/// A malformed test file: what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub line: u32,
    pub message: String,
}

type R<T> = Result<T, SpecError>;

fn err<T>(node: &Node, message: impl Into<String>) -> R<T> {
    Err(SpecError {
        line: node.span.line,
        message: message.into(),
    })
}

/// Largest test file or events file read (they are written by hand; this bounds a mistaken path).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Reads and parses a test file.
pub fn load(path: &Path) -> R<TestFile> {
    let text = read_bounded(path).map_err(|message| SpecError { line: 0, message })?;
    parse(&text, path)
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{}: larger than {} MiB",
            path.display(),
            MAX_FILE_BYTES >> 20
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses test-file text; `path` names it in origins and anchors relative paths.
pub fn parse(text: &str, path: &Path) -> R<TestFile> {
    let docs = yaml::parse(text, 0).map_err(|e| SpecError {
        line: e.span.line,
        message: e.message,
    })?;
    let Some(root) = docs.iter().find(|d| !d.is_null()) else {
        return Ok(TestFile {
            path: path.display().to_string(),
            tests: Vec::new(),
        });
    };
    let ctx = Ctx {
        path,
        dir: path.parent().unwrap_or(Path::new("")),
    };
    check_keys(root, &["fixtures", "defaults", "tests"])?;
    let mut fixtures: Vec<(String, Value)> = Vec::new();
    if let Some(f) = root.get("fixtures") {
        let Some(pairs) = f.as_map() else {
            return err(f, "`fixtures` must map names to events");
        };
        for (k, v) in pairs {
            fixtures.push((k.key_text(), ctx.event_value(v, &fixtures)?));
        }
    }
    let defaults = match root.get("defaults") {
        Some(d) => ctx.settings(d, &["rule_matching", "options", "rules", "rules_text"])?,
        None => TestSettings::default(),
    };
    let Some(tests) = root.get("tests") else {
        return err(root, "a test file needs a `tests:` list");
    };
    let Some(items) = tests.as_seq() else {
        return err(tests, "`tests` must be a list");
    };
    let mut out = Vec::new();
    for t in items {
        let case = ctx.test(t, &fixtures, &defaults)?;
        if out.iter().any(|o: &TestCase| o.name == case.name) {
            return err(t, format!("two tests are named `{}`", case.name));
        }
        out.push(case);
    }
    Ok(TestFile {
        path: path.display().to_string(),
        tests: out,
    })
}

fn check_keys(node: &Node, allowed: &[&str]) -> R<()> {
    let Some(pairs) = node.as_map() else {
        return err(
            node,
            format!("expected a mapping with keys {}", allowed.join(", ")),
        );
    };
    for (k, _) in pairs {
        let key = k.key_text();
        if !allowed.contains(&key.as_str()) {
            return err(
                k,
                format!(
                    "unknown key `{key}` (expected one of: {})",
                    allowed.join(", ")
                ),
            );
        }
    }
    Ok(())
}

fn scalar<'n>(node: &'n Node, what: &str) -> R<&'n str> {
    node.as_scalar()
        .map_or_else(|| err(node, format!("`{what}` must be a string")), Ok)
}

/// A scalar or a list of scalars.
fn strings(node: &Node, what: &str) -> R<Vec<At<String>>> {
    match node.as_seq() {
        Some(items) => items
            .iter()
            .map(|i| {
                Ok(At {
                    line: i.span.line,
                    value: scalar(i, what)?.to_string(),
                })
            })
            .collect(),
        None => Ok(vec![At {
            line: node.span.line,
            value: scalar(node, what)?.to_string(),
        }]),
    }
}

struct Ctx<'a> {
    path: &'a Path,
    dir: &'a Path,
}

impl Ctx<'_> {
    fn origin(&self, line: u32) -> String {
        format!("{}:{line}", self.path.display())
    }

    /// An event: a mapping, or `{fixture: NAME, set: {POINTER: VALUE}, remove: [POINTER]}`.
    fn event_value(&self, node: &Node, fixtures: &[(String, Value)]) -> R<Value> {
        let Some(fixture) = node.get("fixture") else {
            if node.as_map().is_none() {
                return err(
                    node,
                    "an event must be a mapping (or `fixture:` with edits)",
                );
            }
            return Ok(event::to_json(node));
        };
        check_keys(node, &["fixture", "set", "remove"])?;
        let name = scalar(fixture, "fixture")?;
        let Some((_, base)) = fixtures.iter().find(|(n, _)| n == name) else {
            let known: Vec<&str> = fixtures.iter().map(|(n, _)| n.as_str()).collect();
            return err(
                fixture,
                format!("no fixture named `{name}` (defined: {})", known.join(", ")),
            );
        };
        let mut v = base.clone();
        if let Some(set) = node.get("set") {
            let Some(pairs) = set.as_map() else {
                return err(set, "`set` must map JSON pointers to values");
            };
            for (k, val) in pairs {
                if let Err(m) = event::set(&mut v, &k.key_text(), event::to_json(val)) {
                    return err(k, m);
                }
            }
        }
        if let Some(rm) = node.get("remove") {
            for p in strings(rm, "remove")? {
                if let Err(m) = event::remove(&mut v, &p.value) {
                    return Err(SpecError {
                        line: p.line,
                        message: m,
                    });
                }
            }
        }
        Ok(v)
    }

    fn settings(&self, node: &Node, allowed: &[&str]) -> R<TestSettings> {
        check_keys(node, allowed)?;
        self.settings_of(node)
    }

    fn settings_of(&self, node: &Node) -> R<TestSettings> {
        let mut s = TestSettings::default();
        if let Some(m) = node.get("rule_matching") {
            let value = match scalar(m, "rule_matching")? {
                "first" => RuleMatching::First,
                "all" => RuleMatching::All,
                other => {
                    return err(
                        m,
                        format!("rule_matching must be `first` or `all`, not `{other}`"),
                    )
                }
            };
            s.rule_matching = Some(At {
                line: m.span.line,
                value,
            });
        }
        if let Some(o) = node.get("options") {
            s.options = strings(o, "options")?;
        }
        if let Some(r) = node.get("rules") {
            s.rules = strings(r, "rules")?
                .into_iter()
                .map(|a| At {
                    line: a.line,
                    value: self.dir.join(a.value),
                })
                .collect();
        }
        if let Some(t) = node.get("rules_text") {
            s.rules_text = vec![At {
                line: t.span.line,
                value: scalar(t, "rules_text")?.to_string(),
            }];
        }
        Ok(s)
    }

    fn test(
        &self,
        node: &Node,
        fixtures: &[(String, Value)],
        defaults: &TestSettings,
    ) -> R<TestCase> {
        check_keys(
            node,
            &[
                "name",
                "events",
                "events_file",
                "rule_matching",
                "options",
                "rules",
                "rules_text",
                "expect",
            ],
        )?;
        let Some(name) = node.get("name") else {
            return err(node, "a test needs a `name`");
        };
        let name = scalar(name, "name")?.to_string();
        let mut events = Vec::new();
        if let Some(list) = node.get("events") {
            let items: Vec<&Node> = match list.as_seq() {
                Some(items) => items.iter().collect(),
                None => vec![list],
            };
            for e in items {
                let v = self.event_value(e, fixtures)?;
                events.push(TestEvent {
                    origin: self.origin(e.span.line),
                    json: v.to_string(),
                });
            }
        }
        if let Some(f) = node.get("events_file") {
            let path = self.dir.join(scalar(f, "events_file")?);
            let text = read_bounded(&path).or_else(|m| err(f, m))?;
            for (i, line) in text.lines().enumerate() {
                if !line.trim().is_empty() {
                    events.push(TestEvent {
                        origin: format!("{}:{}", path.display(), i + 1),
                        json: line.to_string(),
                    });
                }
            }
        }
        if events.is_empty() {
            return err(
                node,
                format!("test `{name}` has no events (give `events` or `events_file`)"),
            );
        }
        let own = self.settings_of(node)?;
        let settings = TestSettings {
            rule_matching: own.rule_matching.or_else(|| defaults.rule_matching.clone()),
            options: [defaults.options.clone(), own.options].concat(),
            rules: [defaults.rules.clone(), own.rules].concat(),
            rules_text: [defaults.rules_text.clone(), own.rules_text].concat(),
        };
        let Some(exp) = node.get("expect") else {
            return err(node, format!("test `{name}` has no `expect`"));
        };
        Ok(TestCase {
            name,
            line: node.span.line,
            events,
            settings,
            expect: expect(exp)?,
        })
    }
}

fn expect(node: &Node) -> R<Expect> {
    check_keys(node, &["alerts", "no_alerts", "only"])?;
    let mut e = Expect::default();
    if let Some(a) = node.get("alerts") {
        let Some(items) = a.as_seq() else {
            return err(
                a,
                "`alerts` must be a list of rule names or `{rule: NAME, ...}`",
            );
        };
        for i in items {
            e.alerts.push(alert_expect(i)?);
        }
    }
    if let Some(n) = node.get("no_alerts") {
        e.no_alerts = strings(n, "no_alerts")?;
    }
    if let Some(o) = node.get("only") {
        let Some(b) = o.as_scalar().and_then(yaml::decode_bool) else {
            return err(o, "`only` must be true or false");
        };
        e.only = Some(At {
            line: o.span.line,
            value: b,
        });
    }
    if e.alerts.is_empty() && e.no_alerts.is_empty() && e.only.is_none() {
        return err(
            node,
            "`expect` says nothing (give `alerts`, `no_alerts` or `only`)",
        );
    }
    Ok(e)
}

fn alert_expect(node: &Node) -> R<AlertExpect> {
    if let Some(rule) = node.as_scalar() {
        return Ok(AlertExpect {
            line: node.span.line,
            rule: rule.to_string(),
            count: None,
            priority: None,
            output: None,
            output_contains: Vec::new(),
            fields: Vec::new(),
        });
    }
    check_keys(
        node,
        &[
            "rule",
            "count",
            "priority",
            "output",
            "output_contains",
            "fields",
        ],
    )?;
    let Some(rule) = node.get("rule") else {
        return err(node, "an alert expectation needs `rule`");
    };
    let at = |n: &Node, v: String| At {
        line: n.span.line,
        value: v,
    };
    let mut a = AlertExpect {
        line: rule.span.line,
        rule: scalar(rule, "rule")?.to_string(),
        count: None,
        priority: None,
        output: None,
        output_contains: Vec::new(),
        fields: Vec::new(),
    };
    if let Some(c) = node.get("count") {
        let Some(n) = c.as_scalar().and_then(|t| t.parse::<u64>().ok()) else {
            return err(c, "`count` must be a whole number");
        };
        a.count = Some(At {
            line: c.span.line,
            value: n,
        });
    }
    if let Some(p) = node.get("priority") {
        a.priority = Some(at(p, scalar(p, "priority")?.to_string()));
    }
    if let Some(o) = node.get("output") {
        a.output = Some(at(o, scalar(o, "output")?.to_string()));
    }
    if let Some(c) = node.get("output_contains") {
        a.output_contains = strings(c, "output_contains")?;
    }
    if let Some(f) = node.get("fields") {
        let Some(pairs) = f.as_map() else {
            return err(f, "`fields` must map output field names to values");
        };
        for (k, v) in pairs {
            a.fields.push(At {
                line: k.span.line,
                value: (k.key_text(), event::to_json(v)),
            });
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(src: &str) -> R<TestFile> {
        parse(src, Path::new("t/tests.yaml"))
    }

    #[test]
    fn a_full_file_parses_with_lines_and_merged_defaults() {
        let src = "\
fixtures:
  base: {kind: Event, verb: get, user: {username: alice}}
defaults:
  rule_matching: all
  options: [priority=debug]
tests:
  - name: one
    options: [json_output=true]
    events:
      - {fixture: base, set: {/verb: create}, remove: [/user]}
      - {kind: Event, verb: delete}
    expect:
      alerts:
        - A
        - rule: B
          count: 2
          fields: {ka.verb: create}
      no_alerts: [C, D]
      only: true
";
        let f = parse_str(src).unwrap();
        let t = &f.tests[0];
        assert_eq!((t.name.as_str(), t.line), ("one", 7));
        assert_eq!(t.events[0].json, r#"{"kind":"Event","verb":"create"}"#);
        assert_eq!(t.events[0].origin, "t/tests.yaml:10");
        assert_eq!(
            t.settings.rule_matching.as_ref().map(|m| m.value),
            Some(RuleMatching::All)
        );
        let opts: Vec<&str> = t
            .settings
            .options
            .iter()
            .map(|o| o.value.as_str())
            .collect();
        assert_eq!(opts, ["priority=debug", "json_output=true"]);
        assert_eq!(t.expect.alerts[0].rule, "A");
        assert_eq!(t.expect.alerts[1].line, 15);
        assert_eq!(t.expect.alerts[1].count.as_ref().map(|c| c.value), Some(2));
        assert_eq!(t.expect.no_alerts[1].value, "D");
        assert_eq!(
            t.expect.only.as_ref().map(|o| (o.line, o.value)),
            Some((19, true))
        );
    }

    #[test]
    fn misspelt_keys_and_empty_expectations_are_errors_with_lines() {
        let e = parse_str(
            "tests:\n  - name: x\n    events: [{a: 1}]\n    expect:\n      no_alert: [A]\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 5);
        assert!(
            e.message.contains("unknown key `no_alert`"),
            "{}",
            e.message
        );
        let e =
            parse_str("tests:\n  - name: x\n    events: [{a: 1}]\n    expect: {}\n").unwrap_err();
        assert!(e.message.contains("says nothing"), "{}", e.message);
        let e = parse_str("tests:\n  - name: x\n    expect: {only: true}\n").unwrap_err();
        assert!(e.message.contains("no events"), "{}", e.message);
        let e = parse_str(
            "tests:\n  - name: x\n    events: [{fixture: nope}]\n    expect: {only: true}\n",
        )
        .unwrap_err();
        assert!(
            e.message.contains("no fixture named `nope`"),
            "{}",
            e.message
        );
    }
}
