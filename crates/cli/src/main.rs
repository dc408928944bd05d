//! The `ferrokafka` command-line tool.

mod dump_log;
mod metadata;

use std::process::ExitCode;

use clap::Parser;

/// A Kafka command-line tool with no C library underneath.
#[derive(Parser, Debug)]
#[command(name = "ferrokafka", version, about)]
enum Command {
    /// Print the batches and records of Kafka log segment files (`*.log`)
    /// as JSON, one object per line.
    DumpLog(dump_log::DumpLogArgs),
    /// Print a cluster's brokers, topics and partitions (kcat -L style, or --json).
    Metadata(metadata::MetadataArgs),
}

fn main() -> ExitCode {
    let command = Command::parse();
    match command {
        Command::DumpLog(args) => dump_log::run(&args),
        Command::Metadata(args) => metadata::run(&args),
    }
}
