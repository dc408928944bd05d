//! What can go wrong between sending a request and reading its response.

use std::time::Duration;

/// A transport failure. Every variant says what a person can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// Connecting or reading/writing the socket failed.
    #[error("I/O error talking to {broker}: {message}")]
    Io {
        /// The broker's address.
        broker: String,
        /// The operating system's message.
        message: String,
        /// The kind of I/O error.
        kind: std::io::ErrorKind,
    },
    /// The broker sent a frame larger than `receive_message_max_bytes`; it
    /// was refused before anything was allocated for it.
    #[error("{broker} sent a {size}-byte frame, more than receive_message_max_bytes ({max})")]
    FrameTooLarge {
        /// The broker's address.
        broker: String,
        /// The length the frame claimed.
        size: i64,
        /// The configured limit.
        max: usize,
    },
    /// The broker broke the framing or correlation rules; the connection was
    /// closed and every request waiting on it failed with this error.
    #[error("protocol violation by {broker}: {reason}")]
    Protocol {
        /// The broker's address.
        broker: String,
        /// What the broker did.
        reason: String,
    },
    /// No response within `request_timeout_ms`. The connection is closed,
    /// since a late response can no longer be matched safely.
    #[error("{api} request to {broker} timed out after {after:?} (request_timeout_ms)")]
    Timeout {
        /// The broker's address.
        broker: String,
        /// The API of the request.
        api: String,
        /// How long the request waited.
        after: Duration,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name, ...).
    #[error("TLS with {broker} failed: {reason}")]
    Tls {
        /// The broker's address.
        broker: String,
        /// What went wrong.
        reason: String,
    },
    /// The broker and this client share no version of an API.
    #[error("{broker} cannot serve {api}: {reason}")]
    UnsupportedApi {
        /// The broker's address.
        broker: String,
        /// The API.
        api: String,
        /// The versions on each side.
        reason: String,
    },
    /// SASL authentication failed (wrong credentials, unknown mechanism, ...).
    #[error("SASL {mechanism} authentication with {broker} failed: {reason}")]
    Auth {
        /// The broker's address.
        broker: String,
        /// The mechanism.
        mechanism: String,
        /// The broker's message or what went wrong.
        reason: String,
    },
    /// A request could not be encoded.
    #[error("cannot encode a request for {broker}: {reason}")]
    Encode {
        /// The broker's address.
        broker: String,
        /// What is wrong.
        reason: String,
    },
    /// A response could not be decoded.
    #[error("cannot decode a response from {broker}: {reason}")]
    Decode {
        /// The broker's address.
        broker: String,
        /// What is wrong.
        reason: String,
    },
    /// The broker answered with an error code at the request level.
    #[error("{broker} answered {api} with error code {code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The broker's address.
        broker: String,
        /// The API.
        api: String,
        /// Kafka error code.
        code: i16,
        /// The broker's message, if any.
        message: Option<String>,
    },
    /// The connection was closed (by the broker, by an earlier error, or by
    /// this client) before the response arrived.
    #[error("connection to {broker} closed: {reason}")]
    Closed {
        /// The broker's address.
        broker: String,
        /// Why it closed.
        reason: String,
    },
    /// The client's settings are unusable.
    #[error("invalid configuration: {reason}")]
    Config {
        /// What is wrong, naming the key.
        reason: String,
    },
    /// The broker at a node's address belongs to another cluster than the
    /// one the client's metadata describes (KIP-1242): the connection is
    /// refused, not used, and the client rebootstraps.
    #[error("{broker} is not node {node} of cluster {expected_cluster}: it belongs to {}; the connection is not used and the client goes back to its bootstrap servers", found_cluster.as_deref().map_or_else(|| "another cluster".to_string(), |c| format!("cluster {c}")))]
    MisroutedConnection {
        /// The address connected to.
        broker: String,
        /// The cluster id the client expected.
        expected_cluster: String,
        /// The node id the client expected.
        node: i32,
        /// The cluster id the broker reported, when the client could learn it.
        found_cluster: Option<String>,
    },
    /// None of the known brokers or bootstrap servers could be reached.
    #[error("no broker could be reached: {tried}")]
    NoBrokerAvailable {
        /// Each address tried and why it failed.
        tried: String,
    },
    /// A node id the metadata does not (or no longer does) name.
    #[error("broker {node} is not in the cluster metadata")]
    UnknownBroker {
        /// The node id.
        node: i32,
    },
    /// The cluster does not know the topic.
    #[error("topic {topic} does not exist (UNKNOWN_TOPIC_OR_PARTITION){}", if *creation_requested {
        "; the client asked the broker to create it and it did not: the broker's \
         auto.create.topics.enable is false, so create the topic first \
         (`ferrokafka topics create`) or set auto.create.topics.enable=true on the brokers"
    } else {
        ""
    })]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// Whether the metadata request asked the broker to create it: a
        /// broker answers UNKNOWN_TOPIC_OR_PARTITION to that only when its
        /// `auto.create.topics.enable` is false.
        creation_requested: bool,
    },
    /// FindCoordinator failed for a key with an error that retrying cannot fix.
    #[error("no coordinator for {key}: {reason}")]
    Coordinator {
        /// The group or transactional id.
        key: String,
        /// Kafka's error (an authorization failure, say); `None` when the
        /// answer did not name the key at all.
        error: Option<ferrokafka_protocol::ErrorCode>,
        /// The broker's message or error name.
        reason: String,
    },
    /// A lookup kept failing with retriable errors until
    /// `default_api_timeout_ms` ran out.
    #[error("gave up on {what} after {after:?} (default_api_timeout_ms){}", last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    GaveUp {
        /// What was being looked up.
        what: String,
        /// How long the client tried.
        after: Duration,
        /// The last failure, if any.
        last_error: Option<Box<TransportError>>,
    },
}

impl TransportError {
    /// Whether the same request may succeed if sent again, on a new
    /// connection if need be.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            TransportError::Io { .. }
                | TransportError::Timeout { .. }
                | TransportError::Closed { .. }
                | TransportError::NoBrokerAvailable { .. }
                | TransportError::MisroutedConnection { .. }
                | TransportError::UnknownBroker { .. }
                | TransportError::UnknownTopic { .. }
        )
    }

    pub(crate) fn io(broker: &str, error: &std::io::Error) -> Self {
        TransportError::Io {
            broker: broker.to_string(),
            message: error.to_string(),
            kind: error.kind(),
        }
    }
}
