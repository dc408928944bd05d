//! The sender task: each wave it asks the accumulator which partitions are
//! ready, keeps those the idempotence (or transaction) machine lets send,
//! groups them by leader, drains one Produce request per broker, and settles
//! each batch from the response as the machine judges it: delivered,
//! retried (same bytes, same sequence numbers, so an idempotent broker drops
//! a duplicate), or failed. It also carries out what the machines ask for:
//! InitProducerId, rewriting queued batches after an epoch bump, and the
//! transaction coordinator's requests.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::messages::find_coordinator_response::Coordinator;
use ferrokafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use ferrokafka_protocol::messages::produce_response::PartitionProduceResponse;
use ferrokafka_protocol::messages::{
    FindCoordinatorResponse, InitProducerIdRequest, ProduceRequest, ProduceResponse,
};
use ferrokafka_protocol::{ApiKey, RecordSet, Request};
use ferrokafka_transport::cluster::{BrokerAddress, LeaderHint};
use ferrokafka_transport::{Client, CoordinatorKind, Lane, TransportError};
use tracing::{debug, warn};

use crate::accumulator::{Partitions, ProducerBatch};
use crate::availability::refuses_writes;
use crate::config::Acks;
use crate::idempotence::{
    BatchVerdict, IdempotenceAction, ProduceOutcome, SequenceError, SequenceStamp,
};
use crate::metrics::Drained;
use crate::producer::{Completion, Inner, Machine, State, TopicPartition, dispatch_events};
use crate::transaction::{
    CoordinatorType, TransactionError, TransactionProtocol, TransactionRequest,
    TransactionResponse, TransactionState,
};
use crate::{ProduceError, RecordMetadata};

type Batch = ProducerBatch<TopicPartition, Completion>;

/// Produce v13 names topics by id instead of by name.
const FIRST_TOPIC_ID_VERSION: i16 = 13;

/// The highest AddPartitionsToTxn version a client sends (v4+ are for
/// brokers verifying transactions).
const MAX_CLIENT_ADD_PARTITIONS_VERSION: i16 = 3;

/// The highest versions a transactional producer on the V1 protocol sends:
/// Produce v12+, TxnOffsetCommit v5+ and EndTxn v5+ tell a broker with
/// `transaction.version` 2 that the client follows KIP-890 part 2
/// (implicit adds, an epoch bump at every EndTxn).
const MAX_V1_PRODUCE_VERSION: i16 = 11;
const MAX_V1_TXN_OFFSET_COMMIT_VERSION: i16 = 4;
const MAX_V1_END_TXN_VERSION: i16 = 4;

/// The resolution of the runtime's timers.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// TxnOffsetCommit v6 names topics by id (KIP-1319); the offsets come
/// from a consumer whose topics the producer may not know the ids of, so
/// V2 stops at v5, which adds the group implicitly all the same.
const MAX_V2_TXN_OFFSET_COMMIT_VERSION: i16 = 5;

/// The feature whose finalized level 2 turns on KIP-890 part 2.
const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";
/// The first EndTxn version that bumps the epoch and returns it.
const FIRST_V2_END_TXN_VERSION: i16 = 5;

/// The highest version of a transactional request whose meaning depends
/// on the transaction protocol: `v1_cap` with V1, `v2_cap` with V2.
fn transaction_cap(inner: &Inner, v1_cap: i16, v2_cap: i16) -> i16 {
    match &inner.state().machine {
        Machine::Transactional(txn) if txn.protocol() == TransactionProtocol::V2 => v2_cap,
        _ => v1_cap,
    }
}

/// What the transaction coordinator's ApiVersions answer says of KIP-890
/// part 2: its finalized-features epoch, and whether it can run V2.
async fn coordinator_transaction_version(
    client: &Client,
    node: i32,
) -> Option<(Option<i64>, bool)> {
    let connection = client.connection(node, Lane::Coordination).await.ok()?;
    let features = connection.finalized_features();
    let v2 = features
        .level(TRANSACTION_VERSION_FEATURE)
        .is_some_and(|level| level >= 2)
        && connection
            .version(ApiKey::EndTxn)
            .is_ok_and(|version| version >= FIRST_V2_END_TXN_VERSION);
    Some((features.epoch, v2))
}

