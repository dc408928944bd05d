//! The consumer: assign or subscribe, `poll` for records, commit, seek,
//! look offsets up. Membership runs in a task of its own (see
//! `membership.rs`); fetching happens inside `poll`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrokafka_group::assignor::{self, TopicPartition};
use ferrokafka_group::consumer_member::ConsumerMemberConfig;
use ferrokafka_group::member::{GroupError, MemberConfig};
use ferrokafka_telemetry::{TelemetryHandle, TelemetrySlot};
use ferrokafka_transport::Client;
use ferrokafka_transport::backoff::RetryGate;
use tokio::sync::Mutex as AsyncMutex;
use tracing::{debug, warn};

use crate::config::GroupProtocol;
use crate::error::ConsumeError;
use crate::fetch::Fetcher;
use crate::membership::{Membership, MembershipConfig, Pending, Rebalance};
use crate::metrics::{Consumed, ConsumerMetrics, Metrics};
use crate::offsets::{self, GroupIdentity, OffsetAndMetadata, OffsetAndTimestamp, timestamp};
use crate::positions::{OffsetReset, Position, Positions};
use crate::rebalance::{RebalanceContext, RebalanceListener};
use crate::{ConsumerConfig, ConsumerRecord, IsolationLevel};

/// How partitions came to this consumer.
enum Mode {
    None,
    Assigned,
    Subscribed(Membership),
}

struct State {
    mode: Mode,
    /// A pattern subscription: the topics it matches are re-read from the
    /// metadata at every poll.
    pattern: Option<regex::Regex>,
    /// Subscribed to a pattern the coordinator matches (`subscribe_regex`): the
    /// subscription is then the topics it assigned.
    coordinator_pattern: bool,
    subscription: Vec<String>,
    fetcher: Fetcher,
    listener: Option<Box<dyn RebalanceListener>>,
    last_auto_commit: Instant,
    closed: bool,
    /// The error group membership failed with for good: every poll
    /// returns it until the application subscribes again (or assigns,
    /// or unsubscribes), as the share consumer does.
    failed: Option<GroupError>,
}

/// A Kafka consumer.
///
/// ```no_run
/// # async fn example() -> Result<(), ferrokafka_consumer::ConsumeError> {
/// use std::time::Duration;
/// use ferrokafka_consumer::{Consumer, ConsumerConfig};
///
/// let config = ConsumerConfig::from_pairs([
///     ("bootstrap_servers", "127.0.0.1:9092"),
///     ("group_id", "reporting"),
///     ("auto_offset_reset", "earliest"),
/// ])?;
/// let consumer = Consumer::new(config).await?;
/// consumer.subscribe(&["events"]).await?;
/// loop {
///     for record in consumer.poll(Duration::from_secs(1)).await? {
///         println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
///     }
/// }
/// # }
/// ```
pub struct Consumer {
    client: Client,
    config: ConsumerConfig,
    positions: Arc<Mutex<Positions<TopicPartition>>>,
    /// When a poll may next ask for offsets to reset partitions to.
    reset_retry: Mutex<RetryGate>,
    state: AsyncMutex<State>,
    metrics: Arc<Metrics>,
    /// The KIP-714 push task; taken by `close` for its terminating push.
    telemetry: TelemetrySlot,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.config.group_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks mid-update.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Consumer {
    /// Connects to the cluster.
    pub async fn new(config: ConsumerConfig) -> Result<Consumer, ConsumeError> {
        config.validate()?;
        let mut client_config = config.client.clone();
        client_config.allow_auto_topic_creation = config.allow_auto_create_topics;
        let client = Client::connect(client_config).await?;
        Ok(Self::with_client(client, config))
    }

    /// A consumer over an existing cluster client, which decides whether
    /// metadata requests ask for topics to be created (its
    /// `allow_auto_topic_creation`; `allow_auto_create_topics` is not
    /// applied to a client made elsewhere).
    pub fn with_client(client: Client, config: ConsumerConfig) -> Consumer {
        let metrics = Arc::new(Metrics::new(config.metrics_window));
        let positions = Arc::new(Mutex::new(Positions::new(config.auto_offset_reset)));
        let telemetry = spawn_telemetry(&client, &config, &metrics, &positions);
        Consumer {
            positions,
            reset_retry: Mutex::new(RetryGate::new(
                config.client.retry_backoff,
                config.client.retry_backoff_max,
            )),
            telemetry: TelemetrySlot::new(telemetry),
            metrics: Arc::clone(&metrics),
            state: AsyncMutex::new(State {
                mode: Mode::None,
                pattern: None,
                coordinator_pattern: false,
                subscription: Vec::new(),
                fetcher: Fetcher::new(metrics),
                listener: None,
                last_auto_commit: Instant::now(),
                closed: false,
                failed: None,
            }),
            client,
            config,
        }
    }

    /// The cluster client this consumer uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Consumes exactly these partitions, outside any group's assignment
    /// (commits still go to `group_id` if there is one).
    pub async fn assign(&self, partitions: &[TopicPartition]) -> Result<(), ConsumeError> {
        let mut state = self.state.lock().await;
        if matches!(state.mode, Mode::Subscribed(_)) {
            return Err(ConsumeError::IllegalState(
                "assign after subscribe: unsubscribe first".into(),
            ));
        }
        self.client
            .add_topics(partitions.iter().map(TopicPartition::topic));
        lock(&self.positions).assign(partitions.iter().cloned());
        state
            .fetcher
            .buffer
            .retain(|f| partitions.contains(&f.partition));
        state.fetcher.recount();
        state.failed = None;
        state.mode = if partitions.is_empty() {
            Mode::None
        } else {
            Mode::Assigned
        };
        Ok(())
    }

    /// Joins `group_id`'s group for these topics; the group assigns the
    /// partitions.
    pub async fn subscribe(&self, topics: &[&str]) -> Result<(), ConsumeError> {
        self.subscribe_with(topics, None).await
    }

    /// Like [`Consumer::subscribe`], calling `listener` on rebalances.
    pub async fn subscribe_with(
        &self,
        topics: &[&str],
        listener: Option<Box<dyn RebalanceListener>>,
    ) -> Result<(), ConsumeError> {
        let Some(group_id) = self.config.group_id.clone() else {
            return Err(ConsumeError::IllegalState(
                "subscribe needs a group_id; use assign without one".into(),
            ));
        };
        let mut state = self.state.lock().await;
        if matches!(state.mode, Mode::Assigned) {
            return Err(ConsumeError::IllegalState(
                "subscribe after assign: assign no partitions first".into(),
            ));
        }
        if listener.is_some() {
            state.listener = listener;
        }
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_string()).collect();
        self.client.add_topics(&topics);
        state.coordinator_pattern = false;
        state.subscription.clone_from(&topics);
        // A membership that failed for good is replaced by a new one.
        if state.failed.take().is_some() || !matches!(state.mode, Mode::Subscribed(_)) {
            state.mode = Mode::Subscribed(self.start_membership(group_id));
        }
        if let Mode::Subscribed(membership) = &state.mode {
            membership.set_listener(state.listener.is_some());
            membership.subscribe(topics);
        }
        Ok(())
    }

