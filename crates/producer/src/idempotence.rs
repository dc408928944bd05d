//! The idempotent producer's bookkeeping, sans-I/O: the producer id and
//! epoch, each partition's next sequence number, and the batches that carry
//! a sequence until their outcome is known. It decides which partitions may
//! send, which sequence a new batch gets, and what a Produce answer means for
//! a batch (delivered, retry, failed), so that retries never reorder nor
//! duplicate records.
//!
//! The rules follow the Java client's `TransactionManager` (KIP-98, KIP-360):
//!
//! - A batch gets its `(producer id, epoch, base sequence)` the first time it
//!   is drained and keeps it across retries; the broker drops a resent batch
//!   it already wrote and answers DUPLICATE_SEQUENCE_NUMBER, a success.
//! - At most five batches per partition are on the wire (the broker
//!   remembers the last five per producer), and a batch being retried goes
//!   alone: it is resent only once every earlier batch of its partition has
//!   its outcome, so the broker sees sequences in order again.
//! - A gap in a partition's sequences (a batch the broker refused for good,
//!   or lost producer state) is closed by a new epoch: for the idempotent
//!   producer the client bumps the epoch itself (KIP-360) and renumbers the
//!   batches after the gap from 0. Unlike the Java client, renumbering waits
//!   until none of the partition's batches is on the wire and every batch
//!   before the gap has its outcome, so a batch that might already be in the
//!   log is never sent again under a new sequence.
//! - A batch given up on after being sent (its outcome unknown) leaves the
//!   partition "unresolved": no new sequences are handed out there until the
//!   batches behind it tell whether it was written; if none can, the epoch is
//!   bumped.
//!
//! A batch is named by its partition and its [`SequenceStamp`], which is
//! exactly the `(producer id, epoch, base sequence)` the accumulator keeps in
//! `ProducerBatch::producer`. When the machine renumbers batches it says so
//! with [`IdempotenceAction::RewriteBatch`]; it only ever renumbers batches
//! that wait in the accumulator, never one on the wire.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::produce_response::PartitionProduceResponse;
use ferrokafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

/// The most batches per partition the broker deduplicates: it keeps the
/// metadata of the last five batches of each producer.
pub const MAX_IN_FLIGHT_PER_PARTITION: usize = 5;

/// A producer id and epoch, as InitProducerId hands them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProducerIdAndEpoch {
    /// The producer id.
    pub producer_id: i64,
    /// The epoch.
    pub epoch: i16,
}

impl ProducerIdAndEpoch {
    /// The "no producer id" value requests carry (`-1`, `-1`).
    pub const NONE: ProducerIdAndEpoch = ProducerIdAndEpoch {
        producer_id: -1,
        epoch: -1,
    };

    /// Whether this is a real id handed out by a broker.
    pub fn is_valid(self) -> bool {
        self.producer_id >= 0 && self.epoch >= 0
    }
}

/// What identifies a sequenced batch: the producer id, epoch and base
/// sequence written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SequenceStamp {
    /// The producer id and epoch.
    pub producer: ProducerIdAndEpoch,
    /// The sequence of the batch's first record.
    pub base_sequence: i32,
}

impl SequenceStamp {
    /// As the accumulator stores it: `(producer id, epoch, base sequence)`.
    pub fn as_tuple(self) -> (i64, i16, i32) {
        (
            self.producer.producer_id,
            self.producer.epoch,
            self.base_sequence,
        )
    }

    /// From the accumulator's `(producer id, epoch, base sequence)`.
    pub fn from_tuple((producer_id, epoch, base_sequence): (i64, i16, i32)) -> Self {
        SequenceStamp {
            producer: ProducerIdAndEpoch { producer_id, epoch },
            base_sequence,
        }
    }
}

/// `sequence + increment`, wrapping to 0 after `i32::MAX` as Kafka's
/// sequence numbers do (`DefaultRecordBatch.incrementSequence`).
///
/// ```
/// use ferrokafka_producer::idempotence::increment_sequence;
/// assert_eq!(increment_sequence(5, 3), 8);
/// assert_eq!(increment_sequence(i32::MAX, 1), 0);
/// assert_eq!(increment_sequence(i32::MAX - 1, 5), 3);
/// ```
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    let sum = i64::from(sequence.max(0)) + i64::from(increment.max(0));
    (sum % (i64::from(i32::MAX) + 1)) as i32
}

