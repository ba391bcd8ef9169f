//! `kaudit`: a Falco-compatible Kubernetes audit detector. A thin binary over the library crates
//! (`kaudit-frontend`, `kaudit-codegen` via `kaudit-macros`, `kaudit-engine`, `kaudit-service`); each
//! subcommand lives in `cmd/`.

// One `unsafe` call in the whole binary: the allocator setting in `malloc.rs`.
#![deny(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;
mod engine;
mod malloc;

#[derive(Parser, Debug)]
#[command(name = "kaudit", version, about = "Falco-compatible Kubernetes audit-event detector", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the audit webhook (the default when no subcommand is given).
    Serve(cmd::serve::Args),
    /// Evaluate audit events from files or stdin and print alerts.
    Replay(cmd::replay::Args),
    /// Load rule files and report errors and warnings.
    Validate(cmd::validate::Args),
    /// List the rules of rule files (or the compiled-in rules).
    ListRules(cmd::list::RulesArgs),
    /// List the fields conditions and outputs can use.
    ListFields(cmd::list::FieldsArgs),
    /// Print the Rust code generated for rule files (default: the compiled-in ones).
    #[cfg(feature = "codegen")]
    Codegen(cmd::codegen::Args),
    /// Show, per event, each rule's condition tree with every node's result and extracted values.
    Explain(cmd::explain::Args),
    /// Warn about rules that load but cannot work as written (shadowed, always false, typos, ...).
    Lint(cmd::lint::Args),
    /// Run rule tests (YAML files of events and expected alerts) on the compiled-in or given rules.
    Test(cmd::test::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => cmd::serve::run(cmd::serve::Args::default()),
        Some(Command::Serve(a)) => cmd::serve::run(a),
        Some(Command::Replay(a)) => cmd::replay::run(a),
        Some(Command::Validate(a)) => cmd::validate::run(a),
        Some(Command::ListRules(a)) => cmd::list::rules(a),
        Some(Command::ListFields(a)) => cmd::list::fields(a),
        #[cfg(feature = "codegen")]
        Some(Command::Codegen(a)) => cmd::codegen::run(a),
        Some(Command::Test(a)) => cmd::test::run(a),
        Some(Command::Lint(a)) => cmd::lint::run(a),
        Some(Command::Explain(a)) => cmd::explain::run(a),
    }
}

#[cfg(test)]
mod tests {
    /// clap checks argument definitions only when a command is used; check them all at once.
    #[test]
    fn every_subcommand_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
