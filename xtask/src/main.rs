//! `cargo xtask`: ferrokafka's developer tasks.

use clap::Parser;

/// ferrokafka's developer tasks.
#[derive(Parser, Debug)]
enum Task {
    /// Generate the protocol crate's message modules from Kafka's schemas.
    Codegen(xtask::codegen::Args),
}

fn main() -> anyhow::Result<()> {
    match Task::parse() {
        Task::Codegen(args) => xtask::codegen::run(&args),
    }
}
