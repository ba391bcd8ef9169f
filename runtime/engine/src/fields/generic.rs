//! Generic `evt.*` fields on `k8s_audit` events (docs/semantics.md#evt-fields). No auditID gate.

use super::time;
use crate::event::Event;
use crate::value::{Val, Values};
use kaudit_frontend::ir::FieldArg;
use std::borrow::Cow;
use std::sync::OnceLock;

const NS: u64 = 1_000_000_000;

/// `evt.num`: the event's sequence number.
pub fn evt_num<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    out.push(Val::Num(ev.num()));
}

macro_rules! time_text_fields {
    ($($name:ident => $fmt:path;)*) => {$(
        pub fn $name<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
            if let Some(ns) = ev.time_ns() {
                out.push(Val::Str(Cow::Owned($fmt(ns))));
            }
        }
    )*};
}

time_text_fields! {
    evt_time => time::time_text;
    evt_time_s => time::time_s_text;
    evt_time_iso8601 => time::iso8601_text;
    evt_datetime => time::datetime_text;
    evt_datetime_s => time::datetime_s_text;
}

macro_rules! time_num_fields {
    ($($name:ident => |$ns:ident, $ev:ident| $e:expr;)*) => {$(
        pub fn $name<'e>($ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
            if let Some($ns) = $ev.time_ns() {
                out.push(Val::Num($e));
            }
        }
    )*};
}

time_num_fields! {
    evt_rawtime => |ns, ev| ns;
    evt_rawtime_s => |ns, ev| ns / NS;
    evt_rawtime_ns => |ns, ev| ns % NS;
    evt_reltime => |ns, ev| reltime(ev, ns);
    evt_reltime_s => |ns, ev| reltime(ev, ns) / NS;
    evt_reltime_ns => |ns, ev| reltime(ev, ns) % NS;
}

fn reltime(ev: &Event<'_>, ns: u64) -> u64 {
    ns.saturating_sub(ev.first_time_ns().unwrap_or(ns))
}

/// `evt.pluginname`: always `k8saudit`.
pub fn evt_pluginname<'e>(_ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    out.push(Val::Str(Cow::Borrowed("k8saudit")));
}

/// `evt.plugininfo`: the event JSON as stored (compact).
pub fn evt_plugininfo<'e>(ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    out.push(Val::Str(ev.compact_text()));
}

/// `evt.source`: always `k8s_audit`.
pub fn evt_source<'e>(_ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    out.push(Val::Str(Cow::Borrowed("k8s_audit")));
}

/// `evt.is_async`: audit events are never asynchronous.
pub fn evt_is_async<'e>(_ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    out.push(Val::Bool(false));
}

/// `evt.asynctype`: missing (audit events are not asynchronous).
pub fn evt_asynctype<'e>(_ev: &'e Event<'e>, _arg: &FieldArg, _out: &mut Values<'e>) {}

/// `evt.hostname`: `FALCO_HOSTNAME` if set, else the kernel's host name.
pub fn evt_hostname<'e>(_ev: &'e Event<'e>, _arg: &FieldArg, out: &mut Values<'e>) {
    out.push(Val::Str(Cow::Borrowed(hostname())));
}

/// The host name, read once.
pub fn hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::env::var("FALCO_HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use crate::event::Event;
    use crate::fields::testing::{vals, vals_of};

    const EV: &str =
        r#"{"kind":"Event", "auditID":"ev-1","stageTimestamp":"2024-01-02T03:04:05.123456789Z"}"#;

    #[test]
    fn time_fields() {
        let mut ev = Event::parse(EV.as_bytes()).unwrap();
        ev.set_num(7);
        ev.set_first_time_ns(1_704_164_640_000_000_000);
        assert_eq!(vals_of(&ev, "evt.num", None), vec!["7"]);
        assert_eq!(
            vals_of(&ev, "evt.rawtime", None),
            vec!["1704164645123456789"]
        );
        assert_eq!(vals_of(&ev, "evt.rawtime.s", None), vec!["1704164645"]);
        assert_eq!(vals_of(&ev, "evt.rawtime.ns", None), vec!["123456789"]);
        assert_eq!(vals_of(&ev, "evt.reltime", None), vec!["5123456789"]);
        assert_eq!(vals_of(&ev, "evt.reltime.s", None), vec!["5"]);
        assert_eq!(vals_of(&ev, "evt.reltime.ns", None), vec!["123456789"]);
        assert_eq!(
            vals_of(&ev, "evt.time.iso8601", None),
            vec!["2024-01-02T03:04:05.123456789+0000"]
        );
        assert_eq!(vals_of(&ev, "evt.time", None).len(), 1);
        if std::env::var("TZ").as_deref() == Ok("UTC") {
            assert_eq!(vals_of(&ev, "evt.time", None), vec!["03:04:05.123456789"]);
            assert_eq!(vals_of(&ev, "evt.time.s", None), vec!["03:04:05"]);
            assert_eq!(
                vals_of(&ev, "evt.datetime", None),
                vec!["2024-01-02 03:04:05.123456789"]
            );
            assert_eq!(
                vals_of(&ev, "evt.datetime.s", None),
                vec!["2024-01-02 03:04:05"]
            );
        }
    }

    #[test]
    fn constant_fields() {
        assert_eq!(vals(EV, "evt.source", None), vec!["k8s_audit"]);
        assert_eq!(vals(EV, "evt.pluginname", None), vec!["k8saudit"]);
        assert_eq!(vals(EV, "evt.is_async", None), vec!["false"]);
        assert!(vals(EV, "evt.asynctype", None).is_empty());
        assert_eq!(
            vals(EV, "evt.plugininfo", None),
            vec![EV.replace(", ", ",")]
        );
        assert_eq!(vals(EV, "evt.hostname", None).len(), 1);
        assert_eq!(
            vals(EV, "evt.reltime", None),
            vec!["0"],
            "first event: reltime 0"
        );
    }

    #[test]
    fn no_time_no_time_fields() {
        let ev = r#"{"auditID":"x"}"#;
        for f in [
            "evt.time",
            "evt.rawtime",
            "evt.datetime",
            "evt.reltime",
            "jevt.rawtime",
        ] {
            assert!(vals(ev, f, None).is_empty(), "{f}");
        }
    }
}
