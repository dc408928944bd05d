//! The producer: `send` appends a record to the accumulator and returns a
//! future of its delivery; a sender task (see `sender.rs`) turns ready
//! batches into Produce requests, one per broker per wave.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ferrokafka_records::HeaderRef as _;
use ferrokafka_telemetry::{TelemetryHandle, TelemetrySlot};
use ferrokafka_transport::Client;
use rustc_hash::FxHashMap as HashMap;
use sync_wrapper::SyncWrapper;
use tokio::sync::{Notify, oneshot};

use crate::accumulator::{Accumulator, AppendError, DrainStamp, RecordRef};
use crate::availability::Availability;
use crate::config::{PartitionerChoice, ProducerConfig};
use crate::idempotence::{Idempotence, IdempotenceConfig, ProducerIdAndEpoch};
use crate::metrics::{Metrics, ProducerMetrics};
use crate::partitioner::{DefaultPartitioner, Partitioner, RoundRobinPartitioner, TopicPartitions};
use crate::topics::Topics;
use crate::transaction::{
    GroupIdentity, OffsetAndMetadata, TransactionConfig, TransactionError, TransactionEvent,
    TransactionOperation, TransactionProtocol, TransactionState, Transactions,
};
use crate::unsettled::{Generation, Unsettled, runs};
use crate::wall_clock::WallClock;
use crate::{ProduceError, ProducerRecord, RecordMetadata};

/// A partition of a topic, the accumulator's key (the one type every
/// client crate shares, from `ferrokafka-protocol`).
pub use ferrokafka_protocol::TopicPartition;

/// A function told of one record's delivery, called on the producer's I/O
/// task as soon as the broker answers (the Java client's `Callback`), or,
/// for the records a [`Producer::close`] out of time fails, on the task
/// calling `close`. Keep it short: the next responses wait while it runs.
pub type DeliveryCallback =
    Box<dyn FnOnce(Result<&RecordMetadata, &ProduceError>) + Send + 'static>;

/// What [`Producer::send`] and [`Producer::send_with_callback`] return
/// after their first attempt to append: nearly always its outcome, ready.
/// Kept to three words, since the caller's own future holds it (and moves
/// it) once per record.
enum Queueing<'a> {
    /// Appended; nothing to wait for.
    Appended,
    /// Refused (boxed: rare, and the error is ten words).
    Failed(Box<ProduceError>),
    /// Waiting for metadata or buffer room, up to `max_block_ms`.
    Waiting(Pin<Box<dyn Future<Output = Result<(), ProduceError>> + Send + 'a>>),
    /// The outcome was handed over.
    Done,
}

impl Future for Queueing<'_> {
    type Output = Result<(), ProduceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match std::mem::replace(&mut *self, Queueing::Done) {
            Queueing::Appended => Ok(()),
            Queueing::Failed(error) => Err(*error),
            Queueing::Waiting(mut waiting) => match waiting.as_mut().poll(cx) {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => {
                    *self = Queueing::Waiting(waiting);
                    return Poll::Pending;
                }
            },
            Queueing::Done => panic!("a send's future was polled after it completed"),
        })
    }
}

/// Whom a record's outcome goes to.
pub(crate) enum Notifier {
    /// A [`DeliveryFuture`].
    Future(oneshot::Sender<Result<RecordMetadata, ProduceError>>),
    /// A [`DeliveryCallback`], wrapped only to make batches `Sync`: it is
    /// reached by value, never through a shared reference, so it needs no
    /// lock (a record's completion stays two words smaller without one).
    Callback(SyncWrapper<DeliveryCallback>),
}

impl Notifier {
    /// Hands `outcome` over: a panicking callback is caught, so that the
    /// other records of its batch still learn theirs.
    pub(crate) fn notify(self, outcome: Result<&RecordMetadata, &ProduceError>) {
        match self {
            Notifier::Future(sender) => {
                let _ = sender.send(outcome.cloned().map_err(Clone::clone));
            }
            Notifier::Callback(callback) => {
                let callback = callback.into_inner();
                let called =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(outcome)));
                if called.is_err() {
                    tracing::warn!("a delivery callback panicked");
                }
            }
        }
    }
}

/// Who waits for one record, and what its metadata will say.
pub(crate) struct Completion {
    pub(crate) notifier: Notifier,
    /// The flush generation the record was accepted in.
    pub(crate) generation: Generation,
    pub(crate) timestamp: i64,
    pub(crate) key_size: i32,
    pub(crate) value_size: i32,
    pub(crate) header_size: i32,
}

/// What one attempt to append a record came to.
enum Attempt {
    Appended,
    /// Not appended: the record waits for this, then tries again.
    Wait(Wait, Completion),
}

/// What a record waits for before it can be appended.
enum Wait {
    /// Its topic's metadata.
    Metadata,
    /// Room in `buffer_memory` for a batch of `needed` bytes.
    Memory { needed: usize },
}

/// Which rules number and judge the producer's batches.
pub(crate) enum Machine {
    /// Idempotence off: no sequences. As in the Java client, up to
    /// `max_in_flight_requests_per_connection` batches of a partition are in
    /// flight, so a retry may overtake a later batch unless that is 1.
    Plain {
        /// Batches of one partition in flight at most.
        max_in_flight: usize,
    },
    /// The idempotent producer.
    Idempotent(Idempotence<TopicPartition>),
    /// The transactional producer (it owns the idempotence machine).
    Transactional(Box<Transactions<TopicPartition>>),
}

