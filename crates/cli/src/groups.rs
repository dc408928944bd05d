//! `ferrokafka groups` (to be written).

use std::process::ExitCode;

/// The `groups` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum GroupsCommand {}

pub(crate) fn run(command: &GroupsCommand) -> ExitCode {
    match *command {}
}
