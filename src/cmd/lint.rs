//! `kaudit lint [-r] [RULES]... [--corpus EVENTS]...`: warnings about rules that load but cannot do what
//! they seem to (see `kaudit_frontend::lint`). Without files, the compiled-in rules.
//!
//! With `--corpus` (audit events, JSON Lines) two more checks run on real events: a rule that matched
//! events of the corpus but never first (an earlier rule always alerted instead under
//! `rule_matching: first`), and output fields missing (`<NA>`) from most events a rule matched.
//! Exit status: 0 without warnings, 1 with warnings, 2 when the rules do not load or an input is unreadable.

use kaudit_engine::coverage::CoverageEngine;
use kaudit_engine::engine::{Engine, Plan, RuleMatching};
use kaudit_engine::ingest;
use kaudit_engine::interp::value::eval_value;
use kaudit_engine::interp::Interpreter;
use kaudit_engine::value::Values;
use kaudit_frontend::diag::{item, Diagnostic};
use kaudit_frontend::ir::Ruleset;
use kaudit_frontend::lint::{code, lint};
use kaudit_frontend::load::load_sources;
use kaudit_service::replay::open_input;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

/// A field counts as "mostly missing" when absent from more than half of at least this many matches.
const MIN_MATCHES_FOR_MISSING: u64 = 3;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Without any rule file: the compiled-in rules.
    #[command(flatten)]
    pub files: super::RuleFilePaths,
    /// Audit events (JSON Lines, plain or gzip) to run the event-based checks on (repeatable).
    #[arg(long = "corpus", value_name = "EVENTS")]
    pub corpus: Vec<String>,
}

pub fn run(args: Args) -> ExitCode {
    let paths: Vec<PathBuf> = args.files.paths();
    let sources = match crate::engine::rule_sources(&paths, false) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kaudit lint: {e}");
            return ExitCode::from(2);
        }
    };
    let res = load_sources(&sources);
    let Some(ruleset) = &res.ruleset else {
        eprintln!("{}\nkaudit lint: rules failed to load", res.render());
        return ExitCode::from(2);
    };
    let mut warnings = lint(ruleset);
    if !args.corpus.is_empty() {
        match corpus_warnings(ruleset, &args.corpus, &warnings) {
            Ok(w) => warnings.extend(w),
            Err(e) => {
                eprintln!("kaudit lint: {e}");
                return ExitCode::from(2);
            }
        }
    }
    for w in &warnings {
        println!("{}", res.render_one(w));
    }
    let n = warnings.len();
    println!("kaudit lint: {n} warning{}", if n == 1 { "" } else { "s" });
    if n == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Shadowing seen on the corpus and output fields mostly missing.
fn corpus_warnings(
    rs: &Ruleset,
    corpus: &[String],
    known: &[Diagnostic],
) -> Result<Vec<Diagnostic>, String> {
    let interp = Interpreter::new(rs).map_err(|e| e.to_string())?;
    let counting = CoverageEngine::new(&interp);
    let plan = Plan::new(
        interp.rules(),
        RuleMatching::First,
        kaudit_frontend::ir::Priority::Debug,
    );
    let all = Plan {
        order: plan.order.clone(),
        matching: RuleMatching::All,
    };
    // Per rule index: per output field, (matches, missing).
    let mut missing: Vec<Vec<(u64, u64)>> = interp
        .rules()
        .iter()
        .map(|r| vec![(0, 0); r.output.fields.len()])
        .collect();
    for path in corpus {
        let mut input = open_input(path).map_err(|e| e.to_string())?;
        let mut line = Vec::new();
        loop {
            line.clear();
            if input
                .reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("{path}: {e}"))?
                == 0
            {
                break;
            }
            let Ok(split) = ingest::split_document(&line, ingest::DEFAULT_MAX_EVENT_SIZE) else {
                continue;
            };
            for ev in &split.events {
                counting.eval(ev, &plan, &mut |_| {});
                let mut matched = Vec::new();
                interp.eval(ev, &all, &mut |i| matched.push(i));
                for i in matched {
                    for (k, (_, expr)) in interp.rules()[i].output.fields.iter().enumerate() {
                        let mut vals = Values::new();
                        eval_value(ev, expr, &mut vals);
                        let slot = &mut missing[i][k];
                        slot.0 += 1;
                        slot.1 += u64::from(vals.is_empty());
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    let cov = counting.coverage(&plan);
    for (&i, c) in plan.order.iter().zip(&cov.rules) {
        let rule = &rs.rules[i];
        let proven = known
            .iter()
            .any(|d| d.code == code::SHADOWED && d.item_name == rule.name);
        if c.matches > 0 && c.wins == 0 && !proven {
            out.push(
                Diagnostic::warning(
                    code::SHADOWED_ON_CORPUS,
                    format!(
                        "rule `{}` matched {} event(s) of the corpus but never first: an earlier rule alerted instead each time under rule_matching: first",
                        rule.name, c.matches
                    ),
                )
                .with_span(rule.span)
                .item(item::RULE, rule.name.clone())
                .hint("`kaudit explain --rule NAME` on those events shows which rule wins"),
            );
        }
        for (k, (key, _)) in interp.rules()[i].output.fields.iter().enumerate() {
            let (m, miss) = missing[i][k];
            if m >= MIN_MATCHES_FOR_MISSING && miss * 2 > m {
                out.push(
                    Diagnostic::warning(
                        code::OUTPUT_FIELD_MISSING,
                        format!("output field `%{key}` of rule `{}` is missing (<NA>) in {miss} of the {m} corpus events the rule matched", rule.name),
                    )
                    .with_span(rule.span)
                    .item(item::RULE_OUTPUT, rule.name.clone()),
                );
            }
        }
    }
    Ok(out)
}
