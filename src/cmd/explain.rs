//! `kaudit explain [-r RULES]... [--rule NAME]... [-o key=value]... [EVENTS_FILE|-]`: for each event,
//! every rule's condition as a tree with each node's result and the values its fields extracted, which
//! rule wins under `rule_matching: first` and which others match.
//!
//! The trees come from the interpreter's operators over the loaded IR; the engine that would really
//! run (the compiled-in one without `-r`, the interpreter with it) evaluates the same event and its
//! answer is shown to agree. Exit status: 0, 1 when an engine disagrees or input cannot be read, 2 for
//! bad usage (unknown rule, bad option, rules that fail to load).

use kaudit_engine::engine::Engine;
use kaudit_engine::explain::render::{event_summary, matches_line, rule_tree};
use kaudit_engine::explain::{explain_event, Explainer};
use kaudit_engine::ingest;
use kaudit_engine::interp::Interpreter;
use kaudit_engine::settings::Settings;
use kaudit_frontend::load::load_sources;
use kaudit_service::replay::open_input;
use std::io::{BufRead, Write};
use std::process::ExitCode;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    #[command(flatten)]
    pub rule_files: super::RuleFiles,
    /// Show only this rule's tree (repeatable); the match summary still covers every rule.
    #[arg(long = "rule", value_name = "NAME")]
    pub rule: Vec<String>,
    /// Override a setting, Falco style (rule_matching, priority, rules[].disable...).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Audit events (JSON Lines; `-` or nothing reads stdin).
    #[arg(value_name = "EVENTS_FILE")]
    pub input: Option<String>,
}

pub fn run(args: Args) -> ExitCode {
    let mut settings = Settings::default();
    for o in &args.options {
        if let Err(e) = settings.apply_override(o) {
            eprintln!("kaudit explain: {e}");
            return ExitCode::from(2);
        }
    }
    let sources = match crate::engine::rule_sources(
        &args.rule_files.rules,
        args.rule_files.with_builtin_rules,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kaudit explain: {e}");
            return ExitCode::from(2);
        }
    };
    let res = load_sources(&sources);
    let Some(ruleset) = &res.ruleset else {
        eprintln!("{}\nkaudit explain: rules failed to load", res.render());
        return ExitCode::from(2);
    };
    let explainer = match Explainer::new(ruleset, &res.files) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("kaudit explain: {e}");
            return ExitCode::from(2);
        }
    };
    let (engine, engine_name): (Box<dyn Engine>, &str) = if args.rule_files.rules.is_empty() {
        (crate::engine::compiled_box(), "compiled engine")
    } else {
        match Interpreter::new(ruleset) {
            Ok(i) => (Box::new(i), "interpreter"),
            Err(e) => {
                eprintln!("kaudit explain: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let names: Vec<&str> = engine.rules().iter().map(|r| r.name.as_str()).collect();
    for want in &args.rule {
        if !names.contains(&want.as_str()) {
            let close = names
                .iter()
                .map(|n| {
                    (
                        kaudit_frontend::typeck::edit_distance(
                            &want.to_lowercase(),
                            &n.to_lowercase(),
                        ),
                        *n,
                    )
                })
                .min()
                .filter(|(d, _)| *d <= 3)
                .map_or(String::new(), |(_, n)| format!(" (did you mean `{n}`?)"));
            eprintln!("kaudit explain: no rule named `{want}` is loaded{close}");
            return ExitCode::from(2);
        }
    }
    let plan = settings.plan(engine.rules());
    let wanted = |i: usize| {
        args.rule.is_empty()
            || args
                .rule
                .iter()
                .any(|w| Some(w.as_str()) == names.get(i).copied())
    };

    let path = args.input.clone().unwrap_or_else(|| "-".into());
    let mut input = match open_input(&path) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("kaudit explain: {e}");
            return ExitCode::from(1);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut num, mut first_time, mut lineno) = (1u64, None, 0u64);
    let mut disagreements = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("kaudit explain: {}: {e}", input.name);
                return ExitCode::from(1);
            }
        }
        lineno += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let split = match ingest::split_document(&line, ingest::DEFAULT_MAX_EVENT_SIZE) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kaudit: {}:{lineno}: {e}", input.name);
                continue;
            }
        };
        for d in &split.dropped {
            eprintln!("kaudit: {}:{lineno}: event dropped: {d}", input.name);
        }
        for mut ev in split.events {
            let Some(time) = ev.time_ns() else { continue };
            ev.set_num(num);
            ev.set_first_time_ns(*first_time.get_or_insert(time));
            let x = explain_event(&explainer, engine.as_ref(), &plan, &ev, &wanted);
            let matched: Vec<&str> = x
                .matched
                .iter()
                .filter_map(|&i| names.get(i).copied())
                .collect();
            let mut text = format!(
                "event {num} ({}:{lineno}): {}\n",
                input.name,
                event_summary(&ev)
            );
            text.push_str(&matches_line(&matched));
            text.push('\n');
            if x.agrees() {
                text.push_str(&format!("  {engine_name}: agrees\n"));
            } else {
                disagreements += 1;
                let got: Vec<&str> = x
                    .engine_matched
                    .iter()
                    .filter_map(|&i| names.get(i).copied())
                    .collect();
                text.push_str(&format!(
                    "  {engine_name}: DISAGREES, it matched: {}\n",
                    got.join(", ")
                ));
            }
            for r in &x.rules {
                text.push_str(&rule_tree(r, &res.files));
            }
            text.push('\n');
            num += 1;
            if let Err(e) = out.write_all(text.as_bytes()) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
                eprintln!("kaudit explain: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let _ = out.flush();
    if disagreements > 0 {
        eprintln!("kaudit explain: the {engine_name} disagreed on {disagreements} event(s)");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