impl Machine {
    fn new(config: &ProducerConfig) -> Self {
        if let Some(id) = &config.transactional_id {
            let mut txn = TransactionConfig::new(id.clone());
            txn.transaction_timeout = config.transaction_timeout;
            txn.retry_backoff = config.batching.retry_backoff;
            txn.max_in_flight_per_partition = config.max_in_flight;
            // Until the coordinator's finalized transaction.version is
            // known, the protocol every broker takes; V2 follows when the
            // coordinator has it (KIP-890 part 2).
            txn.protocol = TransactionProtocol::V1;
            Machine::Transactional(Box::new(Transactions::new(txn)))
        } else if config.idempotent() {
            Machine::Idempotent(Idempotence::new(IdempotenceConfig {
                max_in_flight_per_partition: config.max_in_flight,
                retry_backoff: config.batching.retry_backoff,
                transactional: false,
            }))
        } else {
            Machine::Plain {
                max_in_flight: config.max_in_flight.max(1),
            }
        }
    }

    /// The idempotence machine, if sequences are in use.
    pub(crate) fn idempotence(&mut self) -> Option<&mut Idempotence<TopicPartition>> {
        match self {
            Machine::Plain { .. } => None,
            Machine::Idempotent(machine) => Some(machine),
            Machine::Transactional(txn) => Some(txn.idempotence_mut()),
        }
    }

    /// The stamp of a batch of `records` drained from `partition` for the
    /// first time (the accumulator's drain closure).
    pub(crate) fn stamp(&mut self, partition: &TopicPartition, records: i32) -> DrainStamp {
        let stamp = match self {
            Machine::Plain { .. } => return DrainStamp::Unsequenced,
            Machine::Idempotent(machine) => machine.assign_sequence(partition, records),
            Machine::Transactional(txn) => {
                if !txn.may_send(partition) {
                    return DrainStamp::Skip;
                }
                txn.idempotence_mut().assign_sequence(partition, records)
            }
        };
        stamp.map_or(DrainStamp::Skip, |(id, epoch, sequence)| {
            DrainStamp::Sequenced(id, epoch, sequence)
        })
    }
}

/// Who waits for a transactional operation to finish.
type TransactionWaiter = (
    TransactionOperation,
    oneshot::Sender<Result<(), TransactionError>>,
);

/// The producer's mutable state, behind one lock held only for in-memory
/// work (never across an await).
pub(crate) struct State {
    pub(crate) accumulator: Accumulator<TopicPartition, Completion>,
    partitioner: Box<dyn Partitioner>,
    /// The partitions keyless records avoid for now (refusing writes).
    pub(crate) availability: Availability,
    /// Where records without a timestamp get theirs.
    wall_clock: WallClock,
    /// Batches on the wire per partition.
    pub(crate) in_flight: HashMap<TopicPartition, usize>,
    /// Produce requests in flight per broker.
    pub(crate) requests_in_flight: HashMap<i32, usize>,
    /// Per broker, where in its ready partitions the next drain starts.
    pub(crate) drain_start: HashMap<i32, usize>,
    /// Sequence numbers and transactions.
    pub(crate) machine: Machine,
    /// Callers of the transactional operations awaiting their outcome.
    transaction_waiters: Vec<TransactionWaiter>,
    /// What `send` needs of each topic's metadata, kept between sends.
    pub(crate) topics: Topics,
    /// Records accepted whose outcome is not handed over yet.
    pub(crate) unsettled: Unsettled,
    /// The completions of every batch drained at least once, by batch id
    /// (ascending ids are creation order, so per partition, send order):
    /// held apart from the batch so that a close that cannot wait for a
    /// request's answer completes its records, and the late answer then
    /// finds them gone instead of completing them twice.
    pub(crate) drained_completions: BTreeMap<u64, Vec<Completion>>,
    /// Per broker, the Produce requests numbered in the order they were
    /// sent, and the number of the next one whose batches may be settled:
    /// answers handled in send order, so that each partition's records
    /// learn their outcome in the order they were sent, whichever task
    /// the runtime runs first.
    pub(crate) turns: HashMap<i32, Turns>,
}

/// One broker's Produce requests: how many were numbered, which one's
/// turn it is to settle its batches, and those that will never take
/// theirs (their task ended early).
#[derive(Debug, Default)]
pub(crate) struct Turns {
    pub(crate) issued: u64,
    pub(crate) settling: u64,
    abandoned: std::collections::BTreeSet<u64>,
}

impl Turns {
    /// The request settling now is done: the next one's turn.
    pub(crate) fn advance(&mut self) {
        self.settling += 1;
        self.skip_abandoned();
    }

    /// Request `number` will never take its turn.
    pub(crate) fn abandon(&mut self, number: u64) {
        if number >= self.settling {
            self.abandoned.insert(number);
            self.skip_abandoned();
        }
    }

    fn skip_abandoned(&mut self) {
        while self.abandoned.remove(&self.settling) {
            self.settling += 1;
        }
    }
}

impl State {
    /// Whether `node` has all the requests in flight `max_in_flight` allows.
    pub(crate) fn at_request_limit(&self, node: i32, max_in_flight: usize) -> bool {
        self.requests_in_flight.get(&node).copied().unwrap_or(0) >= max_in_flight
    }

    /// Whether the first batch queued for `partition` may be drained now.
    pub(crate) fn may_send(&self, partition: &TopicPartition) -> bool {
        match &self.machine {
            Machine::Plain { max_in_flight } => {
                self.in_flight.get(partition).copied().unwrap_or(0) < *max_in_flight
            }
            Machine::Idempotent(machine) => machine.may_send(partition),
            Machine::Transactional(txn) => txn.may_send(partition),
        }
    }

