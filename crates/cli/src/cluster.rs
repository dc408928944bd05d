//! `ferrokafka cluster` (to be written).

use std::process::ExitCode;

/// The `cluster` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum ClusterCommand {}

pub(crate) fn run(command: &ClusterCommand) -> ExitCode {
    match *command {}
}
