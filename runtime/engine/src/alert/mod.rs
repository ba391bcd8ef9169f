//! Alerts: Falco's text line and JSON object for a rule match, byte-compatible with Falco 0.44
//! (docs/semantics.md#outputs). Values come from a callback, so any engine (and unit tests) can supply them;
//! `AlertFormat::format_event` uses the interpreter's value evaluation.

pub mod json;
pub mod object;
pub mod render;
pub mod text;
pub mod time;

use crate::engine::RuleMeta;
use crate::event::Event;
use crate::settings::Settings;
use crate::value::Values;
use kaudit_frontend::ir::ValueExpr;
pub use time::LocalZone;

/// How alerts are written (the alert-related subset of `Settings`, plus host name and zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFormat {
    pub json_output: bool,
    pub include_output: bool,
    pub include_tags: bool,
    pub include_message: bool,
    pub include_output_fields: bool,
    pub time_iso8601: bool,
    /// Text alerts only: escape control characters in values from the event (`\n`, `\u001b`, ...) so
    /// that one alert is one line. Off = Falco's raw text (`kaudit.raw_text_output`).
    pub escape_text: bool,
    /// The JSON `hostname` member.
    pub hostname: String,
    /// The zone of the text time prefix.
    pub zone: LocalZone,
}

impl AlertFormat {
    /// From run settings, with the host name Falco would use and the process's local zone.
    pub fn new(settings: &Settings) -> AlertFormat {
        AlertFormat {
            json_output: settings.json_output,
            include_output: settings.json_include_output_property,
            include_tags: settings.json_include_tags_property,
            include_message: settings.json_include_message_property,
            include_output_fields: settings.json_include_output_fields_property,
            time_iso8601: settings.time_format_iso_8601,
            escape_text: !settings.raw_text_output,
            hostname: hostname(),
            zone: LocalZone::System,
        }
    }

    /// Appends one alert line (JSON object or text line) plus `\n` for `rule` matching an event at
    /// `time_ns`; `values` yields the values of an output expression for that event.
    pub fn format_alert<'r, 'e>(
        &self,
        out: &mut Vec<u8>,
        rule: &'r RuleMeta,
        time_ns: u64,
        values: &mut dyn FnMut(&'r ValueExpr, &mut Values<'e>),
    ) {
        // Everything is written straight into `out`: no buffer is allocated per alert.
        let mut scratch = Values::new();
        if self.json_output {
            // The message and `output_fields` mostly name the same fields: each is evaluated once.
            let mut memo = Memo::new(values);
            let values = &mut |expr: &'r ValueExpr, vals: &mut Values<'e>| memo.eval(expr, vals);
            // JSON escapes everything itself: only the text line needs its values escaped.
            object::write_alert_object(out, self, rule, time_ns, values, &mut scratch);
        } else {
            text::write_line_start(out, time_ns, self.time_iso8601, self.zone, rule.priority);
            text::write_message(out, &rule.output, values, &mut scratch, self.escape_text);
        }
        out.push(b'\n');
    }

    /// `format_alert` with values evaluated from `ev` by the interpreter's evaluator.
    pub fn format_event<'e>(&self, out: &mut Vec<u8>, rule: &RuleMeta, ev: &'e Event<'e>) {
        let time_ns = ev.time_ns().unwrap_or(0);
        self.format_alert(out, rule, time_ns, &mut |expr, vals| {
            crate::interp::value::eval_value(ev, expr, vals)
        });
    }
}

/// Values already evaluated for one alert, by expression (an alert has a handful: a linear search).
struct Memo<'r, 'e, 'f> {
    values: &'f mut dyn FnMut(&'r ValueExpr, &mut Values<'e>),
    seen: smallvec::SmallVec<[(&'r ValueExpr, Values<'e>); 8]>,
}

impl<'r, 'e, 'f> Memo<'r, 'e, 'f> {
    fn new(values: &'f mut dyn FnMut(&'r ValueExpr, &mut Values<'e>)) -> Self {
        Memo {
            values,
            seen: smallvec::SmallVec::new(),
        }
    }

    /// Appends the values of `expr` to `out` (evaluating it the first time only).
    fn eval(&mut self, expr: &'r ValueExpr, out: &mut Values<'e>) {
        // Mostly the very same expression (one field named twice), so compare addresses first.
        let same = |e: &&'r ValueExpr| std::ptr::eq(*e, expr) || *e == expr;
        if let Some((_, v)) = self.seen.iter().find(|(e, _)| same(e)) {
            out.extend(v.iter().cloned());
            return;
        }
        let start = out.len();
        (self.values)(expr, out);
        let fresh = out.get(start..).unwrap_or_default();
        self.seen.push((expr, fresh.iter().cloned().collect()));
    }
}