/// Runs until the producer is closed and everything it held is settled.
pub(crate) async fn run(inner: Arc<Inner>) {
    let idle = Duration::from_millis(100);
    // One timer for the life of the loop, moved only to an earlier
    // deadline. A timer made anew on every pass registers with the
    // runtime's clock each time, and one due before the clock's next
    // wake-up wakes its driver (a write to an eventfd and a wasted poll)
    // even while this task is the one running: a few thousand times a
    // second under load. Left due earlier than needed, it fires early, and
    // that pass finds nothing due and sets it again.
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    loop {
        // After an error that made the view stale (a moved leader), learn
        // the new leaders before sending again, not after.
        if inner.client.view(|v| v.needs_refresh(Instant::now())) {
            // With no broker reachable the refresh waits out reconnect
            // backoffs, for seconds; records outliving delivery_timeout_ms
            // meanwhile fail on time all the same.
            let refresh = inner.client.refresh_metadata();
            tokio::pin!(refresh);
            let refreshed = loop {
                tokio::select! {
                    result = &mut refresh => break result,
                    () = tokio::time::sleep(idle) => fail_expired(&inner),
                }
            };
            if let Err(error) = refreshed {
                debug!(%error, "metadata refresh before sending failed");
            }
        }
        let waiting = inner.wake.notified();
        let (next, sent) = send_ready(&inner);
        if (inner.closed.load(Ordering::Acquire) || inner.abandoned.load(Ordering::Acquire))
            && inner.state().unsettled.total() == 0
        {
            // Closed, or every handle dropped, with each record accepted
            // settled: nothing can come to send.
            return;
        }
        if sent {
            // More may be ready for brokers below their in-flight limit.
            tokio::task::yield_now().await;
            continue;
        }
        // Until the deadline itself, not for the time left to it: a wait
        // as long as what std's clock says is left, begun again after
        // each wake, is added to the runtime's clock each time; where that
        // clock runs ahead (paused in tests) it would run away.
        let idle_until = tokio::time::Instant::now() + idle;
        let until = next.map_or(idle_until, |at| idle_until.min(at.into()));
        if timer.is_elapsed() || until < timer.deadline() {
            timer.as_mut().reset(until);
        }
        tokio::select! {
            biased;
            () = waiting => {}
            () = &mut timer => {}
        }
    }
}

/// Polls `future` once here, so that whatever it does before its first
/// await (queueing a request on a connection) happens now, in the order of
/// the calls, then lets a task finish it. Produce requests of one broker
/// thus reach the connection in drain order, whatever order the runtime
/// runs tasks in: sequence numbers arrive in order.
fn start(future: impl Future<Output = ()> + Send + 'static) {
    let mut future = Box::pin(future);
    let mut context = Context::from_waker(Waker::noop());
    if future.as_mut().poll(&mut context).is_pending() {
        // The task polls it again at once with a waker of its own.
        tokio::spawn(future);
    }
}

/// A batch to fail once the state lock is released.
type Failure = (Batch, ProduceError);

/// Takes the queued batches older than `delivery_timeout_ms` out, each
/// with the error it fails with.
fn expire(inner: &Inner, state: &mut State, now: Instant, failures: &mut Vec<Failure>) {
    for batch in state.accumulator.expire(now) {
        if let Some(machine) = state.machine.idempotence() {
            machine.on_expired(
                &batch.partition,
                batch.producer.map(SequenceStamp::from_tuple),
            );
        }
        let error = ProduceError::DeliveryTimeout {
            topic: batch.partition.topic.to_string(),
            partition: batch.partition.partition,
            timeout: inner.config.batching.delivery_timeout,
            last_error: batch.last_error.clone().map(Box::new),
        };
        failures.push((batch, error));
    }
}

/// Fails the queued batches older than `delivery_timeout_ms`, and nothing
/// else: what the sender does while it waits on a metadata refresh.
fn fail_expired(inner: &Inner) {
    let now = Instant::now();
    let mut failures = Vec::new();
    expire(inner, &mut inner.state(), now, &mut failures);
    if failures.is_empty() {
        return;
    }
    for (batch, error) in failures {
        fail(inner, batch, &error, now);
    }
    inner.progress.notify_waiters();
}