/// The settings the machine needs.
#[derive(Debug, Clone)]
pub struct IdempotenceConfig {
    /// Batches per partition on the wire at once; capped at
    /// [`MAX_IN_FLIGHT_PER_PARTITION`] (`max_in_flight_requests_per_connection`).
    pub max_in_flight_per_partition: usize,
    /// `retry_backoff_ms`, between InitProducerId attempts.
    pub retry_backoff: Duration,
    /// Whether a transaction manager owns the producer id: then the epoch is
    /// never bumped locally and sequence gaps become abortable errors.
    pub transactional: bool,
}

impl Default for IdempotenceConfig {
    fn default() -> Self {
        IdempotenceConfig {
            max_in_flight_per_partition: MAX_IN_FLIGHT_PER_PARTITION,
            retry_backoff: Duration::from_millis(100),
            transactional: false,
        }
    }
}

/// What the broker said about one batch (its partition's part of a Produce
/// response), or that nothing came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProduceOutcome {
    /// Written at `base_offset`.
    Written {
        /// The offset of the batch's first record (`-1` when unknown).
        base_offset: i64,
    },
    /// Refused with an error.
    Refused {
        /// The error.
        error: ErrorCode,
        /// The partition's log start offset the broker reported (`-1` if none).
        log_start_offset: i64,
    },
    /// No answer: the connection dropped or the request timed out. The batch
    /// may or may not have been written.
    NoResponse,
}

impl ProduceOutcome {
    /// The outcome a Produce response's partition entry states.
    pub fn from_response(response: &PartitionProduceResponse) -> Self {
        let error = ErrorCode::from_code(response.error_code);
        if error.is_ok() {
            ProduceOutcome::Written {
                base_offset: response.base_offset,
            }
        } else {
            ProduceOutcome::Refused {
                error,
                log_start_offset: response.log_start_offset,
            }
        }
    }
}

/// Why a batch failed, as the idempotence rules see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// The broker refused the batch for good (it is not in the log).
    #[error("the broker refused the batch: {0}")]
    Refused(ErrorCode),
    /// The batch was given up on after a retriable error or no answer; it
    /// may or may not have been written.
    #[error("gave up on the batch after {}; it may or may not have been written", .0.map_or_else(|| "no response".to_string(), |e| e.to_string()))]
    RetriesExhausted(Option<ErrorCode>),
    /// Another producer with the same transactional id took over.
    #[error(
        "the producer was fenced by a newer one with the same transactional id (PRODUCER_FENCED)"
    )]
    ProducerFenced,
    /// The batch carried an epoch the broker no longer accepts.
    #[error("the broker refused the producer's epoch (INVALID_PRODUCER_EPOCH)")]
    InvalidProducerEpoch,
    /// The producer cannot continue (authorization, unsupported version, ...).
    #[error("the producer cannot continue: {0}")]
    Fatal(ErrorCode),
    /// The transaction this batch belongs to must be aborted (KIP-890).
    #[error("the transaction must be aborted (TRANSACTION_ABORTABLE)")]
    TransactionAbortable,
    /// An earlier fatal error stopped the producer; the batch was not sent.
    #[error("the producer stopped after a fatal error: {0}")]
    ProducerFailed(Box<SequenceError>),
}

impl SequenceError {
    /// Whether the producer can do nothing more (it must be closed).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            SequenceError::ProducerFenced
                | SequenceError::Fatal(_)
                | SequenceError::ProducerFailed(_)
        )
    }
}

/// What to do with a batch after its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchVerdict {
    /// The batch is in the log: complete its records.
    Delivered {
        /// The broker said DUPLICATE_SEQUENCE_NUMBER: an earlier attempt was
        /// written and its offset is not known.
        duplicate: bool,
    },
    /// Put the batch back (in sequence order) to be resent with the same
    /// stamp after the backoff.
    Retry,
    /// Fail the batch's records.
    Failed(SequenceError),
    /// The machine does not track this batch (an answer that came twice, or
    /// one for a batch it already settled): ignore it.
    Stale,
}

