//! The transactional producer's state machine, sans-I/O, after the Java
//! client's `TransactionManager` (KIP-98, KIP-360, KIP-447, KIP-890).
//!
//! The user's calls ([`Transactions::init_transactions`],
//! [`Transactions::begin_transaction`], [`Transactions::send_offsets_to_transaction`],
//! [`Transactions::commit_transaction`], [`Transactions::abort_transaction`])
//! change the state at once or fail with a typed error; the ones that need
//! the coordinator finish later with a [`TransactionEvent::Completed`]. The
//! driver sends what [`Transactions::poll_request`] returns, one request at a
//! time as the Java client does, and hands back the typed response or the
//! transport failure.
//!
//! The machine owns the producer's [`Idempotence`] machine: the produce path
//! (`may_send`, `assign_sequence`, `on_sent`, `on_response`) goes through
//! [`Transactions::idempotence_mut`], and every call here first looks at what
//! it reported (a batch refused for good aborts the transaction; a fenced
//! producer is fatal).
//!
//! # Adding partitions: KIP-890 part 2
//!
//! With [`TransactionProtocol::V1`] (every broker since 0.11) a partition is
//! added with AddPartitionsToTxn before its first batch is sent; the
//! partitions met since the last request go in one request (a wave), and
//! their batches wait until it succeeds. With [`TransactionProtocol::V2`]
//! (brokers 4.0+ that finalized `transaction.version` 2) a Produce v12+
//! carrying the transactional id adds its partition, TxnOffsetCommit v5+
//! adds the group (no AddOffsetsToTxn), and every EndTxn returns a bumped
//! epoch, which the producer adopts (a new producer id when the epoch would
//! overflow), so sequences restart at 0 with every transaction.
//!
//! The driver reports what the transaction coordinator's ApiVersions says
//! ([`Transactions::on_transaction_version`]): V2 when it finalized
//! `transaction.version` 2 or higher and knows EndTxn v5, as the Java client
//! decides; V1 otherwise, which every broker takes. As in Java the protocol changes
//! only between transactions: it is taken when a producer id or epoch is
//! granted (InitProducerId) and after each EndTxn; going from V1 to V2
//! mid-life costs one InitProducerId after the EndTxn, so that no partition
//! of a V1 transaction counts as added in the first V2 one. Until the
//! driver reports anything the configured [`TransactionConfig::protocol`]
//! stands.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use ferrokafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use ferrokafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};

use crate::idempotence::{Idempotence, IdempotenceConfig, ProducerIdAndEpoch, SequenceError};

/// A partition key that names its topic and partition (requests need both).
pub trait TransactionPartition: Ord + Clone {
    /// The topic's name.
    fn topic(&self) -> &str;
    /// The partition index.
    fn partition(&self) -> i32;
}

impl TransactionPartition for crate::TopicPartition {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn partition(&self) -> i32 {
        self.partition
    }
}

impl TransactionPartition for (String, i32) {
    fn topic(&self) -> &str {
        &self.0
    }
    fn partition(&self) -> i32 {
        self.1
    }
}

impl TransactionPartition for (Arc<str>, i32) {
    fn topic(&self) -> &str {
        &self.0
    }
    fn partition(&self) -> i32 {
        self.1
    }
}

/// Which way the broker is told what a transaction touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionProtocol {
    /// AddPartitionsToTxn and AddOffsetsToTxn before use (KIP-98).
    #[default]
    V1,
    /// Produce v12+ and TxnOffsetCommit v5+ add implicitly; EndTxn bumps the
    /// epoch (KIP-890 part 2, `transaction.version` 2).
    V2,
}

/// The transactional settings.
#[derive(Debug, Clone)]
pub struct TransactionConfig {
    /// `transactional_id`.
    pub transactional_id: String,
    /// `transaction_timeout_ms`.
    pub transaction_timeout: Duration,
    /// `retry_backoff_ms`.
    pub retry_backoff: Duration,
    /// How the coordinator learns the transaction's partitions, until the
    /// driver reports the coordinator's features
    /// ([`Transactions::on_transaction_version`]).
    pub protocol: TransactionProtocol,
    /// Batches per partition on the wire (at most 5).
    pub max_in_flight_per_partition: usize,
    /// Whether the coordinator takes InitProducerId v3+ (brokers 2.5+), so
    /// an abortable error can be recovered with a new epoch. Without it such
    /// errors are fatal.
    pub coordinator_supports_epoch_bump: bool,
}

impl TransactionConfig {
    /// Defaults for `transactional_id` (a 60 s timeout, a 100 ms backoff, V1).
    pub fn new(transactional_id: impl Into<String>) -> Self {
        TransactionConfig {
            transactional_id: transactional_id.into(),
            transaction_timeout: Duration::from_secs(60),
            retry_backoff: Duration::from_millis(100),
            protocol: TransactionProtocol::V1,
            max_in_flight_per_partition: crate::idempotence::MAX_IN_FLIGHT_PER_PARTITION,
            coordinator_supports_epoch_bump: true,
        }
    }
}

/// The states of Java's `TransactionManager`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// `init_transactions` not called yet.
    Uninitialized,
    /// Getting a producer id (or a new epoch after an abort).
    Initializing,
    /// Between transactions.
    Ready,
    /// A transaction is open.
    InTransaction,
    /// Flushing, then EndTxn(commit).
    CommittingTransaction,
    /// Flushing, then EndTxn(abort).
    AbortingTransaction,
    /// The transaction failed and must be aborted.
    AbortableError,
    /// The producer can do nothing more but close.
    FatalError,
}

/// A group member's metadata for TxnOffsetCommit (KIP-447), so that a
/// zombie member's offsets are refused: what the consumer's
/// `group_metadata()` returns (the Java client's `ConsumerGroupMetadata`);
/// [`GroupIdentity::without_member`] names the group alone.
pub use ferrokafka_group::offsets::GroupIdentity;
/// An offset to commit with the transaction, the consumer's type.
pub use ferrokafka_group::offsets::OffsetAndMetadata;

