//! `ferrokafka acls` (to be written).

use std::process::ExitCode;

/// The `acls` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum AclsCommand {}

pub(crate) fn run(command: &AclsCommand) -> ExitCode {
    match *command {}
}
