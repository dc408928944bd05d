//! The share consumer (KIP-932): a member of a share group that receives
//! records of partitions it may share with other members, and acknowledges
//! each record (accept, release, reject, renew).
//!
//! Membership runs in its own task (`share_membership.rs`). `poll` fetches
//! from each leader through a share session (`share_session.rs`), carrying
//! the acknowledgements due to that leader; `commit_sync` sends them with
//! ShareAcknowledge; `close` sends the last ones, closing every session,
//! and leaves the group.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_group::share_acks::{
    AcknowledgeType, AcknowledgementMode, PartitionBatches, ShareAcks,
};
use ferrokafka_protocol::messages::ShareAcknowledgeResponse;
use ferrokafka_protocol::{ErrorCode, Uuid};
use ferrokafka_transport::{Client, TransportError};
use tokio::sync::{Mutex as AsyncMutex, Notify};
use tokio::task::JoinSet;

use crate::coordinator_metrics::MembershipMetrics;
use crate::error::ConsumeError;
use crate::share_config::ShareConsumerConfig;
use crate::share_membership::ShareMembership;
use crate::share_metrics::{ShareConsumerMetrics, ShareMetrics};
use crate::share_record::ShareRecord;
use crate::share_session::ShareSession;

mod requests;

/// How each partition's acknowledgements ended: `Ok` when the broker took
/// them, or the error it answered (a request that got no answer reports
/// `NetworkException`).
pub type AcknowledgementResults = BTreeMap<TopicPartition, Result<(), ErrorCode>>;

/// Called with the results of every acknowledgement request (the Java
/// client's `AcknowledgementCommitCallback`).
pub type AcknowledgementCallback = Box<dyn FnMut(&AcknowledgementResults) + Send>;

/// A share-group consumer.
///
/// ```no_run
/// # async fn run() -> Result<(), ferrokafka_consumer::ConsumeError> {
/// use std::time::Duration;
/// use ferrokafka_consumer::{ShareConsumer, ShareConsumerConfig};
/// let config = ShareConsumerConfig::from_pairs([
///     ("bootstrap_servers", "127.0.0.1:9092"),
///     ("group_id", "workers"),
/// ])?;
/// let consumer = ShareConsumer::new(config).await?;
/// consumer.subscribe(&["jobs"]).await?;
/// for record in consumer.poll(Duration::from_secs(1)).await? {
///     println!("{} delivered {} times", record.offset, record.delivery_count);
/// }
/// // Implicit mode: the next poll, commit or close accepts them.
/// consumer.close(Duration::from_secs(5)).await?;
/// # Ok(())
/// # }
/// ```
pub struct ShareConsumer {
    client: Client,
    config: ShareConsumerConfig,
    group_id: String,
    membership: ShareMembership,
    acks: Mutex<AckState>,
    state: AsyncMutex<PollState>,
    woken: AtomicBool,
    wakeup: Notify,
    metrics: ShareMetrics,
    membership_metrics: Arc<MembershipMetrics>,
}

impl std::fmt::Debug for ShareConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareConsumer")
            .field("group_id", &self.group_id)
            .finish_non_exhaustive()
    }
}

/// What acknowledging touches; locked briefly, never across an await.
struct AckState {
    acks: ShareAcks,
    /// Topic ids by name, for the records handed out.
    ids: BTreeMap<Arc<str>, Uuid>,
    /// Topic names by id, kept after a partition is given up (its last
    /// acknowledgements still go out).
    names: BTreeMap<Uuid, Arc<str>>,
    /// The broker's acquisition lock timeout, from the last answer.
    lock_timeout: Option<Duration>,
}

struct PollState {
    sessions: BTreeMap<i32, ShareSession>,
    buffer: VecDeque<ShareRecord>,
    subscription: Vec<String>,
    callback: Option<AcknowledgementCallback>,
    /// ShareAcknowledge requests sent and not yet answered (by
    /// `commit_async`, or a commit whose timeout passed): the node, what
    /// they carried and the answer.
    in_flight: JoinSet<InFlight>,
    closed: bool,
}

