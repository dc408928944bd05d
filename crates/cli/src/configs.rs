//! `ferrokafka configs` (to be written).

use std::process::ExitCode;

/// The `configs` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum ConfigsCommand {}

pub(crate) fn run(command: &ConfigsCommand) -> ExitCode {
    match *command {}
}
