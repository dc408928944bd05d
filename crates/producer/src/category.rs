//! What an application does about a transactional producer's error: the
//! categories of KIP-1050, as the Java client 4.1 sorts its exceptions,
//! each with the one action it calls for.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_transport::TransportError;

use crate::ProduceError;
use crate::idempotence::SequenceError;
use crate::transaction::TransactionError;

/// The KIP-1050 category of an error, from the least disruptive to the
/// most: what the application does about it.
///
/// ```no_run
/// # async fn example(
/// #     producer: ferrokafka_producer::Producer,
/// #     records: Vec<ferrokafka_producer::ProducerRecord>,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use ferrokafka_producer::ErrorCategory;
///
/// // One turn of a consume-transform-produce loop.
/// producer.begin_transaction()?;
/// let mut outcome = Ok(());
/// for record in records {
///     if let Err(error) = producer.send(record).await {
///         outcome = Err(error.category());
///         break;
///     }
/// }
/// if outcome.is_ok() {
///     outcome = producer
///         .commit_transaction(Duration::from_secs(30))
///         .await
///         .map_err(|e| e.category());
/// }
/// match outcome {
///     Ok(()) => {}
///     // A timed-out commit goes on: call it again for the same outcome.
///     Err(ErrorCategory::Retriable | ErrorCategory::RefreshRetriable) => {
///         producer.commit_transaction(Duration::from_secs(30)).await?;
///     }
///     // Abort, rewind the consumer to its last committed offsets, go on.
///     Err(ErrorCategory::Abortable) => {
///         producer.abort_transaction(Duration::from_secs(30)).await?;
///     }
///     // Close this producer; a new one (init_transactions again) takes over.
///     Err(ErrorCategory::ApplicationRecoverable) => return Err("restart the producer".into()),
///     // Fix the settings, or stop: nothing done here helps.
///     Err(ErrorCategory::InvalidConfiguration | ErrorCategory::Fatal) => {
///         return Err("stop".into())
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// Transient: the client retries by itself. Reaching the application,
    /// it means an operation ran out of its time and goes on: call the
    /// same operation again to wait for its outcome.
    Retriable,
    /// Transient, after the client learned the cluster's metadata or the
    /// coordinator again (a moved leader or coordinator): as [`Self::Retriable`].
    RefreshRetriable,
    /// The transaction cannot commit, but the producer can go on: abort
    /// the transaction, rewind the input to the last committed offsets, and
    /// process it again.
    Abortable,
    /// The producer can do nothing more (fenced by a newer one with the same
    /// transactional id): close it; the application recovers by starting a
    /// new producer (rebalancing its work, restoring from a checkpoint).
    ApplicationRecoverable,
    /// The settings are wrong for what was asked (no `transactional_id`, a
    /// transaction timeout the broker refuses): fix them.
    InvalidConfiguration,
    /// Nothing the application does makes this producer work again
    /// (authorization, unsupported broker, misuse of the API, closed).
    Fatal,
}

impl ErrorCategory {
    /// The category of a Kafka error code met in a transaction.
    pub fn of_code(code: ErrorCode) -> ErrorCategory {
        use ErrorCode as E;
        match code {
            E::NotLeaderOrFollower
            | E::UnknownTopicOrPartition
            | E::LeaderNotAvailable
            | E::KafkaStorageError
            | E::NotCoordinator
            | E::CoordinatorNotAvailable => ErrorCategory::RefreshRetriable,
            E::TransactionAbortable
            | E::InvalidProducerEpoch
            | E::UnknownProducerId
            | E::OutOfOrderSequenceNumber
            | E::InvalidProducerIdMapping
            | E::TopicAuthorizationFailed
            | E::GroupAuthorizationFailed
            | E::IllegalGeneration
            | E::UnknownMemberId
            | E::FencedInstanceId
            | E::RebalanceInProgress
            | E::CorruptMessage
            | E::RequestTimedOut => ErrorCategory::Abortable,
            E::ProducerFenced => ErrorCategory::ApplicationRecoverable,
            E::InvalidTransactionTimeout | E::InvalidConfig | E::InvalidRequiredAcks => {
                ErrorCategory::InvalidConfiguration
            }
            code if code.is_retriable() => ErrorCategory::Retriable,
            _ => ErrorCategory::Fatal,
        }
    }
}

impl TransactionError {
    /// What the application does about this error (KIP-1050).
    pub fn category(&self) -> ErrorCategory {
        match self {
            TransactionError::ProducerFenced => ErrorCategory::ApplicationRecoverable,
            TransactionError::TopicAuthorizationFailed { .. }
            | TransactionError::GroupAuthorizationFailed { .. }
            | TransactionError::CommitFailed(_)
            | TransactionError::Aborted => ErrorCategory::Abortable,
            TransactionError::Broker { error, .. } => ErrorCategory::of_code(*error),
            TransactionError::Produce(error) => error.category(),
            TransactionError::Earlier(error) => error.category(),
            TransactionError::Timeout { .. } => ErrorCategory::Retriable,
            TransactionError::NotTransactional { .. } => ErrorCategory::InvalidConfiguration,
            TransactionError::InvalidState { .. }
            | TransactionError::TransactionalIdAuthorizationFailed
            | TransactionError::ClusterAuthorizationFailed
            | TransactionError::Closed => ErrorCategory::Fatal,
        }
    }
}

