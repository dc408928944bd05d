//! The `ferrokafka` command-line tool.

mod acls;
mod bench;
mod cluster;
mod configs;
mod connection_args;
mod consume;
mod dump_log;
mod groups;
mod metadata;
mod produce;
mod share_consume;
mod stop;
mod topics;

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
    /// Print records of topics to standard output.
    Consume(consume::ConsumeArgs),
    /// Print records of topics as a member of a share group (KIP-932),
    /// acknowledging each.
    ShareConsume(share_consume::ShareConsumeArgs),
    /// Measure producing or consuming against a cluster (the ferrokafka side
    /// of `cargo xtask bench`): one JSON line of results on stdout.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// List, describe, create, delete and alter topics.
    #[command(subcommand)]
    Topics(topics::TopicsCommand),
    /// Describe and alter broker, topic and logger configs.
    #[command(subcommand)]
    Configs(configs::ConfigsCommand),
    /// List, describe and delete consumer groups, and reset their offsets.
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// List, create and delete ACLs.
    #[command(subcommand)]
    Acls(acls::AclsCommand),
    /// Describe the cluster: brokers, controller, features, quorum.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
}

fn main() -> ExitCode {
    // `RUST_LOG=debug ferrokafka ...` shows what the client does; quiet
    // (warnings only) otherwise.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let command = Command::parse();
    match command {
        Command::DumpLog(args) => dump_log::run(&args),
        Command::Metadata(args) => metadata::run(&args),
        Command::Produce(args) => produce::run(&args),
        Command::Consume(args) => consume::run(&args),
        Command::ShareConsume(args) => share_consume::run(&args),
        Command::Bench(command) => bench::run(&command),
        Command::Topics(command) => topics::run(&command),
        Command::Configs(command) => configs::run(&command),
        Command::Groups(command) => groups::run(&command),
        Command::Acls(command) => acls::run(&command),
        Command::Cluster(command) => cluster::run(&command),
    }
}
