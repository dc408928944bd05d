//! ferrokafka: a pure-Rust Apache Kafka client.
//!
//! This facade re-exports the producer, consumer and admin clients and the
//! crates beneath them, so an application depends on this crate alone. It
//! deliberately adds no behaviour of its own beyond one `Config` with the
//! Java client's and kafka-python's key names.

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
