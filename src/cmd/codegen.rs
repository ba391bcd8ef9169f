//! `kaudit codegen [-r FILE...]`: prints the Rust code the rule compiler generates for rule files (what
//! `compile_rules!` puts into the binary), formatted for reading. Without `-r`: the code of the rule
//! files compiled into this binary.

use kaudit_frontend::load::{load_files, load_sources};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Rule file to compile (repeatable, loaded in order). Default: the compiled-in rule files.
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    let res = if args.rules.is_empty() {
        load_sources(crate::engine::builtin_sources())
    } else {
        load_files(&args.rules)
    };
    if !res.diagnostics.is_empty() {
        eprintln!("{}", res.render());
    }
    let Some(ruleset) = &res.ruleset else {
        eprintln!("kaudit: rules failed to load");
        return ExitCode::from(1);
    };
    let code = match pretty(&kaudit_codegen::generate(ruleset).to_string()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kaudit: internal error: generated code does not parse: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(code.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kaudit: {e}");
            ExitCode::from(1)
        }
    }
}

/// Formats Rust source text the way `rustfmt`-like printers do.
fn pretty(code: &str) -> Result<String, String> {
    let file = syn3::parse_str::<syn3::File>(code).map_err(|e| e.to_string())?;
    Ok(prettyplease::unparse(&file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_code_is_printed_readably() {
        let rules = "- rule: r\n  desc: d\n  condition: ka.verb = get\n  output: o\n  priority: INFO\n  source: k8s_audit\n";
        let Some(rs) = kaudit_frontend::load::load_sources(&[("r.yaml", rules)]).ruleset else {
            panic!("rules load")
        };
        let code = pretty(&kaudit_codegen::generate(&rs).to_string()).unwrap_or_default();
        let expected = "    fn rule_0_r(c: &Ctx<'_>) -> bool {\n        rt::compiled::any_str(c.ka_verb(), |s| str_test(CmpOp::Eq, s, \"get\"))\n    }";
        assert!(code.contains(expected), "{code}");
    }
}
