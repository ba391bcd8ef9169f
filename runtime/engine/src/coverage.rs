//! Rule coverage: how often each rule's condition matched and how often it was the first match (the
//! rule that alerts under `rule_matching: first`), and which rules never matched.
//!
//! `CoverageEngine` wraps any engine: it evaluates every planned rule (as `all` does), counts, and
//! passes on the matches the caller's plan asks for, so alerts are unchanged. It is meant for
//! `replay --stats` and rule tests, not the webhook's hot path (it always evaluates every rule).

use crate::engine::{Engine, Plan, RuleMatching, RuleMeta};
use crate::event::Event;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct CoverageEngine<'a> {
    inner: &'a dyn Engine,
    matches: Vec<AtomicU64>,
    wins: Vec<AtomicU64>,
    events: AtomicU64,
}

/// One rule's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCount {
    pub name: String,
    /// Events on which the condition held.
    pub matches: u64,
    /// Events on which it was the first matching rule in plan order.
    pub wins: u64,
}

/// Counts for every rule of a plan, in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    pub events: u64,
    pub rules: Vec<RuleCount>,
}

impl<'a> CoverageEngine<'a> {
    pub fn new(inner: &'a dyn Engine) -> CoverageEngine<'a> {
        let n = inner.rules().len();
        CoverageEngine {
            inner,
            matches: (0..n).map(|_| AtomicU64::new(0)).collect(),
            wins: (0..n).map(|_| AtomicU64::new(0)).collect(),
            events: AtomicU64::new(0),
        }
    }

    /// The counts so far for the rules of `plan`.
    pub fn coverage(&self, plan: &Plan) -> Coverage {
        let get = |v: &[AtomicU64], i: usize| v.get(i).map_or(0, |a| a.load(Ordering::Relaxed));
        Coverage {
            events: self.events.load(Ordering::Relaxed),
            rules: plan
                .order
                .iter()
                .filter_map(|&i| {
                    Some(RuleCount {
                        name: self.inner.rules().get(i)?.name.clone(),
                        matches: get(&self.matches, i),
                        wins: get(&self.wins, i),
                    })
                })
                .collect(),
        }
    }
}

impl Engine for CoverageEngine<'_> {
    fn rules(&self) -> &[RuleMeta] {
        self.inner.rules()
    }

    fn eval(&self, ev: &Event<'_>, plan: &Plan, on_match: &mut dyn FnMut(usize)) {
        self.events.fetch_add(1, Ordering::Relaxed);
        let all = Plan {
            order: plan.order.clone(),
            matching: RuleMatching::All,
        };
        let mut first = true;
        self.inner.eval(ev, &all, &mut |i| {
            if let Some(m) = self.matches.get(i) {
                m.fetch_add(1, Ordering::Relaxed);
            }
            if first {
                if let Some(w) = self.wins.get(i) {
                    w.fetch_add(1, Ordering::Relaxed);
                }
            }
            if first || plan.matching == RuleMatching::All {
                on_match(i);
            }
            first = false;
        });
    }
}

impl Coverage {
    /// Adds another run's counts (same rule names are summed; new ones are appended).
    pub fn merge(&mut self, other: &Coverage) {
        self.events += other.events;
        for r in &other.rules {
            match self.rules.iter_mut().find(|x| x.name == r.name) {
                Some(x) => {
                    x.matches += r.matches;
                    x.wins += r.wins;
                }
                None => self.rules.push(r.clone()),
            }
        }
    }

    /// Rules that matched no event.
    pub fn never_fired(&self) -> impl Iterator<Item = &RuleCount> {
        self.rules.iter().filter(|r| r.matches == 0)
    }

    /// The table: one line per rule that matched, then the rules that never did.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "rule coverage over {} events ({} of {} rules matched):",
            self.events,
            self.rules.iter().filter(|r| r.matches > 0).count(),
            self.rules.len()
        )?;
        writeln!(out, "  {:>8}  {:>8}  rule", "matches", "first")?;
        for r in self.rules.iter().filter(|r| r.matches > 0) {
            writeln!(out, "  {:>8}  {:>8}  {}", r.matches, r.wins, r.name)?;
        }
        let never: Vec<&str> = self.never_fired().map(|r| r.name.as_str()).collect();
        if !never.is_empty() {
            writeln!(out, "  never fired ({}):", never.len())?;
            for n in never {
                writeln!(out, "    {n}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::Interpreter;

    const RULES: &str = "- rule: creates\n  desc: d\n  condition: ka.verb = create\n  output: c\n  priority: NOTICE\n  source: k8s_audit\n- rule: alice\n  desc: d\n  condition: ka.user.name = alice\n  output: a\n  priority: INFO\n  source: k8s_audit\n- rule: never\n  desc: d\n  condition: ka.verb = nope\n  output: n\n  priority: INFO\n  source: k8s_audit\n";

    fn ev(user: &str, verb: &str) -> String {
        format!(
            r#"{{"kind":"Event","auditID":"x","stage":"ResponseComplete","verb":"{verb}","user":{{"username":"{user}"}},"stageTimestamp":"2024-01-02T03:04:05Z"}}"#
        )
    }

    #[test]
    fn counts_matches_and_first_wins_and_keeps_the_callers_matching() {
        let res = kaudit_frontend::load::load_sources(&[("r.yaml", RULES)]);
        let interp = Interpreter::new(res.ruleset.as_ref().expect("rules load")).expect("compile");
        let cov = CoverageEngine::new(&interp);
        let plan = Plan::new(
            interp.rules(),
            RuleMatching::First,
            kaudit_frontend::ir::Priority::Debug,
        );
        let mut alerts = Vec::new();
        for (u, v) in [
            ("alice", "create"),
            ("alice", "get"),
            ("bob", "create"),
            ("bob", "get"),
        ] {
            let text = ev(u, v);
            let e = Event::parse(text.as_bytes()).expect("event parses");
            cov.eval(&e, &plan, &mut |i| alerts.push(i));
        }
        // Under `first` only the first match alerts; coverage still counts every match.
        assert_eq!(alerts, [0, 1, 0]);
        let c = cov.coverage(&plan);
        assert_eq!(c.events, 4);
        let counts: Vec<(&str, u64, u64)> = c
            .rules
            .iter()
            .map(|r| (r.name.as_str(), r.matches, r.wins))
            .collect();
        assert_eq!(
            counts,
            [("creates", 2, 2), ("alice", 2, 1), ("never", 0, 0)]
        );
        let mut text = Vec::new();
        c.write(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("(2 of 3 rules matched)"), "{text}");
        assert!(text.contains("never fired (1):\n    never\n"), "{text}");
    }
}
