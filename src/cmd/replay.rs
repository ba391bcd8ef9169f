//! `kaudit replay`: evaluate audit events from files or stdin and print alerts.
//!
//! `kaudit replay [-r RULES]... [--json] [-c falco.yaml] [-o key=value]... [--stats] [FILE|-]...`
//! With `-r` the rule files are loaded at run time and interpreted; without, the rules compiled into the
//! binary are used. Alerts go to stdout, diagnostics and the end-of-run summary to stderr. Exit status:
//! 0 when the input was processed (malformed lines are reported and skipped), 1 when rules fail to load or
//! an input cannot be read, 2 for bad settings.

use kaudit_engine::alert::AlertFormat;
use kaudit_engine::coverage::CoverageEngine;
use kaudit_engine::engine::Engine;
use kaudit_engine::interp::Interpreter;
use kaudit_engine::settings::Settings;
use kaudit_service::config::ServeConfig;
use kaudit_service::replay::{open_input, write_summary, Replayer};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Printed on stderr when `kaudit replay` without files reads a terminal.
pub const STDIN_HINT: &str =
    "kaudit replay: reading audit events (JSON Lines) from the terminal; end with \
Ctrl-D. To replay files: kaudit replay FILE... (plain or .gz), or pipe them in.";

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Rule file to load (repeatable, loaded in order); without -r the compiled-in rules are used.
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Print alerts as Falco's JSON objects (same as -o json_output=true).
    #[arg(long)]
    pub json: bool,
    /// Falco configuration file (falco.yaml); its rule-run and output-format keys apply.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a setting, Falco style (e.g. rule_matching=all, priority=warning, rules[0].disable.rule=*).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// With -r: load the built-in (compiled-in) rule files first, then the -r files.
    #[arg(long)]
    pub with_builtin_rules: bool,
    /// Do not print the end-of-run summary.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// After the run, print on stderr per rule how many events it matched and how many it won under
    /// `rule_matching: first`, and the rules that never fired (every rule is evaluated on every event).
    #[arg(long)]
    pub stats: bool,
    /// Audit log files: JSON Lines, optionally gzip-compressed; `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub inputs: Vec<String>,
}

/// The engine for rules compiled into the binary.
fn compiled_engine() -> Option<Box<dyn Engine>> {
    Some(crate::engine::compiled_box())
}

/// The settings and configured rule files: the built-in defaults, then `-c FILE`, then `-o` overrides —
/// the same reading as `serve`, so an unknown key is a warning in both.
fn settings(args: &Args) -> Result<(Settings, Vec<String>), String> {
    let mut overrides = Vec::new();
    if args.json {
        overrides.push("json_output=true".to_string());
    }
    overrides.extend(args.options.iter().cloned());
    let cfg = ServeConfig::load(args.config.as_deref(), &overrides).map_err(|e| e.to_string())?;
    for w in &cfg.warnings {
        eprintln!("kaudit: warning: {w}");
    }
    Ok((cfg.settings, cfg.rules_files))
}

fn load_engine(files: &[PathBuf], with_builtin: bool) -> Result<Box<dyn Engine>, ()> {
    crate::engine::announce_interpreted(files, with_builtin);
    let res = crate::engine::load_rules(files, with_builtin);
    if !res.diagnostics.is_empty() {
        eprintln!("{}", res.render());
    }
    let Some(ruleset) = res.ruleset else {
        eprintln!("kaudit: rules failed to load");
        return Err(());
    };
    match Interpreter::new(&ruleset) {
        Ok(i) => Ok(Box::new(i)),
        Err(e) => {
            eprintln!("kaudit: {e}");
            Err(())
        }
    }
}

pub fn run(args: Args) -> ExitCode {
    let (settings, config_rules) = match settings(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kaudit: {e}");
            return ExitCode::from(2);
        }
    };
    let rule_files: Vec<PathBuf> = if args.rules.is_empty() {
        config_rules.iter().map(PathBuf::from).collect()
    } else {
        args.rules.clone()
    };
    let engine = if rule_files.is_empty() {
        match compiled_engine() {
            Some(e) => e,
            None => {
                eprintln!("kaudit: this build has no compiled-in rules: give -r FILE");
                return ExitCode::from(2);
            }
        }
    } else {
        match load_engine(&rule_files, args.with_builtin_rules) {
            Ok(e) => e,
            Err(()) => return ExitCode::from(1),
        }
    };
    let plan = settings.plan(engine.rules());
    let format = AlertFormat::new(&settings);
    let inputs = if args.inputs.is_empty() {
        // Someone who typed `kaudit replay` alone would otherwise see nothing happen.
        if std::io::stdin().is_terminal() {
            eprintln!("{STDIN_HINT}");
        }
        vec!["-".to_string()]
    } else {
        args.inputs.clone()
    };

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut err = std::io::stderr();
    let counting = args.stats.then(|| CoverageEngine::new(engine.as_ref()));
    let evaluator: &dyn Engine = match &counting {
        Some(c) => c,
        None => engine.as_ref(),
    };
    let mut replayer = Replayer::new(evaluator, &plan, &format);
    replayer.progress = true;
    replayer.flush_each_event = inputs.iter().any(|p| p == "-");
    let mut status = 0u8;
    for path in &inputs {
        let result = open_input(path)
            .and_then(|mut input| replayer.feed_input(&mut input, &mut out, &mut err));
        match result {
            Ok(()) => {}
            // The reader of our output went away (e.g. `| head`): stop quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return ExitCode::from(status),
            Err(e) => {
                let _ = out.flush();
                eprintln!("kaudit: {e}");
                status = 1;
            }
        }
    }
    match out.flush() {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return ExitCode::from(status),
        Err(e) => {
            eprintln!("kaudit: writing alerts: {e}");
            status = 1;
        }
    }
    let stats = replayer.finish();
    if !args.quiet {
        let _ = write_summary(&stats, &mut err);
    }
    if let Some(c) = &counting {
        let _ = c.coverage(&plan).write(&mut err);
    }
    ExitCode::from(status)
}