/// `FALCO_HOSTNAME` if set (and not empty), else the system host name.
pub fn hostname() -> String {
    if let Some(h) = std::env::var("FALCO_HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
    {
        return h;
    }
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Val;
    use kaudit_frontend::catalog::FieldId;
    use kaudit_frontend::ir::{FieldArg, FieldRef, Output, OutputPart, Priority};
    use std::borrow::Cow;

    const T: u64 = 1_704_164_641_100_001_000;

    fn field(id: FieldId) -> ValueExpr {
        ValueExpr::Field(FieldRef {
            id,
            arg: FieldArg::None,
        })
    }

    fn rule(parts: Vec<OutputPart>, fields: Vec<(String, ValueExpr)>, tags: &[&str]) -> RuleMeta {
        RuleMeta {
            name: "r".into(),
            priority: Priority::Warning,
            source: "k8s_audit".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            output: Output {
                text: String::new(),
                parts,
                fields,
            },
            enabled: true,
        }
    }

    fn fmt(json: bool) -> AlertFormat {
        AlertFormat {
            json_output: json,
            include_output: true,
            include_tags: true,
            include_message: false,
            include_output_fields: true,
            time_iso8601: false,
            escape_text: false,
            hostname: "h".into(),
            zone: LocalZone::Utc,
        }
    }

    /// Values for a fake event: user name with special characters, groups `["", "a", ""]`, verb missing.
    fn fake<'e>(expr: &ValueExpr, out: &mut Values<'e>) {
        let ValueExpr::Field(f) = expr else { return };
        match f.id {
            FieldId::KaUserName => out.push(Val::Str(Cow::Borrowed(
                "new\nline\t\"q\" back\\slash café ctl\u{1} del\u{7f}",
            ))),
            FieldId::KaUserGroups => out.extend(["", "a", ""].map(|s| Val::Str(Cow::Borrowed(s)))),
            _ => {}
        }
    }

    fn user_rule() -> RuleMeta {
        rule(
            vec![
                OutputPart::Literal("user=".into()),
                OutputPart::Value {
                    expr: field(FieldId::KaUserName),
                    width: None,
                },
                OutputPart::Literal(" g=".into()),
                OutputPart::Value {
                    expr: field(FieldId::KaUserGroups),
                    width: None,
                },
                OutputPart::Literal(" v=".into()),
                OutputPart::Value {
                    expr: field(FieldId::KaVerb),
                    width: Some(6),
                },
            ],
            vec![
                ("ka.user.name".into(), field(FieldId::KaUserName)),
                ("ka.user.groups".into(), field(FieldId::KaUserGroups)),
                ("ka.verb".into(), field(FieldId::KaVerb)),
            ],
            &["z", "a", "z"],
        )
    }

    #[test]
    fn text_line_is_raw() {
        let mut out = Vec::new();
        fmt(false).format_alert(&mut out, &user_rule(), T, &mut fake);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "03:04:01.100001000: Warning user=new\nline\t\"q\" back\\slash café ctl\u{1} del\u{7f} g=(a,) v=<NA>  \n"
        );
    }

    #[test]
    fn escaped_text_line_keeps_one_alert_on_one_line() {
        let mut f = fmt(false);
        f.escape_text = true;
        let mut r = user_rule();
        // A newline of the rule's own output text is the rule author's and stays.
        r.output.parts.push(OutputPart::Literal("\nend".into()));
        let mut out = Vec::new();
        f.format_alert(&mut out, &r, T, &mut fake);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "03:04:01.100001000: Warning user=new\\nline\\t\"q\" back\\slash café ctl\\u0001 del\\u007f g=(a,) v=<NA>  \nend\n"
        );
        // JSON is unchanged by the setting.
        let mut j = fmt(true);
        let mut raw = Vec::new();
        j.format_alert(&mut raw, &user_rule(), T, &mut fake);
        j.escape_text = true;
        let mut escaped = Vec::new();
        j.format_alert(&mut escaped, &user_rule(), T, &mut fake);
        assert_eq!(raw, escaped);
    }

    #[test]
    fn json_object_matches_falco_layout() {
        let mut out = Vec::new();
        fmt(true).format_alert(&mut out, &user_rule(), T, &mut fake);
        let expected = concat!(
            r#"{"hostname":"h","output":"03:04:01.100001000: Warning user=new\nline\t\"q\" back\\slash café ctl\u0001 del"#,
            "\u{7f}",
            r#" g=(a,) v=<NA>  ","output_fields":{"evt.time":1704164641100001000,"ka.user.groups":["","a",""],"#,
            r#""ka.user.name":"new\nline\t\"q\" back\\slash café ctl\u0001 del"#,
            "\u{7f}",
            r#"","ka.verb":null},"priority":"Warning","rule":"r","source":"k8s_audit","tags":["a","z"],"#,
            r#""time":"2024-01-02T03:04:01.100001000Z"}"#,
            "\n"
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn optional_members_follow_settings() {
        let mut f = fmt(true);
        f.include_output = false;
        f.include_tags = false;
        f.include_output_fields = false;
        f.include_message = true;
        f.time_iso8601 = true;
        let r = rule(vec![OutputPart::Literal("x".into())], vec![], &[]);
        let mut out = Vec::new();
        f.format_alert(&mut out, &r, T, &mut fake);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"hostname\":\"h\",\"message\":\"x\",\"priority\":\"Warning\",\"rule\":\"r\",\"source\":\"k8s_audit\",\"time\":\"2024-01-02T03:04:01.100001000Z\"}\n"
        );
        f.include_output = true;
        f.include_output_fields = true;
        f.include_message = false;
        let mut out = Vec::new();
        f.format_alert(&mut out, &r, T, &mut fake);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("\"output\":\"2024-01-02T03:04:01.100001000+0000: Warning x\""),
            "{s}"
        );
        assert!(
            s.contains("\"output_fields\":{\"evt.time.iso8601\":1704164641100001000}"),
            "{s}"
        );
    }
}