/// Drives the machines, expires, drains and sends what is ready; returns
/// when to look again and whether a request went out.
fn send_ready(inner: &Arc<Inner>) -> (Option<Instant>, bool) {
    let now = Instant::now();
    let mut failures: Vec<Failure> = Vec::new();
    let mut jobs: Vec<(i32, Ticket, Vec<Batch>)> = Vec::new();
    let mut leaderless = false;
    let mut next;
    {
        let mut guard = inner.state();
        let state = &mut *guard;
        expire(inner, state, now, &mut failures);
        next = drive_machine(inner, state, now, &mut failures);
        // The runtime's timers fire on the first whole-millisecond tick at
        // or after their deadline, so a batch woken for at its linger
        // deadline would leave up to a millisecond late (half of one on
        // average, on every batch a linger releases). Judged a tick ahead
        // and woken a tick early, it leaves within the tick before its
        // deadline instead: "wait up to linger_ms", as the Java client's
        // millisecond clock has it too.
        let horizon = now + TIMER_TICK;
        // With every broker at its limit of requests in flight nothing can
        // go, and the answer that frees one wakes this task again.
        let saturated = inner.client.view(|v| {
            v.every_broker(|node| state.at_request_limit(node, inner.config.max_in_flight))
        });
        let partitions = if saturated {
            Partitions::default()
        } else {
            state.accumulator.partitions(horizon)
        };
        next = earliest(
            next,
            partitions
                .next
                .map(|at| at.checked_sub(TIMER_TICK).unwrap_or(at)),
        );
        // Partitions by leader: those ready make their leader's request go,
        // and the lingering ones of that leader go along.
        let mut by_leader: BTreeMap<i32, (Vec<TopicPartition>, Vec<TopicPartition>)> =
            BTreeMap::new();
        inner.client.view(|v| {
            let leader = |p: &TopicPartition| v.leader(&p.topic, p.partition).map(|b| b.node_id);
            for partition in partitions.ready {
                if !state.may_send(&partition) {
                    continue;
                }
                match leader(&partition) {
                    Some(node) => by_leader.entry(node).or_default().0.push(partition),
                    None => leaderless = true,
                }
            }
            for partition in partitions.lingering {
                if let Some(node) = leader(&partition)
                    && let Some((ready, along)) = by_leader.get_mut(&node)
                    && !ready.is_empty()
                    && state.may_send(&partition)
                {
                    along.push(partition);
                }
            }
        });
        for (node, (mut ready, along)) in by_leader {
            if state.at_request_limit(node, inner.config.max_in_flight) {
                continue;
            }
            // Each wave starts where the last one of this broker stopped, so
            // that no ready partition is always the one left out when a
            // request fills up.
            let start = state.drain_start.entry(node).or_insert(0);
            let len = ready.len();
            ready.rotate_left(*start % len);
            ready.extend(along);
            let partitions = ready;
            let State {
                accumulator,
                machine,
                ..
            } = state;
            // Encoded by `produce`, once the lock is released.
            let batches = accumulator.drain_unencoded(
                horizon,
                &partitions,
                inner.config.batching.max_request_size,
                |partition, records| machine.stamp(partition, records),
            );
            if batches.is_empty() {
                continue;
            }
            if let Some(start) = state.drain_start.get_mut(&node) {
                *start = (*start + batches.len()) % len.max(1);
            }
            let mut batches = batches;
            for batch in &mut batches {
                if let (Some(stamp), Some(machine)) = (batch.producer, state.machine.idempotence())
                {
                    machine.on_sent(&batch.partition, SequenceStamp::from_tuple(stamp));
                }
                // A batch's first drain: its records' completions are kept
                // apart from it from now on (see `drained_completions`).
                let completions = batch.take_completions();
                if !completions.is_empty() {
                    state.drained_completions.insert(batch.id, completions);
                }
                *state.in_flight.entry(batch.partition.clone()).or_insert(0) += 1;
            }
            *state.requests_in_flight.entry(node).or_insert(0) += 1;
            let ticket = Ticket::issue(inner, state, node);
            jobs.push((node, ticket, batches));
        }
    }
    for (batch, error) in failures {
        fail(inner, batch, &error, now);
    }
    if leaderless {
        inner.client.note_error(ErrorCode::LeaderNotAvailable);
        let client = inner.client.clone();
        tokio::spawn(async move {
            if let Err(error) = client.refresh_metadata().await {
                debug!(%error, "metadata refresh for leaderless partitions failed");
            }
        });
    }
    let sent = !jobs.is_empty();
    for (_, _, batches) in &jobs {
        inner.metrics.record_drained(
            now,
            batches.iter().map(|b| Drained {
                created: b.created,
                max_record_size: b.max_record_size,
            }),
        );
    }
    for (node, ticket, batches) in jobs {
        start(produce(Arc::clone(inner), node, ticket, batches));
    }
    (next, sent)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Carries out what the idempotence or transaction machine asks for, fails
/// what it says must fail, and returns when it next wants to be asked.
fn drive_machine(
    inner: &Arc<Inner>,
    state: &mut State,
    now: Instant,
    failures: &mut Vec<Failure>,
) -> Option<Instant> {
    let mut next = None;
    if let Some(machine) = state.machine.idempotence() {
        while let Some(action) = machine.poll_action(now) {
            match action {
                IdempotenceAction::SendInitProducerId(request) => {
                    tokio::spawn(init_producer_id(Arc::clone(inner), request));
                }
                IdempotenceAction::RewriteBatch {
                    partition,
                    from,
                    to,
                } => {
                    if !state.accumulator.rewrite_producer(
                        &partition,
                        from.as_tuple(),
                        to.as_tuple(),
                    ) {
                        warn!(?partition, ?from, ?to, "no queued batch to renumber");
                    }
                }
                IdempotenceAction::EpochBumped(producer) => {
                    debug!(?producer, "epoch bumped after a sequence gap");
                }
            }
        }
        next = machine.next_timeout();
    }
    // Records without their outcome yet: the EndTxn waits for them all, so
    // a commit returns only after every record of it learned its outcome.
    let incomplete = state.unsettled.total() > 0;
    let fatal = match &mut state.machine {
        Machine::Plain { .. } => None,
        Machine::Idempotent(machine) => machine
            .fatal_error()
            .map(|e| ProduceError::Sequence(e.clone())),
        Machine::Transactional(txn) => {
            if let Some(request) = txn.poll_request(now, incomplete) {
                // Spawned, not started here: the state lock is held.
                tokio::spawn(transaction_request(Arc::clone(inner), request));
            }
            next = earliest(next, txn.next_timeout());
            if txn.state() == TransactionState::FatalError {
                Some(ProduceError::Transaction(
                    txn.last_error()
                        .cloned()
                        .unwrap_or(TransactionError::Aborted),
                ))
            } else {
                if let Some(error) = txn.unsent_batch_error() {
                    for batch in state.accumulator.abort_undrained() {
                        if let Some(stamp) = batch.producer {
                            txn.idempotence_mut().on_expired(
                                &batch.partition,
                                Some(SequenceStamp::from_tuple(stamp)),
                            );
                        }
                        failures.push((batch, ProduceError::Transaction(error.clone())));
                    }
                }
                None
            }
        }
    };
    if let Some(error) = fatal {
        // Nothing more can be sent: every record waiting fails.
        for batch in state.accumulator.abort_all() {
            failures.push((batch, error.clone()));
        }
    }
    dispatch_events(state);
    next
}

async fn init_producer_id(inner: Arc<Inner>, request: InitProducerIdRequest) {
    let result = inner.client.send_any(&request).await;
    {
        let mut state = inner.state();
        let now = Instant::now();
        if let Machine::Idempotent(machine) = &mut state.machine {
            match result {
                Ok(response) => match machine.on_init_producer_id_response(now, &response) {
                    Ok(()) => debug!(
                        producer_id = response.producer_id,
                        epoch = response.producer_epoch,
                        "idempotent producer id"
                    ),
                    // A coordinator still loading (a new cluster creating
                    // its transaction log) is retried: not worth a warning.
                    Err(SequenceError::Refused(code)) if code.is_retriable() => {
                        debug!(%code, "InitProducerId refused for now; retrying");
                    }
                    Err(error) => warn!(%error, "InitProducerId failed"),
                },
                Err(error) => {
                    warn!(%error, "InitProducerId failed; retrying");
                    machine.on_init_producer_id_failed(now);
                }
            }
        }
    }
    inner.wake.notify_one();
}

/// Sends one request of the transaction machine and hands it the answer.
async fn transaction_request(inner: Arc<Inner>, request: TransactionRequest) {
    let client = &inner.client;
    let (kind, key) = match &request {
        TransactionRequest::TxnOffsetCommit { request, .. } => {
            (CoordinatorKind::Group, request.group_id.clone())
        }
        TransactionRequest::FindCoordinator { kind, key } => (
            match kind {
                CoordinatorType::Group => CoordinatorKind::Group,
                CoordinatorType::Transaction => CoordinatorKind::Transaction,
            },
            key.clone(),
        ),
        _ => (
            CoordinatorKind::Transaction,
            inner.config.transactional_id.clone().unwrap_or_default(),
        ),
    };
    // Only the coordinator's own answers say which protocol it runs; these
    // two come at least once per producer id and per transaction.
    let coordinator = match &request {
        TransactionRequest::InitProducerId { node, .. }
        | TransactionRequest::EndTxn { node, .. } => Some(*node),
        _ => None,
    };
    let result: Result<TransactionResponse, TransportError> = match request {
        TransactionRequest::FindCoordinator { .. } => {
            // The machine asks only when it knows no coordinator: look it
            // up afresh, not from the client's cache.
            client.forget_coordinator(kind, &key);
            find_coordinator(client, kind, &key).await
        }
        TransactionRequest::InitProducerId { node, request } => client
            .send_on(node, Lane::Coordination, &request)
            .await
            .map(TransactionResponse::InitProducerId),
        TransactionRequest::AddPartitionsToTxn { node, request } => send_capped(
            client,
            node,
            Lane::Coordination,
            MAX_CLIENT_ADD_PARTITIONS_VERSION,
            |_| request,
        )
        .await
        .map(TransactionResponse::AddPartitionsToTxn),
        TransactionRequest::AddOffsetsToTxn { node, request } => client
            .send_on(node, Lane::Coordination, &request)
            .await
            .map(TransactionResponse::AddOffsetsToTxn),
        TransactionRequest::TxnOffsetCommit { node, request } => send_capped(
            client,
            node,
            Lane::Coordination,
            transaction_cap(
                &inner,
                MAX_V1_TXN_OFFSET_COMMIT_VERSION,
                MAX_V2_TXN_OFFSET_COMMIT_VERSION,
            ),
            |version| TransactionRequest::txn_offset_commit_for_version(&request, version),
        )
        .await
        .map(TransactionResponse::TxnOffsetCommit),
        TransactionRequest::EndTxn { node, request } => send_capped(
            client,
            node,
            Lane::Coordination,
            transaction_cap(&inner, MAX_V1_END_TXN_VERSION, i16::MAX),
            |_| request,
        )
        .await
        .map(TransactionResponse::EndTxn),
    };
    let reported = match (coordinator, &result) {
        (Some(node), Ok(_)) => coordinator_transaction_version(client, node).await,
        _ => None,
    };
    {
        let mut state = inner.state();
        let now = Instant::now();
        if let Machine::Transactional(txn) = &mut state.machine {
            if let Some((features_epoch, v2)) = reported {
                txn.on_transaction_version(features_epoch, v2);
            }
            match result {
                Ok(response) => txn.on_response(now, response),
                Err(error) => {
                    debug!(%error, "transaction request failed; retrying");
                    client.forget_coordinator(kind, &key);
                    txn.on_request_failed(now);
                }
            }
        }
        dispatch_events(&mut state);
    }
    inner.wake.notify_one();
    inner.progress.notify_waiters();
}

/// The coordinator of `key` as a FindCoordinator answer for the machine.
async fn find_coordinator(
    client: &Client,
    kind: CoordinatorKind,
    key: &str,
) -> Result<TransactionResponse, TransportError> {
    let answer = |node_id: i32, error: ErrorCode| {
        TransactionResponse::FindCoordinator(FindCoordinatorResponse {
            coordinators: vec![Coordinator {
                key: key.to_string(),
                node_id,
                error_code: error.code(),
                ..Coordinator::default()
            }],
            ..FindCoordinatorResponse::default()
        })
    };
    match client.coordinator(kind, key).await {
        Ok(node) => Ok(answer(node, ErrorCode::None)),
        // The authorization errors are the ones the machine must tell
        // apart (a broker's message names them in words of its own).
        Err(TransportError::Coordinator {
            error:
                Some(
                    error @ (ErrorCode::TransactionalIdAuthorizationFailed
                    | ErrorCode::GroupAuthorizationFailed),
                ),
            ..
        }) => Ok(answer(-1, error)),
        Err(error) => Err(error),
    }
}

/// Sends the request `build` makes to `node` at the highest version both
/// sides support, but no higher than `cap`.
async fn send_capped<R: Request>(
    client: &Client,
    node: i32,
    lane: Lane,
    cap: i16,
    build: impl FnOnce(i16) -> R,
) -> Result<R::Response, TransportError> {
    let connection = client.connection(node, lane).await?;
    let version = connection.version(R::KEY)?.min(cap);
    let result = connection
        .send_at(&client.config().client_id, &build(version), version)
        .await;
    if let Err(error) = &result
        && error.is_retriable()
    {
        // As the client does for its own sends: a failed connection may
        // mean a moved leader, so learn the metadata again.
        client.note_error(ErrorCode::LeaderNotAvailable);
    }
    result
}

/// Takes the batches of `partitions` off the in-flight counts (and a
/// request off `node`'s).
fn release(inner: &Inner, node: Option<i32>, partitions: &[TopicPartition]) {
    let mut state = inner.state();
    if let Some(node) = node
        && let Some(count) = state.requests_in_flight.get_mut(&node)
    {
        *count = count.saturating_sub(1);
    }
    for partition in partitions {
        if let Some(count) = state.in_flight.get_mut(partition) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.in_flight.remove(partition);
            }
        }
    }
}

