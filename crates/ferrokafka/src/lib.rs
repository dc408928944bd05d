//! ferrokafka: a pure-Rust Apache Kafka client.
//!
//! This facade re-exports the producer, consumer and admin clients and the
//! crates beneath them, so an application depends on this crate alone. It
//! deliberately adds no behaviour of its own beyond one [`Config`] with the
//! Java client's and kafka-python's key names, which builds any of them.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use ferrokafka::Config;
//!
//! // From a Java client's file, then the environment (KAFKA_LINGER_MS=5 ...).
//! let mut config = Config::from_properties_file("client.properties")?;
//! config.extend_pairs(Config::from_env("KAFKA_")?.pairs())?;
//! let producer = config.producer().await?;
//! # let _ = producer;
//! let admin = config.admin().await?;
//! # let _ = admin;
//! # Ok(()) }
//! ```

mod config;
mod nearest;
mod properties;

pub use config::{ClientKind, Config, LoadError};

pub use ferrokafka_admin as admin;
pub use ferrokafka_consumer as consumer;
pub use ferrokafka_group as group;
pub use ferrokafka_producer as producer;
pub use ferrokafka_protocol as protocol;
pub use ferrokafka_records as records;
pub use ferrokafka_serde as serde;
pub use ferrokafka_transport as transport;

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExamples;
