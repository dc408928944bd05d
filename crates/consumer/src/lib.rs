//! The Kafka consumer: subscriptions, fetch sessions, positions, offsets and
//! the consumer API, driving the group state machine over the transport.
//!
//! It is deliberately not the group protocol itself (that is the group crate)
//! nor a wire-format decoder (that is the records crate).

pub mod config;
pub mod offsets;
pub mod positions;
pub mod read_committed;

pub use config::{ConsumerConfig, IsolationLevel};