/// Encodes the batches drained for a request (compression and CRC, done
/// here rather than under the state lock): those encoded, and those that
/// could not be, with why (they fail, in their turn, as batches the broker
/// refused for good would).
fn encode(batches: Vec<Batch>) -> (Vec<Batch>, Vec<(Batch, String)>) {
    let mut encoded = Vec::with_capacity(batches.len());
    let mut failed = Vec::new();
    for mut batch in batches {
        match batch.encode() {
            Ok(()) => encoded.push(batch),
            Err(error) => {
                warn!(%error, partition = ?batch.partition, "encoding a batch failed");
                failed.push((batch, error.to_string()));
            }
        }
    }
    (encoded, failed)
}

/// Fails the batches [`encode`] could not encode.
fn fail_unencoded(inner: &Inner, failed: Vec<(Batch, String)>) {
    for (batch, error) in failed {
        judge(
            inner,
            batch,
            ProduceOutcome::Refused {
                error: ErrorCode::InvalidRecord,
                log_start_offset: -1,
            },
            None,
            ProduceError::Record(format!("encoding the batch failed: {error}")),
        );
    }
}

/// A Produce request's place among those sent to its broker. Taken as a
/// [`Turn`] once the answer is in; dropped untaken (the request's task
/// ended early), its place is skipped, so the broker's later requests do
/// not wait for it forever.
pub(crate) struct Ticket {
    inner: Arc<Inner>,
    node: i32,
    number: u64,
    taken: bool,
}

