//! `cargo xtask codegen`: generates `crates/protocol/src/messages/` from
//! Apache Kafka's JSON message schemas.

use std::path::PathBuf;

/// Options of `cargo xtask codegen`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Fail instead of writing when the committed code is stale.
    #[arg(long)]
    pub check: bool,
    /// Folder of Kafka's message schemas (default: ../shared/kafka-message-schemas).
    #[arg(long)]
    pub schemas: Option<PathBuf>,
}

/// Runs the generator.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("codegen is not written yet")
}