impl SequenceError {
    /// What the application does about a batch the idempotence rules
    /// failed, in a transaction (KIP-1050).
    pub fn category(&self) -> ErrorCategory {
        match self {
            SequenceError::ProducerFenced => ErrorCategory::ApplicationRecoverable,
            SequenceError::Refused(code) | SequenceError::Fatal(code) => {
                match ErrorCategory::of_code(*code) {
                    // A refusal is final for its batch, so the transaction
                    // that holds it cannot commit.
                    ErrorCategory::Retriable | ErrorCategory::RefreshRetriable => {
                        ErrorCategory::Abortable
                    }
                    category => category,
                }
            }
            SequenceError::RetriesExhausted(_)
            | SequenceError::InvalidProducerEpoch
            | SequenceError::TransactionAbortable => ErrorCategory::Abortable,
            SequenceError::ProducerFailed(error) => match error.category() {
                ErrorCategory::ApplicationRecoverable => ErrorCategory::ApplicationRecoverable,
                _ => ErrorCategory::Fatal,
            },
        }
    }
}

impl ProduceError {
    /// What the application does about a failed `send` or delivery of a
    /// transactional producer (KIP-1050): a record not delivered leaves its
    /// transaction unable to commit, so most failures are
    /// [`ErrorCategory::Abortable`].
    pub fn category(&self) -> ErrorCategory {
        match self {
            ProduceError::Config(_) => ErrorCategory::InvalidConfiguration,
            ProduceError::Transaction(error) => error.category(),
            ProduceError::Sequence(error) => error.category(),
            ProduceError::Broker { error, .. } => match ErrorCategory::of_code(*error) {
                ErrorCategory::Retriable | ErrorCategory::RefreshRetriable => {
                    ErrorCategory::Abortable
                }
                category => category,
            },
            ProduceError::Transport(TransportError::Config { .. }) => {
                ErrorCategory::InvalidConfiguration
            }
            ProduceError::Transport(error) if !error.is_retriable() => ErrorCategory::Fatal,
            ProduceError::Transport(_)
            | ProduceError::DeliveryTimeout { .. }
            | ProduceError::Blocked { .. }
            | ProduceError::Record(_)
            | ProduceError::NoSuchPartition { .. } => ErrorCategory::Abortable,
            ProduceError::Closed => ErrorCategory::Fatal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_fall_in_the_java_client_s_categories() {
        assert_eq!(
            ErrorCategory::of_code(ErrorCode::NotCoordinator),
            ErrorCategory::RefreshRetriable
        );
        assert_eq!(
            ErrorCategory::of_code(ErrorCode::ConcurrentTransactions),
            ErrorCategory::Retriable
        );
        assert_eq!(
            ErrorCategory::of_code(ErrorCode::TransactionAbortable),
            ErrorCategory::Abortable
        );
        assert_eq!(
            ErrorCategory::of_code(ErrorCode::ProducerFenced),
            ErrorCategory::ApplicationRecoverable
        );
        assert_eq!(
            ErrorCategory::of_code(ErrorCode::InvalidTransactionTimeout),
            ErrorCategory::InvalidConfiguration
        );
        assert_eq!(
            ErrorCategory::of_code(ErrorCode::TransactionalIdAuthorizationFailed),
            ErrorCategory::Fatal
        );
        assert_eq!(
            ErrorCategory::of_code(ErrorCode::UnsupportedVersion),
            ErrorCategory::Fatal
        );
    }

    #[test]
    fn errors_take_the_category_of_what_they_stand_on() {
        let fenced = TransactionError::Earlier(Box::new(TransactionError::Produce(
            SequenceError::ProducerFenced,
        )));
        assert_eq!(fenced.category(), ErrorCategory::ApplicationRecoverable);
        let timed_out = TransactionError::Timeout {
            operation: "commit_transaction",
            waited: std::time::Duration::from_secs(1),
        };
        assert_eq!(timed_out.category(), ErrorCategory::Retriable);
        // A record refused with a retriable code after its retries ran out
        // leaves its transaction to be aborted.
        let refused = ProduceError::Broker {
            topic: "t".into(),
            partition: 0,
            error: ErrorCode::NotEnoughReplicas,
            message: None,
        };
        assert_eq!(refused.category(), ErrorCategory::Abortable);
        assert_eq!(
            ProduceError::Sequence(SequenceError::ProducerFailed(Box::new(
                SequenceError::Fatal(ErrorCode::ClusterAuthorizationFailed)
            )))
            .category(),
            ErrorCategory::Fatal
        );
        assert_eq!(
            ProduceError::Transaction(TransactionError::NotTransactional {
                operation: "begin_transaction"
            })
            .category(),
            ErrorCategory::InvalidConfiguration
        );
    }
}