impl Ticket {
    /// The next place among `node`'s requests (under the state lock, in
    /// the order the requests are sent).
    fn issue(inner: &Arc<Inner>, state: &mut State, node: i32) -> Ticket {
        let turns = state.turns.entry(node).or_default();
        let number = turns.issued;
        turns.issued += 1;
        Ticket {
            inner: Arc::clone(inner),
            node,
            number,
            taken: false,
        }
    }

    /// Waits until every earlier request to the broker settled its batches.
    async fn turn(mut self) -> Turn {
        loop {
            let waiting = self.inner.turns.notified();
            let settling = self
                .inner
                .state()
                .turns
                .get(&self.node)
                .map_or(0, |t| t.settling);
            if settling >= self.number {
                self.taken = true;
                return Turn {
                    inner: Arc::clone(&self.inner),
                    node: self.node,
                };
            }
            waiting.await;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.taken {
            if let Some(turns) = self.inner.state().turns.get_mut(&self.node) {
                turns.abandon(self.number);
            }
            self.inner.turns.notify_waiters();
        }
    }
}

/// The turn of one Produce request to settle its batches, passed on to the
/// broker's next request when dropped, on every path out of [`produce`].
struct Turn {
    inner: Arc<Inner>,
    node: i32,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(turns) = self.inner.state().turns.get_mut(&self.node) {
            turns.advance();
        }
        self.inner.turns.notify_waiters();
    }
}