    /// A batch's outcome is known: frees its memory and returns the
    /// completions of its records, in append order (none when a close
    /// already failed them).
    pub(crate) fn complete(
        &mut self,
        batch: crate::accumulator::ProducerBatch<TopicPartition, Completion>,
    ) -> Vec<Completion> {
        let id = batch.id;
        let completions = self.accumulator.complete(batch);
        match self.drained_completions.remove(&id) {
            Some(drained) => drained,
            None => completions,
        }
    }

    /// Every record not settled yet, taken out to be failed: the queued
    /// batches (their memory freed) and those on the wire, ordered by batch
    /// so that each partition's records fail in send order.
    fn take_all(&mut self) -> Vec<Vec<Completion>> {
        let mut all = std::mem::take(&mut self.drained_completions);
        for batch in self.accumulator.abort_all() {
            let id = batch.id;
            let completions = batch.into_completions();
            if !completions.is_empty() {
                all.insert(id, completions);
            }
        }
        all.into_values().collect()
    }

    /// The error every new record fails with, once the producer cannot go on.
    fn fatal_error(&self) -> Option<ProduceError> {
        // A transactional producer's fatal state refuses sends itself.
        if let Machine::Idempotent(machine) = &self.machine {
            machine
                .fatal_error()
                .map(|e| ProduceError::Sequence(e.clone()))
        } else {
            None
        }
    }
}

/// Hands the transaction machine's finished operations to their callers.
pub(crate) fn dispatch_events(state: &mut State) {
    let State {
        machine,
        transaction_waiters,
        ..
    } = state;
    let Machine::Transactional(txn) = machine else {
        return;
    };
    while let Some(TransactionEvent::Completed { operation, result }) = txn.poll_event() {
        // Callers that gave up (timed out) no longer listen.
        transaction_waiters.retain(|(_, sender)| !sender.is_closed());
        if operation == TransactionOperation::SendOffsets {
            // One call, one completion, in order.
            if let Some(index) = transaction_waiters
                .iter()
                .position(|(op, _)| *op == operation)
            {
                let (_, sender) = transaction_waiters.remove(index);
                let _ = sender.send(result);
            }
            continue;
        }
        // init, commit and abort may be called again after a timeout: every
        // caller waiting for the operation learns its outcome.
        let mut index = 0;
        while index < transaction_waiters.len() {
            if transaction_waiters[index].0 == operation {
                let (_, sender) = transaction_waiters.remove(index);
                let _ = sender.send(result.clone());
            } else {
                index += 1;
            }
        }
    }
}

pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) config: ProducerConfig,
    pub(crate) state: Mutex<State>,
    /// Wakes the sender: a batch filled, a response came, a flush began.
    pub(crate) wake: Notify,
    /// Wakes senders blocked on `buffer_memory`: a batch went, room came.
    pub(crate) progress: Notify,
    /// Wakes flushes and closes: the oldest flush generation was settled
    /// (a flush waits for its own and the earlier ones, a close for all).
    /// Apart from `progress`, which every settled batch notifies: a flush
    /// waiting behind thousands of batches would otherwise be woken, and
    /// take the state lock, once for each of them.
    pub(crate) settled: Notify,
    pub(crate) closed: AtomicBool,
    /// Every [`Producer`] handle is gone: the sender delivers what is left
    /// and ends.
    pub(crate) abandoned: AtomicBool,
    /// Wakes Produce requests waiting for their turn to settle.
    pub(crate) turns: Notify,
    pub(crate) metrics: Metrics,
    /// Whether keyless records' batches may move to another partition
    /// when theirs refuses writes: the built-in partitioner chose their
    /// partition (a partitioner of the caller's own may mean something by
    /// its choice) and adaptive partitioning is on.
    pub(crate) keyless_movable: bool,
}

impl Inner {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock in a way that leaves the
        // state half-updated, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands each of `completions` its outcome (`outcome` is called with
    /// each record's index in the batch), then counts them settled and
    /// wakes whoever waits for that: a flush, a close, a blocked send, a
    /// transaction's commit. Call it without holding the state lock.
    pub(crate) fn settle(
        &self,
        mut completions: Vec<Completion>,
        mut outcome: impl FnMut(usize, Completion),
    ) {
        if completions.is_empty() {
            return;
        }
        let runs = runs(completions.iter().map(|c| c.generation));
        for (index, completion) in completions.drain(..).enumerate() {
            outcome(index, completion);
        }
        let (idle, generation_ended) = {
            let mut state = self.state();
            state.accumulator.recycle_completions(completions);
            let mut ended = false;
            for (generation, records) in runs {
                ended |= state.unsettled.settle(generation, records);
            }
            (state.unsettled.total() == 0, ended)
        };
        self.progress.notify_waiters();
        if generation_ended {
            self.settled.notify_waiters();
        }
        if idle {
            // A transaction's EndTxn, or the end of a closed sender, may
            // have waited for this.
            self.wake.notify_one();
        }
    }

    /// Fails every record not settled yet with `error`, queued or on the
    /// wire (a close out of time).
    fn fail_all(&self, error: &ProduceError) {
        let all = self.state().take_all();
        for completions in all {
            self.settle(completions, |_, completion| {
                completion.notifier.notify(Err(error));
            });
        }
    }

    /// Waits until `done` holds of the state, checked again each time the
    /// oldest flush generation is settled: `done` must be a condition on
    /// [`Unsettled`] that only that can make true.
    async fn settled_when(&self, done: impl Fn(&State) -> bool) {
        loop {
            let waiting = self.settled.notified();
            if done(&self.state()) {
                return;
            }
            waiting.await;
        }
    }
}

/// Ends a flush begun on the accumulator, also when the flush is dropped
/// before it finished.
struct FlushGuard<'a>(&'a Inner);