/// Why a transactional call or request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// The call is not allowed in the current state (begin twice, commit
    /// without begin, send before `init_transactions`, ...).
    #[error("{operation} is not allowed while the producer is {state:?}")]
    InvalidState {
        /// The call.
        operation: &'static str,
        /// The state it was made in.
        state: TransactionState,
    },
    /// A newer producer with the same transactional id took over; close
    /// this one.
    #[error("fenced by a newer producer with the same transactional id (PRODUCER_FENCED)")]
    ProducerFenced,
    /// The transactional id may not be used by this principal.
    #[error("not authorized for the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)")]
    TransactionalIdAuthorizationFailed,
    /// The principal may not use idempotence or transactions.
    #[error("not authorized for the cluster (CLUSTER_AUTHORIZATION_FAILED)")]
    ClusterAuthorizationFailed,
    /// The principal may not use the group.
    #[error("not authorized for group {group_id} (GROUP_AUTHORIZATION_FAILED)")]
    GroupAuthorizationFailed {
        /// The group.
        group_id: String,
    },
    /// The principal may not write these topics.
    #[error("not authorized for topics {topics:?} (TOPIC_AUTHORIZATION_FAILED)")]
    TopicAuthorizationFailed {
        /// The topics.
        topics: Vec<String>,
    },
    /// The group refused the offsets: this member is no longer the one the
    /// metadata names (rebalanced, fenced instance).
    #[error("the group refused the offsets of a stale member: {0}")]
    CommitFailed(ErrorCode),
    /// A request failed with an error the machine has no better name for.
    #[error("{request} failed: {error}")]
    Broker {
        /// The request.
        request: &'static str,
        /// The error.
        error: ErrorCode,
    },
    /// A batch of the transaction failed.
    #[error("a record of the transaction was not delivered: {0}")]
    Produce(SequenceError),
    /// The transaction is being aborted; unsent records are dropped.
    #[error("the transaction was aborted")]
    Aborted,
    /// Refused because an earlier error must be dealt with first (abort, or
    /// close when fatal).
    #[error("an earlier error stands: {0}")]
    Earlier(Box<TransactionError>),
    /// The operation did not finish in the time given; it goes on, and
    /// calling it again waits for the same outcome.
    #[error("{operation} did not finish within {waited:?}")]
    Timeout {
        /// The operation.
        operation: &'static str,
        /// How long the caller waited.
        waited: Duration,
    },
    /// A transactional operation on a producer without `transactional_id`.
    #[error("{operation} needs a transactional producer (set transactional_id)")]
    NotTransactional {
        /// The operation.
        operation: &'static str,
    },
    /// The producer stopped before the operation finished.
    #[error("the producer is closed")]
    Closed,
}

impl TransactionError {
    /// Whether this is (or stands on) a fence by a newer producer with the
    /// same transactional id.
    pub fn is_fenced(&self) -> bool {
        match self {
            TransactionError::ProducerFenced
            | TransactionError::Produce(SequenceError::ProducerFenced) => true,
            TransactionError::Earlier(inner) => inner.is_fenced(),
            _ => false,
        }
    }
}

/// A user operation that finishes with a [`TransactionEvent::Completed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionOperation {
    /// `init_transactions`.
    InitTransactions,
    /// `send_offsets_to_transaction`.
    SendOffsets,
    /// `commit_transaction`.
    Commit,
    /// `abort_transaction`.
    Abort,
}

/// What the machine tells the driver besides requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionEvent {
    /// A user operation finished.
    Completed {
        /// The operation.
        operation: TransactionOperation,
        /// Its result.
        result: Result<(), TransactionError>,
    },
}

/// The coordinator kinds FindCoordinator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorType {
    /// A consumer group's coordinator (key type 0).
    Group,
    /// A transactional id's coordinator (key type 1).
    Transaction,
}

impl CoordinatorType {
    /// FindCoordinator's `key_type`.
    pub fn key_type(self) -> i8 {
        match self {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        }
    }
}

/// A request to send. Coordinator requests name the node they go to.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactionRequest {
    /// Send to any broker; build it with [`TransactionRequest::find_coordinator`].
    FindCoordinator {
        /// Which coordinator.
        kind: CoordinatorType,
        /// The group or transactional id.
        key: String,
    },
    /// Send to the transaction coordinator.
    InitProducerId {
        /// The coordinator's node id.
        node: i32,
        /// The request.
        request: InitProducerIdRequest,
    },
    /// Send to the transaction coordinator at version 3 or below (versions
    /// 4+ are for brokers); the request fills the `v3_and_below` fields.
    AddPartitionsToTxn {
        /// The coordinator's node id.
        node: i32,
        /// The request.
        request: AddPartitionsToTxnRequest,
    },
    /// Send to the transaction coordinator.
    AddOffsetsToTxn {
        /// The coordinator's node id.
        node: i32,
        /// The request.
        request: AddOffsetsToTxnRequest,
    },
    /// Send to the group coordinator; at versions below 3 clear the member
    /// fields (see [`TransactionRequest::txn_offset_commit_for_version`]).
    TxnOffsetCommit {
        /// The group coordinator's node id.
        node: i32,
        /// The request.
        request: TxnOffsetCommitRequest,
    },
    /// Send to the transaction coordinator.
    EndTxn {
        /// The coordinator's node id.
        node: i32,
        /// The request.
        request: EndTxnRequest,
    },
}

impl TransactionRequest {
    /// The FindCoordinator request for `version`: one key in
    /// `coordinator_keys` from v4, in `key` before.
    pub fn find_coordinator(
        kind: CoordinatorType,
        key: &str,
        version: i16,
    ) -> FindCoordinatorRequest {
        if version >= 4 {
            FindCoordinatorRequest {
                key_type: kind.key_type(),
                coordinator_keys: vec![key.to_string()],
                ..FindCoordinatorRequest::default()
            }
        } else {
            FindCoordinatorRequest {
                key: key.to_string(),
                key_type: if version >= 1 { kind.key_type() } else { 0 },
                ..FindCoordinatorRequest::default()
            }
        }
    }

    /// `request` fit for `version`: below v3 the broker knows no member
    /// metadata (KIP-447), so it is left out.
    pub fn txn_offset_commit_for_version(
        request: &TxnOffsetCommitRequest,
        version: i16,
    ) -> TxnOffsetCommitRequest {
        let mut request = request.clone();
        if version < 3 {
            request.generation_id_or_member_epoch = -1;
            request.member_id = String::new();
            request.group_instance_id = None;
        }
        request
    }
}

/// A response to a [`TransactionRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum TransactionResponse {
    /// FindCoordinator.
    FindCoordinator(FindCoordinatorResponse),
    /// InitProducerId.
    InitProducerId(InitProducerIdResponse),
    /// AddPartitionsToTxn.
    AddPartitionsToTxn(AddPartitionsToTxnResponse),
    /// AddOffsetsToTxn.
    AddOffsetsToTxn(AddOffsetsToTxnResponse),
    /// TxnOffsetCommit.
    TxnOffsetCommit(TxnOffsetCommitResponse),
    /// EndTxn.
    EndTxn(EndTxnResponse),
}

#[derive(Debug, Clone)]
enum Work<P> {
    FindCoordinator {
        kind: CoordinatorType,
        key: String,
    },
    InitProducerId {
        bump: bool,
    },
    AddPartitions {
        partitions: BTreeSet<P>,
    },
    AddOffsets {
        offsets: Vec<(P, OffsetAndMetadata)>,
        group: GroupIdentity,
    },
    TxnOffsetCommit {
        offsets: Vec<(P, OffsetAndMetadata)>,
        group: GroupIdentity,
    },
    EndTxn {
        commit: bool,
    },
}