/// Sends one Produce request and settles its batches, after those of the
/// requests sent to `node` before it (`ticket` is its place among them).
async fn produce(inner: Arc<Inner>, node: i32, ticket: Ticket, batches: Vec<Batch>) {
    let (batches, unencoded) = encode(batches);
    if batches.is_empty() {
        let turn = ticket.turn().await;
        let in_flight: Vec<TopicPartition> =
            unencoded.iter().map(|(b, _)| b.partition.clone()).collect();
        fail_unencoded(&inner, unencoded);
        release(&inner, Some(node), &in_flight);
        drop(turn);
        inner.wake.notify_one();
        inner.progress.notify_waiters();
        return;
    }
    let acks = inner.config.acks;
    let timeout_ms = i32::try_from(inner.config.client.connection.request_timeout.as_millis())
        .unwrap_or(i32::MAX);
    let topic_ids: HashMap<Arc<str>, ferrokafka_protocol::Uuid> = inner.client.view(|v| {
        batches
            .iter()
            .filter_map(|b| {
                v.topic(&b.partition.topic)
                    .map(|t| (Arc::clone(&b.partition.topic), t.id))
            })
            .collect()
    });
    let transactional_id = inner.config.transactional_id.clone();
    let build = |version: i16| {
        let mut topics: BTreeMap<Arc<str>, Vec<PartitionProduceData>> = BTreeMap::new();
        for batch in &batches {
            topics
                .entry(Arc::clone(&batch.partition.topic))
                .or_default()
                .push(PartitionProduceData {
                    index: batch.partition.partition,
                    records: batch.encoded().cloned().or(Some(RecordSet::default())),
                    ..PartitionProduceData::default()
                });
        }
        ProduceRequest {
            transactional_id: transactional_id.clone(),
            acks: acks.wire(),
            timeout_ms,
            topic_data: topics
                .into_iter()
                .map(|(topic, partition_data)| {
                    let by_id = version >= FIRST_TOPIC_ID_VERSION;
                    TopicProduceData {
                        name: if by_id {
                            String::new()
                        } else {
                            topic.to_string()
                        },
                        topic_id: if by_id {
                            topic_ids.get(&topic).copied().unwrap_or_default()
                        } else {
                            ferrokafka_protocol::Uuid::default()
                        },
                        partition_data,
                        ..TopicProduceData::default()
                    }
                })
                .collect(),
            ..ProduceRequest::default()
        }
    };
    // What each request carried and met, for `RUST_LOG=...sender=debug`:
    // the trace that tells a slow broker from a client that sends poorly.
    let traced = tracing::enabled!(tracing::Level::DEBUG).then(|| RequestTrace {
        batches: batches.len(),
        retried: batches.iter().filter(|b| b.attempts > 1).count(),
        bytes: batches
            .iter()
            .map(|b| b.encoded().map_or(0, RecordSet::len))
            .sum(),
        in_flight: inner
            .state()
            .requests_in_flight
            .get(&node)
            .copied()
            .unwrap_or(0),
    });
    let started = Instant::now();
    let outcome: Result<Option<ProduceResponse>, TransportError> = if acks == Acks::None {
        let request = match inner.client.connection(node, Lane::Data).await {
            Ok(connection) => match connection.version(ApiKey::Produce) {
                Ok(version) => Ok(build(version)),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        match request {
            Ok(request) => inner
                .client
                .send_without_response(node, &request)
                .await
                .map(|()| None),
            Err(error) => Err(error),
        }
    } else if inner.config.transactional_id.is_some() {
        send_capped(
            &inner.client,
            node,
            Lane::Data,
            transaction_cap(&inner, MAX_V1_PRODUCE_VERSION, i16::MAX),
            build,
        )
        .await
        .map(Some)
    } else {
        inner
            .client
            .send_built(node, Lane::Data, build)
            .await
            .map(Some)
    };
    let answered = Instant::now();
    inner
        .metrics
        .record_request(answered, answered.saturating_duration_since(started));
    if let Some(trace) = traced {
        trace.log(node, answered.saturating_duration_since(started), &outcome);
    }
    let turn = ticket.turn().await;
    // Counted in flight until settled: a retried batch is queued again
    // before its partition may send the next one, and nothing waiting for
    // the in-flight counts to drop sees them drop before the records
    // learned their outcome.
    let in_flight: Vec<TopicPartition> = batches
        .iter()
        .chain(unencoded.iter().map(|(b, _)| b))
        .map(|b| b.partition.clone())
        .collect();
    fail_unencoded(&inner, unencoded);
    match outcome {
        Ok(response) => {
            for batch in batches {
                settle(&inner, batch, response.as_ref(), &topic_ids, answered);
            }
        }
        Err(error) => {
            debug!(node, %error, "produce request failed");
            for batch in batches {
                judge(
                    &inner,
                    batch,
                    ProduceOutcome::NoResponse,
                    None,
                    ProduceError::Transport(error.clone()),
                );
            }
        }
    }
    release(&inner, Some(node), &in_flight);
    drop(turn);
    inner.wake.notify_one();
    inner.progress.notify_waiters();
}

/// One Produce request as the debug trace shows it.
struct RequestTrace {
    batches: usize,
    /// Batches sent before (retries).
    retried: usize,
    bytes: usize,
    /// Requests to the broker on the wire, this one included.
    in_flight: usize,
}

impl RequestTrace {
    fn log(
        &self,
        node: i32,
        latency: Duration,
        outcome: &Result<Option<ProduceResponse>, TransportError>,
    ) {
        let refused: usize = match outcome {
            Ok(Some(response)) => response
                .responses
                .iter()
                .flat_map(|t| t.partition_responses.iter())
                .filter(|p| p.error_code != 0)
                .count(),
            _ => 0,
        };
        let first_error = match outcome {
            Ok(Some(response)) => response
                .responses
                .iter()
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.error_code != 0)
                .map(|p| ErrorCode::from_code(p.error_code).to_string()),
            Ok(None) => None,
            Err(error) => Some(error.to_string()),
        };
        debug!(
            node,
            batches = self.batches,
            retried = self.retried,
            bytes = self.bytes,
            in_flight = self.in_flight,
            latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            refused,
            first_error,
            "produce request answered"
        );
    }
}

/// Settles one batch from the broker's answer for its partition.
fn settle(
    inner: &Inner,
    batch: Batch,
    response: Option<&ProduceResponse>,
    topic_ids: &HashMap<Arc<str>, ferrokafka_protocol::Uuid>,
    answered: Instant,
) {
    let Some(response) = response else {
        // acks=0: written is all anyone will know.
        deliver(inner, batch, -1, -1, answered);
        return;
    };
    let topic = &batch.partition.topic;
    let id = topic_ids.get(topic).copied().unwrap_or_default();
    let answer = response
        .responses
        .iter()
        .filter(|t| {
            t.name == **topic || (id != ferrokafka_protocol::Uuid::default() && t.topic_id == id)
        })
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == batch.partition.partition);
    let Some(answer) = answer else {
        let error = ProduceError::Transport(TransportError::Protocol {
            broker: String::new(),
            reason: format!(
                "the Produce response has no answer for {topic}-{}",
                batch.partition.partition
            ),
        });
        judge(inner, batch, ProduceOutcome::NoResponse, None, error);
        return;
    };
    let error = ErrorCode::from_code(answer.error_code);
    let failure = ProduceError::Broker {
        topic: topic.to_string(),
        partition: batch.partition.partition,
        error,
        message: answer.error_message.clone(),
    };
    let moved = !error.is_ok()
        && error != ErrorCode::DuplicateSequenceNumber
        && inner.client.note_partition_error(
            topic,
            batch.partition.partition,
            error,
            LeaderHint::from(&answer.current_leader),
            response.node_endpoints.iter().map(BrokerAddress::from),
        );
    if refuses_writes(error) {
        // Keyless records go elsewhere while this partition refuses.
        inner
            .state()
            .availability
            .refused(topic, batch.partition.partition, answered);
    }
    let partition = moved.then(|| batch.partition.clone());
    judge(
        inner,
        batch,
        ProduceOutcome::from_response(answer),
        Some(answer),
        failure,
    );
    if let Some(partition) = partition {
        // KIP-951: the backoff was meant for the old leader; the new one
        // gets the batch (put back by `judge`) at once.
        inner.state().accumulator.retry_now(&partition);
        inner.wake.notify_one();
    }
}