    /// Joins `group_id`'s group for every topic whose name matches
    /// `pattern`, matched by the group coordinator (KIP-848's
    /// `SubscribedTopicRegex`, RE2/J syntax, whole names), now and as topics
    /// are created or deleted. Needs `group_protocol=consumer`;
    /// [`Consumer::subscribe_pattern`] matches on the client with either
    /// protocol.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), ferrokafka_consumer::ConsumeError> {
    /// use ferrokafka_consumer::{Consumer, ConsumerConfig};
    /// let consumer = Consumer::new(ConsumerConfig::from_pairs([
    ///     ("bootstrap_servers", "localhost:9092"),
    ///     ("group_id", "audit"),
    ///     ("group_protocol", "consumer"),
    /// ])?)
    /// .await?;
    /// consumer.subscribe_regex("orders-.*", None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn subscribe_regex(
        &self,
        pattern: &str,
        listener: Option<Box<dyn RebalanceListener>>,
    ) -> Result<(), ConsumeError> {
        let Some(group_id) = self.config.group_id.clone() else {
            return Err(ConsumeError::IllegalState(
                "subscribe_regex needs a group_id".into(),
            ));
        };
        if self.config.group_protocol != GroupProtocol::Consumer || pattern.is_empty() {
            return Err(ConsumeError::IllegalState(
                "subscribe_regex needs group_protocol=consumer and a non-empty pattern \
                 (subscribe_pattern matches on the client)"
                    .into(),
            ));
        }
        let mut state = self.state.lock().await;
        if matches!(state.mode, Mode::Assigned) {
            return Err(ConsumeError::IllegalState(
                "subscribe after assign: assign no partitions first".into(),
            ));
        }
        if listener.is_some() {
            state.listener = listener;
        }
        // Assigned topics arrive by id: their names come from metadata.
        self.client.track_all_topics();
        state.pattern = None;
        state.coordinator_pattern = true;
        state.subscription.clear();
        // A membership that failed for good is replaced by a new one.
        if state.failed.take().is_some() || !matches!(state.mode, Mode::Subscribed(_)) {
            state.mode = Mode::Subscribed(self.start_membership(group_id));
        }
        if let Mode::Subscribed(membership) = &state.mode {
            membership.set_listener(state.listener.is_some());
            membership.subscribe_regex(pattern.to_string());
        }
        Ok(())
    }

    fn start_membership(&self, group_id: String) -> Membership {
        if self.config.group_protocol == GroupProtocol::Consumer {
            crate::consumer_membership::start(
                self.client.clone(),
                ConsumerMemberConfig {
                    group_id,
                    member_id: String::new(),
                    group_instance_id: self.config.group_instance_id.clone(),
                    rack: self.config.client_rack.clone(),
                    max_poll_interval: self.config.max_poll_interval,
                    server_assignor: self.config.group_remote_assignor.clone(),
                    retry_backoff: self.config.client.retry_backoff,
                },
                self.config.auto_commit(),
                Arc::clone(&self.positions),
                Arc::clone(&self.metrics.membership),
            )
        } else {
            self.start_classic(group_id)
        }
    }

    fn start_classic(&self, group_id: String) -> Membership {
        let assignors = self
            .config
            .partition_assignment_strategy
            .iter()
            .filter_map(|name| assignor::by_name(name))
            .collect();
        Membership::start(
            self.client.clone(),
            MembershipConfig {
                member: MemberConfig {
                    group_id,
                    group_instance_id: self.config.group_instance_id.clone(),
                    session_timeout: self.config.session_timeout,
                    heartbeat_interval: self.config.heartbeat_interval,
                    max_poll_interval: self.config.max_poll_interval,
                    retry_backoff: self.config.client.retry_backoff,
                    retry_backoff_max: self.config.client.retry_backoff_max,
                    rack: self.config.client_rack.clone(),
                },
                assignors,
                auto_commit: self.config.auto_commit(),
            },
            Arc::clone(&self.positions),
            Arc::clone(&self.metrics.membership),
        )
    }

    /// Joins the group for every topic whose name matches `pattern` (a
    /// regular expression matched against the whole name), now and as
    /// topics are created or deleted.
    pub async fn subscribe_pattern(
        &self,
        pattern: &str,
        listener: Option<Box<dyn RebalanceListener>>,
    ) -> Result<(), ConsumeError> {
        let regex = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            ConsumeError::IllegalState(format!("{pattern:?} is not a regular expression: {e}"))
        })?;
        self.client.track_all_topics();
        self.client.refresh_metadata().await?;
        let topics = self.matching(&regex);
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.subscribe_with(&names, listener).await?;
        self.state.lock().await.pattern = Some(regex);
        Ok(())
    }

    /// The topics of the cluster view that `pattern` matches.
    fn matching(&self, pattern: &regex::Regex) -> Vec<String> {
        let exclude_internal = self.config.exclude_internal_topics;
        self.client.view(|v| {
            let mut names: Vec<String> = v
                .topic_names()
                .filter(|name| pattern.is_match(name))
                .filter(|name| !(exclude_internal && v.topic(name).is_some_and(|t| t.internal)))
                .map(str::to_string)
                .collect();
            names.sort();
            names
        })
    }

    /// The topics subscribed to (for a pattern, those it matches now; for
    /// a coordinator-matched one, those of the assignment).
    pub async fn subscription(&self) -> Vec<String> {
        let state = self.state.lock().await;
        if state.coordinator_pattern {
            let assigned: std::collections::BTreeSet<String> = lock(&self.positions)
                .assignment()
                .map(|tp| tp.topic.to_string())
                .collect();
            return assigned.into_iter().collect();
        }
        state.subscription.clone()
    }

    /// Leaves the group (revoking with a commit first when auto-commit is
    /// on) or drops the assignment.
    pub async fn unsubscribe(&self) {
        let mut state = self.state.lock().await;
        let deadline = Instant::now() + self.config.session_timeout;
        self.commit_before_leaving(&mut state, deadline).await;
        self.leave_group(&mut state, deadline).await;
        lock(&self.positions).assign(std::iter::empty());
        let deadline = Instant::now() + self.config.client.connection.request_timeout;
        state.fetcher.close(&self.client, deadline).await;
        state.pattern = None;
        state.coordinator_pattern = false;
        state.subscription.clear();
        state.failed = None;
    }

    /// The partitions assigned now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        lock(&self.positions).assignment().cloned().collect()
    }

    /// Up to `max_poll_records` records, waiting at most `timeout` for some.
    /// Once group membership failed for good ([`ConsumeError::Group`]),
    /// every poll returns that error until the consumer subscribes again.
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ConsumeError> {
        self.poll_records(timeout, self.config.max_poll_records)
            .await
    }

    /// Like [`Consumer::poll`], the records grouped by partition (each
    /// partition's in offset order), as kafka-python's `poll` returns them.
    pub async fn poll_by_partition(
        &self,
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Vec<ConsumerRecord>>, ConsumeError> {
        let mut grouped: BTreeMap<TopicPartition, Vec<ConsumerRecord>> = BTreeMap::new();
        for record in self.poll(timeout).await? {
            grouped
                .entry(TopicPartition::new(&*record.topic, record.partition))
                .or_default()
                .push(record);
        }
        Ok(grouped)
    }

    /// Up to `max_records` records, waiting at most `timeout` for some.
    pub async fn poll_records(
        &self,
        timeout: Duration,
        max_records: usize,
    ) -> Result<Vec<ConsumerRecord>, ConsumeError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(ConsumeError::Closed);
        }
        if let Some(error) = &state.failed {
            return Err(ConsumeError::Group(error.clone()));
        }
        loop {
            if let Some(pattern) = &state.pattern {
                let topics = self.matching(pattern);
                if topics != state.subscription
                    && let Mode::Subscribed(membership) = &state.mode
                {
                    self.client.add_topics(&topics);
                    membership.subscribe(topics.clone());
                    state.subscription = topics;
                }
            }
            if let Mode::Subscribed(membership) = &state.mode {
                membership.polled();
            }
            let changes = match self.take_rebalances(&mut state).await {
                Ok(changes) => changes,
                Err(ConsumeError::Group(error)) => {
                    state.failed = Some(error.clone());
                    return Err(ConsumeError::Group(error));
                }
                Err(error) => return Err(error),
            };
            self.metrics.record_rebalances(changes);
            self.maybe_auto_commit(&mut state).await;
            self.resolve_positions(false).await?;
            let failures = lock(&self.positions).take_failures();
            if let Some((_, error)) = failures.into_iter().next() {
                return Err(error.into());
            }
            if !state.fetcher.buffer.is_empty() {
                // Pipelining: the next fetches run while the application
                // handles the records handed out below. Sent before they
                // are taken from the buffer, so that a poll dropped while
                // this waits (on a metadata refresh, say) has lost nothing.
                state
                    .fetcher
                    .prefetch(&self.client, &self.config, &self.positions)
                    .await;
            }
            let mut consumed = Consumed::default();
            let records =
                state
                    .fetcher
                    .hand_out(&self.positions, max_records.max(1), &mut consumed);
            if !records.is_empty() {
                self.metrics.record_consumed(Instant::now(), &consumed);
                return Ok(records);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wait = (deadline - now).min(self.config.fetch_max_wait);
            let idle = {
                let positions = lock(&self.positions);
                positions.fetchable().is_empty() && positions.awaiting_validation().is_empty()
            };
            if idle && !state.fetcher.in_flight() {
                drop(state);
                if self.metadata_refresh_due(now) {
                    // Assigned partitions of a topic this member has no
                    // metadata for (a member that did not compute the
                    // assignment never looked its topics up): learned now,
                    // not at the client's next background refresh.
                    if let Err(error) = self.client.refresh_metadata().await {
                        debug!(%error, "metadata refresh for the assignment failed");
                    }
                } else {
                    // Nothing to fetch or validate yet (joining a group,
                    // waiting for an assignment): let membership work, then
                    // look again.
                    tokio::time::sleep(wait.min(Duration::from_millis(50))).await;
                }
                state = self.state.lock().await;
                continue;
            }
            state
                .fetcher
                .start(&self.client, &self.config, &self.positions)
                .await?;
            if !state.fetcher.in_flight() {
                // Every fetchable partition has enough buffered (paused
                // meanwhile): look again shortly.
                tokio::time::sleep(wait.min(self.config.client.retry_backoff)).await;
                continue;
            }
            state
                .fetcher
                .complete(&self.client, &self.config, &self.positions, deadline)
                .await?;
        }
    }

    /// Whether the metadata is stale (an assigned topic unknown, say) and
    /// was last fetched at least `retry_backoff_ms` ago: a topic that does
    /// not exist is looked up that often, not on every pass of a poll.
    fn metadata_refresh_due(&self, now: Instant) -> bool {
        let backoff = self.config.client.retry_backoff;
        self.client
            .view(|v| v.needs_refresh(now) && v.updated().is_none_or(|at| now >= at + backoff))
    }

    /// Applies the rebalances membership reported, calling the listener;
    /// returns how many.
    async fn take_rebalances(&self, state: &mut State) -> Result<u64, ConsumeError> {
        let Mode::Subscribed(membership) = &state.mode else {
            return Ok(0);
        };
        let pending = membership.take_rebalances();
        if pending.is_empty() {
            return Ok(0);
        }
        let identity = membership.identity();
        let count = pending.len() as u64;
        let mut failure = None;
        for Pending {
            change,
            handed_over,
        } in pending
        {
            // While membership waits, the partitions are still this
            // member's; once it stopped waiting it may have been given them
            // again already.
            let waiting = handed_over.as_ref().is_some_and(|h| !h.is_closed());
            let applied = self
                .apply_rebalance(state, &identity, change, waiting)
                .await;
            // Releases the membership task waiting to give partitions up.
            drop(handed_over);
            if let Err(error) = applied {
                failure.get_or_insert(error);
            }
        }
        failure.map_or(Ok(count), Err)
    }

    /// Drops what is buffered for partitions taken away, runs the listener,
    /// stops fetching revoked partitions (when membership waits on it to give
    /// them up) and makes the commits the listener asked for.
    async fn apply_rebalance(
        &self,
        state: &mut State,
        identity: &GroupIdentity,
        change: Rebalance,
        handing_over: bool,
    ) -> Result<(), ConsumeError> {
        let (partitions, taken_away) = match &change {
            Rebalance::Failed(error) => return Err(ConsumeError::Group(error.clone())),
            Rebalance::Revoked(partitions) | Rebalance::Lost(partitions) => (partitions, true),
            Rebalance::Assigned(partitions) => (partitions, false),
        };
        let mut context = RebalanceContext::new(&self.positions);
        if let Some(listener) = &mut state.listener {
            match &change {
                Rebalance::Revoked(_) => listener.on_partitions_revoked(&mut context, partitions),
                Rebalance::Lost(_) => listener.on_partitions_lost(&mut context, partitions),
                Rebalance::Assigned(_) => listener.on_partitions_assigned(&mut context, partitions),
                Rebalance::Failed(_) => {}
            }
        }
        let (commits, seeked) = context.finish();
        // Buffered data of partitions taken away or seeked is never handed out.
        let dropped =
            |tp: &TopicPartition| seeked.contains(tp) || (taken_away && partitions.contains(tp));
        state.fetcher.buffer.retain(|f| !dropped(&f.partition));
        state.fetcher.recount();
        if handing_over {
            lock(&self.positions).remove(partitions.iter());
        }
        if commits.is_empty() {
            Ok(())
        } else if matches!(change, Rebalance::Lost(_)) {
            warn!(
                ?partitions,
                "commits asked for in on_partitions_lost are dropped: another member may own \
                 those partitions already"
            );
            Ok(())
        } else {
            self.timed_commit(identity, &commits).await
        }
    }

    /// With auto-commit, commits every position before the partitions go.
    async fn commit_before_leaving(&self, state: &mut State, deadline: Instant) {
        if self.config.auto_commit() && !matches!(state.mode, Mode::None) {
            let commit = tokio::time::timeout_at(deadline.into(), self.commit_positions(state));
            if let Ok(Err(error)) = commit.await {
                warn!(%error, "committing before leaving failed");
            }
        }
    }

    /// Leaves the group as the Java client does: applies what membership
    /// reported, lets the listener see every partition still owned revoked
    /// (committing what it asks for), then ends membership.
    async fn leave_group(&self, state: &mut State, deadline: Instant) {
        if let Err(error) = self.take_rebalances(state).await {
            warn!(%error, "applying rebalances before leaving the group failed");
        }
        let Mode::Subscribed(membership) = std::mem::replace(&mut state.mode, Mode::None) else {
            return;
        };
        membership.begin_close();
        let owned: Vec<TopicPartition> = lock(&self.positions).assignment().cloned().collect();
        if !owned.is_empty() && state.listener.is_some() {
            let identity = membership.identity();
            let revoked = Rebalance::Revoked(owned);
            let commit = self.apply_rebalance(state, &identity, revoked, true);
            match tokio::time::timeout_at(deadline.into(), commit).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(%error, "the rebalance listener's commit failed"),
                Err(_) => warn!("the rebalance listener's commit timed out"),
            }
        }
        membership
            .close(deadline.saturating_duration_since(Instant::now()))
            .await;
    }

    /// Looks up committed offsets and resets for partitions without a
    /// position. Without `wait_for_leaders` (a poll), a partition whose
    /// leader is unknown is left for a later call.
    async fn resolve_positions(&self, wait_for_leaders: bool) -> Result<(), ConsumeError> {
        let mut awaiting = lock(&self.positions).awaiting_committed();
        if !wait_for_leaders {
            // A partition of a topic the metadata does not list (a group
            // coordinator may assign one no broker has) waits for a later
            // poll: looking its topic id up for OffsetFetch would hold up
            // the poll for default_api_timeout_ms, past its own timeout.
            let unknown: Vec<String> = self.client.view(|v| {
                awaiting
                    .iter()
                    .filter(|tp| v.topic(&tp.topic).is_none())
                    .map(|tp| tp.topic.to_string())
                    .collect()
            });
            if !unknown.is_empty() {
                debug!(?unknown, "no metadata for assigned topics yet");
                self.client.add_topics(&unknown);
                self.client
                    .note_error(ferrokafka_protocol::ErrorCode::UnknownTopicOrPartition);
                awaiting.retain(|tp| !unknown.iter().any(|t| **t == *tp.topic));
            }
        }
        if !awaiting.is_empty() {
            let committed = match &self.config.group_id {
                Some(group) => offsets::committed(&self.client, group, &awaiting, true).await?,
                None => awaiting.iter().map(|tp| (tp.clone(), None)).collect(),
            };
            let mut positions = lock(&self.positions);
            for (tp, offset) in committed {
                positions.committed(
                    &tp,
                    offset.map(|o| Position {
                        offset: o.offset,
                        leader_epoch: o.leader_epoch,
                    }),
                );
            }
        }
        // In a poll, partitions refused a reset offset lately wait for
        // their backoff before they are even looked at (thousands of them
        // would cost each poll a walk, and their leaders a lookup each).
        if !wait_for_leaders && !lock(&self.reset_retry).due(Instant::now()) {
            return Ok(());
        }
        let resets = lock(&self.positions).awaiting_reset();
        let mut query: BTreeMap<TopicPartition, i64> = resets
            .into_iter()
            .filter_map(|(tp, reset)| match reset {
                OffsetReset::Earliest => Some((tp, timestamp::EARLIEST)),
                OffsetReset::Latest => Some((tp, timestamp::LATEST)),
                OffsetReset::None => None,
            })
            .collect();
        // In a poll, a partition of a known topic that has no leader (one
        // the metadata does not list, or leaderless for now) waits for a
        // later poll, as Java's: looking its leader up would hold up the
        // poll, and every other partition's records, for
        // default_api_timeout_ms. `position` waits for it, as Java's does.
        let leaderless = self.client.view(|v| {
            if wait_for_leaders {
                return Vec::new();
            }
            query
                .keys()
                .filter(|tp| {
                    v.topic(&tp.topic).is_some() && v.leader(&tp.topic, tp.partition).is_none()
                })
                .cloned()
                .collect::<Vec<_>>()
        });
        if !leaderless.is_empty() {
            debug!(?leaderless, "no leader to look offsets up from yet");
            self.client
                .note_error(ferrokafka_protocol::ErrorCode::LeaderNotAvailable);
            for tp in &leaderless {
                query.remove(tp);
            }
        }
        if query.is_empty() {
            return Ok(());
        }
        if wait_for_leaders {
            let found = offsets::list_offsets(&self.client, &query, self.read_committed()).await?;
            self.reset_positions(found);
            return Ok(());
        }
        // In a poll, as Java's: one round of requests, whose answers are
        // used at once (so the partitions answered for are fetched from
        // while the others wait); those refused for now (a leader still
        // loading the thousands of partitions of a new topic, say) are
        // asked again by a later poll, after a backoff that doubles up to
        // retry_backoff_max_ms, and no poll waits for them past its time.
        let (found, error) =
            offsets::list_offsets_round(&self.client, &query, self.read_committed()).await;
        self.reset_positions(found);
        let mut retry = lock(&self.reset_retry);
        match error {
            None => {
                retry.succeeded();
                Ok(())
            }
            Some(error) if error.is_retriable() => {
                let wait = retry.failed(Instant::now());
                debug!(%error, ?wait, "offsets to reset to not all known yet; asking again later");
                Ok(())
            }
            Some(error) => Err(error.into()),
        }
    }

    /// Moves each partition found to its offset (one not found keeps
    /// waiting for its reset).
    fn reset_positions(&self, found: BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>) {
        let mut positions = lock(&self.positions);
        for (tp, offset) in found {
            if let Some(offset) = offset {
                positions.reset_to(&tp, offset.offset, offset.leader_epoch);
            }
        }
    }

    fn read_committed(&self) -> bool {
        self.config.isolation_level == IsolationLevel::ReadCommitted
    }

    async fn maybe_auto_commit(&self, state: &mut State) {
        if !self.config.auto_commit()
            || state.last_auto_commit.elapsed() < self.config.auto_commit_interval
        {
            return;
        }
        state.last_auto_commit = Instant::now();
        if let Err(error) = self.commit_positions(state).await {
            warn!(%error, "auto-commit failed");
        }
    }

    fn identity(&self, state: &State) -> Result<GroupIdentity, ConsumeError> {
        match (&state.mode, &self.config.group_id) {
            (Mode::Subscribed(membership), _) => Ok(membership.identity()),
            (_, Some(group)) => Ok(GroupIdentity::without_member(group.clone())),
            (_, None) => Err(ConsumeError::IllegalState("commits need a group_id".into())),
        }
    }

    async fn commit_positions(&self, state: &mut State) -> Result<(), ConsumeError> {
        // Taking the state mutably keeps the future Send: a shared
        // reference would need the rebalance listener to be Sync.
        let offsets = self.current_offsets();
        let identity = self.identity(state)?;
        self.timed_commit(&identity, &offsets).await
    }

    async fn timed_commit(
        &self,
        identity: &GroupIdentity,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), ConsumeError> {
        let started = Instant::now();
        offsets::commit(&self.client, identity, offsets).await?;
        let now = Instant::now();
        self.metrics
            .record_commit(now, now.saturating_duration_since(started));
        Ok(())
    }

    /// Commits the positions of every assigned partition (what `poll` has
    /// handed out) and waits for the coordinator.
    pub async fn commit(&self) -> Result<(), ConsumeError> {
        let mut state = self.state.lock().await;
        self.commit_positions(&mut state).await
    }

    /// Commits these offsets (with their metadata) and waits.
    pub async fn commit_offsets(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), ConsumeError> {
        let state = self.state.lock().await;
        let identity = self.identity(&state)?;
        self.timed_commit(&identity, offsets).await
    }

    /// Commits the current positions without waiting: the returned handle
    /// resolves when the coordinator answers (dropping it is fine).
    pub async fn commit_async(
        &self,
    ) -> Result<tokio::task::JoinHandle<Result<(), ConsumeError>>, ConsumeError> {
        let state = self.state.lock().await;
        let identity = self.identity(&state)?;
        let offsets = self.current_offsets();
        let client = self.client.clone();
        let metrics = Arc::clone(&self.metrics);
        Ok(tokio::spawn(async move {
            let started = Instant::now();
            offsets::commit(&client, &identity, &offsets).await?;
            let now = Instant::now();
            metrics.record_commit(now, now.saturating_duration_since(started));
            Ok(())
        }))
    }

    fn current_offsets(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        let positions = lock(&self.positions);
        offsets::of_positions(&positions, positions.assignment())
    }

    /// The group, generation and member id, for a transactional producer's
    /// `send_offsets_to_transaction` (KIP-447); `None` without a group.
    pub async fn group_metadata(&self) -> Option<GroupIdentity> {
        let state = self.state.lock().await;
        self.identity(&state).ok()
    }

    /// Every topic of the cluster with its partitions.
    pub async fn topics(&self) -> Result<BTreeMap<String, Vec<i32>>, ConsumeError> {
        let response = self
            .client
            .send_any(&ferrokafka_protocol::messages::MetadataRequest {
                topics: None,
                ..ferrokafka_protocol::messages::MetadataRequest::default()
            })
            .await?;
        Ok(response
            .topics
            .into_iter()
            .filter_map(|t| {
                let name = t.name?;
                let mut partitions: Vec<i32> =
                    t.partitions.iter().map(|p| p.partition_index).collect();
                partitions.sort_unstable();
                Some((name, partitions))
            })
            .collect())
    }

    /// The partitions of `topic`.
    pub async fn partitions_for_topic(&self, topic: &str) -> Result<Vec<i32>, ConsumeError> {
        let view = self.client.topic(topic).await?;
        Ok(view.partitions.iter().map(|p| p.index).collect())
    }

    /// The settings this consumer was made with.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The records one at a time, as a stream; it ends after
    /// `consumer_timeout_ms` without a record (never, without that key).
    ///
    /// ```no_run
    /// # async fn example(consumer: ferrokafka_consumer::Consumer) {
    /// use std::pin::pin;
    /// use std::future::poll_fn;
    /// use futures_core::Stream as _;
    ///
    /// let mut records = pin!(consumer.stream());
    /// while let Some(record) = poll_fn(|cx| records.as_mut().poll_next(cx)).await {
    ///     println!("{:?}", record.map(|r| r.offset));
    /// }
    /// # }
    /// ```
    pub fn stream(&self) -> crate::stream::RecordStream<'_> {
        crate::stream::RecordStream::new(self, self.config.consumer_timeout)
    }

    /// The consumer's metrics now (see [`ConsumerMetrics`] for which
    /// cover the consumer's life and which the sampled windows).
    pub fn metrics(&self) -> ConsumerMetrics {
        metrics_now(&self.metrics, &self.positions, self.read_committed())
    }

    /// The id the brokers gave this consumer for its telemetry (Java's
    /// `clientInstanceId(Duration)`), waiting at most `timeout` for the
    /// first subscription; `None` if none came in time, with
    /// `enable_metrics_push=false`, or after `close`.
    pub async fn client_instance_id(&self, timeout: Duration) -> Option<ferrokafka_protocol::Uuid> {
        self.telemetry.client_instance_id(timeout).await
    }

    /// The group's committed offsets for these partitions.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, ConsumeError> {
        let Some(group) = &self.config.group_id else {
            return Err(ConsumeError::IllegalState(
                "committed needs a group_id".into(),
            ));
        };
        Ok(offsets::committed(&self.client, group, partitions, true).await?)
    }

    /// Fetches from `offset` next.
    pub async fn seek(&self, partition: &TopicPartition, offset: i64) -> Result<(), ConsumeError> {
        let mut state = self.state.lock().await;
        lock(&self.positions).seek(partition, offset, None)?;
        state.fetcher.buffer.retain(|f| f.partition != *partition);
        state.fetcher.recount();
        Ok(())
    }

    /// Where `partition` will be fetched from next, for a
    /// [`crate::stream::RecordStream`] that took records and may hand some
    /// back.
    pub(crate) fn position_now(&self, partition: &TopicPartition) -> Option<Position> {
        lock(&self.positions).position(partition).ok().flatten()
    }

    /// Moves `partition` back to `to` if it is still at `from` (no seek,
    /// poll or rebalance moved it since): records taken from the consumer
    /// and never handed out are fetched again.
    pub(crate) fn rewind(&self, partition: &TopicPartition, from: Position, to: Position) {
        let mut positions = lock(&self.positions);
        if positions.position(partition) == Ok(Some(from)) {
            let _ = positions.seek(partition, to.offset, to.leader_epoch);
        }
    }

    /// Fetches these partitions from their first offsets next.
    pub async fn seek_to_beginning(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<(), ConsumeError> {
        self.seek_to(partitions, OffsetReset::Earliest).await
    }

    /// Fetches these partitions from their ends next.
    pub async fn seek_to_end(&self, partitions: &[TopicPartition]) -> Result<(), ConsumeError> {
        self.seek_to(partitions, OffsetReset::Latest).await
    }

    async fn seek_to(
        &self,
        partitions: &[TopicPartition],
        reset: OffsetReset,
    ) -> Result<(), ConsumeError> {
        let mut state = self.state.lock().await;
        let mut positions = lock(&self.positions);
        for tp in partitions {
            positions.request_reset(tp, reset)?;
        }
        state
            .fetcher
            .buffer
            .retain(|f| !partitions.contains(&f.partition));
        Ok(())
    }

    /// The offset of the next record `poll` will hand out for `partition`,
    /// looking it up if needed.
    pub async fn position(&self, partition: &TopicPartition) -> Result<i64, ConsumeError> {
        let _state = self.state.lock().await;
        if let Some(position) = lock(&self.positions).position(partition)? {
            return Ok(position.offset);
        }
        self.resolve_positions(true).await?;
        lock(&self.positions)
            .position(partition)?
            .map(|p| p.offset)
            .ok_or_else(|| ConsumeError::IllegalState(format!("no position for {partition} yet")))
    }

    /// Stops fetching these partitions until resumed.
    pub fn pause(&self, partitions: &[TopicPartition]) -> Result<(), ConsumeError> {
        let mut positions = lock(&self.positions);
        for tp in partitions {
            positions.pause(tp)?;
        }
        Ok(())
    }

    /// Fetches these partitions again.
    pub fn resume(&self, partitions: &[TopicPartition]) -> Result<(), ConsumeError> {
        let mut positions = lock(&self.positions);
        for tp in partitions {
            positions.resume(tp)?;
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        lock(&self.positions).paused()
    }

    /// The first offset of each partition.
    pub async fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, ConsumeError> {
        self.offsets_at(partitions, timestamp::EARLIEST).await
    }

    /// The end offset of each partition (the last stable offset with
    /// `read_committed`).
    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, ConsumeError> {
        self.offsets_at(partitions, timestamp::LATEST).await
    }

    async fn offsets_at(
        &self,
        partitions: &[TopicPartition],
        at: i64,
    ) -> Result<BTreeMap<TopicPartition, i64>, ConsumeError> {
        let query = partitions.iter().map(|tp| (tp.clone(), at)).collect();
        let found = offsets::list_offsets(&self.client, &query, self.read_committed()).await?;
        Ok(found
            .into_iter()
            .map(|(tp, o)| (tp, o.map_or(-1, |o| o.offset)))
            .collect())
    }

    /// For each partition, the first offset whose timestamp is at least
    /// the one given; `None` if no record is that recent.
    pub async fn offsets_for_times(
        &self,
        times: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>, ConsumeError> {
        Ok(offsets::list_offsets(&self.client, times, self.read_committed()).await?)
    }

    /// Commits (with auto-commit), leaves the group and stops; waits at
    /// most `timeout`.
    pub async fn close(&self, timeout: Duration) -> Result<(), ConsumeError> {
        let mut state = self.state.lock().await;
        if state.closed {
            return Ok(());
        }
        state.closed = true;
        let deadline = Instant::now() + timeout;
        self.commit_before_leaving(&mut state, deadline).await;
        self.leave_group(&mut state, deadline).await;
        state.fetcher.close(&self.client, deadline).await;
        // The last push reports the commits and fetches just made.
        let left = deadline.saturating_duration_since(Instant::now());
        self.telemetry.close(left).await;
        Ok(())
    }
}

fn metrics_now(
    metrics: &Metrics,
    positions: &Mutex<Positions<TopicPartition>>,
    read_committed: bool,
) -> ConsumerMetrics {
    let records_lag = {
        let positions = lock(positions);
        positions
            .assignment()
            .filter_map(|tp| positions.lag(tp, read_committed))
            .max()
            .unwrap_or(0)
    };
    metrics.snapshot(Instant::now(), records_lag)
}

/// The KIP-714 task, fed by the consumer's metrics; none outside a tokio
/// runtime (a consumer built there has no task to push from).
fn spawn_telemetry(
    client: &Client,
    config: &ConsumerConfig,
    metrics: &Arc<Metrics>,
    positions: &Arc<Mutex<Positions<TopicPartition>>>,
) -> Option<TelemetryHandle> {
    tokio::runtime::Handle::try_current().ok()?;
    let (metrics, positions) = (Arc::clone(metrics), Arc::clone(positions));
    let read_committed = config.isolation_level == IsolationLevel::ReadCommitted;
    let client_id = client.config().client_id.clone();
    let source = move || {
        crate::telemetry::points(
            &metrics_now(&metrics, &positions, read_committed),
            &client_id,
        )
    };
    Some(TelemetryHandle::spawn(
        client.clone(),
        client.config().enable_metrics_push,
        Arc::new(source),
    ))
}