/// Something the driver must do for the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotenceAction<P> {
    /// Send InitProducerId to any broker and report the answer with
    /// [`Idempotence::on_init_producer_id_response`] or
    /// [`Idempotence::on_init_producer_id_failed`].
    SendInitProducerId(InitProducerIdRequest),
    /// Give the batch of `partition` now stamped `from` the stamp `to`, in
    /// the accumulator (the batch is not on the wire; its header bytes and
    /// CRC must be rewritten).
    RewriteBatch {
        /// The batch's partition.
        partition: P,
        /// Its stamp until now.
        from: SequenceStamp,
        /// Its new stamp.
        to: SequenceStamp,
    },
    /// The epoch was bumped (for logs and metrics; nothing to send).
    EpochBumped(ProducerIdAndEpoch),
}

/// A batch that carries a sequence and has no final outcome yet. Its flags
/// are independent facts about its attempts, not a state in disguise.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)]
struct Tracked {
    /// Assignment order within the partition (sequences wrap; this does not).
    order: u64,
    stamp: SequenceStamp,
    record_count: i32,
    on_wire: bool,
    sent_before: bool,
    /// Renumbered after a gap: OUT_OF_ORDER or UNKNOWN_PRODUCER_ID answers
    /// for it are expected while the partition settles, so they are retried.
    sequence_reset: bool,
    /// An attempt ended without a clear answer (no response, or a retriable
    /// error such as REQUEST_TIMED_OUT): the batch may be in the log, so it
    /// is never renumbered, and a sequence error about it proves no gap.
    maybe_written: bool,
}

impl Tracked {
    fn last_sequence(&self) -> i32 {
        increment_sequence(self.stamp.base_sequence, self.record_count - 1)
    }
}

#[derive(Debug, Clone, Default)]
struct PartitionState {
    /// The producer id and epoch this partition's sequences belong to.
    producer: Option<ProducerIdAndEpoch>,
    next_sequence: i32,
    /// Order and last sequence of the latest acknowledged batch.
    last_acked: Option<(u64, i32)>,
    last_acked_offset: Option<i64>,
    batches: VecDeque<Tracked>,
    next_order: u64,
    /// Set while a batch given up on may or may not be in the log: its
    /// order and the sequence right after it.
    unresolved: Option<(u64, i32)>,
    /// A gap: batches from this order on are known not to be in the log and
    /// must be renumbered from 0 before they are sent again.
    renumber_from: Option<u64>,
}

impl PartitionState {
    fn on_wire(&self) -> usize {
        self.batches.iter().filter(|b| b.on_wire).count()
    }

    fn find(&self, stamp: SequenceStamp) -> Option<usize> {
        self.batches.iter().position(|b| b.stamp == stamp)
    }

    fn is_next_sequence(&self, sequence: i32) -> bool {
        match self.last_acked {
            Some((_, last)) => increment_sequence(last, 1) == sequence,
            None => sequence == 0,
        }
    }

    fn start_over(&mut self, producer: ProducerIdAndEpoch) {
        self.producer = Some(producer);
        self.next_sequence = 0;
        self.last_acked = None;
        self.unresolved = None;
        self.renumber_from = None;
    }
}

/// The idempotent producer's state machine. `P` is the partition key (the
/// accumulator's).
#[derive(Debug)]
pub struct Idempotence<P> {
    config: IdempotenceConfig,
    producer: Option<ProducerIdAndEpoch>,
    init_in_flight: bool,
    init_after: Option<Instant>,
    partitions: BTreeMap<P, PartitionState>,
    fatal: Option<SequenceError>,
    /// A failure a transaction must be aborted for, not yet taken by the
    /// transaction manager.
    abortable: Option<SequenceError>,
    /// Whether batches never sent may be drained (a transaction in an error
    /// state sends only retries).
    new_batches_allowed: bool,
    actions: VecDeque<IdempotenceAction<P>>,
}

impl<P: Ord + Clone> Idempotence<P> {
    /// A machine with no producer id yet. An idempotent (not transactional)
    /// one asks for an id at the first [`Idempotence::poll_action`].
    pub fn new(mut config: IdempotenceConfig) -> Self {
        config.max_in_flight_per_partition = config
            .max_in_flight_per_partition
            .clamp(1, MAX_IN_FLIGHT_PER_PARTITION);
        Idempotence {
            config,
            producer: None,
            init_in_flight: false,
            init_after: None,
            partitions: BTreeMap::new(),
            fatal: None,
            abortable: None,
            new_batches_allowed: true,
            actions: VecDeque::new(),
        }
    }