/// Whether a batch may be sent again: attempts and delivery time remain.
/// A closing producer retries too, as the Java client's close sends
/// everything buffered: its timeout is what bounds the retries.
fn may_retry(inner: &Inner, batch: &Batch, now: Instant) -> bool {
    now < batch.created + inner.config.batching.delivery_timeout
        && batch.attempts <= inner.config.retries
}

/// Acts on one batch's outcome: through the idempotence machine when the
/// batch carries a sequence, by the error's retriability otherwise.
fn judge(
    inner: &Inner,
    batch: Batch,
    outcome: ProduceOutcome,
    answer: Option<&PartitionProduceResponse>,
    failure: ProduceError,
) {
    let now = Instant::now();
    let retry = may_retry(inner, &batch, now);
    let (offset, append_time) = answer.map_or((-1, -1), |a| (a.base_offset, a.log_append_time_ms));
    let verdict = match batch.producer {
        Some(stamp) => {
            let mut state = inner.state();
            state.machine.idempotence().map(|machine| {
                machine.on_response(
                    &batch.partition,
                    SequenceStamp::from_tuple(stamp),
                    outcome,
                    retry,
                )
            })
        }
        None => None,
    };
    let verdict = verdict.unwrap_or(BatchVerdict::Stale);
    match verdict {
        BatchVerdict::Delivered { .. } => deliver(inner, batch, offset, append_time, now),
        BatchVerdict::Retry => requeue(inner, batch, &failure, now),
        BatchVerdict::Failed(error) => {
            let error = sequence_failure(inner, &batch, error, failure, now);
            fail(inner, batch, &error, now);
        }
        BatchVerdict::Stale => {
            // No sequence (idempotence off), or a batch the machine no
            // longer tracks: the answer alone decides.
            match outcome {
                ProduceOutcome::Written { .. }
                | ProduceOutcome::Refused {
                    error: ErrorCode::DuplicateSequenceNumber,
                    ..
                } => deliver(inner, batch, offset, append_time, now),
                ProduceOutcome::Refused { error, .. } if !error.is_retriable() => {
                    fail(inner, batch, &failure, now);
                }
                _ if retry => requeue(inner, batch, &failure, now),
                _ => {
                    let error = timed_out(inner, &batch, failure, now);
                    fail(inner, batch, &error, now);
                }
            }
        }
    }
}