impl<P> Work<P> {
    /// Lower goes first, as the Java client's request priorities.
    fn priority(&self) -> u8 {
        match self {
            Work::FindCoordinator { .. } => 0,
            Work::InitProducerId { bump: false } => 1,
            Work::AddPartitions { .. } | Work::AddOffsets { .. } | Work::TxnOffsetCommit { .. } => {
                2
            }
            Work::EndTxn { .. } => 3,
            Work::InitProducerId { bump: true } => 4,
        }
    }

    fn operation(&self) -> Option<TransactionOperation> {
        match self {
            Work::AddOffsets { .. } | Work::TxnOffsetCommit { .. } => {
                Some(TransactionOperation::SendOffsets)
            }
            _ => None,
        }
    }

    fn is_end_txn(&self) -> bool {
        matches!(self, Work::EndTxn { .. })
    }
}

#[derive(Debug, Clone)]
struct Queued<P> {
    work: Work<P>,
    order: u64,
    not_before: Option<Instant>,
}

/// The transactional producer's state machine (it owns the idempotence one).
#[derive(Debug)]
pub struct Transactions<P> {
    config: TransactionConfig,
    state: TransactionState,
    last_error: Option<TransactionError>,
    idempotence: Idempotence<P>,
    producer: ProducerIdAndEpoch,
    transaction_coordinator: Option<i32>,
    group_coordinators: BTreeMap<String, i32>,
    queue: Vec<Queued<P>>,
    next_order: u64,
    in_flight: Option<Work<P>>,
    new_partitions: BTreeSet<P>,
    pending_partitions: BTreeSet<P>,
    partitions_in_transaction: BTreeSet<P>,
    transaction_started: bool,
    epoch_bump_required: bool,
    /// The user operation a state change finishes (init, commit, abort).
    pending_operation: Option<TransactionOperation>,
    events: VecDeque<TransactionEvent>,
    /// The last error was INVALID_PRODUCER_ID_MAPPING: the coordinator takes
    /// no EndTxn, so aborting goes straight to InitProducerId.
    skip_end_txn: bool,
    /// Whether the coordinator can run V2, as last reported, and the
    /// finalized-features epoch of that report (older reports are stale).
    v2_available: Option<(Option<i64>, bool)>,
    /// The producer id and epoch of an EndTxn of this transaction that went
    /// unanswered (timed out, connection lost): it may still reach the
    /// coordinator after the retry succeeded.
    end_txn_unanswered: Option<ProducerIdAndEpoch>,
}

impl<P: TransactionPartition> Transactions<P> {
    /// A machine in [`TransactionState::Uninitialized`].
    pub fn new(config: TransactionConfig) -> Self {
        let idempotence = Idempotence::new(IdempotenceConfig {
            max_in_flight_per_partition: config.max_in_flight_per_partition,
            retry_backoff: config.retry_backoff,
            transactional: true,
        });
        Transactions {
            config,
            state: TransactionState::Uninitialized,
            last_error: None,
            idempotence,
            producer: ProducerIdAndEpoch::NONE,
            transaction_coordinator: None,
            group_coordinators: BTreeMap::new(),
            queue: Vec::new(),
            next_order: 0,
            in_flight: None,
            new_partitions: BTreeSet::new(),
            pending_partitions: BTreeSet::new(),
            partitions_in_transaction: BTreeSet::new(),
            transaction_started: false,
            epoch_bump_required: false,
            pending_operation: None,
            events: VecDeque::new(),
            skip_end_txn: false,
            v2_available: None,
            end_txn_unanswered: None,
        }
    }

    /// The state.
    pub fn state(&self) -> TransactionState {
        self.state
    }

    /// The error that put the machine in an error state, if it is in one.
    pub fn last_error(&self) -> Option<&TransactionError> {
        self.last_error.as_ref()
    }

    /// The producer id and epoch, once initialized.
    pub fn producer_id_and_epoch(&self) -> ProducerIdAndEpoch {
        self.producer
    }

    /// The transactional id.
    pub fn transactional_id(&self) -> &str {
        &self.config.transactional_id
    }

    /// The idempotence machine, to read.
    pub fn idempotence(&self) -> &Idempotence<P> {
        &self.idempotence
    }

    /// The idempotence machine, for the produce path. Call
    /// [`Transactions::poll_request`] or [`Transactions::poll_event`]
    /// afterwards: they pick up what the produce answers meant.
    pub fn idempotence_mut(&mut self) -> &mut Idempotence<P> {
        &mut self.idempotence
    }

    /// The coordinator protocol in use.
    pub fn protocol(&self) -> TransactionProtocol {
        self.config.protocol
    }

    /// Chooses the protocol outright, for a driver that knows better than
    /// the features it reports (tests); call it between transactions.
    pub fn set_protocol(&mut self, protocol: TransactionProtocol) {
        self.config.protocol = protocol;
    }

    /// What the transaction coordinator's ApiVersions answer said:
    /// `features_epoch` is its finalized-features epoch, `v2_supported`
    /// whether it finalized `transaction.version` >= 2 and takes EndTxn v5.
    /// A report with a lower epoch than one already taken is stale (a broker
    /// that has not caught up with a feature update) and ignored, as the
    /// Java client keeps the report with the highest epoch. The protocol
    /// follows between transactions (see the module documentation).
    pub fn on_transaction_version(&mut self, features_epoch: Option<i64>, v2_supported: bool) {
        if let Some((known, _)) = self.v2_available
            && features_epoch < known
        {
            return;
        }
        self.v2_available = Some((features_epoch, v2_supported));
    }

    /// The protocol the reports ask for, if any came.
    fn reported_protocol(&self) -> Option<TransactionProtocol> {
        self.v2_available.map(|(_, v2)| {
            if v2 {
                TransactionProtocol::V2
            } else {
                TransactionProtocol::V1
            }
        })
    }

    /// `init_transactions()`: gets a producer id for the transactional id,
    /// fencing older producers with it. Finishes with a
    /// [`TransactionEvent::Completed`]; calling it again while it runs is a
    /// no-op.
    pub fn init_transactions(&mut self) -> Result<(), TransactionError> {
        self.absorb_produce_errors();
        match self.state {
            TransactionState::Uninitialized => {
                self.transition(TransactionState::Initializing);
                self.pending_operation = Some(TransactionOperation::InitTransactions);
                self.enqueue(Work::InitProducerId { bump: false });
                Ok(())
            }
            TransactionState::Initializing
                if self.pending_operation == Some(TransactionOperation::InitTransactions) =>
            {
                Ok(())
            }
            state => Err(self.refuse("init_transactions", state)),
        }
    }

    /// `begin_transaction()`.
    pub fn begin_transaction(&mut self) -> Result<(), TransactionError> {
        self.absorb_produce_errors();
        match self.state {
            TransactionState::Ready => {
                self.transition(TransactionState::InTransaction);
                Ok(())
            }
            state => Err(self.refuse("begin_transaction", state)),
        }
    }