    /// The current producer id and epoch, once known.
    pub fn producer_id_and_epoch(&self) -> Option<ProducerIdAndEpoch> {
        self.producer
    }

    /// The fatal error the producer stopped on, if any.
    pub fn fatal_error(&self) -> Option<&SequenceError> {
        self.fatal.as_ref()
    }

    /// Batches of `partition` that carry a sequence and await their outcome.
    pub fn tracked_batches(&self, partition: &P) -> usize {
        self.partitions
            .get(partition)
            .map_or(0, |p| p.batches.len())
    }

    /// Batches of all partitions that carry a sequence and await an outcome.
    pub fn total_tracked_batches(&self) -> usize {
        self.partitions.values().map(|p| p.batches.len()).sum()
    }

    /// The sequence the next new batch of `partition` would start at.
    pub fn next_sequence(&self, partition: &P) -> i32 {
        self.partitions
            .get(partition)
            .map_or(0, |p| p.next_sequence)
    }

    /// The next thing to do, if any; call until `None` after every event.
    pub fn poll_action(&mut self, now: Instant) -> Option<IdempotenceAction<P>> {
        self.settle_partitions();
        if let Some(action) = self.actions.pop_front() {
            return Some(action);
        }
        if self.config.transactional
            || self.fatal.is_some()
            || self.producer.is_some()
            || self.init_in_flight
            || self.init_after.is_some_and(|at| now < at)
        {
            return None;
        }
        self.init_in_flight = true;
        self.init_after = None;
        Some(IdempotenceAction::SendInitProducerId(
            InitProducerIdRequest {
                transactional_id: None,
                // The broker ignores it without a transactional id; the Java
                // client sends the largest value.
                transaction_timeout_ms: i32::MAX,
                producer_id: -1,
                producer_epoch: -1,
                ..InitProducerIdRequest::default()
            },
        ))
    }

    /// When [`Idempotence::poll_action`] may have something new without any
    /// other event (an InitProducerId retry).
    pub fn next_timeout(&self) -> Option<Instant> {
        if self.producer.is_none() && !self.init_in_flight {
            self.init_after
        } else {
            None
        }
    }

    /// The answer to the InitProducerId the machine asked for.
    pub fn on_init_producer_id_response(
        &mut self,
        now: Instant,
        response: &InitProducerIdResponse,
    ) -> Result<(), SequenceError> {
        self.init_in_flight = false;
        let error = ErrorCode::from_code(response.error_code);
        if error.is_ok() {
            let producer = ProducerIdAndEpoch {
                producer_id: response.producer_id,
                epoch: response.producer_epoch,
            };
            if producer.is_valid() {
                self.producer = Some(producer);
                return Ok(());
            }
            // A success without an id is not something to build on.
            self.init_after = Some(now + self.config.retry_backoff);
            return Err(SequenceError::Refused(ErrorCode::UnknownServerError));
        }
        match error {
            ErrorCode::ClusterAuthorizationFailed
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::UnsupportedVersion => {
                let failure = SequenceError::Fatal(error);
                self.fatal = Some(failure.clone());
                Err(failure)
            }
            _ => {
                self.init_after = Some(now + self.config.retry_backoff);
                Err(SequenceError::Refused(error))
            }
        }
    }

    /// The InitProducerId request got no answer; it is retried after the
    /// backoff.
    pub fn on_init_producer_id_failed(&mut self, now: Instant) {
        self.init_in_flight = false;
        self.init_after = Some(now + self.config.retry_backoff);
    }

