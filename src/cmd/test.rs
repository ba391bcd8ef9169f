//! `kaudit test [-r RULES]... [--format text|json|junit] [--coverage] [PATH]...`: run rule tests.
//!
//! PATHs are test files or directories (their `*.yaml` files, recursively, sorted); without one,
//! `rules/tests`. Without `-r` the tests run on the compiled-in rules (tests that add rule files run on
//! the interpreter over the built-in files plus theirs); with `-r` on those files, interpreted.
//! Exit status: 0 when every test passes, 1 when one fails or a file does not load, 2 for bad usage.

use kaudit_ruletest::report;
use kaudit_ruletest::run::{run_file, FileResult, RuleBase};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
    Junit,
}

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    #[command(flatten)]
    pub rule_files: super::RuleFiles,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// After the text report, print per rule how often it matched and won under `first` (and the rules
    /// no test fired).
    #[arg(long)]
    pub coverage: bool,
    /// Mutation testing: change each rule's condition one way at a time (drop a clause, negate a check)
    /// and list the changes no test notices. Runs on the interpreter.
    #[arg(long)]
    pub mutants: bool,
    /// Test files or directories (default: rules/tests).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// The `*.yaml` files under `p` (recursively, sorted), or `p` itself when it is a file.
pub fn test_files(p: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !p.is_dir() {
        return Ok(vec![p.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            out.extend(test_files(&e)?);
        } else if e.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(e);
        }
    }
    Ok(out)
}

fn rule_base(args: &Args) -> Result<RuleBase, String> {
    let sources =
        crate::engine::rule_sources(&args.rule_files.rules, args.rule_files.with_builtin_rules)?;
    if args.rule_files.rules.is_empty() {
        return Ok(RuleBase::new(
            "the compiled-in rules",
            crate::engine::compiled_arc(),
            sources,
        ));
    }
    let names: Vec<String> = args
        .rule_files
        .rules
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    RuleBase::interpreted(format!("{} (interpreted)", names.join(", ")), sources)
}

pub fn run(args: Args) -> ExitCode {
    let base = match rule_base(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("kaudit test: {e}");
            return ExitCode::from(1);
        }
    };
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("rules/tests")]
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for p in &paths {
        match test_files(p) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("kaudit test: {}: {e}", p.display());
                return ExitCode::from(2);
            }
        }
    }
    if files.is_empty() {
        eprintln!(
            "kaudit test: no test files found in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::from(2);
    }
    let results: Vec<FileResult> = files.iter().map(|f| run_file(&base, f)).collect();
    if args.mutants {
        return mutants(&base, &files, &results);
    }
    let ok = report::Totals::of(&results).ok();
    match args.format {
        Format::Text => {
            print!("{}", report::text(&results, &base.label));
            if args.coverage {
                let mut out = std::io::stdout();
                let _ = report::coverage(&results).write(&mut out);
            }
        }
        Format::Json => println!("{}", report::json(&results)),
        Format::Junit => print!("{}", report::junit(&results)),
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `--mutants`: the tests must pass first; then every mutant runs every test.
fn mutants(base: &RuleBase, files: &[PathBuf], results: &[FileResult]) -> ExitCode {
    if !report::Totals::of(results).ok() {
        print!("{}", report::text(results, &base.label));
        eprintln!("kaudit test --mutants: the tests must pass on the unchanged rules first");
        return ExitCode::from(1);
    }
    let mut parsed = Vec::new();
    for f in files {
        match kaudit_ruletest::spec::load(f) {
            Ok(t) => parsed.push(t),
            Err(e) => {
                eprintln!("kaudit test: {}:{}: {}", f.display(), e.line, e.message);
                return ExitCode::from(1);
            }
        }
    }
    let report = match kaudit_ruletest::mutants::run_mutants(base, &parsed) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kaudit test --mutants: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "mutants: {} generated, {} noticed by a test, {} survived",
        report.total,
        report.killed,
        report.survivors.len()
    );
    let mut last = "";
    for m in &report.survivors {
        if m.rule != last {
            println!("  rule `{}`:", m.rule);
            last = &m.rule;
        }
        println!("    survived: {}", m.description);
    }
    ExitCode::SUCCESS
}