/// One ShareAcknowledge in flight: its node, what it carried, its answer.
type InFlight = (
    i32,
    Vec<PartitionBatches>,
    Result<ShareAcknowledgeResponse, TransportError>,
);

fn lock(acks: &Mutex<AckState>) -> MutexGuard<'_, AckState> {
    // Nothing panics while holding this lock mid-update.
    acks.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

impl ShareConsumer {
    /// Connects to the cluster and starts the share-group membership (it
    /// joins once subscribed).
    pub async fn new(config: ShareConsumerConfig) -> Result<ShareConsumer, ConsumeError> {
        config.validate()?;
        let mut client_config = config.consumer.client.clone();
        client_config.allow_auto_topic_creation = config.consumer.allow_auto_create_topics;
        let client = Client::connect(client_config).await?;
        Ok(Self::with_client(client, config))
    }

    /// A share consumer over an existing cluster client. Must run inside a
    /// tokio runtime (membership runs in a task).
    ///
    /// # Panics
    ///
    /// When the configuration has no `group_id`: use
    /// [`ShareConsumerConfig::validate`] first.
    pub fn with_client(client: Client, config: ShareConsumerConfig) -> ShareConsumer {
        let group_id = config
            .consumer
            .group_id
            .clone()
            .expect("a validated share consumer config has a group_id");
        let membership_metrics = Arc::new(MembershipMetrics::new(config.consumer.metrics_window));
        let membership = ShareMembership::start(
            client.clone(),
            &group_id,
            config.consumer.client_rack.clone(),
            Arc::clone(&membership_metrics),
        );
        ShareConsumer {
            acks: Mutex::new(AckState {
                acks: ShareAcks::new(config.acknowledgement_mode),
                ids: BTreeMap::new(),
                names: BTreeMap::new(),
                lock_timeout: None,
            }),
            state: AsyncMutex::new(PollState {
                sessions: BTreeMap::new(),
                buffer: VecDeque::new(),
                subscription: Vec::new(),
                callback: None,
                in_flight: JoinSet::new(),
                closed: false,
            }),
            woken: AtomicBool::new(false),
            wakeup: Notify::new(),
            metrics: ShareMetrics::new(config.consumer.metrics_window),
            membership_metrics,
            group_id,
            membership,
            client,
            config,
        }
    }

    /// The cluster client this consumer uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The settings.
    pub fn config(&self) -> &ShareConsumerConfig {
        &self.config
    }