    /// Whether the first batch in `partition`'s queue may be drained now.
    /// Check it for every ready partition before `Accumulator::drain`, and
    /// drain only those that pass: then [`Idempotence::assign_sequence`]
    /// always has a sequence to give.
    pub fn may_send(&self, partition: &P) -> bool {
        if self.fatal.is_some() {
            return false;
        }
        let Some(current) = self.producer else {
            return false;
        };
        let max = self.config.max_in_flight_per_partition;
        let Some(state) = self.partitions.get(partition) else {
            return self.new_batches_allowed;
        };
        let on_wire = state.on_wire();
        // Until the broker acknowledged one of this epoch's batches it may
        // hold no state for the producer, and then it takes any sequence
        // (KIP-360): a batch sent behind a refused first one would be
        // written ahead of it. One batch at a time until the first is in.
        let room = on_wire < max && (on_wire == 0 || state.last_acked.is_some());
        match state.batches.iter().position(|b| !b.on_wire) {
            Some(index) => {
                let batch = &state.batches[index];
                if state.renumber_from.is_some_and(|from| batch.order >= from) {
                    // Waits to be renumbered after the gap.
                    return false;
                }
                if batch.sent_before {
                    // A retry goes alone, once every earlier batch is settled.
                    index == 0
                } else {
                    room
                }
            }
            None => {
                self.new_batches_allowed
                    && room
                    && state.unresolved.is_none()
                    && state.renumber_from.is_none()
                    // New sequences under a new epoch wait until the batches
                    // sent under the old one are settled.
                    && (state.producer == Some(current) || state.batches.is_empty())
            }
        }
    }

    /// The stamp for a new batch of `record_count` records drained from
    /// `partition`, as `Accumulator::drain`'s closure wants it. `None` only
    /// when [`Idempotence::may_send`] would have said no.
    pub fn assign_sequence(&mut self, partition: &P, record_count: i32) -> Option<(i64, i16, i32)> {
        if !self.may_send(partition) {
            return None;
        }
        let current = self.producer?;
        let state = self.partitions.entry(partition.clone()).or_default();
        if state.producer != Some(current) {
            // Only reached with no batch tracked: start the partition over
            // under the new id or epoch.
            state.start_over(current);
        }
        let stamp = SequenceStamp {
            producer: current,
            base_sequence: state.next_sequence,
        };
        state.next_sequence = increment_sequence(state.next_sequence, record_count.max(1));
        let order = state.next_order;
        state.next_order += 1;
        state.batches.push_back(Tracked {
            order,
            stamp,
            record_count: record_count.max(1),
            on_wire: false,
            sent_before: false,
            sequence_reset: false,
            maybe_written: false,
        });
        Some(stamp.as_tuple())
    }

    /// A batch stamped `stamp` was drained and is going out in a request.
    /// Returns false when the machine does not know the batch.
    pub fn on_sent(&mut self, partition: &P, stamp: SequenceStamp) -> bool {
        let Some(state) = self.partitions.get_mut(partition) else {
            return false;
        };
        let Some(index) = state.find(stamp) else {
            return false;
        };
        let batch = &mut state.batches[index];
        batch.on_wire = true;
        batch.sent_before = true;
        true
    }

    /// The answer for the batch of `partition` stamped `stamp`.
    /// `may_retry` is whether the batch has attempts and delivery time left
    /// (`retries`, `delivery_timeout_ms`).
    pub fn on_response(
        &mut self,
        partition: &P,
        stamp: SequenceStamp,
        outcome: ProduceOutcome,
        may_retry: bool,
    ) -> BatchVerdict {
        let verdict = self.judge(partition, stamp, outcome, may_retry);
        self.settle_partitions();
        verdict
    }

    /// A batch waiting in the accumulator passed `delivery_timeout_ms`
    /// (`stamp` is `None` if it never got a sequence). Its records fail;
    /// the machine stops tracking it.
    pub fn on_expired(&mut self, partition: &P, stamp: Option<SequenceStamp>) {
        if let Some(stamp) = stamp
            && let Some(state) = self.partitions.get_mut(partition)
            && let Some(index) = state.find(stamp)
            && let Some(batch) = state.batches.remove(index)
        {
            if batch.sent_before {
                Self::mark_unresolved(state, &batch);
            } else {
                // Never sent: it was the queue's head, so no later batch has
                // a sequence yet; hand its sequences out again.
                state.next_sequence = batch.stamp.base_sequence;
            }
        }
        self.settle_partitions();
    }

    /// The transaction manager's new producer id or epoch (InitProducerId
    /// or EndTxn): every partition starts over at sequence 0. Only call it
    /// with no batch in flight (between transactions).
    pub fn reset_producer(&mut self, producer: ProducerIdAndEpoch) {
        self.producer = Some(producer);
        self.partitions.clear();
        self.abortable = None;
    }

