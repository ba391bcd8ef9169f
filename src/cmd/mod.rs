//! One module per subcommand.

#[cfg(feature = "codegen")]
pub mod codegen;
pub mod explain;
pub mod lint;
pub mod list;
pub mod replay;
pub mod serve;
pub mod test;
pub mod validate;

/// `-r FILE... [--with-builtin-rules]`, shared by the commands that run rules (test, explain).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct RuleFiles {
    /// Rule file (repeatable, loaded in order, interpreted); without -r the compiled-in rules.
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    pub rules: Vec<std::path::PathBuf>,
    /// With -r: load the built-in rule files first, then the -r files.
    #[arg(long)]
    pub with_builtin_rules: bool,
}
