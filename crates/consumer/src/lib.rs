//! The Kafka consumer: subscriptions, fetch sessions, positions, offsets and
//! the consumer API, driving the group state machine over the transport.
//!
//! It is deliberately not the group protocol itself (that is the group crate)
//! nor a wire-format decoder (that is the records crate).

mod blocking;
pub mod config;
mod consumer;
mod consumer_membership;
mod error;
mod fetch;
mod fetch_session;
mod membership;
mod metrics;
pub mod offsets;
pub mod positions;
pub mod read_committed;
mod rebalance;
mod record;
mod stream;

pub use blocking::{BlockingConsumer, RecordIter};
pub use config::{ConsumerConfig, IsolationLevel};
pub use consumer::Consumer;
pub use error::ConsumeError;
pub use ferrokafka_group::assignor::TopicPartition;
pub use membership::Rebalance;
pub use metrics::{ConsumerMetrics, TopicMetrics};
pub use rebalance::{RebalanceContext, RebalanceListener};
pub use record::ConsumerRecord;
pub use stream::RecordStream;