    /// Forgets the producer id (a transactional producer awaiting
    /// InitProducerId).
    pub fn clear_producer(&mut self) {
        self.producer = None;
    }

    /// Whether batches never sent may be drained. A transaction manager in
    /// an error state turns this off so that only retries go out.
    pub fn set_new_batches_allowed(&mut self, allowed: bool) {
        self.new_batches_allowed = allowed;
    }

    /// Stops the producer for good: every later batch fails with `error`.
    pub fn set_fatal(&mut self, error: SequenceError) {
        if self.fatal.is_none() {
            self.fatal = Some(error);
        }
    }

    /// Takes the failure a transaction must be aborted for, if one came.
    pub fn take_abortable_error(&mut self) -> Option<SequenceError> {
        self.abortable.take()
    }

    fn judge(
        &mut self,
        partition: &P,
        stamp: SequenceStamp,
        outcome: ProduceOutcome,
        may_retry: bool,
    ) -> BatchVerdict {
        let transactional = self.config.transactional;
        let Some(state) = self.partitions.get_mut(partition) else {
            return BatchVerdict::Stale;
        };
        let Some(index) = state.find(stamp) else {
            return BatchVerdict::Stale;
        };
        if !state.batches[index].on_wire {
            // An answer for a batch not on the wire: a repeat of one already
            // handled. Acting on it twice could resend or double-count.
            return BatchVerdict::Stale;
        }
        state.batches[index].on_wire = false;
        let (error, log_start_offset) = match outcome {
            ProduceOutcome::Written { base_offset } => {
                Self::complete(state, index, base_offset);
                return BatchVerdict::Delivered { duplicate: false };
            }
            ProduceOutcome::Refused {
                error: ErrorCode::DuplicateSequenceNumber,
                ..
            } => {
                Self::complete(state, index, -1);
                return BatchVerdict::Delivered { duplicate: true };
            }
            ProduceOutcome::Refused {
                error,
                log_start_offset,
            } => (error, log_start_offset),
            ProduceOutcome::NoResponse => {
                state.batches[index].maybe_written = true;
                return if may_retry {
                    BatchVerdict::Retry
                } else {
                    let batch = state.batches.remove(index).expect("index was found");
                    Self::mark_unresolved(state, &batch);
                    BatchVerdict::Failed(SequenceError::RetriesExhausted(None))
                };
            }
        };
        if let Some(fatal) = &self.fatal {
            state.batches.remove(index);
            return BatchVerdict::Failed(SequenceError::ProducerFailed(Box::new(fatal.clone())));
        }
        let batch = state.batches[index].clone();
        if batch.maybe_written
            && matches!(
                error,
                ErrorCode::UnknownProducerId | ErrorCode::OutOfOrderSequenceNumber
            )
        {
            // An earlier attempt may be in the log (its answer was lost and
            // the broker no longer remembers it): no proof of a gap, so no
            // renumbering; retrying can still meet DUPLICATE_SEQUENCE_NUMBER.
            return Self::retry_or_give_up(state, index, error, may_retry);
        }
        match error {
            ErrorCode::UnknownProducerId => {
                // The broker has no state for this producer id: it was
                // expired, or the log head holding it was deleted.
                if log_start_offset < 0 || batch.sequence_reset {
                    return Self::retry_or_give_up(state, index, error, may_retry);
                }
                let log_head_gone = state.last_acked_offset.unwrap_or(-1) < log_start_offset;
                if log_head_gone && transactional {
                    // The broker accepts sequence 0 again under the same
                    // epoch: renumber without aborting.
                    state.renumber_from = Some(
                        state
                            .renumber_from
                            .map_or(batch.order, |o| o.min(batch.order)),
                    );
                    return Self::retry_or_give_up(state, index, error, may_retry);
                }
                if !transactional {
                    self.request_renumbering(partition, batch.order);
                    let state = self.partitions.get_mut(partition).expect("present");
                    return Self::retry_or_give_up(state, index, error, may_retry);
                }
                self.fail_for_transaction(partition, index, SequenceError::Refused(error))
            }
            ErrorCode::OutOfOrderSequenceNumber => {
                let not_next =
                    batch.sequence_reset || !state.is_next_sequence(batch.stamp.base_sequence);
                if state.unresolved.is_none() && not_next {
                    // An earlier batch is still on its way or being retried.
                    return Self::retry_or_give_up(state, index, error, may_retry);
                }
                if !transactional {
                    let follows_unknown = state
                        .unresolved
                        .is_some_and(|(_, next)| next == batch.stamp.base_sequence);
                    if state.unresolved.is_none() || follows_unknown {
                        // A real gap right before this batch.
                        self.request_renumbering(partition, batch.order);
                    }
                    let state = self.partitions.get_mut(partition).expect("present");
                    return Self::retry_or_give_up(state, index, error, may_retry);
                }
                self.fail_for_transaction(partition, index, SequenceError::Refused(error))
            }
            ErrorCode::ProducerFenced => {
                self.set_fatal(SequenceError::ProducerFenced);
                let state = self.partitions.get_mut(partition).expect("present");
                state.batches.remove(index);
                BatchVerdict::Failed(SequenceError::ProducerFenced)
            }
            ErrorCode::ClusterAuthorizationFailed
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::UnsupportedVersion => {
                self.set_fatal(SequenceError::Fatal(error));
                let state = self.partitions.get_mut(partition).expect("present");
                state.batches.remove(index);
                BatchVerdict::Failed(SequenceError::Fatal(error))
            }
            ErrorCode::InvalidProducerEpoch => {
                self.fail_with_gap(partition, index, SequenceError::InvalidProducerEpoch)
            }
            ErrorCode::TransactionAbortable => {
                self.fail_with_gap(partition, index, SequenceError::TransactionAbortable)
            }
            error if error.is_retriable() => {
                state.batches[index].maybe_written = true;
                Self::retry_or_give_up(state, index, error, may_retry)
            }
            error => self.fail_with_gap(partition, index, SequenceError::Refused(error)),
        }
    }