    /// A record is about to be appended for `partition`: checks that a
    /// send is allowed now and, with V1, schedules the partition's
    /// AddPartitionsToTxn (its batches wait until it succeeds).
    pub fn add_partition(&mut self, partition: &P) -> Result<(), TransactionError> {
        self.absorb_produce_errors();
        if self.state != TransactionState::InTransaction {
            let state = self.state;
            return Err(self.refuse("send", state));
        }
        if self.partitions_in_transaction.contains(partition)
            || self.pending_partitions.contains(partition)
        {
            return Ok(());
        }
        match self.config.protocol {
            TransactionProtocol::V1 => {
                self.new_partitions.insert(partition.clone());
            }
            TransactionProtocol::V2 => {
                // The Produce request itself adds the partition.
                self.partitions_in_transaction.insert(partition.clone());
                self.transaction_started = true;
            }
        }
        Ok(())
    }

    /// Whether the first batch queued for `partition` may be drained now:
    /// the partition is in the transaction and the idempotence rules allow
    /// it. Batches never sent wait while the transaction is in an error
    /// state or aborting (see [`Transactions::unsent_batch_error`]).
    pub fn may_send(&self, partition: &P) -> bool {
        self.state != TransactionState::FatalError
            && self.partitions_in_transaction.contains(partition)
            && self.idempotence.may_send(partition)
    }

    /// Some when batches never sent must fail instead (the transaction is
    /// aborting or failed): the error to fail them with.
    pub fn unsent_batch_error(&self) -> Option<TransactionError> {
        match self.state {
            TransactionState::AbortingTransaction => Some(TransactionError::Aborted),
            TransactionState::AbortableError | TransactionState::FatalError => Some(
                self.last_error
                    .clone()
                    .map_or(TransactionError::Aborted, |e| {
                        TransactionError::Earlier(Box::new(e))
                    }),
            ),
            _ => None,
        }
    }

