//! The Rust crates' errors as the exceptions of `ferrokafka.errors`
//! (kafka-python's `kafka.errors`): each error is classified here into a
//! kind (and a Kafka error code where there is one) and the Python module
//! builds the exception of that kind.

use ferrokafka_admin::AdminError;
use ferrokafka_consumer::ConsumeError;
use ferrokafka_consumer::offsets::OffsetError;
use ferrokafka_consumer::positions::PositionError;
use ferrokafka_group::member::GroupError;
use ferrokafka_producer::ProduceError;
use ferrokafka_producer::idempotence::SequenceError;
use ferrokafka_producer::transaction::TransactionError;
use ferrokafka_transport::TransportError;
use ferrokafka_transport::config::ConfigError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// Which exception of `ferrokafka.errors` an error becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `BrokerResponseError` of the given code (`for_code`).
    Broker(i16),
    /// `KafkaTimeoutError`.
    Timeout,
    /// `KafkaConnectionError`.
    Connection,
    /// `IllegalStateError`.
    IllegalState,
    /// `CommitFailedError`.
    CommitFailed,
    /// `NoOffsetForPartitionError`.
    NoOffset,
    /// `LogTruncationError`.
    LogTruncation,
    /// `KafkaProtocolError`.
    Protocol,
    /// `KafkaConfigurationError` (a setting the cluster or the machine
    /// refuses; bad arguments are `ValueError`s).
    Configuration,
    /// `TransactionAbortedError`.
    TransactionAborted,
    /// `IllegalArgumentError`.
    IllegalArgument,
    /// `KafkaError`.
    Other,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Broker(_) => "broker",
            Kind::Timeout => "timeout",
            Kind::Connection => "connection",
            Kind::IllegalState => "illegal_state",
            Kind::CommitFailed => "commit_failed",
            Kind::NoOffset => "no_offset",
            Kind::LogTruncation => "log_truncation",
            Kind::Protocol => "protocol",
            Kind::Configuration => "configuration",
            Kind::TransactionAborted => "transaction_aborted",
            Kind::IllegalArgument => "illegal_argument",
            Kind::Other => "other",
        }
    }

    fn errno(self) -> Option<i16> {
        match self {
            Kind::Broker(code) => Some(code),
            _ => None,
        }
    }
}

/// The exception for an error of `kind` saying `message`, built by
/// `ferrokafka.errors._from_core`.
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn exception(py: Python<'_>, kind: Kind, message: String) -> PyErr {
    static FACTORY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let factory = FACTORY.get_or_try_init(py, || {
        py.import("ferrokafka.errors")?
            .getattr("_from_core")
            .map(Bound::unbind)
    });
    let built = factory.and_then(|factory| {
        factory
            .bind(py)
            .call1((kind.name(), kind.errno(), message.clone()))
    });
    match built {
        Ok(value) => PyErr::from_value(value),
        // The errors module itself failed: still say what went wrong.
        Err(error) => pyo3::exceptions::PyRuntimeError::new_err(format!("{message} ({error})")),
    }
}

/// A setting the Rust config refused, as the `ValueError` naming it that
/// kafka-python raises for a bad argument.
pub(crate) fn config_error(error: &ConfigError) -> PyErr {
    PyValueError::new_err(format!(
        "{}: {} (got {:?})",
        error.key, error.reason, error.value
    ))
}

fn transport_kind(error: &TransportError) -> Kind {
    match error {
        TransportError::Io { .. }
        | TransportError::Closed { .. }
        | TransportError::NoBrokerAvailable { .. }
        | TransportError::UnknownBroker { .. }
        | TransportError::MisroutedConnection { .. }
        | TransportError::Tls { .. } => Kind::Connection,
        TransportError::Timeout { .. } => Kind::Broker(7),
        TransportError::GaveUp { last_error, .. } => match last_error.as_deref() {
            Some(TransportError::Broker { code, .. }) => Kind::Broker(*code),
            Some(TransportError::UnknownTopic { .. }) => Kind::Broker(3),
            _ => Kind::Timeout,
        },
        TransportError::FrameTooLarge { .. }
        | TransportError::Protocol { .. }
        | TransportError::Encode { .. }
        | TransportError::Decode { .. } => Kind::Protocol,
        TransportError::UnsupportedApi { .. } => Kind::Broker(35),
        TransportError::Auth { .. } => Kind::Broker(58),
        TransportError::Broker { code, .. } => Kind::Broker(*code),
        TransportError::Config { .. } => Kind::Configuration,
        TransportError::UnknownTopic { .. } => Kind::Broker(3),
        TransportError::Coordinator { .. } => Kind::Broker(15),
    }
}

fn sequence_kind(error: &SequenceError) -> Kind {
    match error {
        SequenceError::Refused(code)
        | SequenceError::Fatal(code)
        | SequenceError::RetriesExhausted(Some(code)) => Kind::Broker(code.code()),
        SequenceError::RetriesExhausted(None) => Kind::Timeout,
        SequenceError::ProducerFenced => Kind::Broker(90),
        SequenceError::InvalidProducerEpoch => Kind::Broker(47),
        SequenceError::TransactionAbortable => Kind::Broker(120),
        SequenceError::ProducerFailed(inner) => sequence_kind(inner),
    }
}