impl Drop for FlushGuard<'_> {
    fn drop(&mut self) {
        self.0.state().accumulator.end_flush();
    }
}

/// Dropped with the last [`Producer`] handle: the sender then delivers
/// every record still outstanding (each future resolves, each callback is
/// called, within `delivery_timeout_ms`) and ends.
struct Handles(Arc<Inner>);

impl Drop for Handles {
    fn drop(&mut self) {
        self.0.state().accumulator.begin_flush();
        self.0.abandoned.store(true, Ordering::Release);
        self.0.wake.notify_one();
    }
}

/// The delivery of one record: resolves to its metadata or its error.
/// Awaiting it is the synchronous style (`future.get()`); dropping it is
/// fire-and-forget (the record is still sent).
#[derive(Debug)]
pub struct DeliveryFuture {
    receiver: oneshot::Receiver<Result<RecordMetadata, ProduceError>>,
}

impl DeliveryFuture {
    /// The outcome if it is known now, without waiting (and without a
    /// runtime, which a [`crate::BlockingProducer`] dropped no longer has).
    pub(crate) fn try_take(&mut self) -> Option<Result<RecordMetadata, ProduceError>> {
        match self.receiver.try_recv() {
            Ok(outcome) => Some(outcome),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(ProduceError::Closed)),
        }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|result| result.unwrap_or(Err(ProduceError::Closed)))
    }
}

/// An asynchronous Kafka producer; clones share one sender and buffer.
///
/// Every record [`Producer::send`] or [`Producer::send_with_callback`]
/// accepted gets exactly one outcome, its metadata or an error, through its
/// future or its callback, and those of one partition in the order they
/// were sent. [`Producer::flush`] returns once every record sent before it
/// has its outcome (futures resolved, callbacks returned), and so does
/// [`Producer::close`], failing with [`ProduceError::Closed`] those it
/// could not deliver in time. Dropping the last handle without `close`
/// leaves the sender running until every outstanding record has its
/// outcome (delivered, or failed after `delivery_timeout_ms`): futures
/// resolve and callbacks are called on the runtime, as long as it runs. A
/// runtime shut down first drops them: futures then resolve to
/// [`ProduceError::Closed`], and callbacks are not called.
///
/// Its tasks run on the runtime it was created on, and one worker thread
/// is all they need: senders and the I/O task then meet on one thread, with
/// no wake-up or hand-off of the state lock between threads. On a
/// two-core machine that also runs the broker, the benchmark's producer
/// used 12–18% less CPU per record on one worker than on tokio's default
/// of one per core, and 40–50% less with 16 tasks sending.
///
/// ```no_run
/// # async fn example() -> Result<(), ferrokafka_producer::ProduceError> {
/// use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
///
/// let config = ProducerConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?;
/// let producer = Producer::new(config).await?;
/// let delivery = producer.send(ProducerRecord::new("events").key("k").value("v")).await?;
/// let metadata = delivery.await?;
/// println!("{}-{}@{}", metadata.topic, metadata.partition, metadata.offset);
/// producer.close(std::time::Duration::from_secs(10)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
    _handles: Arc<Handles>,
    /// The KIP-714 push task; taken by `close` for its terminating push.
    telemetry: Arc<TelemetrySlot>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("client", &self.inner.client)
            .finish_non_exhaustive()
    }
}

fn size_of(bytes: Option<&bytes::Bytes>) -> i32 {
    bytes.map_or(-1, |b| i32::try_from(b.len()).unwrap_or(i32::MAX))
}

impl Producer {
    /// Connects to the cluster and starts the sender task.
    pub async fn new(config: ProducerConfig) -> Result<Producer, ProduceError> {
        config.validate()?;
        let client = Client::connect(config.client.clone()).await?;
        Ok(Self::with_client(client, config))
    }

    /// A producer over an existing cluster client (shared with a consumer
    /// or an admin client, say).
    pub fn with_client(client: Client, config: ProducerConfig) -> Producer {
        let seed = u64::try_from(crate::wall_clock::system_millis()).unwrap_or(1)
            ^ u64::from(std::process::id());
        let partitioner: Box<dyn Partitioner> = match config.partitioner {
            PartitionerChoice::Default => {
                Box::new(DefaultPartitioner::new(config.batching.batch_size, seed))
            }
            PartitionerChoice::RoundRobin => Box::new(RoundRobinPartitioner::default()),
        };
        let keyless_movable =
            config.partitioner == PartitionerChoice::Default && config.adaptive_partitioning;
        Self::start(client, config, partitioner, keyless_movable)
    }

    /// A producer with a partitioner of your own.
    pub fn with_partitioner(
        client: Client,
        config: ProducerConfig,
        partitioner: Box<dyn Partitioner>,
    ) -> Producer {
        Self::start(client, config, partitioner, false)
    }

