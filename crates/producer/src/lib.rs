//! The Kafka producer: the record accumulator, partitioners, the idempotence
//! and transaction state machines (sans-I/O) and the sender tasks that drive
//! them over the transport.
//!
//! It is deliberately not a consumer or an admin client, and it holds no
//! wire-format code: encoding lives in the protocol and records crates.

pub mod accumulator;
mod availability;
mod blocking;
mod category;
pub mod config;
mod error;
pub mod idempotence;
mod metrics;
pub mod partitioner;
mod producer;
mod record;
mod sender;
mod telemetry;
mod topics;
pub mod transaction;
mod typed;
mod unsettled;
mod wall_clock;

pub use blocking::{BlockingDelivery, BlockingProducer};
pub use category::ErrorCategory;
pub use config::{Acks, ProducerConfig};
pub use error::ProduceError;
pub use metrics::{ProducerMetrics, TopicMetrics};
pub use producer::{DeliveryCallback, DeliveryFuture, Producer, TopicPartition};
pub use record::{ProducerRecord, RecordMetadata};
pub use typed::{TypedProducer, TypedRecord, TypedSendError};
