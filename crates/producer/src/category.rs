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
    /// The category of a Kafka error code met in a transactional request.
    ///
    /// ```
    /// use ferrokafka_producer::ErrorCategory;
    /// use ferrokafka_protocol::ErrorCode;
    /// assert_eq!(ErrorCategory::of_code(ErrorCode::NotCoordinator), ErrorCategory::RefreshRetriable);
    /// assert_eq!(ErrorCategory::of_code(ErrorCode::ProducerFenced), ErrorCategory::ApplicationRecoverable);
    /// ```
    pub fn of_code(code: ErrorCode) -> ErrorCategory {
        use ErrorCode as E;
        match code {
            // Java's InvalidMetadataException family and the two
            // coordinator errors: stale metadata, learnt again first.
            E::NotLeaderOrFollower
            | E::UnknownTopicOrPartition
            | E::LeaderNotAvailable
            | E::ReplicaNotAvailable
            | E::NetworkException
            | E::KafkaStorageError
            | E::ListenerNotFound
            | E::FencedLeaderEpoch
            | E::PreferredLeaderNotAvailable
            | E::EligibleLeadersNotAvailable
            | E::ElectionNotNeeded
            | E::UnknownTopicId
            | E::InconsistentTopicId
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

    /// The category of a record batch of a transaction the broker refused
    /// for good with `code`. As the Java producer's transaction manager
    /// decides: only a fence, the two cluster-wide authorizations and an
    /// unsupported version end the producer; any other refusal leaves the
    /// transaction unable to commit, and aborting it is the way on.
    ///
    /// ```
    /// use ferrokafka_producer::ErrorCategory;
    /// use ferrokafka_protocol::ErrorCode;
    /// assert_eq!(ErrorCategory::of_failed_batch(ErrorCode::MessageTooLarge), ErrorCategory::Abortable);
    /// assert_eq!(ErrorCategory::of_failed_batch(ErrorCode::ClusterAuthorizationFailed), ErrorCategory::Fatal);
    /// ```
    pub fn of_failed_batch(code: ErrorCode) -> ErrorCategory {
        use ErrorCode as E;
        match code {
            E::ProducerFenced => ErrorCategory::ApplicationRecoverable,
            E::ClusterAuthorizationFailed
            | E::TransactionalIdAuthorizationFailed
            | E::UnsupportedVersion => ErrorCategory::Fatal,
            _ => ErrorCategory::Abortable,
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
            // A refusal is final for its batch, so the transaction that
            // holds it cannot commit.
            SequenceError::Refused(code) => ErrorCategory::of_failed_batch(*code),
            // Only the codes that end a producer are held here.
            SequenceError::Fatal(_) => ErrorCategory::Fatal,
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
            ProduceError::Broker { error, .. } => ErrorCategory::of_failed_batch(*error),
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

    #[test]
    fn every_refresh_retriable_code_is_java_s_invalid_metadata_family() {
        use ErrorCode as E;
        for code in [
            E::NotLeaderOrFollower,
            E::UnknownTopicOrPartition,
            E::LeaderNotAvailable,
            E::ReplicaNotAvailable,
            E::NetworkException,
            E::KafkaStorageError,
            E::ListenerNotFound,
            E::FencedLeaderEpoch,
            E::PreferredLeaderNotAvailable,
            E::EligibleLeadersNotAvailable,
            E::ElectionNotNeeded,
            E::UnknownTopicId,
            E::InconsistentTopicId,
            E::NotCoordinator,
            E::CoordinatorNotAvailable,
        ] {
            assert_eq!(
                ErrorCategory::of_code(code),
                ErrorCategory::RefreshRetriable,
                "{code:?}"
            );
        }
        for code in [
            E::ConcurrentTransactions,
            E::CoordinatorLoadInProgress,
            E::NotEnoughReplicas,
        ] {
            assert_eq!(
                ErrorCategory::of_code(code),
                ErrorCategory::Retriable,
                "{code:?}"
            );
        }
        for code in [
            E::TransactionAbortable,
            E::InvalidProducerEpoch,
            E::UnknownProducerId,
            E::OutOfOrderSequenceNumber,
            E::InvalidProducerIdMapping,
            E::TopicAuthorizationFailed,
            E::GroupAuthorizationFailed,
            E::IllegalGeneration,
            E::UnknownMemberId,
            E::FencedInstanceId,
            E::RebalanceInProgress,
            E::RequestTimedOut,
        ] {
            assert_eq!(
                ErrorCategory::of_code(code),
                ErrorCategory::Abortable,
                "{code:?}"
            );
        }
        for code in [
            E::ClusterAuthorizationFailed,
            E::TransactionalIdAuthorizationFailed,
            E::UnsupportedVersion,
            E::InvalidTxnState,
        ] {
            assert_eq!(
                ErrorCategory::of_code(code),
                ErrorCategory::Fatal,
                "{code:?}"
            );
        }
    }

    #[test]
    fn a_refused_batch_ends_the_producer_only_as_java_s_does() {
        use ErrorCode as E;
        for code in [
            E::MessageTooLarge,
            E::RecordListTooLarge,
            E::InvalidRecord,
            E::CorruptMessage,
            E::NotEnoughReplicas,
            E::NotLeaderOrFollower,
            E::TopicAuthorizationFailed,
            E::InvalidRequiredAcks,
            E::UnknownServerError,
        ] {
            assert_eq!(
                ErrorCategory::of_failed_batch(code),
                ErrorCategory::Abortable,
                "{code:?}"
            );
            assert_eq!(
                SequenceError::Refused(code).category(),
                ErrorCategory::Abortable,
                "{code:?}"
            );
            let refused = ProduceError::Broker {
                topic: "t".into(),
                partition: 0,
                error: code,
                message: None,
            };
            assert_eq!(refused.category(), ErrorCategory::Abortable, "{code:?}");
        }
        assert_eq!(
            ErrorCategory::of_failed_batch(E::ProducerFenced),
            ErrorCategory::ApplicationRecoverable
        );
        for code in [
            E::ClusterAuthorizationFailed,
            E::TransactionalIdAuthorizationFailed,
            E::UnsupportedVersion,
        ] {
            assert_eq!(ErrorCategory::of_failed_batch(code), ErrorCategory::Fatal);
            assert_eq!(SequenceError::Fatal(code).category(), ErrorCategory::Fatal);
        }
    }

    /// Every variant of the transactional errors, so a new one cannot go
    /// without its category (the match in `category` is exhaustive; this
    /// says which category each gets).
    #[test]
    fn every_transaction_error_has_its_category() {
        use crate::transaction::TransactionState;
        use std::time::Duration;
        let cases = [
            (
                TransactionError::ProducerFenced,
                ErrorCategory::ApplicationRecoverable,
            ),
            (
                TransactionError::InvalidState {
                    operation: "commit_transaction",
                    state: TransactionState::Ready,
                },
                ErrorCategory::Fatal,
            ),
            (
                TransactionError::TransactionalIdAuthorizationFailed,
                ErrorCategory::Fatal,
            ),
            (
                TransactionError::ClusterAuthorizationFailed,
                ErrorCategory::Fatal,
            ),
            (
                TransactionError::GroupAuthorizationFailed {
                    group_id: "g".into(),
                },
                ErrorCategory::Abortable,
            ),
            (
                TransactionError::TopicAuthorizationFailed {
                    topics: vec!["t".into()],
                },
                ErrorCategory::Abortable,
            ),
            (
                TransactionError::CommitFailed(ErrorCode::IllegalGeneration),
                ErrorCategory::Abortable,
            ),
            (
                TransactionError::Broker {
                    request: "EndTxn",
                    error: ErrorCode::NotCoordinator,
                },
                ErrorCategory::RefreshRetriable,
            ),
            (
                TransactionError::Broker {
                    request: "AddPartitionsToTxn",
                    error: ErrorCode::ConcurrentTransactions,
                },
                ErrorCategory::Retriable,
            ),
            (
                TransactionError::Broker {
                    request: "InitProducerId",
                    error: ErrorCode::InvalidTransactionTimeout,
                },
                ErrorCategory::InvalidConfiguration,
            ),
            (
                TransactionError::Produce(SequenceError::TransactionAbortable),
                ErrorCategory::Abortable,
            ),
            (TransactionError::Aborted, ErrorCategory::Abortable),
            (
                TransactionError::Earlier(Box::new(TransactionError::Aborted)),
                ErrorCategory::Abortable,
            ),
            (
                TransactionError::Timeout {
                    operation: "commit_transaction",
                    waited: Duration::from_secs(1),
                },
                ErrorCategory::Retriable,
            ),
            (
                TransactionError::NotTransactional {
                    operation: "begin_transaction",
                },
                ErrorCategory::InvalidConfiguration,
            ),
            (TransactionError::Closed, ErrorCategory::Fatal),
        ];
        for (error, category) in cases {
            assert_eq!(error.category(), category, "{error:?}");
            // A send refused because of it has the same category.
            assert_eq!(
                ProduceError::Transaction(error.clone()).category(),
                category,
                "{error:?}"
            );
        }
    }

    #[test]
    fn every_sequence_error_has_its_category() {
        let cases = [
            (
                SequenceError::Refused(ErrorCode::MessageTooLarge),
                ErrorCategory::Abortable,
            ),
            (
                SequenceError::RetriesExhausted(Some(ErrorCode::NotEnoughReplicas)),
                ErrorCategory::Abortable,
            ),
            (
                SequenceError::RetriesExhausted(None),
                ErrorCategory::Abortable,
            ),
            (
                SequenceError::ProducerFenced,
                ErrorCategory::ApplicationRecoverable,
            ),
            (
                SequenceError::InvalidProducerEpoch,
                ErrorCategory::Abortable,
            ),
            (
                SequenceError::Fatal(ErrorCode::TransactionalIdAuthorizationFailed),
                ErrorCategory::Fatal,
            ),
            (
                SequenceError::TransactionAbortable,
                ErrorCategory::Abortable,
            ),
            (
                SequenceError::ProducerFailed(Box::new(SequenceError::ProducerFenced)),
                ErrorCategory::ApplicationRecoverable,
            ),
        ];
        for (error, category) in cases {
            assert_eq!(error.category(), category, "{error:?}");
            assert_eq!(
                ProduceError::Sequence(error.clone()).category(),
                category,
                "{error:?}"
            );
        }
    }

    #[test]
    fn every_produce_error_has_its_category() {
        use ferrokafka_transport::config::ConfigError;
        use std::time::Duration;
        let config = ConfigError::new("acks", "2", "expected 0, 1 or all");
        let cases = [
            (
                ProduceError::Config(config),
                ErrorCategory::InvalidConfiguration,
            ),
            (
                ProduceError::Transport(TransportError::Config {
                    reason: "no bootstrap_servers".into(),
                }),
                ErrorCategory::InvalidConfiguration,
            ),
            (
                ProduceError::Blocked {
                    what: "metadata".into(),
                    waited: Duration::from_secs(1),
                },
                ErrorCategory::Abortable,
            ),
            (
                ProduceError::DeliveryTimeout {
                    topic: "t".into(),
                    partition: 0,
                    timeout: Duration::from_secs(1),
                    last_error: None,
                },
                ErrorCategory::Abortable,
            ),
            (
                ProduceError::Record("too large".into()),
                ErrorCategory::Abortable,
            ),
            (
                ProduceError::NoSuchPartition {
                    topic: "t".into(),
                    partition: 3,
                    count: 1,
                },
                ErrorCategory::Abortable,
            ),
            (ProduceError::Closed, ErrorCategory::Fatal),
        ];
        for (error, category) in cases {
            assert_eq!(error.category(), category, "{error:?}");
        }
    }
}
