//! The fetcher: one incremental fetch session (KIP-227) per broker, at
//! most one Fetch in flight per broker while the application handles the
//! records already returned (pipelining), the answers turned into records,
//! watermarks and position changes. Records are handed out by the
//! consumer, which moves the positions as it does.
//!
//! Buffered data is only handed out while it continues the partition's
//! position and the partition is fetchable: a seek, a pause, a revocation
//! or an unassignment makes whatever was fetched or in flight for the old
//! position unreachable.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use ferrokafka_protocol::messages::{
    FetchRequest, FetchResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use ferrokafka_protocol::{ErrorCode, RecordSet, Uuid};
use ferrokafka_records::{BatchReader, IntoRecords, ReadOptions};
use ferrokafka_transport::cluster::{BrokerAddress, LeaderHint, TopicView};
use ferrokafka_transport::{Client, Lane, TransportError};
use tokio::task::JoinSet;
use tracing::debug;

use crate::error::ConsumeError;
use crate::fetch_buffer::FetchBuffer;
use crate::fetch_session::{FetchSession, PartitionFetch, SessionOutcome, SessionRequest};
use crate::metrics::{Consumed, FetchAnswer, Metrics};
use crate::positions::{Position, Positions};
use crate::read_committed::{AbortedTransaction, TransactionFilter};
use crate::{ConsumerConfig, ConsumerRecord, IsolationLevel};

/// Records fetched for one partition, not yet all handed out.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) partition: TopicPartition,
    /// The position the records continue from (moves as they are handed out).
    pub(crate) position: i64,
    /// The batches to hand out, front first. Their records are decoded as
    /// they are handed out, straight into the poll's list: decoding a whole
    /// answer up front moved every record once more and held it decoded.
    pub(crate) batches: VecDeque<Pending>,
    /// Records left in `batches`, by their headers (an upper bound: records
    /// before the position are skipped), to size a poll's list.
    pub(crate) records: usize,
    /// Where the position goes once every record is handed out (past
    /// control batches and aborted records at the end).
    pub(crate) next: Position,
    /// The bytes of the partition's records in the answer, which the
    /// records share until the last of them is handed out.
    pub(crate) bytes: usize,
}

/// One fetched batch whose records go to the application.
#[derive(Debug)]
pub(crate) struct Pending {
    /// Its records, resumed where the last poll stopped.
    records: IntoRecords,
    /// The leader epoch it was written in.
    leader_epoch: Option<i32>,
    /// Where the partition's position stands before it: where a batch
    /// whose first record turns out unreadable leaves the position.
    from: Position,
}

type Shared = Arc<Mutex<Positions<TopicPartition>>>;

fn lock(positions: &Shared) -> std::sync::MutexGuard<'_, Positions<TopicPartition>> {
    positions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A partition is fetched ahead of what the application consumed while it
/// has fewer completed fetches than this buffered.
const MAX_BUFFERED_PER_PARTITION: usize = 2;

/// A request that came back (or failed), with its session.
struct Done {
    node: i32,
    session: FetchSession,
    /// What was asked of each partition.
    asked: BTreeMap<TopicPartition, PartitionFetch>,
    result: Result<FetchResponse, TransportError>,
    /// How long the request took, for the metrics.
    latency: Duration,
    /// When the answer came.
    received: Instant,
}

/// The fetcher's state between polls.
pub(crate) struct Fetcher {
    /// Sessions of brokers with no request in flight.
    sessions: HashMap<i32, FetchSession>,
    /// Brokers with a request in flight (their session travels with it).
    busy: HashSet<i32>,
    in_flight: JoinSet<Done>,
    /// Completed fetches, handed out in order.
    pub(crate) buffer: FetchBuffer,
    /// KIP-392: the replica to read each partition from instead of its
    /// leader, until the lease expires.
    preferred: HashMap<TopicPartition, (i32, Instant)>,
    metrics: Arc<Metrics>,
    /// The view's count of changes when its leader epochs were last noted.
    epochs_noted: u64,
    /// An error met while prefetching, for the next poll that needs data.
    deferred: Option<ConsumeError>,
    /// What the last walk over the fetchable partitions found buffered.
    deliverable: Option<Deliverable>,
}

/// Bytes buffered for fetchable partitions, as one walk found them.
#[derive(Debug, Clone, Copy)]
struct Deliverable {
    /// The positions' generation then.
    generation: u64,
    /// The buffer's count of what was added to it then.
    added: u64,
    /// All the bytes buffered then.
    buffered: usize,
    /// The part of them that could be handed out.
    bytes: usize,
}