    /// `send_offsets_to_transaction(offsets, group_metadata)`: commits the
    /// consumer's offsets with the transaction. Finishes with a
    /// [`TransactionEvent::Completed`] for [`TransactionOperation::SendOffsets`].
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: Vec<(P, OffsetAndMetadata)>,
        group: GroupIdentity,
    ) -> Result<(), TransactionError> {
        self.absorb_produce_errors();
        if self.state != TransactionState::InTransaction {
            let state = self.state;
            return Err(self.refuse("send_offsets_to_transaction", state));
        }
        match self.config.protocol {
            TransactionProtocol::V1 => self.enqueue(Work::AddOffsets { offsets, group }),
            TransactionProtocol::V2 => {
                self.transaction_started = true;
                self.enqueue(Work::TxnOffsetCommit { offsets, group });
            }
        }
        Ok(())
    }

    /// `commit_transaction()`: once every batch is delivered (flush the
    /// accumulator), EndTxn(commit). Finishes with a
    /// [`TransactionEvent::Completed`]; an error means abort next.
    pub fn commit_transaction(&mut self) -> Result<(), TransactionError> {
        self.absorb_produce_errors();
        match self.state {
            TransactionState::InTransaction => {
                self.transition(TransactionState::CommittingTransaction);
                self.pending_operation = Some(TransactionOperation::Commit);
                self.begin_completing(true);
                Ok(())
            }
            TransactionState::CommittingTransaction => Ok(()),
            state => Err(self.refuse("commit_transaction", state)),
        }
    }

    /// `abort_transaction()`: drops unsent batches, waits for those on the
    /// wire, EndTxn(abort); after an abortable error, also a new epoch.
    pub fn abort_transaction(&mut self) -> Result<(), TransactionError> {
        self.absorb_produce_errors();
        match self.state {
            TransactionState::InTransaction | TransactionState::AbortableError => {
                self.transition(TransactionState::AbortingTransaction);
                self.pending_operation = Some(TransactionOperation::Abort);
                self.new_partitions.clear();
                // Requests of the failed transaction are moot now.
                let dropped: Vec<Queued<P>> = self
                    .queue
                    .iter()
                    .filter(|q| !matches!(q.work, Work::FindCoordinator { .. }))
                    .cloned()
                    .collect();
                self.queue
                    .retain(|q| matches!(q.work, Work::FindCoordinator { .. }));
                for queued in dropped {
                    if let Some(operation) = queued.work.operation() {
                        self.complete(operation, Err(TransactionError::Aborted));
                    }
                }
                self.begin_completing(false);
                Ok(())
            }
            TransactionState::AbortingTransaction => Ok(()),
            state => Err(self.refuse("abort_transaction", state)),
        }
    }

    /// The next request to send, if one is due; `None` while one is in
    /// flight. `batches_incomplete` is whether any batch of the transaction
    /// is queued or on the wire: EndTxn waits until none is.
    pub fn poll_request(
        &mut self,
        now: Instant,
        batches_incomplete: bool,
    ) -> Option<TransactionRequest> {
        self.absorb_produce_errors();
        if self.in_flight.is_some() {
            return None;
        }
        if !self.new_partitions.is_empty() && self.config.protocol == TransactionProtocol::V1 {
            let partitions = std::mem::take(&mut self.new_partitions);
            self.pending_partitions.extend(partitions.iter().cloned());
            self.enqueue(Work::AddPartitions { partitions });
        }
        loop {
            let index = self
                .queue
                .iter()
                .enumerate()
                .min_by_key(|(_, q)| (q.work.priority(), q.order))
                .map(|(i, _)| i)?;
            let head = &self.queue[index];
            if head.not_before.is_some_and(|at| now < at) {
                return None;
            }
            if head.work.is_end_txn() && batches_incomplete {
                return None;
            }
            let queued = self.queue.remove(index);
            if let Some(error) = self.refusal_for(&queued.work) {
                self.fail_work(&queued.work, error);
                continue;
            }
            if queued.work.is_end_txn() && !self.transaction_started {
                // Nothing reached the coordinator: there is nothing to end.
                self.complete_transaction();
                continue;
            }
            let Some(node) = self.coordinator_for(&queued.work) else {
                // Look the coordinator up first, then this again.
                let (kind, key) = self.coordinator_key(&queued.work);
                self.queue.push(queued);
                self.enqueue(Work::FindCoordinator { kind, key });
                continue;
            };
            let request = self.build(&queued.work, node);
            self.in_flight = Some(queued.work);
            return Some(request);
        }
    }

    /// When [`Transactions::poll_request`] may have a request due without
    /// any other event (a retry backoff ends).
    pub fn next_timeout(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        self.queue
            .iter()
            .min_by_key(|q| (q.work.priority(), q.order))
            .and_then(|q| q.not_before)
    }

    /// The next event (a finished operation), if any.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.absorb_produce_errors();
        self.events.pop_front()
    }

    /// The request in flight got no response (connection lost, timeout):
    /// it is retried after the backoff, looking its coordinator up again.
    pub fn on_request_failed(&mut self, now: Instant) {
        let Some(work) = self.in_flight.take() else {
            return;
        };
        if work.is_end_txn() {
            self.end_txn_unanswered = Some(self.producer);
        }
        self.forget_coordinator(&work);
        self.retry(work, now);
    }

    /// The response to the request in flight. A response of the wrong kind
    /// (a driver bug) is treated as a lost request.
    pub fn on_response(&mut self, now: Instant, response: TransactionResponse) {
        let Some(work) = self.in_flight.take() else {
            return;
        };
        match (work, response) {
            (Work::FindCoordinator { kind, key }, TransactionResponse::FindCoordinator(r)) => {
                self.on_find_coordinator(now, kind, key, &r);
            }
            (Work::InitProducerId { bump }, TransactionResponse::InitProducerId(r)) => {
                self.on_init_producer_id(now, bump, &r);
            }
            (Work::AddPartitions { partitions }, TransactionResponse::AddPartitionsToTxn(r)) => {
                self.on_add_partitions(now, partitions, &r);
            }
            (Work::AddOffsets { offsets, group }, TransactionResponse::AddOffsetsToTxn(r)) => {
                self.on_add_offsets(now, offsets, group, &r);
            }
            (Work::TxnOffsetCommit { offsets, group }, TransactionResponse::TxnOffsetCommit(r)) => {
                self.on_txn_offset_commit(now, offsets, group, &r);
            }
            (Work::EndTxn { commit }, TransactionResponse::EndTxn(r)) => {
                self.on_end_txn(now, commit, &r);
            }
            (work, _) => self.retry(work, now),
        }
    }

    fn on_find_coordinator(
        &mut self,
        now: Instant,
        kind: CoordinatorType,
        key: String,
        response: &FindCoordinatorResponse,
    ) {
        let (error, node) = match response.coordinators.iter().find(|c| c.key == key) {
            Some(entry) => (ErrorCode::from_code(entry.error_code), entry.node_id),
            None if response.coordinators.is_empty() => {
                (ErrorCode::from_code(response.error_code), response.node_id)
            }
            // A batched answer without our key: ask again.
            None => (ErrorCode::CoordinatorNotAvailable, -1),
        };
        match error {
            ErrorCode::None if node >= 0 => match kind {
                CoordinatorType::Transaction => self.transaction_coordinator = Some(node),
                CoordinatorType::Group => {
                    self.group_coordinators.insert(key, node);
                }
            },
            ErrorCode::TransactionalIdAuthorizationFailed => {
                self.fatal(TransactionError::TransactionalIdAuthorizationFailed);
            }
            ErrorCode::GroupAuthorizationFailed => {
                self.fail_pending_offsets(&TransactionError::GroupAuthorizationFailed {
                    group_id: key.clone(),
                });
                self.abortable(TransactionError::GroupAuthorizationFailed { group_id: key });
            }
            error if error.is_ok() || error.is_retriable() => {
                self.retry(Work::FindCoordinator { kind, key }, now);
            }
            error => self.fatal(TransactionError::Broker {
                request: "FindCoordinator",
                error,
            }),
        }
    }

    fn on_init_producer_id(&mut self, now: Instant, bump: bool, response: &InitProducerIdResponse) {
        let error = ErrorCode::from_code(response.error_code);
        match error {
            ErrorCode::None => {
                let producer = ProducerIdAndEpoch {
                    producer_id: response.producer_id,
                    epoch: response.producer_epoch,
                };
                if !producer.is_valid() {
                    self.fatal(TransactionError::Broker {
                        request: "InitProducerId",
                        error: ErrorCode::UnknownServerError,
                    });
                    return;
                }
                self.producer = producer;
                self.idempotence.reset_producer(producer);
                self.epoch_bump_required = false;
                self.skip_end_txn = false;
                // A fresh epoch starts from a clean slate: the protocol may
                // change either way here.
                if let Some(protocol) = self.reported_protocol() {
                    self.config.protocol = protocol;
                }
                self.transition(TransactionState::Ready);
                if let Some(operation) = self.pending_operation.take() {
                    self.complete(operation, Ok(()));
                }
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.transaction_coordinator = None;
                self.retry(Work::InitProducerId { bump }, now);
            }
            ErrorCode::CoordinatorLoadInProgress | ErrorCode::ConcurrentTransactions => {
                self.retry(Work::InitProducerId { bump }, now);
            }
            ErrorCode::TransactionalIdAuthorizationFailed => {
                self.fatal(TransactionError::TransactionalIdAuthorizationFailed);
            }
            ErrorCode::ClusterAuthorizationFailed => {
                self.fatal(TransactionError::ClusterAuthorizationFailed);
            }
            ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                self.fatal(TransactionError::ProducerFenced);
            }
            error => self.fatal(TransactionError::Broker {
                request: "InitProducerId",
                error,
            }),
        }
    }

    fn on_add_partitions(
        &mut self,
        now: Instant,
        partitions: BTreeSet<P>,
        response: &AddPartitionsToTxnResponse,
    ) {
        let top = ErrorCode::from_code(response.error_code);
        let mut errors: Vec<(P, ErrorCode)> = Vec::new();
        let topic_results = response.results_by_topic_v3_and_below.iter().chain(
            response
                .results_by_transaction
                .iter()
                .flat_map(|t| t.topic_results.iter()),
        );
        let mut answered = BTreeSet::new();
        for topic in topic_results {
            for result in &topic.results_by_partition {
                if let Some(partition) = partitions
                    .iter()
                    .find(|p| p.topic() == topic.name && p.partition() == result.partition_index)
                {
                    answered.insert(partition.clone());
                    errors.push((
                        partition.clone(),
                        ErrorCode::from_code(result.partition_error_code),
                    ));
                }
            }
        }
        if top.is_ok() {
            for partition in partitions.iter().filter(|p| !answered.contains(*p)) {
                // The broker skipped it: nothing says it was added.
                errors.push((partition.clone(), ErrorCode::OperationNotAttempted));
            }
        } else {
            errors = partitions.iter().map(|p| (p.clone(), top)).collect();
        }
        let mut unauthorized = BTreeSet::new();
        let mut other_error = None;
        for (partition, error) in &errors {
            match *error {
                ErrorCode::None => {}
                ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                    self.transaction_coordinator = None;
                    self.retry_add_partitions(partitions, now, false);
                    return;
                }
                ErrorCode::ConcurrentTransactions => {
                    self.retry_add_partitions(partitions, now, true);
                    return;
                }
                ErrorCode::CoordinatorLoadInProgress | ErrorCode::UnknownTopicOrPartition => {
                    self.retry_add_partitions(partitions, now, false);
                    return;
                }
                ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                    self.fatal(TransactionError::ProducerFenced);
                    return;
                }
                ErrorCode::TransactionalIdAuthorizationFailed => {
                    self.fatal(TransactionError::TransactionalIdAuthorizationFailed);
                    return;
                }
                ErrorCode::InvalidTxnState => {
                    self.fatal(TransactionError::Broker {
                        request: "AddPartitionsToTxn",
                        error: *error,
                    });
                    return;
                }
                ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping => {
                    self.abortable_if_possible(*error, "AddPartitionsToTxn");
                    return;
                }
                ErrorCode::TopicAuthorizationFailed => {
                    unauthorized.insert(partition.topic().to_string());
                }
                error => {
                    // OPERATION_NOT_ATTEMPTED (another partition failed) and
                    // anything unexpected.
                    if other_error.is_none() || error != ErrorCode::OperationNotAttempted {
                        other_error = Some(error);
                    }
                }
            }
        }
        for partition in &partitions {
            // Pending no more, whatever the result: a failed add aborts.
            self.pending_partitions.remove(partition);
        }
        if !unauthorized.is_empty() {
            self.abortable(TransactionError::TopicAuthorizationFailed {
                topics: unauthorized.into_iter().collect(),
            });
        } else if let Some(error) = other_error {
            self.abortable(TransactionError::Broker {
                request: "AddPartitionsToTxn",
                error,
            });
        } else {
            self.partitions_in_transaction.extend(partitions);
            self.transaction_started = true;
        }
    }

    fn retry_add_partitions(&mut self, partitions: BTreeSet<P>, now: Instant, concurrent: bool) {
        // The previous transaction is still completing: the Java client
        // retries the first add of a transaction sooner (20 ms).
        let backoff = if concurrent && self.partitions_in_transaction.is_empty() {
            self.config.retry_backoff.min(Duration::from_millis(20))
        } else {
            self.config.retry_backoff
        };
        self.enqueue_at(Work::AddPartitions { partitions }, Some(now + backoff));
    }

    fn on_add_offsets(
        &mut self,
        now: Instant,
        offsets: Vec<(P, OffsetAndMetadata)>,
        group: GroupIdentity,
        response: &AddOffsetsToTxnResponse,
    ) {
        let error = ErrorCode::from_code(response.error_code);
        match error {
            ErrorCode::None => {
                self.transaction_started = true;
                self.enqueue(Work::TxnOffsetCommit { offsets, group });
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.transaction_coordinator = None;
                self.retry(Work::AddOffsets { offsets, group }, now);
            }
            ErrorCode::CoordinatorLoadInProgress | ErrorCode::ConcurrentTransactions => {
                self.retry(Work::AddOffsets { offsets, group }, now);
            }
            ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping => {
                self.complete(
                    TransactionOperation::SendOffsets,
                    Err(TransactionError::Broker {
                        request: "AddOffsetsToTxn",
                        error,
                    }),
                );
                self.abortable_if_possible(error, "AddOffsetsToTxn");
            }
            ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                self.complete(
                    TransactionOperation::SendOffsets,
                    Err(TransactionError::ProducerFenced),
                );
                self.fatal(TransactionError::ProducerFenced);
            }
            ErrorCode::TransactionalIdAuthorizationFailed => {
                self.complete(
                    TransactionOperation::SendOffsets,
                    Err(TransactionError::TransactionalIdAuthorizationFailed),
                );
                self.fatal(TransactionError::TransactionalIdAuthorizationFailed);
            }
            ErrorCode::GroupAuthorizationFailed => {
                let failure = TransactionError::GroupAuthorizationFailed {
                    group_id: group.group_id,
                };
                self.complete(TransactionOperation::SendOffsets, Err(failure.clone()));
                self.abortable(failure);
            }
            error => {
                let failure = TransactionError::Broker {
                    request: "AddOffsetsToTxn",
                    error,
                };
                self.complete(TransactionOperation::SendOffsets, Err(failure.clone()));
                if error == ErrorCode::TransactionAbortable {
                    self.abortable(failure);
                } else {
                    self.fatal(failure);
                }
            }
        }
    }

    fn on_txn_offset_commit(
        &mut self,
        now: Instant,
        offsets: Vec<(P, OffsetAndMetadata)>,
        group: GroupIdentity,
        response: &TxnOffsetCommitResponse,
    ) {
        let mut remaining = Vec::new();
        let mut find_coordinator = false;
        for (partition, offset) in offsets {
            let error = response
                .topics
                .iter()
                .filter(|t| t.name == partition.topic())
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == partition.partition())
                // No answer for it: send it again.
                .map_or(ErrorCode::UnknownTopicOrPartition, |p| {
                    ErrorCode::from_code(p.error_code)
                });
            let failure = match error {
                ErrorCode::None => continue,
                ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NotCoordinator
                | ErrorCode::RequestTimedOut => {
                    find_coordinator = true;
                    remaining.push((partition, offset));
                    continue;
                }
                error if error.is_retriable() => {
                    // CONCURRENT_TRANSACTIONS (the group coordinator still
                    // completing the previous transaction, with V2),
                    // UNKNOWN_TOPIC_OR_PARTITION, COORDINATOR_LOAD_IN_PROGRESS.
                    remaining.push((partition, offset));
                    continue;
                }
                ErrorCode::TransactionAbortable => Err(TransactionError::Broker {
                    request: "TxnOffsetCommit",
                    error,
                }),
                ErrorCode::GroupAuthorizationFailed => {
                    Err(TransactionError::GroupAuthorizationFailed {
                        group_id: group.group_id.clone(),
                    })
                }
                ErrorCode::FencedInstanceId
                | ErrorCode::UnknownMemberId
                | ErrorCode::IllegalGeneration => Err(TransactionError::CommitFailed(error)),
                ErrorCode::TransactionalIdAuthorizationFailed => {
                    Ok(TransactionError::TransactionalIdAuthorizationFailed)
                }
                ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                    Ok(TransactionError::ProducerFenced)
                }
                error => Ok(TransactionError::Broker {
                    request: "TxnOffsetCommit",
                    error,
                }),
            };
            // Err: abortable; Ok: fatal.
            match failure {
                Err(abortable) => {
                    self.complete(TransactionOperation::SendOffsets, Err(abortable.clone()));
                    self.abortable(abortable);
                }
                Ok(fatal) => {
                    self.complete(TransactionOperation::SendOffsets, Err(fatal.clone()));
                    self.fatal(fatal);
                }
            }
            return;
        }
        if remaining.is_empty() {
            self.complete(TransactionOperation::SendOffsets, Ok(()));
            return;
        }
        if find_coordinator {
            self.group_coordinators.remove(&group.group_id);
        }
        self.retry(
            Work::TxnOffsetCommit {
                offsets: remaining,
                group,
            },
            now,
        );
    }

    fn on_end_txn(&mut self, now: Instant, commit: bool, response: &EndTxnResponse) {
        let error = ErrorCode::from_code(response.error_code);
        match error {
            ErrorCode::None => {
                // KIP-890: EndTxn v5+ hands out the next epoch (or a new
                // producer id with epoch 0 when the epoch would overflow);
                // older versions leave both at -1. Sequences restart at 0.
                let producer = ProducerIdAndEpoch {
                    producer_id: response.producer_id,
                    epoch: response.producer_epoch,
                };
                if producer.is_valid() {
                    self.producer = producer;
                    self.idempotence.reset_producer(producer);
                    if self.config.protocol == TransactionProtocol::V2 {
                        // The coordinator's bump fenced the failed batches.
                        self.epoch_bump_required = false;
                    }
                }
                self.complete_transaction();
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.transaction_coordinator = None;
                self.retry(Work::EndTxn { commit }, now);
            }
            error if error.is_retriable() => {
                self.retry(Work::EndTxn { commit }, now);
            }
            ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                self.fatal(TransactionError::ProducerFenced);
            }
            ErrorCode::TransactionalIdAuthorizationFailed => {
                self.fatal(TransactionError::TransactionalIdAuthorizationFailed);
            }
            ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping => {
                self.abortable_if_possible(error, "EndTxn");
            }
            ErrorCode::TransactionAbortable => self.abortable(TransactionError::Broker {
                request: "EndTxn",
                error,
            }),
            error => self.fatal(TransactionError::Broker {
                request: "EndTxn",
                error,
            }),
        }
    }

    /// Picks up what the produce answers meant for the transaction.
    fn absorb_produce_errors(&mut self) {
        if let Some(error) = self.idempotence.fatal_error().cloned()
            && self.state != TransactionState::FatalError
        {
            let error = match error {
                SequenceError::ProducerFenced => TransactionError::ProducerFenced,
                other => TransactionError::Produce(other),
            };
            self.fatal(error);
        }
        if let Some(error) = self.idempotence.take_abortable_error() {
            if self.state == TransactionState::AbortingTransaction
                || self.state == TransactionState::FatalError
            {
                return;
            }
            // The failed batch left a sequence gap only a new epoch closes
            // (Java skips this while completing; a gap found while
            // committing needs the new epoch all the same).
            if self.config.coordinator_supports_epoch_bump {
                self.epoch_bump_required = true;
            }
            self.abortable(TransactionError::Produce(error));
        }
    }

    fn begin_completing(&mut self, commit: bool) {
        if self.config.protocol == TransactionProtocol::V1 && !self.new_partitions.is_empty() {
            let partitions = std::mem::take(&mut self.new_partitions);
            self.pending_partitions.extend(partitions.iter().cloned());
            self.enqueue(Work::AddPartitions { partitions });
        }
        if !self.skip_end_txn {
            self.enqueue(Work::EndTxn { commit });
        }
        let needs_init = self.skip_end_txn
            || (self.epoch_bump_required && self.config.protocol == TransactionProtocol::V1);
        if needs_init {
            self.enqueue(Work::InitProducerId { bump: true });
        }
    }

    /// EndTxn succeeded or was not needed.
    fn complete_transaction(&mut self) {
        let bump_queued =
            self.epoch_bump_required && self.config.protocol == TransactionProtocol::V1;
        // V1 keeps the epoch from one transaction to the next: an EndTxn
        // that went unanswered may still reach the coordinator once the
        // next transaction is open, and end it (the Jepsen finding behind
        // KIP-890). A new epoch first fences it. V2 bumps at every EndTxn.
        let fence_late_end_txn = self
            .end_txn_unanswered
            .take()
            .is_some_and(|late| late == self.producer)
            && !bump_queued
            && self.config.protocol == TransactionProtocol::V1
            && self.config.coordinator_supports_epoch_bump;
        // The coordinator went to V2 while this transaction ran on V1: a new
        // epoch starts the next one on V2 cleanly.
        let upgrade = !bump_queued
            && self.config.protocol == TransactionProtocol::V1
            && self.reported_protocol() == Some(TransactionProtocol::V2);
        if upgrade || fence_late_end_txn {
            self.enqueue(Work::InitProducerId { bump: true });
        }
        let bump_next = bump_queued || upgrade || fence_late_end_txn;
        if !bump_next && self.reported_protocol() == Some(TransactionProtocol::V1) {
            // Back to V1 (the feature was lowered): the EndTxn just ended
            // the last V2 transaction, nothing else is needed.
            self.config.protocol = TransactionProtocol::V1;
        }
        self.transition(if bump_next {
            TransactionState::Initializing
        } else {
            TransactionState::Ready
        });
        self.transaction_started = false;
        self.new_partitions.clear();
        self.pending_partitions.clear();
        self.partitions_in_transaction.clear();
        if !bump_next {
            self.epoch_bump_required = false;
            if let Some(operation) = self.pending_operation.take() {
                self.complete(operation, Ok(()));
            }
        }
    }

    /// Why `work` must not be sent now, if it must not.
    fn refusal_for(&self, work: &Work<P>) -> Option<TransactionError> {
        match self.state {
            TransactionState::FatalError => Some(self.earlier()),
            TransactionState::AbortableError if !matches!(work, Work::FindCoordinator { .. }) => {
                Some(self.earlier())
            }
            _ => None,
        }
    }

    fn earlier(&self) -> TransactionError {
        TransactionError::Earlier(Box::new(
            self.last_error.clone().unwrap_or(TransactionError::Aborted),
        ))
    }

    fn fail_work(&mut self, work: &Work<P>, error: TransactionError) {
        if let Some(operation) = work.operation() {
            self.complete(operation, Err(error.clone()));
        }
        if work.is_end_txn()
            && let Some(operation) = self.pending_operation.take()
        {
            self.complete(operation, Err(error));
        }
    }

    fn fail_pending_offsets(&mut self, error: &TransactionError) {
        let failed: Vec<Queued<P>> = self
            .queue
            .iter()
            .filter(|q| q.work.operation() == Some(TransactionOperation::SendOffsets))
            .cloned()
            .collect();
        self.queue
            .retain(|q| q.work.operation() != Some(TransactionOperation::SendOffsets));
        for _ in failed {
            self.complete(TransactionOperation::SendOffsets, Err(error.clone()));
        }
    }

    fn coordinator_key(&self, work: &Work<P>) -> (CoordinatorType, String) {
        match work {
            Work::TxnOffsetCommit { group, .. } => (CoordinatorType::Group, group.group_id.clone()),
            _ => (
                CoordinatorType::Transaction,
                self.config.transactional_id.clone(),
            ),
        }
    }

    fn coordinator_for(&self, work: &Work<P>) -> Option<i32> {
        match work {
            Work::FindCoordinator { .. } => Some(-1),
            Work::TxnOffsetCommit { group, .. } => {
                self.group_coordinators.get(&group.group_id).copied()
            }
            _ => self.transaction_coordinator,
        }
    }

    fn forget_coordinator(&mut self, work: &Work<P>) {
        match work {
            Work::FindCoordinator { .. } => {}
            Work::TxnOffsetCommit { group, .. } => {
                self.group_coordinators.remove(&group.group_id);
            }
            _ => self.transaction_coordinator = None,
        }
    }

    fn build(&self, work: &Work<P>, node: i32) -> TransactionRequest {
        let transactional_id = self.config.transactional_id.clone();
        let producer_id = self.producer.producer_id;
        let producer_epoch = self.producer.epoch;
        match work {
            Work::FindCoordinator { kind, key } => TransactionRequest::FindCoordinator {
                kind: *kind,
                key: key.clone(),
            },
            Work::InitProducerId { bump } => TransactionRequest::InitProducerId {
                node,
                request: InitProducerIdRequest {
                    transactional_id: Some(transactional_id),
                    transaction_timeout_ms: i32::try_from(
                        self.config.transaction_timeout.as_millis(),
                    )
                    .unwrap_or(i32::MAX),
                    // KIP-360: naming the current id and epoch asks for the
                    // next epoch of the same id.
                    producer_id: if *bump { producer_id } else { -1 },
                    producer_epoch: if *bump { producer_epoch } else { -1 },
                    ..InitProducerIdRequest::default()
                },
            },
            Work::AddPartitions { partitions } => {
                let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                for partition in partitions {
                    topics
                        .entry(partition.topic())
                        .or_default()
                        .push(partition.partition());
                }
                TransactionRequest::AddPartitionsToTxn {
                    node,
                    request: AddPartitionsToTxnRequest {
                        v3_and_below_transactional_id: transactional_id,
                        v3_and_below_producer_id: producer_id,
                        v3_and_below_producer_epoch: producer_epoch,
                        v3_and_below_topics: topics
                            .into_iter()
                            .map(|(name, partitions)| AddPartitionsToTxnTopic {
                                name: name.to_string(),
                                partitions,
                                ..AddPartitionsToTxnTopic::default()
                            })
                            .collect(),
                        ..AddPartitionsToTxnRequest::default()
                    },
                }
            }
            Work::AddOffsets { group, .. } => TransactionRequest::AddOffsetsToTxn {
                node,
                request: AddOffsetsToTxnRequest {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    group_id: group.group_id.clone(),
                    ..AddOffsetsToTxnRequest::default()
                },
            },
            Work::TxnOffsetCommit { offsets, group } => {
                let mut topics: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> =
                    BTreeMap::new();
                for (partition, offset) in offsets {
                    topics.entry(partition.topic()).or_default().push(
                        TxnOffsetCommitRequestPartition {
                            partition_index: partition.partition(),
                            committed_offset: offset.offset,
                            committed_leader_epoch: offset.leader_epoch.unwrap_or(-1),
                            committed_metadata: Some(offset.metadata.clone()),
                            ..TxnOffsetCommitRequestPartition::default()
                        },
                    );
                }
                TransactionRequest::TxnOffsetCommit {
                    node,
                    request: TxnOffsetCommitRequest {
                        transactional_id,
                        group_id: group.group_id.clone(),
                        producer_id,
                        producer_epoch,
                        generation_id_or_member_epoch: group.generation,
                        member_id: group.member_id.clone(),
                        group_instance_id: group.group_instance_id.clone(),
                        topics: topics
                            .into_iter()
                            .map(|(name, partitions)| TxnOffsetCommitRequestTopic {
                                name: name.to_string(),
                                partitions,
                                ..TxnOffsetCommitRequestTopic::default()
                            })
                            .collect(),
                        ..TxnOffsetCommitRequest::default()
                    },
                }
            }
            Work::EndTxn { commit } => TransactionRequest::EndTxn {
                node,
                request: EndTxnRequest {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    committed: *commit,
                    ..EndTxnRequest::default()
                },
            },
        }
    }

    fn enqueue(&mut self, work: Work<P>) {
        self.enqueue_at(work, None);
    }

    fn enqueue_at(&mut self, work: Work<P>, not_before: Option<Instant>) {
        let order = self.next_order;
        self.next_order += 1;
        self.queue.push(Queued {
            work,
            order,
            not_before,
        });
    }

    fn retry(&mut self, work: Work<P>, now: Instant) {
        self.enqueue_at(work, Some(now + self.config.retry_backoff));
    }

    fn complete(&mut self, operation: TransactionOperation, result: Result<(), TransactionError>) {
        self.events
            .push_back(TransactionEvent::Completed { operation, result });
    }

    fn refuse(&self, operation: &'static str, state: TransactionState) -> TransactionError {
        match state {
            TransactionState::AbortableError | TransactionState::FatalError => self.earlier(),
            state => TransactionError::InvalidState { operation, state },
        }
    }

    fn abortable_if_possible(&mut self, error: ErrorCode, request: &'static str) {
        let failure = TransactionError::Broker { request, error };
        if self.config.coordinator_supports_epoch_bump
            || self.config.protocol == TransactionProtocol::V2
        {
            self.epoch_bump_required = true;
            if error == ErrorCode::InvalidProducerIdMapping {
                self.skip_end_txn = true;
            }
            self.abortable(failure);
        } else {
            self.fatal(failure);
        }
    }

    fn abortable(&mut self, error: TransactionError) {
        match self.state {
            TransactionState::AbortingTransaction | TransactionState::FatalError => {}
            TransactionState::InTransaction
            | TransactionState::CommittingTransaction
            | TransactionState::AbortableError => {
                if let Some(operation) = self.pending_operation.take() {
                    self.complete(operation, Err(error.clone()));
                }
                self.last_error = Some(error);
                self.state = TransactionState::AbortableError;
                self.idempotence.set_new_batches_allowed(false);
            }
            // Outside a transaction there is nothing to abort.
            _ => self.fatal(error),
        }
    }

    fn fatal(&mut self, error: TransactionError) {
        if self.state == TransactionState::FatalError {
            return;
        }
        if let Some(operation) = self.pending_operation.take() {
            self.complete(operation, Err(error.clone()));
        }
        let queued = std::mem::take(&mut self.queue);
        for q in queued {
            if let Some(operation) = q.work.operation() {
                self.complete(operation, Err(error.clone()));
            }
        }
        let sequence_error = match &error {
            TransactionError::ProducerFenced => SequenceError::ProducerFenced,
            TransactionError::Produce(e) => e.clone(),
            _ => SequenceError::Fatal(ErrorCode::UnknownServerError),
        };
        self.idempotence.set_fatal(sequence_error);
        self.last_error = Some(error);
        self.state = TransactionState::FatalError;
    }

    fn transition(&mut self, target: TransactionState) {
        self.state = target;
        self.last_error = None;
        let sending = matches!(
            target,
            TransactionState::InTransaction | TransactionState::CommittingTransaction
        );
        self.idempotence.set_new_batches_allowed(sending);
        if matches!(target, TransactionState::Initializing) {
            self.idempotence.clear_producer();
        }
    }
}