fn requeue(inner: &Inner, mut batch: Batch, error: &ProduceError, now: Instant) {
    inner.metrics.record_retried(
        now,
        &batch.partition.topic,
        u64::try_from(batch.record_count()).unwrap_or(0),
    );
    debug!(partition = ?batch.partition, attempts = batch.attempts, %error, "retrying batch");
    batch.last_error = Some(error.clone());
    let mut state = inner.state();
    let refused = matches!(error, ProduceError::Broker { error, .. } if refuses_writes(*error));
    if refused && batch.may_move() {
        // A keyless batch need not wait for its partition to take writes
        // when another one does (a new topic's partitions become ready one
        // by one): it goes there at once.
        let state = &mut *state;
        let topic = Arc::clone(&batch.partition.topic);
        let destination = state.topics.get(&inner.client, &topic).and_then(|entry| {
            state.availability.destination(
                &topic,
                &entry.available,
                batch.partition.partition,
                batch.id,
                now,
            )
        });
        if let Some(partition) = destination {
            debug!(from = ?batch.partition, to = partition, "moving a refused keyless batch");
            state
                .accumulator
                .relocate(now, batch, TopicPartition { topic, partition });
            return;
        }
    }
    state.accumulator.reenqueue(now, batch);
}

/// `error` as a delivery timeout when the batch's time is up.
fn timed_out(inner: &Inner, batch: &Batch, error: ProduceError, now: Instant) -> ProduceError {
    if now >= batch.created + inner.config.batching.delivery_timeout {
        ProduceError::DeliveryTimeout {
            topic: batch.partition.topic.to_string(),
            partition: batch.partition.partition,
            timeout: inner.config.batching.delivery_timeout,
            last_error: Some(Box::new(error)),
        }
    } else {
        error
    }
}

/// The error a batch the idempotence rules failed completes with.
fn sequence_failure(
    inner: &Inner,
    batch: &Batch,
    error: SequenceError,
    failure: ProduceError,
    now: Instant,
) -> ProduceError {
    let transactional = inner.config.transactional_id.is_some();
    match error {
        SequenceError::Refused(_) => failure,
        SequenceError::RetriesExhausted(_) => timed_out(inner, batch, failure, now),
        SequenceError::ProducerFenced if transactional => {
            ProduceError::Transaction(TransactionError::ProducerFenced)
        }
        error if transactional => ProduceError::Transaction(TransactionError::Produce(error)),
        error => ProduceError::Sequence(error),
    }
}

/// `now`: when the answer was judged (a clock read per batch, never per
/// record, for the metrics' windows).
fn deliver(inner: &Inner, batch: Batch, base_offset: i64, log_append_time: i64, now: Instant) {
    let topic = Arc::clone(&batch.partition.topic);
    let partition = batch.partition.partition;
    let size = batch.encoded().map_or(0, RecordSet::len) as u64;
    let uncompressed = batch.uncompressed_bytes as u64;
    let records = u64::try_from(batch.record_count()).unwrap_or(0);
    let completions = {
        let mut state = inner.state();
        state.availability.accepted(&topic, partition);
        state.complete(batch)
    };
    inner
        .metrics
        .record_delivered(now, &topic, records, size, uncompressed);
    // One metadata for the batch, updated record by record: a callback
    // borrows it, a future gets its own copy.
    let mut metadata = RecordMetadata {
        topic: topic.to_string(),
        partition,
        offset: -1,
        timestamp: -1,
        serialized_key_size: -1,
        serialized_value_size: -1,
        serialized_header_size: 0,
    };
    inner.settle(completions, |index, completion| {
        let delta = i64::try_from(index).unwrap_or(i64::MAX);
        metadata.offset = if base_offset < 0 {
            -1
        } else {
            base_offset.saturating_add(delta)
        };
        metadata.timestamp = if log_append_time >= 0 {
            log_append_time
        } else {
            completion.timestamp
        };
        metadata.serialized_key_size = completion.key_size;
        metadata.serialized_value_size = completion.value_size;
        metadata.serialized_header_size = completion.header_size;
        completion.notifier.notify(Ok(&metadata));
    });
}

fn fail(inner: &Inner, batch: Batch, error: &ProduceError, now: Instant) {
    let topic = Arc::clone(&batch.partition.topic);
    let records = u64::try_from(batch.record_count()).unwrap_or(0);
    let completions = inner.state().complete(batch);
    inner.metrics.record_failed(now, &topic, records);
    inner.settle(completions, |_, completion| {
        completion.notifier.notify(Err(error));
    });
    // Memory was freed: blocked sends may go on.
    inner.progress.notify_waiters();
}
