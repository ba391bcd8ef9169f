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
use kaudit_engine::formats::Format;
use kaudit_engine::interp::Interpreter;
use kaudit_engine::settings::Settings;
use kaudit_service::config::ServeConfig;
use kaudit_service::replay::{follow, open_input, write_summary, Replayer};
use kaudit_service::replay_parallel::{self, WorkerSettings};
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
    /// Format of the input documents: auto (detect each one), audit (Event/EventList/array), gke (Cloud
    /// Logging LogEntry), aks (Azure diagnostic records), cloudwatch (CloudWatch Logs subscription).
    #[arg(long, value_name = "FORMAT", default_value = "auto", value_parser = parse_format)]
    pub input_format: InputFormat,
    /// Keep reading the file as it grows (across log rotations) until SIGTERM/SIGINT; one FILE.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// With --follow: save the position here (atomically, after the alerts were written), and resume from
    /// it; overrides `kaudit.state_dir` of the -c configuration.
    #[arg(long, value_name = "DIR", requires = "follow")]
    pub state_dir: Option<PathBuf>,
    /// Threads evaluating a large input file (0: one per core). Inputs under 8 MiB, stdin and pipes,
    /// pretty-printed files, --follow, and rule sets that read evt.num or evt.reltime are replayed on one
    /// thread.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
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

/// `--input-format`: a format, or `None` to detect each document's.
#[derive(Debug, Clone, Copy, Default)]
pub struct InputFormat(pub Option<Format>);

fn parse_format(s: &str) -> Result<InputFormat, String> {
    if s == "auto" {
        return Ok(InputFormat(None));
    }
    Format::from_name(s)
        .map(|f| InputFormat(Some(f)))
        .ok_or_else(|| {
            format!(
                "unknown input format {s:?}: expected auto, {}",
                Format::NAMES.join(", ")
            )
        })
}

/// The engine for rules compiled into the binary.
fn compiled_engine() -> Option<Box<dyn Engine>> {
    Some(crate::engine::compiled_box())
}

/// Whether the rules in use mention `evt.num` or `evt.reltime`, whose values need the whole stream in
/// order (then replay stays on one thread). Unreadable files count as yes; loading reports them.
fn reads_sequence(rule_files: &[PathBuf], with_builtin: bool) -> bool {
    let builtin = rule_files.is_empty() || with_builtin;
    let mut texts: Vec<String> = Vec::new();
    for f in rule_files {
        match std::fs::read_to_string(f) {
            Ok(t) => texts.push(t),
            Err(_) => return true,
        }
    }
    let builtin_texts = crate::engine::builtin_sources()
        .iter()
        .filter(|_| builtin)
        .map(|(_, text)| *text);
    replay_parallel::rules_read_sequence(builtin_texts.chain(texts.iter().map(String::as_str)))
}

/// The settings, the configuration's rule files and its `kaudit.state_dir`: the built-in defaults, then
/// `-c FILE`, then `-o` overrides — the same reading as `serve`, so an unknown key is a warning in both.
fn settings(args: &Args) -> Result<(Settings, Vec<String>, Option<PathBuf>), String> {
    let mut overrides = Vec::new();
    if args.json {
        overrides.push("json_output=true".to_string());
    }
    overrides.extend(args.options.iter().cloned());
    let cfg = ServeConfig::load(args.config.as_deref(), &overrides).map_err(|e| e.to_string())?;
    for w in &cfg.warnings {
        eprintln!("kaudit: warning: {w}");
    }
    Ok((cfg.settings, cfg.rules_files, cfg.sources.state_dir))
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
    let (settings, config_rules, config_state_dir) = match settings(&args) {
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
    let threads = match args.threads {
        _ if reads_sequence(&rule_files, args.with_builtin_rules) => 1,
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let inputs = if args.inputs.is_empty() {
        // Someone who typed `kaudit replay` alone would otherwise see nothing happen.
        if std::io::stdin().is_terminal() {
            eprintln!("{STDIN_HINT}");
        }
        vec!["-".to_string()]
    } else {
        args.inputs.clone()
    };

    if args.follow && (inputs.len() != 1 || inputs[0] == "-") {
        eprintln!("kaudit: --follow reads exactly one file (not stdin)");
        return ExitCode::from(2);
    }

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
    replayer.input_format = args.input_format.0;
    replayer.flush_each_event = inputs.iter().any(|p| p == "-");
    let mut status = 0u8;
    if args.follow {
        let state_dir = args.state_dir.clone().or(config_state_dir);
        let result = follow::stop_on_signal().and_then(|stop| {
            follow::follow(
                &mut replayer,
                std::path::Path::new(&inputs[0]),
                state_dir.as_deref(),
                &mut out,
                &mut err,
                &stop,
            )
        });
        if let Err(e) = result {
            let _ = out.flush();
            eprintln!("kaudit: {e}");
            status = 1;
        }
    }
    for path in inputs.iter().filter(|_| !args.follow) {
        let result = open_input(path).and_then(|mut input| {
            if !replay_parallel::worth_parallel(&mut input, threads)? {
                return replayer.feed_input(&mut input, &mut out, &mut err);
            }
            let mut worker = WorkerSettings::new(replayer.max_event_size, threads);
            worker.input_format = replayer.input_format;
            let stats = replay_parallel::feed_input_parallel(
                evaluator, &plan, &format, worker, &mut input, &mut out, &mut err,
            )?;
            replay_parallel::add_stats(replayer.stats_mut(), stats);
            Ok(())
        });
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
