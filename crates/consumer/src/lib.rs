//! The Kafka consumer: subscriptions, fetch sessions, positions, offsets and
//! the consumer API, driving the group state machine over the transport.
//!
//! The share consumer (KIP-932: share groups, Kafka's queues) lives here too,
//! beside the consumer: [`ShareConsumer`] and [`BlockingShareConsumer`].
//!
//! It is deliberately not the group protocol itself (that is the group crate)
//! nor a wire-format decoder (that is the records crate).

mod blocking;
pub mod config;
mod consumer;
mod consumer_membership;
mod coordinator_metrics;
mod error;
mod fetch;
mod fetch_buffer;
mod fetch_session;
mod membership;
mod metrics;
pub mod offsets;
pub mod positions;
pub mod read_committed;
mod rebalance;
mod record;
mod share_blocking;
pub mod share_config;
mod share_consumer;
mod share_membership;
mod share_metrics;
mod share_record;
mod share_session;
mod stream;
mod telemetry;
mod typed;

pub use blocking::{BlockingConsumer, RecordIter};
pub use config::{ConsumerConfig, IsolationLevel};
pub use consumer::Consumer;
pub use coordinator_metrics::CoordinatorMetrics;
pub use error::ConsumeError;
pub use ferrokafka_group::assignor::TopicPartition;
pub use ferrokafka_group::share_acks::{AcknowledgeType, AcknowledgementMode};
pub use membership::Rebalance;
pub use metrics::{ConsumerMetrics, TopicMetrics};
pub use rebalance::{RebalanceContext, RebalanceListener};
pub use record::ConsumerRecord;
pub use share_blocking::BlockingShareConsumer;
pub use share_config::{ShareAcquireMode, ShareConsumerConfig};
pub use share_consumer::{AcknowledgementCallback, AcknowledgementResults, ShareConsumer};
pub use share_metrics::ShareConsumerMetrics;
pub use share_record::ShareRecord;
pub use stream::RecordStream;
pub use typed::{DeserializeError, RecordPart, TypedConsumer, TypedConsumerRecord};