    /// Retries the batch if it may, else fails it with its outcome unknown.
    fn retry_or_give_up(
        state: &mut PartitionState,
        index: usize,
        error: ErrorCode,
        may_retry: bool,
    ) -> BatchVerdict {
        if may_retry {
            return BatchVerdict::Retry;
        }
        let batch = state.batches.remove(index).expect("index was found");
        Self::mark_unresolved(state, &batch);
        BatchVerdict::Failed(SequenceError::RetriesExhausted(Some(error)))
    }

    /// The broker refused the batch for good: it is not in the log, so the
    /// batches after it can be renumbered (idempotent) or the transaction
    /// must be aborted (transactional).
    fn fail_with_gap(&mut self, partition: &P, index: usize, error: SequenceError) -> BatchVerdict {
        if self.config.transactional {
            return self.fail_for_transaction(partition, index, error);
        }
        let state = self.partitions.get_mut(partition).expect("present");
        let batch = state.batches.remove(index).expect("index was found");
        if batch.maybe_written {
            // Refused now, but an earlier attempt may have been written.
            Self::mark_unresolved(state, &batch);
            return BatchVerdict::Failed(error);
        }
        if state.batches.iter().any(|b| b.order > batch.order) {
            self.request_renumbering(partition, batch.order);
        } else if let Some(state) = self.partitions.get_mut(partition) {
            // The last batch: nothing follows the gap, hand its sequences
            // out again.
            if state.unresolved.is_none() && state.renumber_from.is_none() {
                state.next_sequence = batch.stamp.base_sequence;
            } else {
                self.request_renumbering(partition, batch.order);
            }
        }
        BatchVerdict::Failed(error)
    }

    fn fail_for_transaction(
        &mut self,
        partition: &P,
        index: usize,
        error: SequenceError,
    ) -> BatchVerdict {
        if let Some(state) = self.partitions.get_mut(partition) {
            state.batches.remove(index);
        }
        if self.abortable.is_none() {
            self.abortable = Some(error.clone());
        }
        BatchVerdict::Failed(error)
    }

    fn complete(state: &mut PartitionState, index: usize, base_offset: i64) {
        let Some(batch) = state.batches.remove(index) else {
            return;
        };
        if state
            .last_acked
            .is_none_or(|(order, _)| batch.order > order)
        {
            state.last_acked = Some((batch.order, batch.last_sequence()));
        }
        if base_offset >= 0 {
            let last_offset = base_offset.saturating_add(i64::from(batch.record_count) - 1);
            if state.last_acked_offset.is_none_or(|o| last_offset > o) {
                state.last_acked_offset = Some(last_offset);
            }
        }
    }

