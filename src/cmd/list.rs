//! `kaudit list-rules -r FILE...` (a table of the rules of rule files) and `kaudit list-fields`
//! (the field catalog; `--markdown` for docs).

use kaudit_frontend::catalog::{ArgKind, FIELDS};
use kaudit_frontend::ir::Rule;
use kaudit_frontend::load::load_files;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug, Default)]
pub struct RulesArgs {
    /// Rule file to load (repeatable, loaded in order).
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Only rules of the `k8s_audit` source.
    #[arg(long)]
    pub k8s_only: bool,
}

#[derive(clap::Args, Debug, Default)]
pub struct FieldsArgs {
    /// Print a Markdown table (for documentation).
    #[arg(long)]
    pub markdown: bool,
}

pub fn rules(args: RulesArgs) -> ExitCode {
    // Without -r: the rules compiled into the binary (their sources are embedded with them).
    let res = if args.rules.is_empty() {
        kaudit_frontend::load::load_sources(crate::engine::builtin_sources())
    } else {
        load_files(&args.rules)
    };
    let Some(rs) = &res.ruleset else {
        eprintln!("{}", res.render());
        return ExitCode::from(1);
    };
    let rules: Vec<&Rule> = rs
        .rules
        .iter()
        .filter(|r| !args.k8s_only || r.source == "k8s_audit")
        .collect();
    print!("{}", rules_table(&rules));
    ExitCode::SUCCESS
}

/// A plain-text table: name, priority, source, enabled, tags.
pub fn rules_table(rules: &[&Rule]) -> String {
    let rows: Vec<[String; 5]> = rules
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.priority.name().to_string(),
                r.source.clone(),
                if r.enabled { "yes" } else { "no" }.to_string(),
                r.tags.join(","),
            ]
        })
        .collect();
    table(&["RULE", "PRIORITY", "SOURCE", "ENABLED", "TAGS"], &rows)
}

fn table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let mut width = head.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == N {
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(head.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn arg_text(a: ArgKind) -> &'static str {
    match a {
        ArgKind::None => "",
        ArgKind::Index => "[index] optional",
        ArgKind::Key => "[key] required",
    }
}

pub fn fields(args: FieldsArgs) -> ExitCode {
    if args.markdown {
        let mut out = String::from(
            "| Field | Type | List | Argument | Description |\n|---|---|---|---|---|\n",
        );
        for f in FIELDS {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                f.name,
                f.ty.name(),
                if f.list { "yes" } else { "no" },
                arg_text(f.arg),
                f.doc.replace('|', "\\|")
            ));
        }
        print!("{out}");
    } else {
        let rows: Vec<[String; 5]> = FIELDS
            .iter()
            .map(|f| {
                [
                    f.name.to_string(),
                    f.ty.name().to_string(),
                    if f.list { "list" } else { "" }.to_string(),
                    arg_text(f.arg).to_string(),
                    f.doc.to_string(),
                ]
            })
            .collect();
        print!(
            "{}",
            table(&["FIELD", "TYPE", "LIST", "ARGUMENT", "DESCRIPTION"], &rows)
        );
    }
    ExitCode::SUCCESS
}