impl Deliverable {
    /// The bytes deliverable now at least, if neither the positions'
    /// generation nor the buffer's additions changed since. With nothing
    /// added the buffer can only have shrunk, and every byte it lost was
    /// either handed out (deliverable) or dropped (deliverable or not), so
    /// `bytes` less the loss is a floor.
    fn at_least(self, generation: u64, buffer: &FetchBuffer) -> Option<usize> {
        (generation == self.generation && buffer.added() == self.added).then(|| {
            let lost = self.buffered.saturating_sub(buffer.bytes());
            self.bytes.saturating_sub(lost)
        })
    }
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("busy", &self.busy)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        Fetcher {
            sessions: HashMap::new(),
            busy: HashSet::new(),
            in_flight: JoinSet::new(),
            buffer: FetchBuffer::default(),
            preferred: HashMap::new(),
            metrics,
            epochs_noted: 0,
            deferred: None,
            deliverable: None,
        }
    }

    /// Tells the metrics the buffered bytes (after the buffer was filtered).
    pub(crate) fn recount(&mut self) {
        self.metrics.set_buffered_bytes(self.buffer.bytes());
    }

    /// Whether a request is in flight.
    pub(crate) fn in_flight(&self) -> bool {
        !self.busy.is_empty()
    }

    /// Hands out up to `max` buffered records, moving each partition's
    /// position past what it hands out, and adds them to `consumed`.
    /// Buffered data that no longer continues a fetchable position
    /// (seeked, paused, revoked) is dropped. Records are decoded here: at
    /// one that cannot be, the records before it are handed out and the
    /// position stays before it; a poll that finds nothing else to hand
    /// out then fails, naming its offset.
    pub(crate) fn hand_out(
        &mut self,
        positions: &Shared,
        max: usize,
        consumed: &mut Consumed,
    ) -> Vec<ConsumerRecord> {
        // Room for what will be handed out, counted only as far as `max`.
        let mut buffered = 0;
        for fetched in self.buffer.iter() {
            buffered += fetched.records;
            if buffered >= max {
                break;
            }
        }
        let mut out = Vec::with_capacity(buffered.min(max));
        let mut positions = lock(positions);
        while out.len() < max {
            let Some(front) = self.buffer.front_mut() else {
                break;
            };
            if !positions.is_fetchable_at(&front.partition, front.position) {
                self.buffer.pop_front();
                continue;
            }
            let before = out.len();
            let taken = take_records(front, max, &mut out);
            let count = out.len() - before;
            if count > 0 {
                consumed.add(&front.partition.topic, count as u64, taken.bytes as u64);
            }
            match (taken.next, taken.broken) {
                (Some(next), _) => {
                    positions.advance(&front.partition, front.position, next);
                    front.position = next.offset;
                }
                (None, Some(reason)) => {
                    // Nothing more of this partition could be handed out:
                    // said by the poll that next finds nothing else (the
                    // position stays, so a later fetch meets the record
                    // again until then).
                    self.deferred.get_or_insert(ConsumeError::Corrupt {
                        topic: front.partition.topic.to_string(),
                        partition: front.partition.partition,
                        offset: front.position,
                        reason,
                    });
                }
                (None, None) => {}
            }
            if front.batches.is_empty() {
                self.buffer.pop_front();
            }
        }
        self.metrics.set_buffered_bytes(self.buffer.bytes());
        out
    }

    /// Where the next fetch of `tp` starts: after its buffered data, or at
    /// its position; `None` while enough of it is buffered.
    fn fetch_from(&self, tp: &TopicPartition, position: Position) -> Option<Position> {
        match self.buffer.ahead(tp) {
            None => Some(position),
            Some(ahead) => (ahead.fetches < MAX_BUFFERED_PER_PARTITION).then_some(ahead.next),
        }
    }

    /// The fetchable partitions, unless what is buffered for them is
    /// already a whole answer's worth (`fetch_max_bytes`): then nothing
    /// more is fetched until the application consumes some, so a consumer
    /// whose application stops polling holds at most that plus the answers
    /// in flight, however many partitions it reads (fetching ahead per
    /// partition alone would buffer two answers of each).
    ///
    /// While the application drains a whole answer, one poll at a time,
    /// the walk over the partitions is not repeated: what it found, less
    /// what was handed out since, holds until a partition's state changes.
    fn unless_holding_enough(
        &mut self,
        config: &ConsumerConfig,
        positions: &Positions<TopicPartition>,
    ) -> Option<Vec<(TopicPartition, Position)>> {
        let limit = usize::try_from(config.fetch_max_bytes).unwrap_or(0).max(1);
        let buffered = self.buffer.bytes();
        let generation = positions.generation();
        if self
            .deliverable
            .and_then(|d| d.at_least(generation, &self.buffer))
            .is_some_and(|bytes| bytes >= limit)
        {
            return None;
        }
        let fetchable = positions.fetchable();
        if buffered < limit {
            return Some(fetchable);
        }
        let wanted: HashSet<&TopicPartition> = fetchable.iter().map(|(tp, _)| tp).collect();
        let bytes: usize = self
            .buffer
            .iter()
            .filter(|f| wanted.contains(&f.partition))
            .map(|f| f.bytes)
            .sum();
        self.deliverable = Some(Deliverable {
            generation,
            added: self.buffer.added(),
            buffered,
            bytes,
        });
        (bytes < limit).then_some(fetchable)
    }

    /// [`Fetcher::start`] right after records were handed out: an error
    /// is left for the next poll to meet, so that the records already
    /// handed out are not lost to it.
    pub(crate) async fn prefetch(
        &mut self,
        client: &Client,
        config: &ConsumerConfig,
        positions: &Shared,
    ) {
        // Answers already in: buffered now, so that their brokers get
        // the next request while the application works.
        while let Some(joined) = self.in_flight.try_join_next() {
            if let Ok(done) = joined
                && let Err(error) = self.read(client, config, positions, done)
            {
                self.deferred.get_or_insert(error);
            }
        }
        if let Err(error) = self.send_fetches(client, config, positions).await {
            debug!(%error, "prefetch failed; retried at the next poll");
        }
    }

    /// Sends a Fetch to every broker that leads (or serves) a fetchable
    /// partition and has no request in flight. Returns at once; the
    /// answers are collected by [`Fetcher::complete`]. An error a prefetch
    /// met comes out here.
    pub(crate) async fn start(
        &mut self,
        client: &Client,
        config: &ConsumerConfig,
        positions: &Shared,
    ) -> Result<(), ConsumeError> {
        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        self.send_fetches(client, config, positions).await
    }

    async fn send_fetches(
        &mut self,
        client: &Client,
        config: &ConsumerConfig,
        positions: &Shared,
    ) -> Result<(), ConsumeError> {
        if client.view(|v| v.needs_refresh(Instant::now()))
            && let Err(error) = client.refresh_metadata().await
        {
            debug!(%error, "metadata refresh before fetching failed");
            if !error.is_retriable() {
                return Err(error.into());
            }
        }
        self.validate_positions(client, positions).await?;
        if self.every_broker_busy(client) {
            // Nothing could be sent; walking every fetchable partition to
            // find that out made each poll cost as much as the partitions
            // read, however few fetches there were.
            return Ok(());
        }
        let Some(fetchable) = self.unless_holding_enough(config, &lock(positions)) else {
            return Ok(());
        };
        let now = Instant::now();
        self.preferred.retain(|_, (_, until)| now < *until);
        // Lists, in partition order as `fetchable` is, made maps once whole:
        // inserting 4,000 partitions one by one cost more than the walk.
        let mut by_node: BTreeMap<i32, Vec<(TopicPartition, PartitionFetch)>> = BTreeMap::new();
        let mut leaderless = Vec::new();
        // Brokers serving a partition left out for now because enough of it
        // is buffered: a request to them must not wait for new data, or that
        // partition waits as long once its buffer runs dry (one request per
        // broker at a time).
        let mut held_back: BTreeSet<i32> = BTreeSet::new();
        client.view(|v| {
            // Partitions of one topic come one after another: one lookup
            // of the topic serves them all.
            let mut topic: Option<(Arc<str>, Option<&TopicView>)> = None;
            for (tp, position) in fetchable {
                let view = match &topic {
                    Some((name, view)) if *name == tp.topic => *view,
                    _ => topic.insert((Arc::clone(&tp.topic), v.topic(&tp.topic))).1,
                };
                let preferred = self
                    .preferred
                    .get(&tp)
                    .map(|&(node, _)| node)
                    .filter(|&node| v.broker(node).is_some());
                let node = preferred.or_else(|| {
                    view.and_then(|t| v.leader_in(t, tp.partition))
                        .map(|b| b.node_id)
                });
                let Some(from) = self.fetch_from(&tp, position) else {
                    held_back.extend(node);
                    continue;
                };
                let Some(node) = node else {
                    leaderless.push((tp, from));
                    continue;
                };
                if self.busy.contains(&node) {
                    continue;
                }
                let fetch = Self::partition_fetch(view, config, &tp, from);
                by_node.entry(node).or_default().push((tp, fetch));
            }
        });
        for (tp, from) in leaderless {
            // Waits for a leader (as just after the topic was created).
            let node = client.leader(&tp.topic, tp.partition).await?;
            if !self.busy.contains(&node) {
                let fetch =
                    client.view(|v| Self::partition_fetch(v.topic(&tp.topic), config, &tp, from));
                by_node.entry(node).or_default().push((tp, fetch));
            }
        }
        let wait_ms = i32::try_from(config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX);
        for (node, asked) in by_node {
            let asked: BTreeMap<TopicPartition, PartitionFetch> = asked.into_iter().collect();
            let session = self.sessions.remove(&node).unwrap_or_default();
            self.busy.insert(node);
            let client = client.clone();
            let metrics = Arc::clone(&self.metrics);
            let replica = self
                .preferred
                .values()
                .any(|&(preferred, _)| preferred == node);
            let wait_ms = if held_back.contains(&node) {
                0
            } else {
                wait_ms
            };
            let settings = Settings::of(config, wait_ms);
            self.in_flight.spawn(async move {
                let mut session = session;
                let sent = Instant::now();
                let result = send(&client, node, &settings, |version| {
                    let request = session.build(&asked, version);
                    metrics.record_fetch_sent(sent, request.full, replica);
                    request
                })
                .await;
                let received = Instant::now();
                Done {
                    node,
                    session,
                    asked,
                    result,
                    latency: received.saturating_duration_since(sent),
                    received,
                }
            });
        }
        Ok(())
    }

    /// Whether every broker the metadata knows has a request in flight
    /// (partitions are only fetched from brokers it knows).
    fn every_broker_busy(&self, client: &Client) -> bool {
        !self.busy.is_empty() && client.view(|v| v.every_broker(|node| self.busy.contains(&node)))
    }

    /// What to ask of `tp` from `from`, with its topic id and leader epoch.
    fn partition_fetch(
        topic: Option<&TopicView>,
        config: &ConsumerConfig,
        tp: &TopicPartition,
        from: Position,
    ) -> PartitionFetch {
        PartitionFetch {
            topic_id: topic.map_or_else(Uuid::default, |t| t.id),
            fetch_offset: from.offset,
            current_leader_epoch: topic
                .and_then(|t| t.partition(tp.partition))
                .map_or(-1, |p| p.leader_epoch),
            last_fetched_epoch: -1,
            log_start_offset: -1,
            max_bytes: config.max_partition_fetch_bytes,
        }
    }

    /// KIP-320: notes the leader epochs of fresh metadata; positions whose
    /// leader changed are checked with OffsetForLeaderEpoch against the
    /// new leader's log before fetching on.
    async fn validate_positions(
        &mut self,
        client: &Client,
        positions: &Shared,
    ) -> Result<(), ConsumeError> {
        let noted = client.view(|v| {
            let changes = v.changes();
            // Lock order: the view, then the positions (never the reverse).
            if changes != self.epochs_noted {
                lock(positions).note_leader_epochs(|tp| {
                    v.topic(&tp.topic)?
                        .partition(tp.partition)
                        .map(|p| p.leader_epoch)
                });
            }
            changes
        });
        self.epochs_noted = noted;
        let waiting = lock(positions).awaiting_validation();
        if waiting.is_empty() {
            return Ok(());
        }
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, Position, i32)>> = BTreeMap::new();
        for (tp, position) in waiting {
            let leader = client.leader(&tp.topic, tp.partition).await?;
            let current = client.view(|v| {
                v.topic(&tp.topic)
                    .and_then(|t| t.partition(tp.partition))
                    .map_or(-1, |p| p.leader_epoch)
            });
            by_leader
                .entry(leader)
                .or_default()
                .push((tp, position, current));
        }
        let mut requests = JoinSet::new();
        for (leader, partitions) in by_leader {
            let client = client.clone();
            requests.spawn(async move {
                let result = offsets_for_epochs(&client, leader, &partitions).await;
                (partitions, result)
            });
        }
        while let Some(joined) = requests.join_next().await {
            let Ok((partitions, result)) = joined else {
                continue;
            };
            let response = match result {
                Ok(response) => response,
                Err(error) if error.is_retriable() => {
                    debug!(%error, "OffsetForLeaderEpoch failed; retried next poll");
                    continue;
                }
                Err(error) => {
                    // A broker that cannot answer (too old, no access):
                    // fetching goes on unvalidated rather than never.
                    debug!(%error, "OffsetForLeaderEpoch refused; positions kept");
                    let mut positions = lock(positions);
                    for (tp, position, _) in &partitions {
                        positions.validated(tp, *position, None);
                    }
                    continue;
                }
            };
            for topic in &response.topics {
                for answer in &topic.partitions {
                    let Some((tp, position, _)) = partitions.iter().find(|(tp, _, _)| {
                        *tp.topic == *topic.topic && tp.partition == answer.partition
                    }) else {
                        continue;
                    };
                    let error = ErrorCode::from_code(answer.error_code);
                    if error.is_ok() {
                        self.metrics.record_validation();
                        lock(positions).validated(
                            tp,
                            *position,
                            Some((answer.end_offset, answer.leader_epoch)),
                        );
                    } else if error.is_retriable() {
                        client.note_error(error);
                    } else {
                        return Err(ConsumeError::Broker {
                            topic: tp.topic.to_string(),
                            partition: tp.partition,
                            error,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits until a request in flight is answered (or `deadline`), then
    /// buffers the records of every answered request.
    pub(crate) async fn complete(
        &mut self,
        client: &Client,
        config: &ConsumerConfig,
        positions: &Shared,
        deadline: Instant,
    ) -> Result<(), ConsumeError> {
        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        if self.in_flight.is_empty() {
            return Ok(());
        }
        let Ok(Some(first)) =
            tokio::time::timeout_at(deadline.into(), self.in_flight.join_next()).await
        else {
            return Ok(());
        };
        let mut done = Vec::new();
        done.extend(first.ok());
        while let Some(joined) = self.in_flight.try_join_next() {
            done.extend(joined.ok());
        }
        let mut first_error = None;
        for done in done {
            if let Err(error) = self.read(client, config, positions, done) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Takes in one answered request.
    fn read(
        &mut self,
        client: &Client,
        config: &ConsumerConfig,
        positions: &Shared,
        done: Done,
    ) -> Result<(), ConsumeError> {
        let Done {
            node,
            mut session,
            asked,
            result,
            latency,
            received,
        } = done;
        self.busy.remove(&node);
        let outcome = match result {
            Ok(response) => match session.on_response(&response) {
                SessionOutcome::Ok => {
                    let mut answer = FetchAnswer::default();
                    let outcome = self.read_response(
                        client,
                        config,
                        positions,
                        node,
                        &mut session,
                        &asked,
                        &response,
                        &mut answer,
                    );
                    // As Java's, only an answer the session accepted counts
                    // towards the fetch latency and sizes.
                    self.metrics.record_fetch_answer(received, latency, answer);
                    outcome
                }
                SessionOutcome::Reset(error) => {
                    debug!(node, ?error, "fetch session reset");
                    self.metrics.record_session_reset();
                    client.note_error(error);
                    self.forget_replica(node);
                    Ok(())
                }
            },
            Err(error) => {
                debug!(node, %error, "fetch failed");
                // An unreachable broker may no longer lead what was asked
                // of it: look the leaders up again before the next fetch.
                client.note_error(ErrorCode::NotLeaderOrFollower);
                session.on_failure();
                self.metrics.record_session_reset();
                self.forget_replica(node);
                if error.is_retriable() {
                    Ok(())
                } else {
                    Err(ConsumeError::Transport(error))
                }
            }
        };
        self.sessions.insert(node, session);
        outcome
    }

    /// Stops reading from `node` as a preferred replica.
    fn forget_replica(&mut self, node: i32) {
        self.preferred
            .retain(|_, (preferred, _)| *preferred != node);
    }

    #[allow(clippy::too_many_arguments)]
    fn read_response(
        &mut self,
        client: &Client,
        config: &ConsumerConfig,
        positions: &Shared,
        node: i32,
        session: &mut FetchSession,
        asked: &BTreeMap<TopicPartition, PartitionFetch>,
        response: &FetchResponse,
        answer: &mut FetchAnswer,
    ) -> Result<(), ConsumeError> {
        let read_committed = config.isolation_level == IsolationLevel::ReadCommitted;
        for topic in &response.responses {
            // The name the request's partitions share: the partitions of
            // the answer then neither copy it nor compare it letter by
            // letter with the maps' keys.
            let name: Arc<str> = if topic.topic.is_empty() {
                // The request's own partitions first: an answer without a
                // session (id 0) leaves the session knowing no topic.
                let asked_name = asked
                    .iter()
                    .find(|(_, p)| p.topic_id == topic.topic_id)
                    .map(|(tp, _)| Arc::clone(&tp.topic));
                match asked_name.or_else(|| session.topic_name(topic.topic_id).map(Arc::from)) {
                    Some(name) => name,
                    None => continue,
                }
            } else {
                asked
                    .range(TopicPartition::new(topic.topic.as_str(), i32::MIN)..)
                    .next()
                    .filter(|(tp, _)| *tp.topic == *topic.topic)
                    .map_or_else(
                        || Arc::from(topic.topic.as_str()),
                        |(tp, _)| Arc::clone(&tp.topic),
                    )
            };
            for data in &topic.partitions {
                let tp = TopicPartition {
                    topic: Arc::clone(&name),
                    partition: data.partition_index,
                };
                let Some(fetch) = asked.get(&tp) else {
                    continue;
                };
                let from_replica = self.preferred.get(&tp).is_some_and(|&(n, _)| n == node);
                let error = ErrorCode::from_code(data.error_code);
                match error {
                    ErrorCode::None => {}
                    ErrorCode::OffsetOutOfRange if !from_replica => {
                        lock(positions).out_of_range(&tp, fetch.fetch_offset);
                        session.resend(&tp);
                        continue;
                    }
                    error if error.is_retriable() || from_replica => {
                        // A follower behind, a leader moved, an epoch
                        // fenced: refresh, and fetch from the leader.
                        debug!(%tp, ?error, node, "partition fetch error");
                        client.note_partition_error(
                            &tp.topic,
                            tp.partition,
                            error,
                            LeaderHint::from(&data.current_leader),
                            response.node_endpoints.iter().map(BrokerAddress::from),
                        );
                        self.preferred.remove(&tp);
                        session.resend(&tp);
                        continue;
                    }
                    error => {
                        return Err(ConsumeError::Broker {
                            topic: tp.topic.to_string(),
                            partition: tp.partition,
                            error,
                        });
                    }
                }
                if let Some(rack) = &config.client_rack
                    && !rack.is_empty()
                    && data.preferred_read_replica >= 0
                    && data.preferred_read_replica != node
                {
                    let until = Instant::now() + config.client.metadata_max_age;
                    self.preferred
                        .insert(tp.clone(), (data.preferred_read_replica, until));
                }
                // Only data that continues what is buffered, from a
                // position still fetchable, is kept.
                let expected = {
                    let positions = lock(positions);
                    positions
                        .fetchable_position(&tp)
                        .and_then(|position| self.fetch_from(&tp, position))
                };
                let mut positions_guard = lock(positions);
                positions_guard.update_watermarks(
                    &tp,
                    data.high_watermark,
                    (data.last_stable_offset >= 0).then_some(data.last_stable_offset),
                    (data.log_start_offset >= 0).then_some(data.log_start_offset),
                );
                let lag = positions_guard.lag(&tp, read_committed);
                drop(positions_guard);
                answer.lag_max = answer.lag_max.max(lag);
                answer.bytes += data.records.as_ref().map_or(0, |b| b.len() as u64);
                let Some(expected) = expected.filter(|e| e.offset == fetch.fetch_offset) else {
                    continue;
                };
                if let Some(chunk) = records_of(config, &tp, expected, data)? {
                    answer.records += chunk.records as u64;
                    self.buffer.push_back(chunk);
                    self.metrics.set_buffered_bytes(self.buffer.bytes());
                }
            }
        }
        Ok(())
    }

    /// Waits (until `deadline`) for the requests in flight, then closes
    /// every session (final epoch), for `close` and `unsubscribe`.
    pub(crate) async fn close(&mut self, client: &Client, deadline: Instant) {
        while !self.in_flight.is_empty() {
            match tokio::time::timeout_at(deadline.into(), self.in_flight.join_next()).await {
                Ok(Some(Ok(done))) => {
                    let mut session = done.session;
                    if let Ok(response) = &done.result {
                        session.on_response(response);
                    }
                    self.sessions.insert(done.node, session);
                }
                Ok(Some(Err(_))) => {}
                Ok(None) | Err(_) => break,
            }
        }
        self.in_flight.abort_all();
        self.busy.clear();
        self.deferred = None;
        self.buffer.clear();
        self.preferred.clear();
        let mut closing = JoinSet::new();
        for (node, mut session) in self.sessions.drain() {
            if let Some(request) = session.close() {
                let client = client.clone();
                closing.spawn(async move {
                    let settings = Settings {
                        wait_ms: 0,
                        min_bytes: 0,
                        max_bytes: 0,
                        isolation_level: 0,
                        rack: String::new(),
                    };
                    let _ = send(&client, node, &settings, |_| request).await;
                });
            }
        }
        let _ = tokio::time::timeout_at(deadline.into(), async {
            while closing.join_next().await.is_some() {}
        })
        .await;
    }
}

/// Asks `leader` where the epoch of each position ends in its log.
async fn offsets_for_epochs(
    client: &Client,
    leader: i32,
    partitions: &[(TopicPartition, Position, i32)],
) -> Result<OffsetForLeaderEpochResponse, TransportError> {
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for (tp, position, current) in partitions {
        let partition = OffsetForLeaderPartition {
            partition: tp.partition,
            current_leader_epoch: *current,
            leader_epoch: position.leader_epoch.unwrap_or(-1),
            ..OffsetForLeaderPartition::default()
        };
        match topics.iter_mut().find(|t| *t.topic == *tp.topic) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(OffsetForLeaderTopic {
                topic: tp.topic.to_string(),
                partitions: vec![partition],
                ..OffsetForLeaderTopic::default()
            }),
        }
    }
    let request = OffsetForLeaderEpochRequest {
        // A consumer.
        replica_id: -1,
        topics,
        ..OffsetForLeaderEpochRequest::default()
    };
    client.send(leader, &request).await
}

/// The most a Fetch request asks one broker for, however large
/// `fetch_max_bytes` is: answers this size fill the connection's kept read
/// buffers again and again, where each 50 MiB answer (the default
/// `fetch_max_bytes`, reached once a consumer reads 50 partitions or more)
/// paged in fresh memory. At 4,000 partitions that was a third of the
/// consumer's CPU, and at 100 its peak RSS was 111 MiB.
/// `fetch_max_bytes` still bounds what is fetched ahead of the application.
const REQUEST_MAX_BYTES: i32 = 16 << 20;

/// The request-wide settings of a Fetch.
struct Settings {
    wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    isolation_level: i8,
    rack: String,
}

impl Settings {
    fn of(config: &ConsumerConfig, wait_ms: i32) -> Self {
        Settings {
            wait_ms,
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes.min(REQUEST_MAX_BYTES),
            isolation_level: match config.isolation_level {
                IsolationLevel::ReadUncommitted => 0,
                IsolationLevel::ReadCommitted => 1,
            },
            rack: config.client_rack.clone().unwrap_or_default(),
        }
    }
}

/// Sends the Fetch that `build` makes for the negotiated version.
async fn send(
    client: &Client,
    node: i32,
    settings: &Settings,
    build: impl FnOnce(i16) -> SessionRequest,
) -> Result<FetchResponse, TransportError> {
    client
        .send_built(node, Lane::Data, |version| {
            let request = build(version);
            FetchRequest {
                max_wait_ms: settings.wait_ms,
                min_bytes: settings.min_bytes,
                max_bytes: settings.max_bytes,
                isolation_level: settings.isolation_level,
                session_id: request.session_id,
                session_epoch: request.session_epoch,
                topics: request.topics,
                forgotten_topics_data: request.forgotten,
                rack_id: if version >= 11 {
                    settings.rack.clone()
                } else {
                    String::new()
                },
                ..FetchRequest::default()
            }
        })
        .await
}

/// The records of one partition's answer at or after `position`.
fn records_of(
    config: &ConsumerConfig,
    tp: &TopicPartition,
    position: Position,
    data: &ferrokafka_protocol::messages::fetch_response::PartitionData,
) -> Result<Option<Fetched>, ConsumeError> {
    let Some(bytes) = data
        .records
        .as_ref()
        .map(RecordSet::to_bytes)
        .filter(|b| !b.is_empty())
    else {
        return Ok(None);
    };
    let corrupt = |reason: String| ConsumeError::Corrupt {
        topic: tp.topic.to_string(),
        partition: tp.partition,
        offset: position.offset,
        reason,
    };
    let mut filter = (config.isolation_level == IsolationLevel::ReadCommitted).then(|| {
        TransactionFilter::new(data.aborted_transactions.iter().flatten().map(|a| {
            AbortedTransaction {
                producer_id: a.producer_id,
                first_offset: a.first_offset,
            }
        }))
    });
    let options = ReadOptions {
        verify_crc: config.check_crcs,
        ..ReadOptions::default()
    };
    let size = bytes.len();
    // The batches up to the first that cannot be read: the records before
    // a corrupt batch are handed out, and the fetch from there (the
    // position then at the corrupt batch) fails, naming its offset.
    let mut batches = VecDeque::new();
    let mut records = 0;
    let mut broken = None;
    let mut next = position;
    for batch in BatchReader::with_options(bytes, options) {
        let batch = match batch {
            Ok(batch) if batch.last_offset() < position.offset => continue,
            Ok(batch) => batch,
            Err(error) => {
                broken = Some(error.to_string());
                break;
            }
        };
        let leader_epoch = batch
            .header()
            .map(|h| h.partition_leader_epoch)
            .filter(|&e| e >= 0);
        let delivered = match &mut filter {
            Some(filter) => filter.accept(&batch),
            None => !batch.is_control(),
        };
        let after = Position {
            // A broker's offsets may sit at the end of an int64.
            offset: batch.last_offset().saturating_add(1),
            leader_epoch: leader_epoch.or(next.leader_epoch),
        };
        if delivered {
            // The count is the broker's word: bounded by the batch's bytes
            // (a record takes at least seven).
            let count = batch.header().map_or(1, |header| {
                let claimed = usize::try_from(header.record_count).unwrap_or(0);
                let possible = usize::try_from(header.batch_length).unwrap_or(0) / 7;
                claimed.min(possible)
            });
            records += count;
            batches.push_back(Pending {
                records: batch.into_records(),
                leader_epoch,
                from: next,
            });
        }
        next = after;
    }
    if let Some(reason) = broken
        && next == position
    {
        return Err(corrupt(reason));
    }
    if batches.is_empty() && next == position {
        return Ok(None);
    }
    Ok(Some(Fetched {
        partition: tp.clone(),
        position: position.offset,
        batches,
        records,
        next,
        bytes: size,
    }))
}

/// What [`take_records`] moved out of one fetch.
struct Taken {
    /// Where the partition's position goes (`None`: it stays).
    next: Option<Position>,
    /// Why a record could not be decoded, if one could not: the records
    /// before it are handed out and the fetch ends there, as the Java
    /// consumer does.
    broken: Option<String>,
    /// The key and value bytes of the records moved.
    bytes: usize,
}

/// Moves records of `fetched` into `out` until it holds `max` or the fetch
/// is used up.
fn take_records(fetched: &mut Fetched, max: usize, out: &mut Vec<ConsumerRecord>) -> Taken {
    let topic = &fetched.partition.topic;
    let partition = fetched.partition.partition;
    let mut last = None;
    let mut bytes = 0;
    while out.len() < max {
        let Some(batch) = fetched.batches.front_mut() else {
            break;
        };
        match batch.records.next() {
            Some(Ok(record)) if record.offset < fetched.position => {}
            Some(Ok(record)) => {
                last = Some(Position {
                    offset: record.offset.saturating_add(1),
                    leader_epoch: batch.leader_epoch,
                });
                bytes += record.key.as_ref().map_or(0, bytes::Bytes::len)
                    + record.value.as_ref().map_or(0, bytes::Bytes::len);
                out.push(ConsumerRecord::decoded(
                    topic,
                    partition,
                    record,
                    batch.leader_epoch,
                ));
                fetched.records = fetched.records.saturating_sub(1);
            }
            Some(Err(error)) => {
                let stop =
                    last.or_else(|| (batch.from.offset > fetched.position).then_some(batch.from));
                fetched.batches.clear();
                fetched.records = 0;
                if let Some(stop) = stop {
                    fetched.next = stop;
                }
                return Taken {
                    next: stop,
                    broken: Some(error.to_string()),
                    bytes,
                };
            }
            None => {
                fetched.batches.pop_front();
            }
        }
    }
    let next = if fetched.batches.is_empty() {
        fetched.records = 0;
        Some(fetched.next)
    } else {
        last
    };
    Taken {
        next,
        broken: None,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(partition: i32) -> TopicPartition {
        TopicPartition::new("t".to_string(), partition)
    }

    /// A batch of records `from..to`.
    fn batch_bytes(from: i64, to: i64) -> bytes::BytesMut {
        let mut builder = ferrokafka_records::RecordBatchBuilder::new(from);
        for _ in from..to {
            builder.append(0, None, Some(b"v"), &[] as &[ferrokafka_records::Header]);
        }
        bytes::BytesMut::from(&builder.build().unwrap()[..])
    }

    /// `raw`, one batch starting at `from` (its CRC unchecked), as
    /// `partition`'s fetched data read from `position` and ending at `next`.
    fn fetched_batch(
        raw: bytes::Bytes,
        partition: i32,
        from: i64,
        position: i64,
        next: i64,
    ) -> Fetched {
        let options = ReadOptions {
            verify_crc: false,
            ..ReadOptions::default()
        };
        let batch = ferrokafka_records::Batch::V2(
            ferrokafka_records::RecordBatch::decode(raw, &options).unwrap(),
        );
        let at = |offset| Position {
            offset,
            leader_epoch: None,
        };
        Fetched {
            bytes: 0,
            partition: tp(partition),
            position,
            batches: VecDeque::from([Pending {
                records: batch.into_records(),
                leader_epoch: None,
                from: at(from),
            }]),
            records: usize::try_from(next - position).unwrap(),
            next: at(next),
        }
    }

    /// Records `from..to` of `partition`, as one batch.
    fn chunk(partition: i32, from: i64, to: i64) -> Fetched {
        fetched_batch(batch_bytes(from, to).freeze(), partition, from, from, to)
    }

    /// Records `from..to` of partition 0 as one batch whose header claims
    /// two records more than it holds: the record after the last cannot be
    /// decoded.
    fn overclaiming_chunk(from: i64, to: i64, position: i64) -> Fetched {
        let mut raw = batch_bytes(from, to);
        let claimed = i32::try_from(to - from + 2).unwrap();
        raw[57..61].copy_from_slice(&claimed.to_be_bytes());
        fetched_batch(raw.freeze(), 0, from, position, to + 2)
    }

    #[test]
    fn a_request_asks_for_fetch_max_bytes_up_to_the_request_cap() {
        let asked = |fetch_max_bytes: &str| {
            let config = ConsumerConfig::from_pairs([
                ("bootstrap_servers", "127.0.0.1:9092"),
                ("fetch_max_bytes", fetch_max_bytes),
            ])
            .unwrap();
            Settings::of(&config, 0).max_bytes
        };
        assert_eq!(asked("52428800"), REQUEST_MAX_BYTES);
        assert_eq!(asked("1048576"), 1 << 20);
    }

    #[test]
    fn a_record_that_cannot_be_decoded_stops_the_partition_before_it() {
        let positions = shared(&[(0, 0)]);
        let mut fetcher = Fetcher::new(Arc::default());
        fetcher.buffer.push_back(overclaiming_chunk(0, 3, 0));
        // The records before it are handed out, the position stops at it.
        let first = fetcher.hand_out(&positions, 100, &mut Consumed::default());
        assert_eq!(offsets(&first), [(0, 0), (0, 1), (0, 2)]);
        assert!(fetcher.buffer.is_empty());
        assert!(fetcher.deferred.is_none(), "records were handed out");
        assert_eq!(
            lock(&positions).position(&tp(0)).unwrap().unwrap().offset,
            3
        );

        // Fetched again from there: nothing to hand out, and the error,
        // naming the offset, waits for the poll that finds nothing else.
        fetcher.buffer.push_back(overclaiming_chunk(0, 3, 3));
        let second = fetcher.hand_out(&positions, 100, &mut Consumed::default());
        assert!(second.is_empty());
        match fetcher.deferred.take() {
            Some(ConsumeError::Corrupt {
                partition: 0,
                offset: 3,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(
            lock(&positions).position(&tp(0)).unwrap().unwrap().offset,
            3
        );
    }

    #[test]
    fn a_batch_handed_out_over_several_polls_resumes_where_it_stopped() {
        let positions = shared(&[(0, 1)]);
        let mut fetcher = Fetcher::new(Arc::default());
        // Fetched from 1 though the batch starts at 0: 0 is skipped.
        let mut fetched = chunk(0, 0, 7);
        fetched.position = 1;
        fetcher.buffer.push_back(fetched);
        let polls: Vec<Vec<(i32, i64)>> = (0..3)
            .map(|_| offsets(&fetcher.hand_out(&positions, 3, &mut Consumed::default())))
            .collect();
        assert_eq!(
            polls,
            [
                vec![(0, 1), (0, 2), (0, 3)],
                vec![(0, 4), (0, 5), (0, 6)],
                vec![]
            ]
        );
        assert!(fetcher.buffer.is_empty());
        assert_eq!(
            lock(&positions).position(&tp(0)).unwrap().unwrap().offset,
            7
        );
    }

    fn shared(partitions: &[(i32, i64)]) -> Shared {
        let mut positions = Positions::new(crate::positions::OffsetReset::Earliest);
        positions.assign(partitions.iter().map(|(p, _)| tp(*p)));
        for (p, offset) in partitions {
            positions.seek(&tp(*p), *offset, None).unwrap();
        }
        Arc::new(Mutex::new(positions))
    }

    fn offsets(records: &[ConsumerRecord]) -> Vec<(i32, i64)> {
        records.iter().map(|r| (r.partition, r.offset)).collect()
    }

    #[test]
    fn chunks_fetched_ahead_continue_in_order_and_bound_the_buffer() {
        let positions = shared(&[(0, 0), (1, 0)]);
        let mut fetcher = Fetcher::new(Arc::default());
        fetcher.buffer.push_back(chunk(0, 0, 3));
        let at = |offset| Position {
            offset,
            leader_epoch: None,
        };
        // One chunk buffered: the next fetch starts after it.
        assert_eq!(fetcher.fetch_from(&tp(0), at(0)).unwrap().offset, 3);
        fetcher.buffer.push_back(chunk(1, 0, 2));
        fetcher.buffer.push_back(chunk(0, 3, 5));
        // Two chunks buffered: no more fetching ahead for it.
        assert_eq!(fetcher.fetch_from(&tp(0), at(0)), None);
        assert_eq!(fetcher.fetch_from(&tp(1), at(0)).unwrap().offset, 2);

        let first = fetcher.hand_out(&positions, 2, &mut Consumed::default());
        assert_eq!(offsets(&first), [(0, 0), (0, 1)]);
        let rest = fetcher.hand_out(&positions, 100, &mut Consumed::default());
        assert_eq!(offsets(&rest), [(0, 2), (1, 0), (1, 1), (0, 3), (0, 4)]);
        let positions = lock(&positions);
        assert_eq!(positions.position(&tp(0)).unwrap().unwrap().offset, 5);
        assert_eq!(positions.position(&tp(1)).unwrap().unwrap().offset, 2);
    }

    /// Records `from..to` of `partition` as a chunk of `bytes` bytes.
    fn sized_chunk(partition: i32, from: i64, to: i64, bytes: usize) -> Fetched {
        Fetched {
            bytes,
            ..chunk(partition, from, to)
        }
    }

    fn fetched(fetchable: Option<Vec<(TopicPartition, Position)>>) -> Option<Vec<i32>> {
        fetchable.map(|f| f.iter().map(|(tp, _)| tp.partition).collect())
    }

    #[test]
    fn a_whole_answer_buffered_for_fetchable_partitions_stops_fetching_until_it_is_drained() {
        let config = ConsumerConfig::from_pairs([
            ("bootstrap_servers", "127.0.0.1:9092"),
            ("fetch_max_bytes", "10"),
        ])
        .unwrap();
        let positions = shared(&[(0, 0), (1, 0), (2, 0)]);
        let mut fetcher = Fetcher::new(Arc::default());
        let ask = |fetcher: &mut Fetcher| {
            fetched(fetcher.unless_holding_enough(&config, &lock(&positions)))
        };
        assert_eq!(ask(&mut fetcher), Some(vec![0, 1, 2]), "nothing buffered");
        fetcher.buffer.push_back(sized_chunk(0, 0, 4, 8));
        fetcher.buffer.push_back(sized_chunk(1, 0, 4, 8));
        assert_eq!(ask(&mut fetcher), None, "16 bytes buffered");

        // A poll hands out half of partition 0's chunk: its bytes stay
        // buffered until the chunk is done.
        let first = fetcher.hand_out(&positions, 2, &mut Consumed::default());
        assert_eq!(offsets(&first), [(0, 0), (0, 1)]);
        assert_eq!(ask(&mut fetcher), None);

        // Partition 1 paused: 8 deliverable bytes are not enough, though
        // the buffer still holds 16.
        lock(&positions).pause(&tp(1)).unwrap();
        assert_eq!(ask(&mut fetcher), Some(vec![0, 2]));
        lock(&positions).resume(&tp(1)).unwrap();
        assert_eq!(ask(&mut fetcher), None);

        // Partition 0's chunk done: 8 bytes left.
        let rest = fetcher.hand_out(&positions, 3, &mut Consumed::default());
        assert_eq!(offsets(&rest), [(0, 2), (0, 3), (1, 0)]);
        assert_eq!(ask(&mut fetcher), Some(vec![0, 1, 2]));

        // More arrives: 8 + 4 bytes, of which partition 2's 4 only once
        // partition 1 is revoked.
        fetcher.buffer.push_back(sized_chunk(2, 0, 4, 4));
        assert_eq!(ask(&mut fetcher), None, "12 bytes");
        lock(&positions).remove([&tp(1)]);
        assert_eq!(ask(&mut fetcher), Some(vec![0, 2]), "4 bytes deliverable");
    }

    #[test]
    fn data_of_a_paused_partition_arriving_after_the_walk_is_not_counted_deliverable() {
        let config = ConsumerConfig::from_pairs([
            ("bootstrap_servers", "127.0.0.1:9092"),
            ("fetch_max_bytes", "10"),
        ])
        .unwrap();
        let positions = shared(&[(0, 0), (1, 0)]);
        lock(&positions).pause(&tp(1)).unwrap();
        let mut fetcher = Fetcher::new(Arc::default());
        fetcher.buffer.push_back(sized_chunk(0, 0, 2, 12));
        fetcher.buffer.push_back(sized_chunk(0, 2, 4, 6));
        let ask = |fetcher: &mut Fetcher| {
            fetched(fetcher.unless_holding_enough(&config, &lock(&positions)))
        };
        assert_eq!(ask(&mut fetcher), None, "18 bytes of partition 0");
        // A fetch sent before the pause comes back.
        fetcher.buffer.push_back(sized_chunk(1, 0, 2, 6));
        let first = fetcher.hand_out(&positions, 3, &mut Consumed::default());
        assert_eq!(offsets(&first), [(0, 0), (0, 1), (0, 2)]);
        // 12 bytes buffered, of which 6 can be handed out.
        assert_eq!(fetcher.buffer.bytes(), 12);
        assert_eq!(ask(&mut fetcher), Some(vec![0]));
    }

    #[test]
    fn buffered_data_of_a_seeked_paused_or_revoked_partition_is_never_handed_out() {
        let positions = shared(&[(0, 0), (1, 0), (2, 0)]);
        let mut fetcher = Fetcher::new(Arc::default());
        for p in 0..3 {
            fetcher.buffer.push_back(chunk(p, 0, 3));
            fetcher.buffer.push_back(chunk(p, 3, 6));
        }
        {
            let mut positions = lock(&positions);
            positions.seek(&tp(0), 4, None).unwrap();
            positions.pause(&tp(1)).unwrap();
            positions.remove([&tp(2)]);
        }
        assert!(
            fetcher
                .hand_out(&positions, 100, &mut Consumed::default())
                .is_empty()
        );
        assert!(fetcher.buffer.is_empty(), "dropped, not kept");
        // The seeked partition starts where it was sent, the paused one
        // where it stopped.
        lock(&positions).resume(&tp(1)).unwrap();
        let positions = lock(&positions);
        assert_eq!(positions.fetchable_position(&tp(0)).unwrap().offset, 4);
        assert_eq!(positions.fetchable_position(&tp(1)).unwrap().offset, 0);
    }
}
