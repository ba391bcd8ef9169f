//! The bodies of kaudit's fuzz targets (one thin binary per target in `fuzz_targets/`). Each takes
//! untrusted input the way kaudit receives it and must not panic; `condition` also checks that printing
//! a parsed condition gives text that parses back to the same tree.

#![forbid(unsafe_code)]

use kaudit_engine::alert::{AlertFormat, LocalZone};
use kaudit_engine::engine::{Engine, Plan, RuleMatching};
use kaudit_engine::event::Event;
use kaudit_engine::ingest::{split_document, DEFAULT_MAX_EVENT_SIZE};
use kaudit_engine::interp::Interpreter;
use kaudit_frontend::ir::Priority;
use kaudit_codegen as codegen;
use kaudit_frontend::{cond, load};

/// The checks every event goes through, shared with the runtime's property test.
#[path = "../../runtime/engine/tests/exercise/mod.rs"]
mod exercise;

/// `event_fields`: a document (event, EventList or array) → every event → every extractor with every
/// argument kind, transformers, operators and renderers.
pub fn event_fields(data: &[u8]) {
    if let Ok(split) = split_document(data, DEFAULT_MAX_EVENT_SIZE) {
        for ev in &split.events {
            exercise::exercise_event(ev, exercise::Depth::Fields);
        }
    }
    // Events the splitter drops (no time, too large) still reach `Event::parse` alone.
    if let Ok(ev) = Event::parse(data) {
        exercise::exercise_event(&ev, exercise::Depth::Fields);
    }
}

/// `webhook_body`: a POST body through the webhook's splitter, then each accepted range parsed as the
/// evaluation workers parse it.
pub fn webhook_body(data: &[u8]) {
    // A small limit too, so that the size check is reached by short inputs.
    for max in [DEFAULT_MAX_EVENT_SIZE, 64] {
        let Ok(split) = kaudit_service::server::split::split(data, max) else {
            continue;
        };
        for range in split.ranges() {
            let raw = data
                .get(range)
                .expect("the splitter's ranges lie inside the body");
            let ev = Event::parse(raw).expect("the splitter only keeps events that parse");
            assert!(
                ev.time_ns().is_some(),
                "the splitter kept an event without a time"
            );
            assert!(
                ev.compact_text().len() <= max,
                "the splitter kept an oversized event"
            );
        }
    }
}

/// A small valid rule file the `rule_loader` input is appended to (overrides, appends and exceptions
/// in the fuzzed file then have something to refer to).
const BASE_RULES: &str = r#"
- required_engine_version: 15
- list: verbs
  items: [create, update, "patch"]
- macro: writes
  condition: ka.verb in (verbs)
- rule: write to secrets
  desc: d
  condition: writes and ka.target.resource = secrets and not ka.user.name startswith "system:"
  output: "%ka.user.name %ka.verb %ka.uri.param[x] %ka.req.pod.containers.image[0] %jevt.value[/verb]"
  priority: WARNING
  source: k8s_audit
  tags: [k8s]
  exceptions:
  - name: admins
    fields: [ka.user.name, ka.user.groups]
    comps: [=, intersects]
    values: [[admin, [system:masters]]]
"#;

/// An event the loaded rules are evaluated (and their outputs rendered) on.
const EVENT: &str = r#"{"kind":"Event","auditID":"a","verb":"create","requestURI":"/api/v1/namespaces/n/secrets?x=1","user":{"username":"u","groups":["g"]},"objectRef":{"resource":"secrets","namespace":"n","name":"s"},"requestObject":{"spec":{"containers":[{"image":"i:1"}]}},"stageTimestamp":"2024-01-02T03:04:05Z"}"#;

/// `rule_loader`: the input as a rule file alone and after `BASE_RULES`; a loaded rule set is
/// interpreted (every rule on `EVENT`, outputs rendered) and compiled to Rust tokens.
pub fn rule_loader(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let alone = load::load_sources(&[("fuzz.yaml", text.as_ref())]);
    let after = load::load_sources(&[("base.yaml", BASE_RULES), ("fuzz.yaml", text.as_ref())]);
    for res in [alone, after] {
        assert_eq!(
            res.is_ok(),
            res.errors().next().is_none(),
            "a rule set exactly when there is no error"
        );
        let _ = res.render();
        let Some(ruleset) = &res.ruleset else {
            continue;
        };
        let _ = codegen::generate(ruleset);
        let Ok(interp) = Interpreter::new(ruleset) else {
            continue;
        };
        let Ok(ev) = Event::parse(EVENT.as_bytes()) else {
            panic!("the fixed event parses");
        };
        let plan = Plan::new(interp.rules(), RuleMatching::All, Priority::Debug);
        let mut matched = Vec::new();
        interp.eval(&ev, &plan, &mut |i| matched.push(i));
        for json_output in [false, true] {
            let format = AlertFormat {
                json_output,
                include_output: true,
                include_tags: true,
                include_message: true,
                include_output_fields: true,
                time_iso8601: false,
                escape_text: true,
                hostname: "fuzz".into(),
                zone: LocalZone::Utc,
            };
            let mut out = Vec::new();
            for rule in interp.rules() {
                format.format_event(&mut out, rule, &ev);
            }
        }
    }
}

/// `condition`: text → parse → print → parse gives the same tree (offsets aside).
pub fn condition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut tree) = cond::parse(text) else {
        return;
    };
    let printed = cond::print(&tree);
    let mut again = match cond::parse(&printed) {
        Ok(t) => t,
        Err(e) => {
            panic!("printed condition does not parse: {e}\n input: {text:?}\n printed: {printed:?}")
        }
    };
    cond::erase_offsets(&mut tree);
    cond::erase_offsets(&mut again);
    assert_eq!(tree, again, "input: {text:?}\nprinted: {printed:?}");
}