    fn start(
        client: Client,
        config: ProducerConfig,
        partitioner: Box<dyn Partitioner>,
        keyless_movable: bool,
    ) -> Producer {
        let mut batching = config.batching.clone();
        batching.transactional = config.transactional_id.is_some();
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                accumulator: Accumulator::new(batching),
                partitioner,
                availability: Availability::new(
                    config.batching.retry_backoff,
                    config.batching.retry_backoff_max,
                ),
                wall_clock: WallClock::default(),
                in_flight: HashMap::default(),
                requests_in_flight: HashMap::default(),
                drain_start: HashMap::default(),
                machine: Machine::new(&config),
                transaction_waiters: Vec::new(),
                topics: Topics::default(),
                unsettled: Unsettled::default(),
                drained_completions: BTreeMap::new(),
                turns: HashMap::default(),
            }),
            client,
            wake: Notify::new(),
            progress: Notify::new(),
            settled: Notify::new(),
            closed: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            turns: Notify::new(),
            metrics: Metrics::new(config.metrics_window),
            config,
            keyless_movable,
        });
        tokio::spawn(crate::sender::run(Arc::clone(&inner)));
        let telemetry = Self::spawn_telemetry(&inner);
        Producer {
            _handles: Arc::new(Handles(Arc::clone(&inner))),
            inner,
            telemetry: Arc::new(TelemetrySlot::new(Some(telemetry))),
        }
    }

    /// The KIP-714 task, fed by this producer's metrics. It holds the
    /// producer weakly, so that it never keeps a dropped producer alive.
    fn spawn_telemetry(inner: &Arc<Inner>) -> TelemetryHandle {
        let weak = Arc::downgrade(inner);
        let client_id = inner.client.config().client_id.clone();
        let source = move || {
            weak.upgrade().map_or_else(Vec::new, |inner| {
                crate::telemetry::points(&inner.metrics_now(), &client_id)
            })
        };
        TelemetryHandle::spawn(
            inner.client.clone(),
            inner.client.config().enable_metrics_push,
            Arc::new(source),
        )
    }

    /// The id the brokers gave this producer for its telemetry (Java's
    /// `clientInstanceId(Duration)`), waiting at most `timeout` for the
    /// first subscription; `None` if none came in time, with
    /// `enable_metrics_push=false`, or after `close`.
    pub async fn client_instance_id(&self, timeout: Duration) -> Option<ferrokafka_protocol::Uuid> {
        self.telemetry.client_instance_id(timeout).await
    }

    /// `delivery_timeout_ms`: the time within which every record accepted
    /// has its outcome.
    pub(crate) fn delivery_timeout(&self) -> Duration {
        self.inner.config.batching.delivery_timeout
    }

    /// The cluster client this producer sends through.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Queues `record` and returns its delivery future. Waits (up to
    /// `max_block_ms`) only for the topic's metadata or for room in
    /// `buffer_memory`.
    ///
    /// As with the Java client's `send`, the record is appended when this
    /// is called, if its topic's metadata and buffer room are there; the
    /// future returned then only hands over the outcome. Records sent one
    /// after another from one task are therefore queued in that order
    /// however their futures are awaited. Dropping the future gives the
    /// record up only while it still waits; one the call appended is
    /// delivered.
    pub fn send(
        &self,
        record: ProducerRecord,
    ) -> impl Future<Output = Result<DeliveryFuture, ProduceError>> + Send + '_ {
        let (sender, receiver) = oneshot::channel();
        let queued = self.enqueue(record, Notifier::Future(sender));
        async move {
            queued.await?;
            Ok(DeliveryFuture { receiver })
        }
    }

    /// Queues `record`; `callback` is called with its metadata or its error
    /// once the broker answers (the Java client's `send(record, callback)`),
    /// on the producer's I/O task: keep it short. Cheaper than
    /// [`Producer::send`] when many records are in flight, as nothing has to
    /// be polled per record. Appends at once and waits as `send` does;
    /// when the future returns an error, the record was not queued and
    /// `callback` is never called.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), ferrokafka_producer::ProduceError> {
    /// use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
    ///
    /// let config = ProducerConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?;
    /// let producer = Producer::new(config).await?;
    /// producer
    ///     .send_with_callback(ProducerRecord::new("events").value("v"), |outcome| match outcome {
    ///         Ok(metadata) => println!("written at {}", metadata.offset),
    ///         Err(error) => eprintln!("failed: {error}"),
    ///     })
    ///     .await?;
    /// producer.flush().await;
    /// # Ok(()) }
    /// ```
    pub fn send_with_callback(
        &self,
        record: ProducerRecord,
        callback: impl FnOnce(Result<&RecordMetadata, &ProduceError>) + Send + 'static,
    ) -> impl Future<Output = Result<(), ProduceError>> + Send + '_ {
        self.enqueue(
            record,
            Notifier::Callback(SyncWrapper::new(Box::new(callback))),
        )
    }

    /// Appends `record` to its partition's batch, waiting (up to
    /// `max_block_ms`) for the topic's metadata or for buffer room.
    ///
    /// The first attempt is made before any future is built: nearly every
    /// record is appended by it, and moving the record into a waiting
    /// future it never needs cost a copy of it per send.
    fn enqueue(&self, record: ProducerRecord, notifier: Notifier) -> Queueing<'_> {
        let started = Instant::now();
        let attempt = if self.inner.closed.load(Ordering::Acquire) {
            Err(ProduceError::Closed)
        } else {
            let completion = Completion {
                notifier,
                generation: 0,
                timestamp: record.timestamp.unwrap_or(-1),
                key_size: size_of(record.key.as_ref()),
                value_size: size_of(record.value.as_ref()),
                header_size: i32::try_from(
                    record
                        .headers
                        .iter()
                        .map(|h| h.key().len() + h.value().map_or(0, <[u8]>::len))
                        .sum::<usize>(),
                )
                .unwrap_or(i32::MAX),
            };
            self.try_append(&record, completion, started, started)
        };
        match attempt {
            Ok(Attempt::Appended) => Queueing::Appended,
            // Tried again at once, now watching for progress.
            Ok(Attempt::Wait(_, completion)) => {
                Queueing::Waiting(Box::pin(self.enqueue_waiting(record, completion, started)))
            }
            Err(error) => Queueing::Failed(Box::new(error)),
        }
    }

    /// [`Producer::enqueue`] once the first attempt could not append the
    /// record: tries again, waiting between attempts for what it lacked,
    /// until `max_block_ms` after `started`.
    async fn enqueue_waiting(
        &self,
        record: ProducerRecord,
        mut completion: Completion,
        started: Instant,
    ) -> Result<(), ProduceError> {
        let deadline = started + self.inner.config.max_block;
        loop {
            // Made before the attempt, so that progress made between the
            // attempt and the wait is not missed.
            let waiting = self.inner.progress.notified();
            let wait = match self.try_append(&record, completion, started, Instant::now())? {
                Attempt::Appended => return Ok(()),
                Attempt::Wait(wait, returned) => {
                    completion = returned;
                    wait
                }
            };
            match wait {
                Wait::Metadata => {
                    // Boxed, as is the wait below: the future of every send
                    // stays small, though only a few ever wait.
                    Box::pin(self.partitions_of(&record.topic, deadline)).await?;
                }
                Wait::Memory { needed } => {
                    if Instant::now() >= deadline {
                        return Err(ProduceError::Blocked {
                            what: format!("{needed} bytes of buffer_memory"),
                            waited: started.elapsed(),
                        });
                    }
                    // Batches complete and free memory: wait for that, or
                    // the deadline.
                    let _ = Box::pin(tokio::time::timeout_at(deadline.into(), waiting)).await;
                }
            }
        }
    }

    /// One attempt to append `record` under the state lock at `now`
    /// (`started`: when it was sent, its CreateTime unless it has one).
    fn try_append(
        &self,
        record: &ProducerRecord,
        mut completion: Completion,
        started: Instant,
        now: Instant,
    ) -> Result<Attempt, ProduceError> {
        let key = record.key.as_deref();
        let value = record.value.as_ref();
        let mut guard = self.inner.state();
        let state = &mut *guard;
        if let Some(error) = state.fatal_error() {
            return Err(error);
        }
        let Some(entry) = state.topics.get(&self.inner.client, &record.topic) else {
            return Ok(Attempt::Wait(Wait::Metadata, completion));
        };
        // CreateTime: from the same clock read, under the lock.
        let timestamp = match record.timestamp {
            Some(timestamp) => timestamp,
            None => state.wall_clock.millis(started),
        };
        completion.timestamp = timestamp;
        let count = entry.count;
        let partition = match record.partition {
            Some(p) if p >= 0 && usize::try_from(p).is_ok_and(|p| p < count) => p,
            Some(p) => {
                return Err(ProduceError::NoSuchPartition {
                    topic: record.topic.clone(),
                    partition: p,
                    count,
                });
            }
            None => state.partitioner.partition(
                key,
                key.map_or(0, <[u8]>::len) + value.map_or(0, bytes::Bytes::len),
                TopicPartitions {
                    topic: &record.topic,
                    count: i32::try_from(count).unwrap_or(i32::MAX),
                    available: if self.inner.config.adaptive_partitioning {
                        state
                            .availability
                            .offer(&record.topic, &entry.available, now)
                    } else {
                        &entry.available
                    },
                },
            ),
        };
        let owned;
        let at = if let Some(at) = entry.partition(partition) {
            at
        } else {
            // A partitioner of the caller's own answered past the count.
            owned = TopicPartition {
                topic: Arc::clone(&entry.name),
                partition,
            };
            &owned
        };
        // Checked under the lock: a close that has begun counts on no
        // record arriving after it.
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(ProduceError::Closed);
        }
        let mut new_partition = false;
        if let Machine::Transactional(txn) = &mut state.machine {
            // Sends are allowed only inside a transaction; with V1 a
            // partition new to it is added before its batches go.
            new_partition = !txn.may_send(at);
            txn.add_partition(at).map_err(ProduceError::Transaction)?;
        }
        completion.generation = state.unsettled.current();
        let appended = state.accumulator.append(
            now,
            at,
            RecordRef {
                timestamp,
                key,
                value,
                headers: &record.headers,
            },
            completion,
        );
        match appended {
            Ok(appended) => {
                if !(self.inner.keyless_movable && record.partition.is_none() && key.is_none()) {
                    state.accumulator.pin(at);
                }
                state.unsettled.accept();
                drop(guard);
                if appended.batch_full || appended.new_batch || new_partition {
                    self.inner.wake.notify_one();
                }
                Ok(Attempt::Appended)
            }
            Err((AppendError::BufferFull { needed, .. }, returned)) => {
                Ok(Attempt::Wait(Wait::Memory { needed }, returned))
            }
            Err((error, returned)) => {
                // The record's callback is dropped uncalled; not under the
                // lock, in case dropping it takes it.
                drop(guard);
                drop(returned);
                Err(ProduceError::Record(error.to_string()))
            }
        }
    }

    /// The topic's partition count and the partitions with a leader.
    async fn partitions_of(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<(usize, Vec<i32>), ProduceError> {
        let cached = self.inner.client.view(|v| {
            v.topic(topic)
                .map(|t| (t.partitions.len(), v.available_partitions(topic)))
        });
        if let Some(found) = cached {
            return Ok(found);
        }
        let started = Instant::now();
        match tokio::time::timeout_at(deadline.into(), self.inner.client.topic(topic)).await {
            Ok(Ok(view)) => Ok((
                view.partitions.len(),
                self.inner.client.view(|v| v.available_partitions(topic)),
            )),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err(ProduceError::Blocked {
                // Why the topic never came: it does not exist, and whether
                // the broker refused to create it (names the setting).
                what: match self.inner.client.missing_topic(topic) {
                    Some(error) => format!("metadata of {topic}: {error}"),
                    None => format!("metadata of {topic}"),
                },
                waited: started.elapsed(),
            }),
        }
    }

    /// The partitions of `topic`, fetching its metadata if needed.
    pub async fn partitions_for(&self, topic: &str) -> Result<Vec<i32>, ProduceError> {
        let view = self.inner.client.topic(topic).await?;
        Ok(view.partitions.iter().map(|p| p.index).collect())
    }

    /// Sends everything queued now, lingering or not, and waits until each
    /// record sent before the call has its outcome: its future resolved or
    /// its callback returned (the Java client's `flush()`). Records sent
    /// while it waits do not hold it up. Dropping the future stops the
    /// waiting, nothing else.
    pub async fn flush(&self) {
        let generation = {
            let mut state = self.inner.state();
            state.accumulator.begin_flush();
            state.unsettled.mark()
        };
        let _flushing = FlushGuard(&self.inner);
        self.inner.wake.notify_one();
        self.inner
            .settled_when(|state| state.unsettled.settled_through(generation))
            .await;
    }

    /// Delivers what is buffered, waiting at most `timeout`; records still
    /// without an outcome then fail with [`ProduceError::Closed`], those
    /// on the wire too (an answer that comes later changes nothing). When
    /// it returns, every record ever accepted has its outcome: futures
    /// resolved, callbacks returned (so a callback still running when the
    /// time is up makes it wait that much longer). Later sends fail with
    /// [`ProduceError::Closed`].
    pub async fn close(&self, timeout: Duration) -> Result<(), ProduceError> {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.state().accumulator.begin_flush();
        let _flushing = FlushGuard(&self.inner);
        self.inner.wake.notify_one();
        let all_settled = |state: &State| state.unsettled.total() == 0;
        let delivered = tokio::time::timeout(timeout, self.inner.settled_when(all_settled))
            .await
            .is_ok();
        if !delivered {
            self.inner.fail_all(&ProduceError::Closed);
            // Outcomes being handed over as the time ran out.
            self.inner.settled_when(all_settled).await;
        }
        self.inner.wake.notify_one();
        // The last push reports the records just delivered.
        self.telemetry.close(timeout).await;
        if delivered {
            Ok(())
        } else {
            Err(ProduceError::Blocked {
                what: "buffered records to be delivered before close".to_string(),
                waited: timeout,
            })
        }
    }

    /// Runs one transactional operation: `call` changes the machine's state
    /// (or refuses), then the caller waits up to `timeout` for the
    /// operation's outcome (`None`: it finishes at once).
    async fn transaction_call(
        &self,
        operation: Option<TransactionOperation>,
        name: &'static str,
        timeout: Duration,
        call: impl FnOnce(&mut Transactions<TopicPartition>) -> Result<(), TransactionError>,
    ) -> Result<(), TransactionError> {
        let receiver = {
            let mut state = self.inner.state();
            let Machine::Transactional(txn) = &mut state.machine else {
                return Err(TransactionError::NotTransactional { operation: name });
            };
            let called = call(txn);
            let receiver = match (&called, operation) {
                (Ok(()), Some(operation)) => {
                    let (sender, receiver) = oneshot::channel();
                    state.transaction_waiters.push((operation, sender));
                    Some(receiver)
                }
                _ => None,
            };
            // The call may have finished operations (an abort ends pending
            // offset commits): tell their callers.
            dispatch_events(&mut state);
            called?;
            receiver
        };
        self.inner.wake.notify_one();
        let Some(receiver) = receiver else {
            return Ok(());
        };
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(TransactionError::Closed),
            Err(_) => Err(TransactionError::Timeout {
                operation: name,
                waited: timeout,
            }),
        }
    }

    /// `init_transactions()`: finds the transaction coordinator of
    /// `transactional_id` and gets a producer id and epoch for it, fencing
    /// every older producer with the same id (their open transaction is
    /// aborted). Call it once, before the first transaction; after a
    /// [`TransactionError::Timeout`] call it again to keep waiting.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
    ///
    /// let config = ProducerConfig::from_pairs([
    ///     ("bootstrap_servers", "127.0.0.1:9092"),
    ///     ("transactional_id", "orders-writer-1"),
    /// ])?;
    /// let producer = Producer::new(config).await?;
    /// producer.init_transactions(Duration::from_secs(30)).await?;
    /// producer.begin_transaction()?;
    /// producer.send(ProducerRecord::new("orders").value("o-1")).await?;
    /// producer.send(ProducerRecord::new("audit").value("o-1 placed")).await?;
    /// if let Err(error) = producer.commit_transaction(Duration::from_secs(30)).await {
    ///     if producer.transaction_state() == Some(ferrokafka_producer::transaction::TransactionState::FatalError) {
    ///         return Err(error.into()); // fenced: close this producer
    ///     }
    ///     producer.abort_transaction(Duration::from_secs(30)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn init_transactions(&self, timeout: Duration) -> Result<(), TransactionError> {
        self.transaction_call(
            Some(TransactionOperation::InitTransactions),
            "init_transactions",
            timeout,
            Transactions::init_transactions,
        )
        .await
    }

    /// `begin_transaction()`: records sent from now on belong to the
    /// transaction until it is committed or aborted.
    pub fn begin_transaction(&self) -> Result<(), TransactionError> {
        let mut state = self.inner.state();
        let Machine::Transactional(txn) = &mut state.machine else {
            return Err(TransactionError::NotTransactional {
                operation: "begin_transaction",
            });
        };
        let result = txn.begin_transaction();
        dispatch_events(&mut state);
        result
    }

    /// `send_offsets_to_transaction(offsets, group_metadata)` (KIP-447):
    /// commits a consumer group's offsets (the next offset to read per
    /// partition) as part of the transaction, so they count only if it
    /// commits. `group` is the consuming member's metadata (group id,
    /// generation, member id, group instance id) so that a member the group
    /// has moved on from is refused; [`GroupIdentity::without_member`]
    /// names the group alone. The offsets and the metadata are the
    /// consumer's types, as its `position`s and `group_metadata()` give them.
    /// Waits up to `max_block_ms`.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndMetadata)>,
        group: GroupIdentity,
    ) -> Result<(), TransactionError> {
        let offsets: Vec<(TopicPartition, OffsetAndMetadata)> = offsets.into_iter().collect();
        self.transaction_call(
            Some(TransactionOperation::SendOffsets),
            "send_offsets_to_transaction",
            self.inner.config.max_block,
            |txn| txn.send_offsets_to_transaction(offsets, group),
        )
        .await
    }

    /// `commit_transaction()`: sends every record of the transaction, then
    /// commits it. An error other than a fatal one (see
    /// [`Producer::transaction_state`]) means: abort the transaction next.
    /// After a [`TransactionError::Timeout`], call it again to keep waiting.
    pub async fn commit_transaction(&self, timeout: Duration) -> Result<(), TransactionError> {
        // Everything queued is sent at once, lingering or not. The EndTxn
        // goes only once every record of the transaction has its outcome,
        // so none learns it after the commit returned.
        self.inner.state().accumulator.begin_flush();
        let _flushing = FlushGuard(&self.inner);
        self.transaction_call(
            Some(TransactionOperation::Commit),
            "commit_transaction",
            timeout,
            Transactions::commit_transaction,
        )
        .await
    }

    /// `abort_transaction()`: records not sent yet fail with
    /// [`TransactionError::Aborted`], those on the wire are awaited, and the
    /// transaction is aborted: a `read_committed` consumer never sees its
    /// records. After a [`TransactionError::Timeout`], call it again to keep
    /// waiting.
    pub async fn abort_transaction(&self, timeout: Duration) -> Result<(), TransactionError> {
        self.transaction_call(
            Some(TransactionOperation::Abort),
            "abort_transaction",
            timeout,
            Transactions::abort_transaction,
        )
        .await
    }

    /// The transaction protocol the producer runs, for a transactional
    /// producer: [`TransactionProtocol::V2`] (KIP-890 part 2, as the Java
    /// client 4.x) once the transaction coordinator has finalized
    /// `transaction.version` 2, else [`TransactionProtocol::V1`]. It changes
    /// only between transactions.
    pub fn transaction_protocol(&self) -> Option<TransactionProtocol> {
        match &self.inner.state().machine {
            Machine::Transactional(txn) => Some(txn.protocol()),
            _ => None,
        }
    }

    /// The producer id and epoch of a transactional producer, once
    /// `init_transactions` finished. With V2 every commit or abort moves to
    /// the next epoch (or a new producer id when the epoch would overflow).
    pub fn producer_id_and_epoch(&self) -> Option<ProducerIdAndEpoch> {
        match &self.inner.state().machine {
            Machine::Transactional(txn) => {
                Some(txn.producer_id_and_epoch()).filter(|p| p.is_valid())
            }
            _ => None,
        }
    }

    /// The transaction state, for a transactional producer: after an error,
    /// [`TransactionState::AbortableError`] means abort the transaction and
    /// go on, [`TransactionState::FatalError`] means close the producer.
    pub fn transaction_state(&self) -> Option<TransactionState> {
        match &self.inner.state().machine {
            Machine::Transactional(txn) => Some(txn.state()),
            _ => None,
        }
    }

    /// The producer's metrics now: totals since the start, rates over the
    /// windows of `metrics_sample_window_ms` and `metrics_num_samples`, and
    /// per topic in [`ProducerMetrics::topics`].
    pub fn metrics(&self) -> ProducerMetrics {
        self.inner.metrics_now()
    }
}

