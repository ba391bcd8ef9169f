//! Test helpers: extract a field by name from JSON text.

use crate::event::Event;
use crate::value::{Val, Values};
use kaudit_frontend::catalog::{lookup, ArgKind};
use kaudit_frontend::ir::{FieldArg, FieldRef};

/// The `FieldRef` for `name[arg]` (panics on unknown names: tests only).
pub fn field(name: &str, arg: Option<&str>) -> FieldRef {
    let info = lookup(name).unwrap_or_else(|| panic!("unknown field {name}"));
    let arg = match (info.arg, arg) {
        (_, None) => FieldArg::None,
        (ArgKind::Index, Some(a)) => FieldArg::Index(a.parse().expect("index")),
        (_, Some(a)) => FieldArg::Key(a.to_string()),
    };
    FieldRef { id: info.id, arg }
}

/// Renders one value as text (numbers in decimal).
pub fn render(v: &Val<'_>) -> String {
    match v {
        Val::Str(s) => s.to_string(),
        Val::Num(n) => n.to_string(),
        Val::Bool(b) => b.to_string(),
    }
}

/// The values of `name[arg]` for the event `json`, as text (empty = missing).
pub fn vals(json: &str, name: &str, arg: Option<&str>) -> Vec<String> {
    let ev = Event::parse(json.as_bytes()).unwrap_or_else(|e| panic!("bad test event: {e}"));
    vals_of(&ev, name, arg)
}

/// Same as `vals` for an already parsed event.
pub fn vals_of(ev: &Event<'_>, name: &str, arg: Option<&str>) -> Vec<String> {
    let f = field(name, arg);
    let mut out = Values::new();
    super::extract(ev, &f, &mut out);
    out.iter().map(render).collect()
}
