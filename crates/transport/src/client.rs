//! The cluster client: one handle the producer, consumer and admin share to
//! reach any broker by node id. It keeps the [`ClusterView`] fresh (on
//! `metadata_max_age_ms`, and at once after an error that means the view is
//! stale), owns one connection per broker for data and another for group
//! coordination (a long-polling fetch never delays a heartbeat), reconnects
//! with exponential backoff, closes connections idle for
//! `connections_max_idle_ms`, replaces an authenticated connection before
//! its SASL session ends (KIP-368), and finds group and transaction
//! coordinators. When the brokers it knows are gone it starts over from
//! its bootstrap servers, as [`crate::recovery`] decides (KIP-899, KIP-1102).
//!
//! It never retries a request by itself except where the answer is the
//! client's own business (metadata, coordinators): whether a produce or a
//! commit may be sent twice is the caller's decision.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use ferrokafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use ferrokafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use ferrokafka_protocol::messages::{FindCoordinatorResponse, MetadataResponse};
use ferrokafka_protocol::{ApiKey, ErrorCode, Request, Uuid};
use tracing::{debug, info, warn};

use crate::TransportError;
use crate::backoff::Backoff;
use crate::cluster::{BrokerAddress, ClusterView, Hinted, LeaderHint, TopicView};
use crate::config::{BrokerIdentity, ClientConfig, DnsLookup};
use crate::link::{BrokerLink, Connector, NetworkConnector};
use crate::network_metrics::{NetworkMetrics, NetworkRecorder};
use crate::recovery::{Decision, MetadataFailure, RebootstrapReason, Recovery, RecoveryStrategy};

/// Which of a broker's connections a request travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Produce, fetch, metadata, admin requests.
    Data,
    /// Group coordination (join, sync, heartbeat, commit): kept apart so a
    /// fetch waiting `fetch_max_wait_ms` never delays a heartbeat.
    Coordination,
}

/// The kind of coordinator FindCoordinator looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatorKind {
    /// A consumer group's coordinator, keyed by group id.
    Group,
    /// A transactional producer's coordinator, keyed by transactional id.
    Transaction,
}

impl CoordinatorKind {
    fn key_type(self) -> i8 {
        match self {
            CoordinatorKind::Group => 0,
            CoordinatorKind::Transaction => 1,
        }
    }
}

/// Where a connection goes: a broker by node id, or a bootstrap server
/// before (or besides) the metadata naming any.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Endpoint {
    Node(i32),
    Bootstrap(String),
}

/// The state of one connection slot: the live connection if any, and the
/// backoff that paces reconnects after failures.
struct Slot {
    connection: Option<Arc<dyn BrokerLink>>,
    address: String,
    backoff: Backoff,
    retry_at: Option<Instant>,
    last_used: Instant,
}

/// A slot behind an async lock: whoever opens its connection holds it, and
/// everyone else wanting that broker waits for the outcome.
type SharedSlot = Arc<tokio::sync::Mutex<Slot>>;

/// Topics whose metadata the client keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Interest {
    Topics(BTreeSet<String>),
    All,
}

struct Inner {
    config: ClientConfig,
    connector: Arc<dyn Connector>,
    /// The bootstrap servers as last resolved (again on each rebootstrap).
    bootstrap: Mutex<Vec<String>>,
    recovery: Mutex<Recovery>,
    view: Mutex<ClusterView>,
    interest: Mutex<Interest>,
    /// Addresses learned from FindCoordinator, for coordinators the
    /// metadata has not listed (yet).
    extra_addresses: Mutex<HashMap<i32, String>>,
    slots: Mutex<HashMap<(Endpoint, Lane), SharedSlot>>,
    coordinators: Mutex<HashMap<(CoordinatorKind, String), i32>>,
    /// One metadata refresh at a time; others wait for its result.
    refreshing: tokio::sync::Mutex<()>,
    /// Metadata updates applied to `view` (see [`Client::metadata_updates`]).
    metadata_updates: AtomicU64,
    network: Mutex<NetworkRecorder>,
}