    fn mark_unresolved(state: &mut PartitionState, batch: &Tracked) {
        // Of two batches given up on, the later one's successor is the batch
        // whose answer tells.
        if state
            .unresolved
            .is_none_or(|(order, _)| batch.order > order)
        {
            state.unresolved = Some((batch.order, increment_sequence(batch.last_sequence(), 1)));
        }
    }

    /// Batches of `partition` from `order` on are not in the log: renumber
    /// them once the partition is quiet, under a new epoch (idempotent).
    fn request_renumbering(&mut self, partition: &P, order: u64) {
        let transactional = self.config.transactional;
        let current = self.producer;
        let Some(state) = self.partitions.get_mut(partition) else {
            return;
        };
        state.renumber_from = Some(state.renumber_from.map_or(order, |o| o.min(order)));
        if transactional {
            return;
        }
        // One bump serves every partition still on the old epoch.
        if state.producer.is_some() && state.producer == current {
            self.bump_epoch();
        }
    }

    fn bump_epoch(&mut self) {
        let Some(current) = self.producer else {
            return;
        };
        if current.epoch == i16::MAX {
            // The epoch is exhausted: a new producer id starts at epoch 0.
            self.producer = None;
            return;
        }
        let bumped = ProducerIdAndEpoch {
            producer_id: current.producer_id,
            epoch: current.epoch + 1,
        };
        self.producer = Some(bumped);
        self.actions
            .push_back(IdempotenceAction::EpochBumped(bumped));
    }

    /// Applies pending renumbering and resolves unresolved partitions once
    /// their batches allow it.
    fn settle_partitions(&mut self) {
        let transactional = self.config.transactional;
        let mut needs_bump = false;
        let mut abort_for: Option<SequenceError> = None;
        for (partition, state) in &mut self.partitions {
            if state.on_wire() > 0 {
                continue;
            }
            if state.renumber_from.is_none()
                && state.unresolved.is_some()
                && state.batches.is_empty()
            {
                if state.is_next_sequence(state.next_sequence) {
                    // Later batches were acknowledged, so the one given up
                    // on was written after all.
                    state.unresolved = None;
                } else if transactional {
                    state.unresolved = None;
                    abort_for.get_or_insert(SequenceError::RetriesExhausted(None));
                } else {
                    state.renumber_from = Some(state.next_order);
                    if state.producer == self.producer {
                        needs_bump = true;
                    }
                }
            }
            let Some(from) = state.renumber_from else {
                continue;
            };
            if state.batches.iter().any(|b| b.order < from) {
                // Earlier batches are retried under the old numbering first.
                continue;
            }
            let Some(current) = self.producer else {
                continue;
            };
            if !transactional && state.producer == Some(current) {
                needs_bump = true;
                continue;
            }
            let mut sequence = 0;
            for batch in &mut state.batches {
                let to = SequenceStamp {
                    producer: current,
                    base_sequence: sequence,
                };
                sequence = increment_sequence(sequence, batch.record_count);
                let from_stamp = batch.stamp;
                batch.stamp = to;
                batch.sequence_reset = true;
                if from_stamp != to {
                    self.actions.push_back(IdempotenceAction::RewriteBatch {
                        partition: partition.clone(),
                        from: from_stamp,
                        to,
                    });
                }
            }
            state.start_over(current);
            state.next_sequence = sequence;
        }
        if needs_bump {
            self.bump_epoch();
            // Renumber now that the epoch moved.
            self.settle_partitions_once_more();
        }
        if let Some(error) = abort_for
            && self.abortable.is_none()
        {
            self.abortable = Some(error);
        }
    }

    fn settle_partitions_once_more(&mut self) {
        // A bump makes every waiting renumbering possible; one more pass
        // applies them (it cannot ask for another bump: the epochs differ).
        let current = self.producer;
        if current.is_none() {
            return;
        }
        let ready: Vec<P> = self
            .partitions
            .iter()
            .filter(|(_, s)| s.renumber_from.is_some() && s.producer != current)
            .map(|(p, _)| p.clone())
            .collect();
        if !ready.is_empty() {
            self.settle_partitions();
        }
    }
}