    /// Subscribes to these topics, replacing the subscription; an empty
    /// list unsubscribes.
    pub async fn subscribe(&self, topics: &[&str]) -> Result<(), ConsumeError> {
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(ConsumeError::Closed);
        }
        let mut topics: Vec<String> = topics.iter().map(|t| (*t).to_string()).collect();
        topics.sort();
        topics.dedup();
        self.client.add_topics(&topics);
        state.subscription.clone_from(&topics);
        self.membership.subscribe(topics);
        Ok(())
    }

    /// Leaves the group's assignment: the records held are released by the
    /// next poll, commit or close.
    pub async fn unsubscribe(&self) -> Result<(), ConsumeError> {
        self.subscribe(&[]).await
    }

    /// The topics subscribed to.
    pub async fn subscription(&self) -> Vec<String> {
        self.state.lock().await.subscription.clone()
    }

    /// The partitions the coordinator assigned to this member (shared with
    /// other members).
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.membership
            .shared
            .lock()
            .partitions
            .values()
            .cloned()
            .collect()
    }

    /// How long the broker holds a record acquired for this member before
    /// giving it to another (`share.record.lock.duration.ms`), as the last
    /// ShareFetch or ShareAcknowledge answer said; `None` before any.
    pub fn acquisition_lock_timeout(&self) -> Option<Duration> {
        lock(&self.acks).lock_timeout
    }

    /// The share consumer's metrics now, named as the Java share
    /// consumer's (see [`ShareConsumerMetrics`]).
    pub fn metrics(&self) -> ShareConsumerMetrics {
        let now = Instant::now();
        self.metrics.snapshot(
            now,
            self.membership_metrics.snapshot(now),
            self.client.network_metrics(),
        )
    }

    /// Sets the callback told how every acknowledgement request ended.
    pub async fn set_acknowledgement_commit_callback(&self, callback: AcknowledgementCallback) {
        self.state.lock().await.callback = Some(callback);
    }

    /// Makes a poll in progress, or the next one, fail with
    /// [`ConsumeError::Wakeup`] (from any thread).
    pub fn wakeup(&self) {
        self.woken.store(true, Ordering::SeqCst);
        self.wakeup.notify_waiters();
    }

    /// Explicit mode: acknowledges one record of the last poll. Accept and
    /// Reject are final, Release gives it back for redelivery, Renew
    /// extends its lock (it must still be acknowledged). Sent with the next
    /// poll or commit.
    pub fn acknowledge(
        &self,
        record: &ShareRecord,
        kind: AcknowledgeType,
    ) -> Result<(), ConsumeError> {
        let mut state = lock(&self.acks);
        let id = state
            .ids
            .get(&record.topic)
            .copied()
            .ok_or_else(|| not_delivered(record))?;
        state
            .acks
            .acknowledge(id, record.partition, record.offset, kind)
            .map_err(|error| ConsumeError::IllegalState(error.to_string()))
    }

    /// Explicit mode: acknowledges every record of the last poll not yet
    /// acknowledged with `kind`.
    pub fn acknowledge_all(&self, kind: AcknowledgeType) -> Result<(), ConsumeError> {
        let mut state = lock(&self.acks);
        if state.acks.mode() == AcknowledgementMode::Implicit {
            return Err(ConsumeError::IllegalState(
                "acknowledge_all needs share_acknowledgement_mode=explicit".to_string(),
            ));
        }
        state
            .acks
            .acknowledge_delivered(kind)
            .map_err(|error| ConsumeError::IllegalState(error.to_string()))
    }

    /// Up to `max_poll_records` records acquired for this member, waiting
    /// up to `timeout` for some. In implicit mode the previous poll's
    /// records are accepted first; in explicit mode a poll while any of
    /// them is unacknowledged is an error.
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<ShareRecord>, ConsumeError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(ConsumeError::Closed);
        }
        self.take_wakeup()?;
        lock(&self.acks)
            .acks
            .on_poll()
            .map_err(|error| ConsumeError::IllegalState(error.to_string()))?;
        loop {
            self.apply_membership(&mut state)?;
            if !state.buffer.is_empty() {
                return Ok(self.hand_out(&mut state));
            }
            let changed = self.membership.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let woken = self.wakeup.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            self.take_wakeup()?;
            let fetched = self.fetch_round(&mut state, deadline).await?;
            if !state.buffer.is_empty() {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            if !fetched {
                tokio::select! {
                    () = changed => {}
                    () = woken => {}
                    () = tokio::time::sleep_until(deadline.into()) => {}
                }
            }
        }
    }

    /// Sends the acknowledgements made so far (in implicit mode, accepting
    /// the last poll's records first) and waits up to `timeout` for the
    /// answers. Acknowledgements for a leader whose share session is not
    /// open yet go with the next poll.
    pub async fn commit_sync(
        &self,
        timeout: Duration,
    ) -> Result<AcknowledgementResults, ConsumeError> {
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(ConsumeError::Closed);
        }
        self.accept_if_implicit();
        let results = tokio::time::timeout(timeout, self.acknowledge_pending(&mut state, false))
            .await
            .unwrap_or_default();
        Self::report(&mut state, &results);
        Ok(results)
    }

    /// Sends the acknowledgements made so far (in implicit mode, accepting
    /// the last poll's records first) at once, without waiting for the
    /// answers; the acknowledgement-commit callback reports how they ended,
    /// from the next poll, commit or close. As with
    /// [`commit_sync`](Self::commit_sync), those for a leader whose share
    /// session is not open yet go with the next poll.
    pub async fn commit_async(&self) -> Result<(), ConsumeError> {
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(ConsumeError::Closed);
        }
        self.accept_if_implicit();
        self.send_acknowledgements(&mut state, false).await;
        Ok(())
    }

    /// Acknowledges what is pending (implicit mode: accepting what the
    /// application was given), releases every record still held, closes the
    /// share sessions and leaves the group, within `timeout`.
    pub async fn close(&self, timeout: Duration) -> Result<(), ConsumeError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().await;
        if state.closed {
            return Ok(());
        }
        state.closed = true;
        state.buffer.clear();
        lock(&self.acks).acks.close();
        let results = tokio::time::timeout(timeout, self.acknowledge_pending(&mut state, true))
            .await
            .unwrap_or_default();
        Self::report(&mut state, &results);
        let left = deadline.saturating_duration_since(Instant::now());
        self.membership.close(left).await;
        Ok(())
    }

    fn take_wakeup(&self) -> Result<(), ConsumeError> {
        if self.woken.swap(false, Ordering::SeqCst) {
            return Err(ConsumeError::Wakeup);
        }
        Ok(())
    }

    fn accept_if_implicit(&self) {
        let mut state = lock(&self.acks);
        if state.acks.mode() == AcknowledgementMode::Implicit {
            // Implicit mode never refuses.
            let _ = state.acks.on_poll();
        }
    }

    /// Takes what membership changed: errors for the application, and the
    /// partitions given up (released when revoked, forgotten when lost).
    fn apply_membership(&self, state: &mut PollState) -> Result<(), ConsumeError> {
        let (given_up, error, partitions) = {
            let mut shared = self.membership.shared.lock();
            if let Some(fatal) = &shared.fatal {
                return Err(ConsumeError::Group(fatal.clone()));
            }
            (
                std::mem::take(&mut shared.given_up),
                shared.error.take(),
                shared.partitions.clone(),
            )
        };
        {
            let mut acks = lock(&self.acks);
            for ((id, _), tp) in &partitions {
                let name: Arc<str> = Arc::clone(&tp.topic);
                acks.ids.insert(Arc::clone(&name), *id);
                acks.names.insert(*id, name);
            }
            for ((id, partition), lost) in &given_up {
                let held = acks.acks.partition(*id, *partition);
                if *lost {
                    held.forget_acquired();
                } else {
                    held.release_unacknowledged();
                }
            }
        }
        if !given_up.is_empty() {
            let gone: BTreeSet<(Arc<str>, i32)> = {
                let acks = lock(&self.acks);
                given_up
                    .iter()
                    .filter_map(|((id, p), _)| acks.names.get(id).map(|n| (Arc::clone(n), *p)))
                    .collect()
            };
            state
                .buffer
                .retain(|r| !gone.contains(&(Arc::clone(&r.topic), r.partition)));
        }
        match error {
            Some(error) => Err(ConsumeError::Group(error)),
            None => Ok(()),
        }
    }

    /// Hands out up to `max_poll_records` buffered records, delivering them
    /// (their acknowledgement is due from now on).
    fn hand_out(&self, state: &mut PollState) -> Vec<ShareRecord> {
        let take = state
            .buffer
            .len()
            .min(self.config.consumer.max_poll_records);
        let mut acks = lock(&self.acks);
        let mut out = Vec::with_capacity(take);
        let mut bytes = 0;
        for record in state.buffer.drain(..take) {
            let Some(id) = acks.ids.get(&record.topic).copied() else {
                continue;
            };
            // A record whose lock was lost meanwhile is not handed out.
            if acks
                .acks
                .partition(id, record.partition)
                .deliver(record.offset)
                .is_some()
            {
                bytes += record.key.as_ref().map_or(0, |k| k.len() as u64)
                    + record.value.as_ref().map_or(0, |v| v.len() as u64);
                out.push(record);
            }
        }
        drop(acks);
        self.metrics
            .record_handed_out(Instant::now(), out.len() as u64, bytes);
        out
    }

    fn report(state: &mut PollState, results: &AcknowledgementResults) {
        if results.is_empty() {
            return;
        }
        if let Some(callback) = state.callback.as_mut() {
            callback(results);
        }
    }
}

fn not_delivered(record: &ShareRecord) -> ConsumeError {
    ConsumeError::IllegalState(format!(
        "{}-{}@{} is not a record this share consumer delivered",
        record.topic, record.partition, record.offset
    ))
}
