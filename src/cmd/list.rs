//! `kaudit list-rules` and `kaudit list-fields` (not implemented yet).

use std::process::ExitCode;

#[derive(clap::Args, Debug, Default)]
pub struct RulesArgs {}

#[derive(clap::Args, Debug, Default)]
pub struct FieldsArgs {}

pub fn rules(_args: RulesArgs) -> ExitCode {
    ExitCode::from(2)
}

pub fn fields(_args: FieldsArgs) -> ExitCode {
    ExitCode::from(2)
}
