//! What can go wrong while consuming.

use ferrokafka_group::member::GroupError;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_transport::TransportError;
use ferrokafka_transport::config::ConfigError;

use crate::offsets::OffsetError;
use crate::positions::PositionError;

/// A consumer error. Each variant says what a person can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConsumeError {
    /// The settings are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reaching the cluster failed and retrying did not help in time.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Committing or fetching offsets failed.
    #[error(transparent)]
    Offsets(#[from] OffsetError),
    /// A partition has no valid position (`auto_offset_reset=none`, or not
    /// assigned).
    #[error(transparent)]
    Position(#[from] PositionError),
    /// A fetched batch is corrupt (bad CRC, undecodable compression): the
    /// position stays before it; seek past it to skip it.
    #[error("corrupt data in {topic}-{partition} at offset {offset}: {reason}")]
    Corrupt {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The position the fetch started at.
        offset: i64,
        /// What is wrong.
        reason: String,
    },
    /// A broker refused a fetch with an error retrying cannot fix.
    #[error("{topic}-{partition}: the broker answered {error}")]
    Broker {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Kafka's error.
        error: ErrorCode,
    },
    /// Group membership failed for good (fenced static member, no access
    /// to the group, no common assignor, ...).
    #[error("group membership failed: {0:?}")]
    Group(GroupError),
    /// The call does not fit the consumer's state (subscribe after assign,
    /// commit without a group, ...).
    #[error("{0}")]
    IllegalState(String),
    /// `wakeup` interrupted a poll (the Java client's WakeupException).
    #[error("the poll was woken up")]
    Wakeup,
    /// The consumer was closed.
    #[error("the consumer is closed")]
    Closed,
}
