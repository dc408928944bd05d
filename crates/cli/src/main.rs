//! The `ferrokafka` command-line tool.

mod connection_args;
mod dump_log;
mod metadata;
mod produce;

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
    /// Send each line of standard input as a record.
    Produce(produce::ProduceArgs),
}

fn main() -> ExitCode {
    let command = Command::parse();
    match command {
        Command::DumpLog(args) => dump_log::run(&args),
        Command::Metadata(args) => metadata::run(&args),
        Command::Produce(args) => produce::run(&args),
    }
}