/// A handle on the cluster; clones share connections and metadata.
///
/// Connections run as tasks of the tokio runtime that opened them: use a
/// client within one runtime (a second runtime that ends would take the
/// connections it opened with it).
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use ferrokafka_protocol::messages::ListOffsetsRequest;
/// use ferrokafka_transport::{Client, config::ClientConfig};
///
/// let config = ClientConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?;
/// let client = Client::connect(config).await?;
/// let leader = client.leader("events", 0).await?;
/// let response = client.send(leader, &ListOffsetsRequest::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("bootstrap", &*lock(&self.inner.bootstrap))
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing holding these locks can panic half-way through an update, so
    // a poisoned lock still guards consistent data.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Client {
    /// Checks `config`, reads the cluster's metadata from the first
    /// bootstrap server that answers (a dead one is skipped), and starts the
    /// task that keeps metadata fresh and closes idle connections.
    ///
    /// The bootstrap servers' names are resolved first: for up to
    /// `bootstrap_resolve_timeout_ms`, or once when it is 0; none resolving
    /// is a config error naming them.
    pub async fn connect(config: ClientConfig) -> Result<Client, TransportError> {
        ensure_resolvable(&config).await?;
        Self::connect_with(config, Arc::new(NetworkConnector)).await
    }

    /// Like [`Client::connect`], opening links with `connector`: an
    /// in-memory cluster in tests (the `fake` feature's `FakeCluster`).
    pub async fn connect_with(
        config: ClientConfig,
        connector: Arc<dyn Connector>,
    ) -> Result<Client, TransportError> {
        config.validate().map_err(|e| TransportError::Config {
            reason: e.to_string(),
        })?;
        let bootstrap = bootstrap_addresses(&config).await?;
        let inner = Arc::new(Inner {
            view: Mutex::new(ClusterView::new(config.metadata_max_age)),
            interest: Mutex::new(Interest::Topics(BTreeSet::new())),
            extra_addresses: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            coordinators: Mutex::new(HashMap::new()),
            refreshing: tokio::sync::Mutex::new(()),
            metadata_updates: AtomicU64::new(0),
            network: Mutex::new(NetworkRecorder::default()),
            bootstrap: Mutex::new(bootstrap),
            recovery: Mutex::new(Recovery::new(
                config.metadata_recovery_strategy,
                config.metadata_recovery_rebootstrap_trigger,
            )),
            config,
            connector,
        });
        let client = Client { inner };
        client.refresh_metadata().await?;
        tokio::spawn(maintain(Arc::downgrade(&client.inner)));
        Ok(client)
    }

    /// The settings this client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Reads the cluster view: brokers, topics, partitions and leaders as
    /// of the last refresh.
    pub fn view<T>(&self, read: impl FnOnce(&ClusterView) -> T) -> T {
        read(&lock(&self.inner.view))
    }

    /// How many metadata updates the client has applied: read without a
    /// lock, so that a caller keeping what it read from [`Client::view`]
    /// can tell at every use whether that may have changed (the producer
    /// does, at every record).
    ///
    /// ```no_run
    /// # fn example(client: &ferrokafka_transport::Client) {
    /// let seen = client.metadata_updates();
    /// let partitions = client.view(|v| v.topic("events").map(|t| t.partitions.len()));
    /// // ... later:
    /// if client.metadata_updates() != seen {
    ///     // read the view again
    /// }
    /// # let _ = partitions;
    /// # }
    /// ```
    pub fn metadata_updates(&self) -> u64 {
        self.inner.metadata_updates.load(Ordering::Acquire)
    }

    /// Adds topics to those whose metadata the client keeps.
    pub fn add_topics<S: AsRef<str>>(&self, topics: impl IntoIterator<Item = S>) {
        let mut interest = lock(&self.inner.interest);
        if let Interest::Topics(kept) = &mut *interest {
            let before = kept.len();
            kept.extend(topics.into_iter().map(|t| t.as_ref().to_string()));
            if kept.len() != before {
                lock(&self.inner.view).mark_stale();
            }
        }
    }

    /// Keeps the metadata of every topic (a pattern subscription, a topic
    /// listing).
    pub fn track_all_topics(&self) {
        *lock(&self.inner.interest) = Interest::All;
        lock(&self.inner.view).mark_stale();
    }

    /// Notes an error a broker returned for a partition or coordinator:
    /// one that means the view is stale gets it refreshed before its next use.
    pub fn note_error(&self, error: ErrorCode) {
        if lock(&self.inner.view).note_error(error) {
            debug!(?error, "metadata marked stale");
        }
    }

    /// Notes an error a broker returned for one partition of a Produce or
    /// Fetch, with the leader its answer named and the brokers' addresses
    /// it gave (KIP-951). For NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH
    /// the view takes the hint ([`ClusterView::note_leader`]): a newer
    /// leader is routed to at once, and a refusal by the leader the view
    /// already names (a partition it is still taking up) costs no metadata
    /// request. Any other error is [`Client::note_error`]'s. Returns whether
    /// the partition moved to another leader, whose requests need not wait
    /// out a retry backoff meant for the old one.
    pub fn note_partition_error(
        &self,
        topic: &str,
        partition: i32,
        error: ErrorCode,
        hint: LeaderHint,
        endpoints: impl IntoIterator<Item = BrokerAddress>,
    ) -> bool {
        if !matches!(
            error,
            ErrorCode::NotLeaderOrFollower | ErrorCode::FencedLeaderEpoch
        ) {
            self.note_error(error);
            return false;
        }
        let hinted = lock(&self.inner.view).note_leader(topic, partition, hint, endpoints);
        debug!(?error, topic, partition, ?hint, ?hinted, "leader hint");
        hinted == Hinted::Moved
    }

    /// Fetches metadata for the topics the client keeps, from any broker.
    /// Concurrent callers share one request.
    pub async fn refresh_metadata(&self) -> Result<(), TransportError> {
        let started = Instant::now();
        let _turn = self.inner.refreshing.lock().await;
        if lock(&self.inner.view)
            .updated()
            .is_some_and(|at| at >= started)
        {
            // Someone else refreshed while this call waited.
            return Ok(());
        }
        let request = self.metadata_request();
        let response = match self.fetch_metadata(&request).await {
            Err(Failed::RebootstrapNow(reason)) => {
                self.rebootstrap(reason).await;
                self.fetch_metadata(&request).await
            }
            other => other,
        };
        let response = response.map_err(Failed::into_error)?;
        let topics = response.topics.len();
        let brokers = response.brokers.len();
        let mut view = lock(&self.inner.view);
        if let (Some(before), Some(now)) = (view.cluster_id(), response.cluster_id.as_deref())
            && before != now
        {
            info!(
                before,
                now, "the bootstrap servers lead to another cluster now"
            );
        }
        view.update(Instant::now(), &response);
        self.inner.metadata_updates.fetch_add(1, Ordering::Release);
        drop(view);
        lock(&self.inner.recovery).on_metadata();
        debug!(brokers, topics, "metadata refreshed");
        Ok(())
    }

    /// One Metadata request to any broker; a failure is weighed by the
    /// recovery policy, which may call for a rebootstrap.
    async fn fetch_metadata(&self, request: &MetadataRequest) -> Result<MetadataResponse, Failed> {
        let result = self.send_any(request).await;
        let failure = match &result {
            Ok(response) if response.error_code == ErrorCode::RebootstrapRequired.code() => {
                MetadataFailure::RebootstrapRequired
            }
            Ok(_) => return result.map_err(Failed::Error),
            // Already weighed where every known broker was tried.
            Err(TransportError::NoBrokerAvailable { .. }) => {
                return result.map_err(Failed::Error);
            }
            Err(_) => MetadataFailure::Other,
        };
        let decision = lock(&self.inner.recovery).on_failure(Instant::now(), failure);
        match (decision, result) {
            (Decision::Rebootstrap(reason), _) => Err(Failed::RebootstrapNow(reason)),
            (Decision::CarryOn, Err(error)) => Err(Failed::Error(error)),
            (Decision::CarryOn, Ok(response)) => Err(Failed::Error(TransportError::Broker {
                broker: "a broker".to_string(),
                api: ApiKey::Metadata.name().to_string(),
                code: response.error_code,
                message: Some(
                    "REBOOTSTRAP_REQUIRED, and metadata_recovery_strategy is none".to_string(),
                ),
            })),
        }
    }

    /// Starts over from the bootstrap servers: resolves them again, and
    /// forgets the brokers and coordinators the metadata named, so the next
    /// metadata comes from the bootstrap servers. Group membership and
    /// producer state live above and are kept.
    async fn rebootstrap(&self, reason: RebootstrapReason) {
        match bootstrap_addresses(&self.inner.config).await {
            Ok(addresses) => *lock(&self.inner.bootstrap) = addresses,
            Err(error) => {
                warn!(%error, "resolving the bootstrap servers again failed; keeping the last ones");
            }
        }
        lock(&self.inner.view).forget_brokers();
        lock(&self.inner.extra_addresses).clear();
        lock(&self.inner.coordinators).clear();
        // Connections to bootstrap servers opened before may lead to the
        // old cluster: the next ones are opened afresh.
        let bootstrap_slots: Vec<SharedSlot> = lock(&self.inner.slots)
            .iter()
            .filter(|((endpoint, _), _)| matches!(endpoint, Endpoint::Bootstrap(_)))
            .map(|(_, slot)| Arc::clone(slot))
            .collect();
        for slot in bootstrap_slots {
            if let Ok(mut slot) = slot.try_lock() {
                if slot.connection.take().is_some() {
                    lock(&self.inner.network).connection_closed(Instant::now());
                }
                slot.retry_at = None;
                slot.backoff.reset();
            }
        }
        let servers = lock(&self.inner.bootstrap).clone();
        info!(
            ?reason,
            ?servers,
            "rebootstrapping: metadata from the bootstrap servers again"
        );
    }

    /// How many times this client went back to its bootstrap servers.
    pub fn rebootstraps(&self) -> u64 {
        lock(&self.inner.recovery).rebootstraps()
    }

    fn metadata_request(&self) -> MetadataRequest {
        let topics = match &*lock(&self.inner.interest) {
            Interest::All => None,
            Interest::Topics(kept) => Some(
                kept.iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(name.clone()),
                        ..MetadataRequestTopic::default()
                    })
                    .collect(),
            ),
        };
        MetadataRequest {
            topics,
            allow_auto_topic_creation: self.inner.config.allow_auto_topic_creation,
            ..MetadataRequest::default()
        }
    }

    /// Refreshes the metadata if it is stale or old.
    async fn ensure_fresh(&self) -> Result<(), TransportError> {
        let needed = lock(&self.inner.view).needs_refresh(Instant::now());
        if needed {
            self.refresh_metadata().await?;
        }
        Ok(())
    }

    /// The ids of `topics` (KIP-516), from the metadata the client keeps,
    /// fetching the metadata of those it does not know yet (requests that
    /// name topics by id need them).
    pub async fn topic_ids(
        &self,
        topics: &[&str],
    ) -> Result<BTreeMap<String, Uuid>, TransportError> {
        let mut ids = BTreeMap::new();
        for &topic in topics {
            let known = self.view(|v| v.topic(topic).map(|t| t.id));
            let id = match known {
                Some(id) => id,
                None => self.topic(topic).await?.id,
            };
            ids.insert(topic.to_string(), id);
        }
        Ok(ids)
    }

    /// The partitions of `topic`, fetching its metadata if the client did
    /// not keep it yet. Waits (up to `default_api_timeout_ms`) while the
    /// topic's partitions have no leader, as just after it was created.
    pub async fn topic(&self, topic: &str) -> Result<TopicView, TransportError> {
        self.add_topics([topic]);
        self.retrying(&format!("metadata of {topic}"), || async {
            self.ensure_fresh().await?;
            let view = lock(&self.inner.view);
            match view.topic(topic) {
                Some(found) if found.partitions.iter().all(|p| p.leader >= 0) => {
                    Ok(Some(found.clone()))
                }
                Some(_) => {
                    drop(view);
                    self.note_error(ErrorCode::LeaderNotAvailable);
                    Ok(None)
                }
                None => {
                    let error = view.topic_error(topic);
                    drop(view);
                    self.note_error(ErrorCode::UnknownTopicOrPartition);
                    // A topic just created may not be known to every
                    // broker yet: retried until the deadline like a leader.
                    // One the broker is creating because this client asked
                    // (LEADER_NOT_AVAILABLE) is waited for the same way.
                    match error {
                        Some(ErrorCode::UnknownTopicOrPartition) => Err(self.unknown_topic(topic)),
                        _ => Ok(None),
                    }
                }
            }
        })
        .await
    }

    /// The error for a topic the last metadata response said does not
    /// exist, or `None` if it did not say so: for a caller that gave up
    /// waiting on its own deadline and wants to say why.
    pub fn missing_topic(&self, topic: &str) -> Option<TransportError> {
        let unknown = self.view(|v| {
            v.topic(topic).is_none()
                && v.topic_error(topic) == Some(ErrorCode::UnknownTopicOrPartition)
        });
        unknown.then(|| self.unknown_topic(topic))
    }

    fn unknown_topic(&self, topic: &str) -> TransportError {
        TransportError::UnknownTopic {
            topic: topic.to_string(),
            creation_requested: self.inner.config.allow_auto_topic_creation,
        }
    }

    /// The node id of the leader of `topic`/`partition`, refreshing the
    /// metadata while it is unknown.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<i32, TransportError> {
        self.add_topics([topic]);
        self.retrying(&format!("leader of {topic}-{partition}"), || async {
            self.ensure_fresh().await?;
            let view = lock(&self.inner.view);
            if let Some(leader) = view.leader(topic, partition) {
                return Ok(Some(leader.node_id));
            }
            let known_topic = view.topic(topic).is_some();
            let topic_error = view.topic_error(topic);
            drop(view);
            if topic_error == Some(ErrorCode::UnknownTopicOrPartition) {
                return Err(self.unknown_topic(topic));
            }
            self.note_error(if known_topic {
                ErrorCode::LeaderNotAvailable
            } else {
                ErrorCode::UnknownTopicOrPartition
            });
            Ok(None)
        })
        .await
    }

    /// The leaders of many partitions, in their order, each as
    /// [`Client::leader`] finds it; but the metadata is refreshed at most
    /// once and read once for every leader it knows, so that only the
    /// partitions it does not know are looked up one by one (one by one,
    /// the 4,000 partitions of a topic cost a lock and a lookup each).
    ///
    /// ```no_run
    /// # async fn example(client: &ferrokafka_transport::Client) {
    /// let partitions = [("events", 0), ("events", 1)];
    /// for ((topic, partition), leader) in partitions.iter().zip(client.leaders(&partitions).await) {
    ///     println!("{topic}-{partition}: {leader:?}");
    /// }
    /// # }
    /// ```
    pub async fn leaders<T: AsRef<str>>(
        &self,
        partitions: &[(T, i32)],
    ) -> Vec<Result<i32, TransportError>> {
        let known: Vec<Option<i32>> = if self.ensure_fresh().await.is_ok() {
            let view = lock(&self.inner.view);
            // Partitions of one topic usually come together: one lookup of
            // the topic serves them all.
            let mut topic: Option<(&str, Option<&TopicView>)> = None;
            partitions
                .iter()
                .map(|(name, partition)| {
                    let name = name.as_ref();
                    let found = match topic {
                        Some((last, found)) if last == name => found,
                        _ => topic.insert((name, view.topic(name))).1,
                    };
                    found
                        .and_then(|t| view.leader_in(t, *partition))
                        .map(|b| b.node_id)
                })
                .collect()
        } else {
            vec![None; partitions.len()]
        };
        let mut leaders = Vec::with_capacity(partitions.len());
        for ((name, partition), known) in partitions.iter().zip(known) {
            leaders.push(match known {
                Some(leader) => Ok(leader),
                None => self.leader(name.as_ref(), *partition).await,
            });
        }
        leaders
    }

    /// The node id of the coordinator of `key` (a group or transactional
    /// id), from the cache or a FindCoordinator request.
    pub async fn coordinator(
        &self,
        kind: CoordinatorKind,
        key: &str,
    ) -> Result<i32, TransportError> {
        let found = self.coordinators(kind, &[key]).await?;
        found
            .into_iter()
            .next()
            .map(|(_, node)| node)
            .ok_or_else(|| TransportError::Coordinator {
                key: key.to_string(),
                error: None,
                reason: "the broker did not answer for this key".to_string(),
            })
    }

    /// The coordinators of several keys: one FindCoordinator request for all
    /// of them where the broker allows batching (v4+), one each otherwise.
    pub async fn coordinators(
        &self,
        kind: CoordinatorKind,
        keys: &[&str],
    ) -> Result<HashMap<String, i32>, TransportError> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = lock(&self.inner.coordinators);
            for &key in keys {
                match cache.get(&(kind, key.to_string())) {
                    Some(&node) => {
                        found.insert(key.to_string(), node);
                    }
                    None => missing.push(key.to_string()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let looked_up = self
            .retrying("FindCoordinator", || {
                let missing = missing.clone();
                async move { self.find_coordinators(kind, missing).await }
            })
            .await?;
        let mut cache = lock(&self.inner.coordinators);
        for (key, node) in looked_up {
            cache.insert((kind, key.clone()), node);
            found.insert(key, node);
        }
        Ok(found)
    }

    /// Forgets the cached coordinator of `key`, after it answered
    /// NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE or its connection failed.
    pub fn forget_coordinator(&self, kind: CoordinatorKind, key: &str) {
        lock(&self.inner.coordinators).remove(&(kind, key.to_string()));
    }

    /// One round of FindCoordinator: `Ok(None)` when some key's coordinator
    /// is not available yet (worth retrying), an error when a key cannot
    /// have one.
    async fn find_coordinators(
        &self,
        kind: CoordinatorKind,
        keys: Vec<String>,
    ) -> Result<Option<HashMap<String, i32>>, TransportError> {
        let (node, connection) = self.any_connection().await?;
        let version = connection.version(ApiKey::FindCoordinator)?;
        let mut answers = Vec::new();
        if version >= 4 {
            let request = FindCoordinatorRequest {
                key_type: kind.key_type(),
                coordinator_keys: keys,
                ..FindCoordinatorRequest::default()
            };
            let response = self.on(
                node,
                self.exchange(node, &*connection, &request, version, None)
                    .await,
            )?;
            answers.extend(response.coordinators.into_iter().map(|c| {
                (
                    c.key,
                    c.error_code,
                    c.error_message,
                    c.node_id,
                    c.host,
                    c.port,
                )
            }));
        } else {
            for key in keys {
                let request = FindCoordinatorRequest {
                    key: key.clone(),
                    key_type: if version >= 1 { kind.key_type() } else { 0 },
                    ..FindCoordinatorRequest::default()
                };
                let response: FindCoordinatorResponse = self.on(
                    node,
                    self.exchange(node, &*connection, &request, version, None)
                        .await,
                )?;
                answers.push((
                    key,
                    response.error_code,
                    response.error_message,
                    response.node_id,
                    response.host,
                    response.port,
                ));
            }
        }
        let mut found = HashMap::new();
        for (key, code, message, node_id, host, port) in answers {
            let error = ErrorCode::from_code(code);
            if error.is_ok() {
                lock(&self.inner.extra_addresses).insert(node_id, format!("{host}:{port}"));
                found.insert(key, node_id);
            } else if error.is_retriable() {
                debug!(key, ?error, "coordinator not available yet");
                return Ok(None);
            } else {
                return Err(TransportError::Coordinator {
                    key,
                    error: Some(error),
                    reason: message.unwrap_or_else(|| format!("{error:?}")),
                });
            }
        }
        Ok(Some(found))
    }

    /// Repeats `attempt` while it answers `Ok(None)` or fails with a
    /// retriable error, for at most `default_api_timeout_ms`: first
    /// `retry_backoff_ms` apart, then twice as far each time up to
    /// `retry_backoff_max_ms` (KIP-580).
    async fn retrying<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, TransportError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, TransportError>>,
    {
        let config = &self.inner.config;
        let deadline = Instant::now() + config.default_api_timeout;
        let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
        let mut last_error = None;
        loop {
            match attempt().await {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {}
                Err(error) if error.is_retriable() => {
                    debug!(what, %error, "retrying");
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
            let now = Instant::now();
            if now + config.retry_backoff >= deadline {
                return Err(TransportError::GaveUp {
                    what: what.to_string(),
                    after: config.default_api_timeout,
                    last_error: last_error.map(Box::new),
                });
            }
            // The last attempts keep their place before the deadline however
            // far the backoff has grown.
            let wait = backoff
                .next_delay(crate::backoff::unit_random())
                .min(deadline.saturating_duration_since(now + config.retry_backoff));
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends `request` to broker `node` on its data connection, at the
    /// highest version both sides support.
    pub async fn send<R: Request>(
        &self,
        node: i32,
        request: &R,
    ) -> Result<R::Response, TransportError> {
        self.send_on(node, Lane::Data, request).await
    }

    /// Sends `request` to broker `node` on the connection of `lane`.
    pub async fn send_on<R: Request>(
        &self,
        node: i32,
        lane: Lane,
        request: &R,
    ) -> Result<R::Response, TransportError> {
        let connection = self.on(Some(node), self.connection(node, lane).await)?;
        let result = self.request_on(Some(node), &*connection, request).await;
        self.on(Some(node), result)
    }

    /// Sends the request `build` makes for the version negotiated with
    /// broker `node`: for requests whose content depends on the version
    /// (Produce names topics before v13 and gives their ids from v13 on).
    pub async fn send_built<R: Request>(
        &self,
        node: i32,
        lane: Lane,
        build: impl FnOnce(i16) -> R,
    ) -> Result<R::Response, TransportError> {
        self.send_built_within(node, lane, None, build).await
    }

    /// [`Client::send_built`], waiting `timeout` (when given) for the
    /// response instead of `request_timeout_ms`: for a request the broker
    /// may rightly hold longer, as a JoinGroup, which the coordinator
    /// keeps up to the group's rebalance timeout (the Java client waits
    /// `max(request.timeout.ms, rebalance.timeout.ms + 5 s)` for it). A
    /// request that times out closes its connection, as one past
    /// `request_timeout_ms` does.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use ferrokafka_protocol::messages::HeartbeatRequest;
    /// # use ferrokafka_transport::{Client, Lane};
    /// # async fn example(client: Client) -> Result<(), ferrokafka_transport::TransportError> {
    /// let response = client
    ///     .send_built_within(1, Lane::Coordination, Some(Duration::from_secs(65)), |_version| {
    ///         HeartbeatRequest { group_id: "readers".to_string(), ..HeartbeatRequest::default() }
    ///     })
    ///     .await?;
    /// println!("error code {}", response.error_code);
    /// # Ok(()) }
    /// ```
    pub async fn send_built_within<R: Request>(
        &self,
        node: i32,
        lane: Lane,
        timeout: Option<Duration>,
        build: impl FnOnce(i16) -> R,
    ) -> Result<R::Response, TransportError> {
        let connection = self.on(Some(node), self.connection(node, lane).await)?;
        let result = match connection.version(R::KEY) {
            Ok(version) => {
                self.exchange(Some(node), &*connection, &build(version), version, timeout)
                    .await
            }
            Err(error) => Err(error),
        };
        self.on(Some(node), result)
    }

    /// Sends `request` to broker `node` and returns once it is written: for
    /// a Produce with `acks=0`, which gets no response.
    pub async fn send_without_response<R: Request>(
        &self,
        node: i32,
        request: &R,
    ) -> Result<(), TransportError> {
        let connection = self.on(Some(node), self.connection(node, Lane::Data).await)?;
        let result = match connection.version(R::KEY) {
            Ok(version) => {
                match crate::broker::encode_request(
                    connection.broker(),
                    &self.inner.config.client_id,
                    request,
                    version,
                    |capacity| connection.start_frame(capacity),
                ) {
                    Ok(frame) => {
                        lock(&self.inner.network).request_sent(Some(node), Instant::now());
                        connection.send_one_way(frame).await
                    }
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        };
        self.on(Some(node), result)
    }

    /// Sends `request` to whichever broker answers first: known brokers in
    /// order of their ids starting from a random one, then the bootstrap
    /// servers.
    pub async fn send_any<R: Request>(&self, request: &R) -> Result<R::Response, TransportError> {
        let (node, connection) = self.any_connection().await?;
        let result = self.request_on(node, &*connection, request).await;
        self.on(node, result)
    }

    async fn request_on<R: Request>(
        &self,
        node: Option<i32>,
        connection: &dyn BrokerLink,
        request: &R,
    ) -> Result<R::Response, TransportError> {
        let version = connection.version(R::KEY)?;
        self.exchange(node, connection, request, version, None)
            .await
    }

    /// Sends `request` at `version` and waits for its response, counting
    /// both in the network metrics (`node`: the broker, if the metadata
    /// named it); `timeout`, when given, in place of `request_timeout_ms`.
    async fn exchange<R: Request>(
        &self,
        node: Option<i32>,
        connection: &dyn BrokerLink,
        request: &R,
        version: i16,
        timeout: Option<Duration>,
    ) -> Result<R::Response, TransportError> {
        let sent = Instant::now();
        lock(&self.inner.network).request_sent(node, sent);
        let result = connection
            .send_at_within(&self.inner.config.client_id, request, version, timeout)
            .await;
        if result.is_ok() {
            let now = Instant::now();
            lock(&self.inner.network).response_received(node, now - sent, now);
        }
        result
    }

    /// The client's traffic so far: requests, responses, connections and
    /// each broker's latency, as the Java client's network metrics count
    /// them. Clones of a client share one count.
    ///
    /// A request counts when it goes through this client's own sending
    /// methods ([`Client::send`], [`Client::send_on`], [`Client::send_built`],
    /// [`Client::send_any`], [`Client::send_without_response`]) or its
    /// metadata and coordinator lookups; one written on a connection taken
    /// with [`Client::connection`] is the caller's to count (the producer
    /// and the consumer keep metrics of their own for theirs).
    ///
    /// ```no_run
    /// # async fn example(client: ferrokafka_transport::Client) {
    /// let traffic = client.network_metrics();
    /// println!("{} requests, {} connections open", traffic.request_total, traffic.connection_count);
    /// # }
    /// ```
    pub fn network_metrics(&self) -> NetworkMetrics {
        let open = self.open_connections();
        lock(&self.inner.network).snapshot(open, Instant::now())
    }

    /// Passes a result through, noting a connection that failed so the
    /// next request to that broker reconnects.
    fn on<T>(
        &self,
        node: Option<i32>,
        result: Result<T, TransportError>,
    ) -> Result<T, TransportError> {
        if let (Some(node), Err(error)) = (node, &result)
            && error.is_retriable()
        {
            debug!(node, %error, "request failed; metadata marked stale");
            lock(&self.inner.view).mark_stale();
        }
        result
    }

    /// The connection to `node` on `lane`, opening (and negotiating,
    /// authenticating) it if needed, after the reconnect backoff if the
    /// last attempt failed.
    pub async fn connection(
        &self,
        node: i32,
        lane: Lane,
    ) -> Result<Arc<dyn BrokerLink>, TransportError> {
        let address = self.address_of(node)?;
        self.connect_to(Endpoint::Node(node), lane, address).await
    }

    fn address_of(&self, node: i32) -> Result<String, TransportError> {
        if let Some(broker) = lock(&self.inner.view).broker(node) {
            return Ok(broker.address());
        }
        lock(&self.inner.extra_addresses)
            .get(&node)
            .cloned()
            .ok_or(TransportError::UnknownBroker { node })
    }

    async fn connect_to(
        &self,
        endpoint: Endpoint,
        lane: Lane,
        address: String,
    ) -> Result<Arc<dyn BrokerLink>, TransportError> {
        let config = &self.inner.config;
        let slot = Arc::clone(
            lock(&self.inner.slots)
                .entry((endpoint.clone(), lane))
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(Slot {
                        connection: None,
                        address: address.clone(),
                        backoff: Backoff::new(
                            config.reconnect_backoff,
                            config.reconnect_backoff_max,
                        ),
                        retry_at: None,
                        last_used: Instant::now(),
                    }))
                }),
        );
        let mut slot = slot.lock().await;
        let now = Instant::now();
        slot.last_used = now;
        if slot.address != address {
            info!(?endpoint, from = slot.address, to = address, "broker moved");
            if slot.connection.take().is_some() {
                lock(&self.inner.network).connection_closed(now);
            }
            slot.address.clone_from(&address);
        }
        if let Some(connection) = &slot.connection {
            if connection.is_closed() {
                debug!(?endpoint, ?lane, "connection closed; reconnecting");
            } else if connection.session_expires().is_some_and(|at| now >= at) {
                // Idle past its SASL session (KIP-368): the broker closes it
                // at the next request, too late to re-authenticate in place.
                // Requests in flight keep it alive until they are answered.
                debug!(?endpoint, ?lane, "SASL session ended; reconnecting");
            } else {
                return Ok(Arc::clone(connection));
            }
            lock(&self.inner.network).connection_closed(now);
            slot.connection = None;
        }
        if let Some(at) = slot.retry_at
            && at > now
        {
            tokio::time::sleep_until(at.into()).await;
        }
        let checked = self.checked_config(&endpoint);
        let result = self
            .inner
            .connector
            .connect(&address, checked.as_ref().unwrap_or(config))
            .await;
        match result {
            Ok(connection) => {
                lock(&self.inner.network).connection_created(Instant::now());
                slot.connection = Some(Arc::clone(&connection));
                slot.backoff.reset();
                slot.retry_at = None;
                Ok(connection)
            }
            Err(TransportError::MisroutedConnection {
                broker,
                expected_cluster,
                node,
                found_cluster: _,
            }) => {
                let found_cluster = self.cluster_id_at(&address).await;
                let error = TransportError::MisroutedConnection {
                    broker,
                    expected_cluster,
                    node,
                    found_cluster,
                };
                warn!(%error, "misrouted connection refused");
                drop(slot);
                let decision = lock(&self.inner.recovery)
                    .on_failure(Instant::now(), MetadataFailure::RebootstrapRequired);
                if let Decision::Rebootstrap(reason) = decision {
                    self.rebootstrap(reason).await;
                }
                Err(error)
            }
            Err(error) => {
                let delay = slot.backoff.next_delay(crate::backoff::unit_random());
                slot.retry_at = Some(Instant::now() + delay);
                warn!(%error, ?delay, failures = slot.backoff.failures(), "connect failed");
                Err(error)
            }
        }
    }

    /// The settings to connect to `endpoint` with, when they differ from the
    /// client's: a node of a cluster whose id the metadata gave is told
    /// both ids, so a broker of another cluster refuses the connection
    /// (KIP-1242).
    fn checked_config(&self, endpoint: &Endpoint) -> Option<ClientConfig> {
        let config = &self.inner.config;
        let Endpoint::Node(node_id) = endpoint else {
            return None;
        };
        if !config.metadata_cluster_check_enable
            || config.metadata_recovery_strategy != RecoveryStrategy::Rebootstrap
        {
            return None;
        }
        let cluster_id = self.view(|v| v.cluster_id().map(str::to_string))?;
        Some(ClientConfig {
            expected_broker: Some(BrokerIdentity {
                cluster_id,
                node_id: *node_id,
            }),
            ..config.clone()
        })
    }

    /// The cluster id the broker at `address` reports, asked over a
    /// connection of its own that makes no claim about the cluster: to name
    /// the cluster a misrouted connection reached. `None` if it cannot be
    /// learnt.
    async fn cluster_id_at(&self, address: &str) -> Option<String> {
        let connection = self
            .inner
            .connector
            .connect(address, &self.inner.config)
            .await
            .ok()?;
        let request = MetadataRequest {
            topics: Some(Vec::new()),
            ..MetadataRequest::default()
        };
        let response = self.request_on(None, &*connection, &request).await.ok()?;
        response.cluster_id
    }

    /// A connection to any broker: an open one if there is one, else the
    /// known brokers from a random start; the bootstrap servers when the
    /// metadata names none yet, or when every known broker failed and the
    /// recovery policy says to rebootstrap.
    async fn any_connection(&self) -> Result<(Option<i32>, Arc<dyn BrokerLink>), TransportError> {
        let failures = match self.known_connection().await {
            Ok(found) => return Ok(found),
            Err(failures) => failures,
        };
        if !failures.is_empty() {
            let decision = lock(&self.inner.recovery)
                .on_failure(Instant::now(), MetadataFailure::AllBrokersUnreachable);
            match decision {
                Decision::Rebootstrap(reason) => self.rebootstrap(reason).await,
                Decision::CarryOn => {
                    return Err(TransportError::NoBrokerAvailable {
                        tried: failures.join("; "),
                    });
                }
            }
        }
        self.bootstrap_connection(failures).await
    }

    /// A connection to a broker the metadata names; the failures (none if
    /// it names no broker) when there is none.
    async fn known_connection(&self) -> Result<(Option<i32>, Arc<dyn BrokerLink>), Vec<String>> {
        let mut nodes: Vec<i32> = self.view(|v| v.brokers().map(|b| b.node_id).collect());
        if !nodes.is_empty() {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let start = ((crate::backoff::unit_random() * nodes.len() as f64) as usize)
                .min(nodes.len() - 1);
            nodes.rotate_left(start);
        }
        // An open connection first: no handshake needed.
        for &node in &nodes {
            if self.has_open_connection(Endpoint::Node(node)) {
                let Ok(address) = self.address_of(node) else {
                    continue;
                };
                if let Ok(connection) = self
                    .connect_to(Endpoint::Node(node), Lane::Data, address)
                    .await
                {
                    return Ok((Some(node), connection));
                }
            }
        }
        let mut failures = Vec::new();
        for &node in &nodes {
            let Ok(address) = self.address_of(node) else {
                continue;
            };
            match self
                .connect_to(Endpoint::Node(node), Lane::Data, address.clone())
                .await
            {
                Ok(connection) => return Ok((Some(node), connection)),
                Err(error) => failures.push(format!("{address}: {error}")),
            }
        }
        Err(failures)
    }

    /// A connection to the first bootstrap server that answers.
    async fn bootstrap_connection(
        &self,
        mut failures: Vec<String>,
    ) -> Result<(Option<i32>, Arc<dyn BrokerLink>), TransportError> {
        let servers = lock(&self.inner.bootstrap).clone();
        for address in &servers {
            match self
                .connect_to(
                    Endpoint::Bootstrap(address.clone()),
                    Lane::Data,
                    address.clone(),
                )
                .await
            {
                Ok(connection) => return Ok((None, connection)),
                Err(error) => failures.push(format!("{address}: {error}")),
            }
        }
        Err(TransportError::NoBrokerAvailable {
            tried: failures.join("; "),
        })
    }

    fn has_open_connection(&self, endpoint: Endpoint) -> bool {
        let slot = lock(&self.inner.slots)
            .get(&(endpoint, Lane::Data))
            .cloned();
        slot.is_some_and(|slot| {
            slot.try_lock()
                .is_ok_and(|s| s.connection.as_ref().is_some_and(|c| !c.is_closed()))
        })
    }

    /// Closes connections not used for `connections_max_idle_ms`, and
    /// bootstrap connections once the metadata names brokers.
    fn close_idle(&self, now: Instant) {
        let max_idle = self.inner.config.connections_max_idle;
        let have_brokers = self.view(|v| v.brokers().next().is_some());
        let slots: Vec<_> = lock(&self.inner.slots)
            .iter()
            .map(|(key, slot)| (key.clone(), Arc::clone(slot)))
            .collect();
        for ((endpoint, lane), slot) in slots {
            let Ok(mut slot) = slot.try_lock() else {
                continue;
            };
            let bootstrap_done = have_brokers && matches!(endpoint, Endpoint::Bootstrap(_));
            if slot.connection.is_some() && (now >= slot.last_used + max_idle || bootstrap_done) {
                debug!(?endpoint, ?lane, "closing idle connection");
                lock(&self.inner.network).connection_closed(now);
                slot.connection = None;
            }
        }
    }

    /// How many connections are open (for tests and metrics).
    pub fn open_connections(&self) -> usize {
        let slots: Vec<_> = lock(&self.inner.slots).values().cloned().collect();
        slots
            .iter()
            .filter(|slot| {
                slot.try_lock()
                    .is_ok_and(|s| s.connection.as_ref().is_some_and(|c| !c.is_closed()))
            })
            .count()
    }
}

/// Why a Metadata request gave no metadata.
enum Failed {
    /// The recovery policy says to rebootstrap and ask again.
    RebootstrapNow(RebootstrapReason),
    /// An error to pass on.
    Error(TransportError),
}

impl Failed {
    fn into_error(self) -> TransportError {
        match self {
            Failed::Error(error) => error,
            Failed::RebootstrapNow(reason) => TransportError::NoBrokerAvailable {
                tried: format!("the bootstrap servers, after a rebootstrap ({reason:?})"),
            },
        }
    }
}

/// The background upkeep of one client: metadata refreshed when it reaches
/// `metadata_max_age_ms` or is marked stale, idle connections closed. Ends
/// when the last handle on the client is dropped.
async fn maintain(inner: Weak<Inner>) {
    const TICK: Duration = Duration::from_millis(500);
    loop {
        tokio::time::sleep(TICK).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let client = Client { inner };
        let now = Instant::now();
        client.close_idle(now);
        let stale = lock(&client.inner.view).needs_refresh(now);
        if stale && let Err(error) = client.refresh_metadata().await {
            debug!(%error, "background metadata refresh failed");
        }
    }
}

/// Waits until at least one bootstrap server's name resolves: retried
/// `retry_backoff_ms` apart for up to `bootstrap_resolve_timeout_ms`, or
/// tried once when that is 0 (the Java client's default), as the Java
/// client refuses to start with no resolvable bootstrap server.
async fn ensure_resolvable(config: &ClientConfig) -> Result<(), TransportError> {
    let deadline = Instant::now() + config.bootstrap_resolve_timeout;
    loop {
        for server in &config.bootstrap_servers {
            if tokio::net::lookup_host(server.as_str())
                .await
                .is_ok_and(|mut addresses| addresses.next().is_some())
            {
                return Ok(());
            }
        }
        if Instant::now() + config.retry_backoff > deadline {
            return Err(TransportError::Config {
                reason: format!(
                    "bootstrap_servers: no name of {} resolves (tried for {:?}, \
                     bootstrap_resolve_timeout_ms)",
                    config.bootstrap_servers.join(","),
                    config.bootstrap_resolve_timeout
                ),
            });
        }
        // Name resolution has no event to wait on: tried again after a pause.
        tokio::time::sleep(config.retry_backoff).await;
    }
}

/// The bootstrap servers as `client_dns_lookup` says: as given, or each
/// name expanded to the canonical names of its addresses.
async fn bootstrap_addresses(config: &ClientConfig) -> Result<Vec<String>, TransportError> {
    if config.client_dns_lookup == DnsLookup::UseAllDnsIps {
        return Ok(config.bootstrap_servers.clone());
    }
    let mut expanded = Vec::new();
    for server in &config.bootstrap_servers {
        let (host, port) = server
            .rsplit_once(':')
            .ok_or_else(|| TransportError::Config {
                reason: format!("bootstrap server {server} has no port"),
            })?;
        let server_owned = server.clone();
        let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host(server.as_str())
            .await
            .map_err(|e| TransportError::io(&server_owned, &e))?
            .collect();
        for address in addresses {
            let ip = address.ip();
            let name = tokio::task::spawn_blocking(move || dns_lookup::lookup_addr(&ip))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_else(|| host.to_string());
            let canonical = format!("{name}:{port}");
            if !expanded.contains(&canonical) {
                expanded.push(canonical);
            }
        }
    }
    debug!(?expanded, "bootstrap servers resolved to canonical names");
    Ok(expanded)
}