impl Inner {
    fn metrics_now(&self) -> ProducerMetrics {
        let (available, in_flight) = {
            let state = self.state();
            (
                state.accumulator.available_memory() as u64,
                state.requests_in_flight.values().sum::<usize>() as u64,
            )
        };
        self.metrics.snapshot(Instant::now(), available, in_flight)
    }
}

#[cfg(test)]
mod tests {
    use super::{Queueing, Turns};
    use crate::ProduceError;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    #[test]
    fn a_send_s_future_stays_three_words() {
        assert!(size_of::<Queueing<'_>>() <= 3 * size_of::<usize>());
    }

    #[test]
    fn a_send_s_future_hands_over_what_its_first_attempt_found() {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            pin!(Queueing::Appended).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
        let refused = Queueing::Failed(Box::new(ProduceError::Closed));
        assert!(matches!(
            pin!(refused).poll(&mut cx),
            Poll::Ready(Err(ProduceError::Closed))
        ));
        let mut polls = 0;
        let mut waiting = pin!(Queueing::Waiting(Box::pin(std::future::poll_fn(
            move |_| {
                polls += 1;
                if polls < 3 {
                    Poll::Pending
                } else {
                    Poll::Ready(Err(ProduceError::Closed))
                }
            }
        ))));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert!(matches!(
            waiting.as_mut().poll(&mut cx),
            Poll::Ready(Err(ProduceError::Closed))
        ));
    }

    #[test]
    fn an_abandoned_request_s_turn_is_skipped() {
        let mut turns = Turns {
            issued: 4,
            ..Turns::default()
        };
        // Request 1 ended before its answer; 2 waits behind 0.
        turns.abandon(1);
        assert_eq!(turns.settling, 0);
        turns.advance();
        assert_eq!(turns.settling, 2, "1 is skipped once 0 is done");
        // Abandoning the request whose turn it is passes the turn on.
        turns.abandon(2);
        assert_eq!(turns.settling, 3);
        turns.abandon(0);
        assert_eq!(turns.settling, 3, "a past turn changes nothing");
    }
}
