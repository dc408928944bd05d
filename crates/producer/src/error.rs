//! Why a record was not delivered.

use std::time::Duration;

use ferrokafka_protocol::ErrorCode;
use ferrokafka_transport::TransportError;
use ferrokafka_transport::config::ConfigError;

use crate::idempotence::SequenceError;
use crate::transaction::TransactionError;

/// A failed `send` or delivery. Each variant says what a person can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProduceError {
    /// The settings are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reaching the cluster failed and retrying did not help in time.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The broker refused the record's batch with an error that retrying
    /// cannot fix (or the retries ran out).
    #[error("{topic}-{partition}: the broker answered {error}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Kafka's error.
        error: ErrorCode,
        /// The broker's message, if any.
        message: Option<String>,
    },
    /// `send` waited `max_block_ms` for metadata or for `buffer_memory`.
    #[error("send blocked for {waited:?} (max_block_ms) waiting for {what}")]
    Blocked {
        /// What it waited for.
        what: String,
        /// How long.
        waited: Duration,
    },
    /// The record was not acknowledged within `delivery_timeout_ms`.
    #[error("{topic}-{partition}: not delivered within {timeout:?} (delivery_timeout_ms){}", last_error.as_ref().map(|e| format!("; the last attempt failed: {e}")).unwrap_or_default())]
    DeliveryTimeout {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The configured timeout.
        timeout: Duration,
        /// Why the last attempt failed, if one was made.
        last_error: Option<Box<ProduceError>>,
    },
    /// The record can never be sent as it is.
    #[error("{0}")]
    Record(String),
    /// The partition asked for does not exist.
    #[error("{topic} has {count} partitions; partition {partition} does not exist")]
    NoSuchPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many the topic has.
        count: usize,
    },
    /// The idempotence rules failed the record (a fatal error such as an
    /// authorization failure, or a refused epoch).
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    /// A transactional producer failed the record: sent outside a
    /// transaction, the transaction aborted or failed, or the producer was
    /// fenced by a newer one with the same transactional id.
    #[error(transparent)]
    Transaction(#[from] TransactionError),
    /// The producer was closed before the record was delivered.
    #[error("the producer is closed")]
    Closed,
}
