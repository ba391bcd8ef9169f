//! Which engine evaluates events: the rules compiled into the binary at build time (the default), or
//! rule files given at run time with `-r`, loaded and interpreted.
//!
//! The compiled rules are the `*.yaml` files under `rules/` (or `KAUDIT_RULES`), chosen by `build.rs`
//! and turned into native code by `compile_rules!()`.

use kaudit_engine::engine::Engine;
use kaudit_frontend::diag::{code, Diagnostic};
use kaudit_frontend::load::{load_files, load_sources, LoadResult};
use std::path::PathBuf;
use std::sync::Arc;

mod compiled {
    kaudit_macros::compile_rules!();
}

/// The compiled engine as an owned trait object (it is a zero-sized handle).
pub fn compiled_box() -> Box<dyn Engine> {
    Box::new(compiled::CompiledRules)
}

/// The compiled engine for sharing between threads.
pub fn compiled_arc() -> Arc<dyn Engine> {
    Arc::new(compiled::CompiledRules)
}

/// The built-in rule files as compiled in: (name, text), in load order.
pub fn builtin_sources() -> &'static [(&'static str, &'static str)] {
    compiled::RULE_SOURCES
}

/// Loads rule files given at run time, after the built-in ones when `with_builtin` is set.
pub fn load_rules(files: &[PathBuf], with_builtin: bool) -> LoadResult {
    if !with_builtin {
        return load_files(files);
    }
    let mut sources: Vec<(String, String)> = builtin_sources()
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    for f in files {
        match std::fs::read_to_string(f) {
            Ok(text) => sources.push((f.display().to_string(), text)),
            Err(e) => {
                let msg = format!("Could not open file {} for reading: {e}", f.display());
                return LoadResult {
                    diagnostics: vec![Diagnostic::error(code::FILE_READ, msg)],
                    ..LoadResult::default()
                };
            }
        }
    }
    load_sources(&sources)
}

/// The rule files (name, text) a command works on: the compiled-in files first when `files` is empty or
/// `with_builtin` is set, then `files` in order.
pub fn rule_sources(
    files: &[PathBuf],
    with_builtin: bool,
) -> Result<Vec<(String, String)>, String> {
    let mut sources: Vec<(String, String)> = if files.is_empty() || with_builtin {
        builtin_sources()
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    } else {
        Vec::new()
    };
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        sources.push((f.display().to_string(), text));
    }
    Ok(sources)
}

/// Says once, on stderr, that run-time rule files replace the compiled-in rules.
pub fn announce_interpreted(files: &[PathBuf], with_builtin: bool) {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let builtin = if with_builtin {
        "the built-in rules plus "
    } else {
        ""
    };
    eprintln!(
        "kaudit: interpreting {builtin}rule files loaded at run time ({}) instead of the compiled-in rules",
        names.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_engine::engine::{Plan, RuleMatching};
    use kaudit_engine::event::Event;
    use kaudit_engine::interp::Interpreter;

    #[test]
    fn compiled_rules_are_the_built_in_sources() {
        let res = load_sources(builtin_sources());
        let ruleset = res.ruleset.unwrap_or_default();
        let names: Vec<&str> = ruleset.rules.iter().map(|r| r.name.as_str()).collect();
        let engine = compiled_box();
        let compiled: Vec<&str> = engine.rules().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, compiled);
    }

    #[test]
    fn compiled_engine_agrees_with_the_interpreter_on_a_conformance_like_event() {
        let Some(ruleset) = load_sources(builtin_sources()).ruleset else {
            return;
        };
        let Ok(interp) = Interpreter::new(&ruleset) else {
            panic!("built-in rules do not interpret")
        };
        let ev = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete",
            "verb":"create","user":{"username":"system:anonymous","groups":["system:unauthenticated"]},
            "objectRef":{"resource":"namespaces","name":"foo"},"responseStatus":{"code":201},
            "requestURI":"/api/v1/namespaces","stageTimestamp":"2024-01-01T00:00:00Z"}"#;
        let Ok(ev) = Event::parse(ev) else {
            panic!("test event does not parse")
        };
        let engine = compiled_box();
        for matching in [RuleMatching::First, RuleMatching::All] {
            let plan = Plan::new(
                interp.rules(),
                matching,
                kaudit_frontend::ir::Priority::Debug,
            );
            let (mut a, mut b) = (Vec::new(), Vec::new());
            engine.eval(&ev, &plan, &mut |i| a.push(i));
            interp.eval(&ev, &plan, &mut |i| b.push(i));
            assert_eq!(a, b);
        }
    }

    #[test]
    fn with_builtin_rules_loads_them_first() {
        let res = load_rules(&[], true);
        let n = res.ruleset.map_or(0, |r| r.rules.len());
        assert_eq!(n, compiled_box().rules().len());
        let missing = load_rules(&[PathBuf::from("/nonexistent/kaudit-rules.yaml")], true);
        assert!(missing.ruleset.is_none());
        assert!(missing.render().contains("kaudit-rules.yaml"));
    }
}
