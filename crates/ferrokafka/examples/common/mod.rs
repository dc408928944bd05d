//! What the examples share: where the cluster is, which topic, and how
//! long to wait. Each example takes `[bootstrap_servers] [topic]` as
//! arguments; without the first it reads `KAFKA_BOOTSTRAP_SERVERS`, then
//! falls back to a broker on this machine.

// Each example uses a part of this module.
#![allow(dead_code)]

use std::time::Duration;

use ferrokafka::Config;
use ferrokafka::transport::config::ConfigError;

/// How many orders the producer example writes and the others read.
pub(crate) const ORDERS: usize = 10;

/// How long an example waits for records before it gives up.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// The first argument, else `KAFKA_BOOTSTRAP_SERVERS`, else a local broker.
pub(crate) fn bootstrap_servers() -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("KAFKA_BOOTSTRAP_SERVERS").ok())
        .unwrap_or_else(|| "127.0.0.1:9092".to_string())
}

/// The second argument, else `orders`.
pub(crate) fn topic() -> String {
    std::env::args()
        .nth(2)
        .unwrap_or_else(|| "orders".to_string())
}

/// The cluster's settings with `pairs` on top.
pub(crate) fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut config = Config::from_pairs([("bootstrap_servers", bootstrap_servers())])?;
    config.extend_pairs(pairs.iter().copied())?;
    Ok(config)
}

/// An error that ends an example.
pub(crate) fn failure(message: impl Into<String>) -> Box<dyn std::error::Error> {
    message.into().into()
}
