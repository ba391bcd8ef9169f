//! The interface both engines (the compiled one and `interp`) implement, and the evaluation plan that
//! run-time settings (`rule_matching`, `rules:` selections, minimum priority) produce.

use crate::event::Event;
use kaudit_frontend::ir::{Output, Priority};

/// What alerts need to know about a rule (same for both engines).
#[derive(Debug, Clone)]
pub struct RuleMeta {
    pub name: String,
    pub priority: Priority,
    pub source: String,
    /// Sorted, deduplicated.
    pub tags: Vec<String>,
    pub output: Output,
    /// `enabled:` as loaded from the rule files.
    pub enabled: bool,
}

/// Falco's `rule_matching`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleMatching {
    /// At most one alert per event: the first matching rule in plan order (Falco's default).
    #[default]
    First,
    All,
}

/// Which rules are evaluated and in which order. Built from the engine's rules and run-time settings;
/// `order` holds indices into `Engine::rules()`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub order: Vec<usize>,
    pub matching: RuleMatching,
}

impl Plan {
    /// Every enabled `k8s_audit` rule at or above `min_priority`, in load order.
    pub fn new(rules: &[RuleMeta], matching: RuleMatching, min_priority: Priority) -> Plan {
        let order = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.enabled && r.source == "k8s_audit" && r.priority <= min_priority)
            .map(|(i, _)| i)
            .collect();
        Plan { order, matching }
    }
}

/// A rule engine: decides which rules match an event.
pub trait Engine: Send + Sync {
    /// Every rule the engine knows, in load order (indices are what `Plan::order` and `eval` use).
    fn rules(&self) -> &[RuleMeta];

    /// Evaluates the plan's rules on `ev`, calling `on_match` with the rule index of each match in plan
    /// order; under `RuleMatching::First` at most once.
    fn eval(&self, ev: &Event<'_>, plan: &Plan, on_match: &mut dyn FnMut(usize));
}
