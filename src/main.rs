use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    codexapi::cli::run(codexapi::cli::Cli::parse())
}
