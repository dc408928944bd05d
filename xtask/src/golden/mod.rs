//! `cargo xtask golden`: golden fixtures, bytes written by reference
//! implementations and committed under `fixtures/`, so that ferrokafka's
//! decoders and encoders are checked against them without Java or Python.
//!
//! - `golden records`: record-batch log segments written by the Java client,
//!   kafka-python and librdkafka through a real broker, each with a manifest
//!   of exactly what was sent (see [`records`]).
//! - `golden protocol`: Kafka's own generated message classes serialise
//!   message instances given as JSON lines (see [`protocol`]).
//! - `golden protocol-fixtures`: every message and version of the protocol
//!   crate, serialised by Kafka's classes (see [`protocol_fixtures`]).

pub mod java;
pub mod protocol;
pub mod protocol_fixtures;
pub mod records;

use std::path::PathBuf;

use crate::broker::jars;

/// Options of `cargo xtask golden`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which fixtures to make.
    #[command(subcommand)]
    pub command: Command,
}

/// The kinds of golden fixtures.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Record-batch segments from the Java client, kafka-python and
    /// librdkafka (through a real broker) into fixtures/records/.
    Records(records::Args),
    /// Serialise JSON-lines message instances with Kafka's generated Java
    /// classes (JSON in, bytes out).
    Protocol {
        /// JSON lines: `{"name":"FetchRequest","version":12,"instance":{...}}`
        /// (or `"hex"` instead of `"instance"` to decode bytes).
        #[arg(long)]
        input: PathBuf,
        /// Where to write one JSON line per input line.
        #[arg(long)]
        output: PathBuf,
        /// Apache Kafka release whose kafka-clients jar does the work.
        #[arg(long, default_value = jars::DEFAULT_KAFKA_VERSION)]
        kafka_version: String,
    },
    /// Every message and version of the protocol crate, serialised by
    /// Kafka's classes into fixtures/protocol/messages/.
    ProtocolFixtures {
        /// Apache Kafka release whose kafka-clients jar does the work.
        #[arg(long, default_value = jars::DEFAULT_KAFKA_VERSION)]
        kafka_version: String,
    },
}

/// Runs `cargo xtask golden`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        Command::Records(records_args) => records::run(records_args),
        Command::ProtocolFixtures { kafka_version } => protocol_fixtures::run(kafka_version),
        Command::Protocol {
            input,
            output,
            kafka_version,
        } => {
            let summary = protocol::serialize_with_java(input, output, kafka_version)?;
            eprintln!(
                "{} messages serialised, {} rejected by Kafka's classes; see {}",
                summary.serialized,
                summary.rejected,
                output.display()
            );
            Ok(())
        }
    }
}
