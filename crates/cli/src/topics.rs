//! `ferrokafka topics` (to be written).

use std::process::ExitCode;

/// The `topics` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum TopicsCommand {}

pub(crate) fn run(command: &TopicsCommand) -> ExitCode {
    match *command {}
}
