//! What an admin operation, or one item of it, can fail with.

use std::time::Duration;

use ferrokafka_protocol::{ErrorCode, KafkaError};
use ferrokafka_transport::TransportError;
use ferrokafka_transport::config::ConfigError;

/// An admin failure, for a whole operation or for one of its items.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdminError {
    /// The settings are wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reaching a broker failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The broker refused `what` (a topic, a group, a resource...).
    #[error("{what}: {error}")]
    Broker {
        /// The item concerned.
        what: String,
        /// Kafka's error code and message.
        error: KafkaError,
    },
    /// The operation's timeout ran out while a retriable error persisted.
    #[error("{what}: gave up after {after:?}{}", last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    TimedOut {
        /// The item or operation concerned.
        what: String,
        /// The timeout.
        after: Duration,
        /// The error of the last attempt.
        last_error: Option<Box<AdminError>>,
    },
    /// The caller asked for something that cannot be sent (an empty name,
    /// a negative partition count, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The admin client was closed ([`crate::Admin::close`]) before or
    /// during the operation.
    #[error("the admin client is closed: operations after close() are refused")]
    Closed,
    /// The broker answered something this client cannot use (an item it
    /// was not asked about, a malformed assignment...).
    #[error("unexpected response: {0}")]
    UnexpectedResponse(String),
}

impl AdminError {
    /// The broker's error for `what`, or `None` when `code` is `NONE`.
    pub fn from_code(
        what: impl Into<String>,
        code: ErrorCode,
        message: Option<String>,
    ) -> Option<Self> {
        code.into_result(message)
            .err()
            .map(|error| AdminError::Broker {
                what: what.into(),
                error,
            })
    }

    /// Kafka's error code, when the broker gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            AdminError::Broker { error, .. } => Some(error.code),
            AdminError::TimedOut {
                last_error: Some(last),
                ..
            } => last.code(),
            _ => None,
        }
    }

    /// Whether trying again may succeed (a moved leader or coordinator, a
    /// dropped connection, a broker still loading).
    pub fn is_retriable(&self) -> bool {
        match self {
            AdminError::Transport(error) => error.is_retriable(),
            AdminError::Broker { error, .. } => error.is_retriable(),
            _ => false,
        }
    }
}
