//! `kaudit codegen` (not implemented yet).

use std::process::ExitCode;

#[derive(clap::Args, Debug, Default)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("kaudit: 'codegen' is not implemented yet");
    ExitCode::from(2)
}
