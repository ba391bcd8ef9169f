//! `kaudit validate -r FILE [-r FILE]...`: load rule files in order, as Falco would, and report.
//!
//! Exit 0 when they load (warnings are printed on stderr, then a one-line summary on stdout); exit 1
//! with the diagnostics on stderr when a file fails to load; exit 2 for bad usage.

use kaudit_frontend::ir::Ruleset;
use kaudit_frontend::load::{load_files, LoadResult};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    #[command(flatten)]
    pub files: super::RuleFilePaths,
}

pub fn run(args: Args) -> ExitCode {
    let paths: Vec<PathBuf> = args.files.paths();
    if paths.is_empty() {
        eprintln!("kaudit validate: give at least one rule file with -r FILE");
        return ExitCode::from(2);
    }
    let res = load_files(&paths);
    let rendered = res.render();
    if !rendered.is_empty() {
        eprintln!("{rendered}");
    }
    match &res.ruleset {
        Some(rs) => {
            println!("{}", summary(rs, &res));
            ExitCode::SUCCESS
        }
        None => {
            let errors = res.errors().count();
            eprintln!(
                "kaudit validate: rules failed to load ({errors} error{})",
                if errors == 1 { "" } else { "s" }
            );
            ExitCode::from(1)
        }
    }
}

/// `ok: 3 files; k8s_audit: 40 rules (38 enabled); skipped: syscall 120; 25 macros (12 used), 60 lists; 2 warnings`
pub fn summary(rs: &Ruleset, res: &LoadResult) -> String {
    let k8s: Vec<_> = rs
        .rules
        .iter()
        .filter(|r| r.source == "k8s_audit")
        .collect();
    let enabled = k8s.iter().filter(|r| r.enabled).count();
    let mut skipped: Vec<(String, usize)> = Vec::new();
    for r in rs.rules.iter().filter(|r| r.source != "k8s_audit") {
        match skipped.iter_mut().find(|(s, _)| *s == r.source) {
            Some((_, n)) => *n += 1,
            None => skipped.push((r.source.clone(), 1)),
        }
    }
    if res.stats.skipped_unknown_filter > 0 {
        skipped.push((
            "skip-if-unknown-filter".into(),
            res.stats.skipped_unknown_filter,
        ));
    }
    let skipped = if skipped.is_empty() {
        "none".to_string()
    } else {
        skipped
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    format!(
        "ok: {}; k8s_audit: {} ({} enabled); skipped: {}; {} ({} used by k8s_audit rules), {}; {}",
        plural(rs.files.len(), "file"),
        plural(k8s.len(), "rule"),
        enabled,
        skipped,
        plural(res.stats.macros, "macro"),
        rs.macros.len(),
        plural(res.stats.lists, "list"),
        plural(res.warnings().count(), "warning"),
    )
}
