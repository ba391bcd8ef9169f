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

/// Rule files given as `-r FILE` and as positional arguments, loaded in that order (validate, lint).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct RuleFilePaths {
    /// Rule file to load (repeatable, loaded in order).
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    pub rules: Vec<std::path::PathBuf>,
    /// Also accept rule files as positional arguments (after the -r files).
    #[arg(value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,
}

impl RuleFilePaths {
    /// Every rule file, `-r` ones first.
    pub fn paths(&self) -> Vec<std::path::PathBuf> {
        self.rules.iter().chain(&self.files).cloned().collect()
    }
}
