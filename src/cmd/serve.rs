//! `kaudit serve` (also what plain `kaudit` runs): the Kubernetes audit webhook.
//!
//! `kaudit serve [-c falco.yaml] [-o key=value]... [-r RULES]... [-U]`
//! Without -c the built-in configuration applies (webhook on :8765 at /k8s_audit and /k8s-audit, alerts on
//! stdout). Without -r (and no `rules_files` in the configuration) the rules compiled into the binary are
//! used. Exit status: 0 after a graceful shutdown (SIGTERM/SIGINT), 1 when rules, certificates or sockets
//! fail, 2 for a bad configuration.
//!
//! Hot reload: with `watch_config_files` (default true) the run-time rule files and the -c file are
//! polled every second, and SIGHUP reloads them too; a change that does not load keeps the old rules.

use kaudit_engine::alert::AlertFormat;
use kaudit_engine::engine::Engine;
use kaudit_engine::interp::Interpreter;
use kaudit_service::config::ServeConfig;
use kaudit_service::server::{self, pipeline::EvalContext, reload, tracing};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Falco configuration file (falco.yaml); without it the built-in defaults apply.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a configuration key, Falco style (e.g. webserver.listen_port=9000, json_output=true).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Rule file to load at run time (repeatable, in order); replaces `rules_files`.
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// With -r or `rules_files`: load the built-in (compiled-in) rule files first.
    #[arg(long)]
    pub with_builtin_rules: bool,
    /// Flush every alert as it is written (same as -o buffered_outputs=false).
    #[arg(short = 'U', long = "unbuffered")]
    pub unbuffered: bool,
}

/// Rule files loaded at run time, interpreted.
fn load_engine(files: &[PathBuf], with_builtin: bool) -> Result<Arc<dyn Engine>, String> {
    crate::engine::announce_interpreted(files, with_builtin);
    interpret(files, with_builtin)
}

/// Loads and interprets rule files; diagnostics go to stderr, and an error carries them too.
fn interpret(files: &[PathBuf], with_builtin: bool) -> Result<Arc<dyn Engine>, String> {
    let res = crate::engine::load_rules(files, with_builtin);
    let Some(ruleset) = &res.ruleset else {
        return Err(format!("rules failed to load\n{}", res.render()));
    };
    if !res.diagnostics.is_empty() {
        eprintln!("{}", res.render());
    }
    let interp = Interpreter::new(ruleset).map_err(|e| e.to_string())?;
    Ok(Arc::new(interp))
}

fn context(engine: Arc<dyn Engine>, cfg: &ServeConfig) -> EvalContext {
    EvalContext {
        plan: cfg.settings.plan(engine.rules()),
        format: AlertFormat::new(&cfg.settings),
        engine,
    }
}

/// What hot reload watches and how it rebuilds: the configuration is read again (its rule selection and
/// alert format apply; listeners and outputs need a restart), then the rule files. Compiled-in rules
/// cannot change without a rebuild, so with them only the configuration's settings reload.
fn reload_watch(args: &Args, rule_files: &[PathBuf], cfg: &ServeConfig) -> Option<reload::Watch> {
    let mut files: Vec<PathBuf> = args.config.iter().cloned().collect();
    files.extend(rule_files.iter().cloned());
    if rule_files.is_empty() {
        tracing::info!("the compiled-in rules are in use: changing them needs a rebuild (only -c settings reload)");
    }
    if !cfg.watch_config_files {
        files.clear();
    }
    let config = args.config.clone();
    let mut overrides = args.options.clone();
    if args.unbuffered {
        overrides.push("buffered_outputs=false".into());
    }
    let cli_rules = args.rules.clone();
    let with_builtin = args.with_builtin_rules;
    let build = move || -> Result<EvalContext, String> {
        let cfg = ServeConfig::load(config.as_deref(), &overrides)
            .map_err(|e| format!("configuration error: {e}"))?;
        let rule_files: Vec<PathBuf> = if cli_rules.is_empty() {
            cfg.rules_files.iter().map(PathBuf::from).collect()
        } else {
            cli_rules.clone()
        };
        let engine = if rule_files.is_empty() {
            crate::engine::compiled_arc()
        } else {
            interpret(&rule_files, with_builtin)?
        };
        Ok(context(engine, &cfg))
    };
    Some(reload::Watch::new(
        files,
        std::time::Duration::from_secs(1),
        Box::new(build),
    ))
}

pub fn run(args: Args) -> ExitCode {
    // First, before any thread exists: the setting applies to arenas created from now on.
    let one_arena = crate::malloc::use_one_arena();
    let mut overrides = args.options.clone();
    if args.unbuffered {
        overrides.push("buffered_outputs=false".into());
    }
    let cfg = match ServeConfig::load(args.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kaudit: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    server::init_logging(&cfg.log_level);
    tracing::debug!(one_arena, "glibc malloc limited to a single arena");
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    let rule_files: Vec<PathBuf> = if args.rules.is_empty() {
        cfg.rules_files.iter().map(PathBuf::from).collect()
    } else {
        args.rules.clone()
    };
    // Before the rule files are read: an edit made while kaudit starts then reloads.
    let watch = reload_watch(&args, &rule_files, &cfg);
    let engine = if rule_files.is_empty() {
        crate::engine::compiled_arc()
    } else {
        match load_engine(&rule_files, args.with_builtin_rules) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(1);
            }
        }
    };
    let ctx = context(engine, &cfg);
    tracing::info!(rules = ctx.plan.order.len(), "rules loaded");
    match server::serve_until_signal(&cfg, ctx, watch) {
        Ok(summary) => {
            tracing::info!(
                accepted = summary.events_queued,
                evaluated = summary.events_evaluated,
                alerts = summary.alerts,
                events_undelivered = summary.events_undelivered,
                alerts_undelivered = summary.alerts_undelivered,
                "stopped"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}