fn transaction_kind(error: &TransactionError) -> Kind {
    match error {
        TransactionError::InvalidState { .. } | TransactionError::NotTransactional { .. } => {
            Kind::IllegalState
        }
        TransactionError::ProducerFenced => Kind::Broker(90),
        TransactionError::TransactionalIdAuthorizationFailed => Kind::Broker(53),
        TransactionError::ClusterAuthorizationFailed => Kind::Broker(31),
        TransactionError::GroupAuthorizationFailed { .. } => Kind::Broker(30),
        TransactionError::TopicAuthorizationFailed { .. } => Kind::Broker(29),
        TransactionError::CommitFailed(_) => Kind::CommitFailed,
        TransactionError::Broker { error, .. } => Kind::Broker(error.code()),
        TransactionError::Produce(error) => sequence_kind(error),
        TransactionError::Aborted => Kind::TransactionAborted,
        TransactionError::Earlier(inner) => transaction_kind(inner),
        TransactionError::Timeout { .. } => Kind::Timeout,
        TransactionError::Closed => Kind::IllegalState,
    }
}

/// A producer's error as a Python exception.
pub(crate) fn produce_error(py: Python<'_>, error: &ProduceError) -> PyErr {
    let kind = match error {
        ProduceError::Config(config) => return config_error(config),
        ProduceError::Transport(error) => transport_kind(error),
        ProduceError::Broker { error, .. } => Kind::Broker(error.code()),
        ProduceError::Blocked { .. } | ProduceError::DeliveryTimeout { .. } => Kind::Timeout,
        // The only record the accumulator refuses for good is one larger
        // than max_request_size or buffer_memory.
        ProduceError::Record(_) => Kind::Broker(10),
        ProduceError::NoSuchPartition { .. } => {
            return PyValueError::new_err(format!("partition: {error}"));
        }
        ProduceError::Sequence(error) => sequence_kind(error),
        ProduceError::Transaction(error) => transaction_kind(error),
        ProduceError::Closed => Kind::IllegalState,
    };
    exception(py, kind, error.to_string())
}

/// A transactional call's error as a Python exception.
pub(crate) fn transaction_error(py: Python<'_>, error: &TransactionError) -> PyErr {
    exception(py, transaction_kind(error), error.to_string())
}

fn group_kind(error: &GroupError) -> Kind {
    match error {
        GroupError::CoordinatorUnavailable => Kind::Broker(15),
        GroupError::CoordinatorLoading => Kind::Broker(14),
        GroupError::UnknownMemberId => Kind::Broker(25),
        GroupError::IllegalGeneration => Kind::Broker(22),
        GroupError::RebalanceInProgress => Kind::Broker(27),
        GroupError::MemberIdRequired(_) => Kind::Broker(79),
        GroupError::FencedInstanceId => Kind::Broker(82),
        GroupError::GroupAuthorizationFailed => Kind::Broker(30),
        GroupError::InconsistentGroupProtocol => Kind::Broker(23),
        GroupError::GroupMaxSizeReached => Kind::Broker(81),
        GroupError::Network => Kind::Connection,
        GroupError::UnsupportedGroupProtocol(_) => Kind::Broker(35),
        GroupError::Other { code, .. } => Kind::Broker(*code),
    }
}

/// A consumer's error as a Python exception.
pub(crate) fn consume_error(py: Python<'_>, error: &ConsumeError) -> PyErr {
    let kind = match error {
        ConsumeError::Config(config) => return config_error(config),
        ConsumeError::Transport(error) => transport_kind(error),
        ConsumeError::Offsets(error) => {
            if error.is_rebalance() {
                Kind::CommitFailed
            } else {
                match error {
                    OffsetError::Transport(error) => transport_kind(error),
                    OffsetError::Broker { error, .. } => Kind::Broker(error.code()),
                }
            }
        }
        ConsumeError::Position(PositionError::NotAssigned(_)) | ConsumeError::IllegalState(_) => {
            Kind::IllegalState
        }
        ConsumeError::Position(PositionError::NoResetPolicy { .. }) => Kind::NoOffset,
        ConsumeError::Position(PositionError::LogTruncation { .. }) => Kind::LogTruncation,
        ConsumeError::Corrupt { .. } => Kind::Broker(2),
        ConsumeError::Broker { error, .. } => Kind::Broker(error.code()),
        ConsumeError::Group(error) => group_kind(error),
        ConsumeError::Closed | ConsumeError::Wakeup => Kind::IllegalState,
    };
    exception(py, kind, error.to_string())
}

/// An admin client's error as a Python exception.
pub(crate) fn admin_error(py: Python<'_>, error: &AdminError) -> PyErr {
    let kind = match error {
        AdminError::Config(config) => return config_error(config),
        AdminError::Transport(error) => transport_kind(error),
        AdminError::Broker { error, .. } => Kind::Broker(error.code.code()),
        AdminError::TimedOut { .. } => Kind::Timeout,
        AdminError::InvalidArgument(_) => Kind::IllegalArgument,
        AdminError::UnexpectedResponse(_) => Kind::Protocol,
        AdminError::Closed => Kind::IllegalState,
    };
    exception(py, kind, error.to_string())
}

/// `Kind::Other` with `message`, for errors of this module itself.
pub(crate) fn other(py: Python<'_>, message: String) -> PyErr {
    exception(py, Kind::Other, message)
}
