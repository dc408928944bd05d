//! Group membership over the wire: the group crate's [`Member`] state
//! machine runs in a task of its own, which carries out its actions on the
//! coordinator's connection (the coordination lane, so a long-polling fetch
//! never delays a heartbeat) and feeds the responses back. Revoked
//! partitions are committed (with auto-commit) before the member rejoins;
//! rebalances reach the consumer, which applies them in `poll`. When the
//! application has a rebalance listener, a revocation waits for `poll` to
//! run it, so the listener sees (and may commit) partitions this member
//! still owns, as the Java client's `onPartitionsRevoked` does.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{BufMut as _, Bytes, BytesMut};
use ferrokafka_group::assignor::{Assignor, Subscription, TopicPartition};
use ferrokafka_group::member::{Action, Event, GroupError, Joined, Member, MemberConfig};
use ferrokafka_group::offsets::partitions_by_topic;
use ferrokafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use ferrokafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use ferrokafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use ferrokafka_protocol::messages::leave_group_request::MemberIdentity;
use ferrokafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use ferrokafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, SyncGroupRequest,
};
use ferrokafka_protocol::{ErrorCode, Message};
use ferrokafka_transport::{Client, CoordinatorKind, Lane, TransportError};
use tokio::sync::{mpsc, oneshot};

use crate::coordinator_metrics::MembershipMetrics;
use tracing::{debug, info, warn};

use crate::offsets::{self, GroupIdentity};
use crate::positions::Positions;

/// The consumer protocol's embedded version this client writes.
const SUBSCRIPTION_VERSION: i16 = 3;
const ASSIGNMENT_VERSION: i16 = 3;
const PROTOCOL_TYPE: &str = "consumer";

/// A change of assignment, for the consumer to apply and report to the
/// rebalance listener.
#[derive(Debug, Clone, PartialEq)]
pub enum Rebalance {
    /// These partitions were taken away (offsets committed first with
    /// auto-commit).
    Revoked(Vec<TopicPartition>),
    /// These partitions were given to this member.
    Assigned(Vec<TopicPartition>),
    /// These partitions were lost without a clean revocation: another
    /// member may own them already.
    Lost(Vec<TopicPartition>),
    /// Membership failed for good.
    Failed(GroupError),
}

pub(crate) enum Command {
    Polled,
    Subscribe(Vec<String>),
    /// A coordinator-matched pattern (consumer protocol only).
    SubscribeRegex(String),
    Close(oneshot::Sender<()>),
}

/// A rebalance for the consumer to apply; the membership task waits on
/// `handed_over` (until the sender is dropped) when the listener must run
/// before the partitions are given up.
pub(crate) struct Pending {
    pub(crate) change: Rebalance,
    pub(crate) handed_over: Option<oneshot::Sender<()>>,
}

/// What membership shares with the consumer.
pub(crate) struct Shared {
    pub(crate) identity: GroupIdentity,
    pub(crate) rebalances: VecDeque<Pending>,
    /// The application has a rebalance listener for revocations to wait on.
    pub(crate) listener: bool,
    /// The consumer is closing (or gone) and has called the listener
    /// itself: nothing waits for `poll` any more.
    pub(crate) closing: bool,
}

/// The handle the consumer holds on its membership task.
pub(crate) struct Membership {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Mutex<Shared>>,
}

/// Settings membership needs beyond [`MemberConfig`].
pub(crate) struct MembershipConfig {
    pub(crate) member: MemberConfig,
    pub(crate) assignors: Vec<Box<dyn Assignor>>,
    pub(crate) auto_commit: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code holding these locks can panic half-way through an update.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Membership {
    fn drop(&mut self) {
        // A dropped consumer never polls again.
        self.begin_close();
    }
}

impl Membership {
    /// A handle, the receiving end of its commands and the state it shares
    /// with its task: for either protocol's driver.
    pub(crate) fn create(
        group_id: &str,
        group_instance_id: Option<String>,
    ) -> (
        Membership,
        mpsc::UnboundedReceiver<Command>,
        Arc<Mutex<Shared>>,
    ) {
        let (commands, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared {
            identity: GroupIdentity {
                group_id: group_id.to_string(),
                generation: -1,
                member_id: String::new(),
                group_instance_id,
            },
            rebalances: VecDeque::new(),
            listener: false,
            closing: false,
        }));
        let handle = Membership {
            commands,
            shared: Arc::clone(&shared),
        };
        (handle, receiver, shared)
    }

    /// Starts the membership task, timing its heartbeats in `heartbeats`.
    pub(crate) fn start(
        client: Client,
        config: MembershipConfig,
        positions: Arc<Mutex<Positions<TopicPartition>>>,
        heartbeats: Arc<MembershipMetrics>,
    ) -> Membership {
        let (handle, receiver, shared) = Membership::create(
            &config.member.group_id,
            config.member.group_instance_id.clone(),
        );
        let driver = Driver {
            fx: Effects {
                client,
                group_id: config.member.group_id.clone(),
                auto_commit: config.auto_commit,
                // Half the session timeout: the member sends no heartbeat
                // while it waits, and must still be alive afterwards.
                listener_wait: (config.member.session_timeout / 2)
                    .min(config.member.max_poll_interval),
                positions,
                shared,
                heartbeats,
            },
            member: Member::new(config.member, config.assignors, Instant::now()),
            assigned_from: None,
        };
        tokio::spawn(drive(driver, receiver));
        handle
    }

    /// Tells membership the application polled (resets the poll timer).
    pub(crate) fn polled(&self) {
        let _ = self.commands.send(Command::Polled);
    }

    /// Changes the subscription.
    pub(crate) fn subscribe(&self, topics: Vec<String>) {
        let _ = self.commands.send(Command::Subscribe(topics));
    }

    /// Changes the subscription to a pattern the coordinator matches
    /// (`group_protocol=consumer` only).
    pub(crate) fn subscribe_regex(&self, pattern: String) {
        let _ = self.commands.send(Command::SubscribeRegex(pattern));
    }

    /// The rebalances since the last call, in order.
    pub(crate) fn take_rebalances(&self) -> Vec<Pending> {
        lock(&self.shared).rebalances.drain(..).collect()
    }

    /// Whether revocations wait for `poll` to run a rebalance listener.
    pub(crate) fn set_listener(&self, listener: bool) {
        lock(&self.shared).listener = listener;
    }

    /// From now on revocations do not wait for `poll`: the consumer is
    /// leaving and calls the listener itself.
    pub(crate) fn begin_close(&self) {
        let mut shared = lock(&self.shared);
        shared.closing = true;
        // Dropping the senders releases a revocation already waiting.
        shared.rebalances.clear();
    }

    /// The group, generation and member id to commit with.
    pub(crate) fn identity(&self) -> GroupIdentity {
        lock(&self.shared).identity.clone()
    }

    /// Revokes (committing with auto-commit), leaves the group (dynamic
    /// members) and ends the task, waiting at most `timeout`.
    pub(crate) async fn close(&self, timeout: Duration) {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Close(done)).is_ok() {
            let _ = tokio::time::timeout(timeout, finished).await;
        }
    }
}

/// What both protocols' drivers do to the consumer when the assignment
/// changes: commit and drop revoked partitions, add assigned ones, report
/// each change for `poll` to pass to the listener.
pub(crate) struct Effects {
    pub(crate) client: Client,
    pub(crate) group_id: String,
    pub(crate) auto_commit: bool,
    /// How long a revocation waits for `poll` to run the listener.
    pub(crate) listener_wait: Duration,
    pub(crate) positions: Arc<Mutex<Positions<TopicPartition>>>,
    pub(crate) shared: Arc<Mutex<Shared>>,
    /// Where the driver times its heartbeats (the consumer's metrics).
    pub(crate) heartbeats: Arc<MembershipMetrics>,
}

impl Effects {
    /// Commits the revoked partitions' positions (with auto-commit) while
    /// this member still owns them, lets `poll` run the listener (bounded by
    /// `listener_wait`), then drops them.
    pub(crate) async fn revoke(&self, partitions: Vec<TopicPartition>) {
        if self.auto_commit {
            let offsets = offsets::of_positions(&lock(&self.positions), &partitions);
            let identity = lock(&self.shared).identity.clone();
            if let Err(error) = offsets::commit(&self.client, &identity, &offsets).await {
                warn!(%error, "committing revoked partitions failed");
            }
        }
        info!(group = self.group_id, ?partitions, "revoked");
        let (handed_over, released) = oneshot::channel();
        let wait = {
            let mut shared = lock(&self.shared);
            let wait = shared.listener && !shared.closing;
            shared.rebalances.push_back(Pending {
                change: Rebalance::Revoked(partitions.clone()),
                handed_over: wait.then_some(handed_over),
            });
            wait
        };
        if wait
            && tokio::time::timeout(self.listener_wait, released)
                .await
                .is_err()
        {
            warn!(
                group = self.group_id,
                wait = ?self.listener_wait,
                "the application did not poll in time: giving partitions up before the \
                 rebalance listener ran"
            );
        }
        lock(&self.positions).remove(partitions.iter());
    }

    /// Adds newly assigned partitions.
    pub(crate) fn assign(&self, partitions: Vec<TopicPartition>) {
        info!(group = self.group_id, ?partitions, "assigned");
        lock(&self.positions).add(partitions.iter().cloned());
        self.report(Rebalance::Assigned(partitions));
    }

    /// Drops partitions another member may own already, without a commit.
    pub(crate) fn lose(&self, partitions: Vec<TopicPartition>) {
        warn!(group = self.group_id, ?partitions, "partitions lost");
        lock(&self.positions).remove(partitions.iter());
        self.report(Rebalance::Lost(partitions));
    }

    /// Reports that membership failed for good.
    pub(crate) fn fail(&self, error: GroupError) {
        warn!(group = self.group_id, ?error, "group membership failed");
        self.report(Rebalance::Failed(error));
    }

    /// Queues a change for `poll`, without waiting for it.
    fn report(&self, change: Rebalance) {
        lock(&self.shared).rebalances.push_back(Pending {
            change,
            handed_over: None,
        });
    }

    /// What commits carry from now on.
    pub(crate) fn set_identity(&self, generation: i32, member_id: &str) {
        let mut shared = lock(&self.shared);
        shared.identity.generation = generation;
        member_id.clone_into(&mut shared.identity.member_id);
    }
}

/// What the consumer asks of membership, for either protocol's machine.
pub(crate) enum Request {
    Polled,
    Subscribe(Vec<String>),
    /// A coordinator-matched pattern (consumer protocol only).
    SubscribeRegex(String),
    Close,
}

/// One group protocol's driver: its member state machine and how that
/// machine's actions are carried out on the wire.
pub(crate) trait Protocol: Send + 'static {
    type Action: Send;
    /// When the machine next needs [`Protocol::tick`].
    fn next_deadline(&self) -> Option<Instant>;
    fn tick(&mut self, now: Instant) -> Vec<Self::Action>;
    fn request(&mut self, now: Instant, request: Request) -> Vec<Self::Action>;
    /// Carries out actions, feeding each answer back, until none are left.
    fn perform(&mut self, actions: Vec<Self::Action>) -> impl Future<Output = ()> + Send;
}

/// Runs a protocol's driver until the consumer closes membership (after
/// the machine's leave is done) or goes away.
pub(crate) async fn drive<P: Protocol>(
    mut driver: P,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut closing: Option<oneshot::Sender<()>> = None;
    loop {
        let now = Instant::now();
        // At least once a second, so nothing waits on a missed timer.
        let wake = driver
            .next_deadline()
            .unwrap_or(now + Duration::from_secs(1))
            .min(now + Duration::from_secs(1));
        let actions = tokio::select! {
            command = commands.recv() => {
                let request = match command {
                    Some(Command::Polled) => Request::Polled,
                    Some(Command::Subscribe(topics)) => Request::Subscribe(topics),
                    Some(Command::SubscribeRegex(pattern)) => Request::SubscribeRegex(pattern),
                    Some(Command::Close(done)) => {
                        closing = Some(done);
                        Request::Close
                    }
                    None => Request::Close,
                };
                driver.request(Instant::now(), request)
            }
            () = tokio::time::sleep_until(wake.into()) => driver.tick(Instant::now()),
        };
        let closed_by_drop = commands.is_closed() && closing.is_none();
        driver.perform(actions).await;
        if let Some(done) = closing.take() {
            let _ = done.send(());
            return;
        }
        if closed_by_drop {
            return;
        }
    }
}

struct Driver {
    fx: Effects,
    member: Member,
    /// Partition counts of every topic the group subscribes to (0 for one
    /// that did not exist) as of the last assignment this member made as
    /// leader; `None` when it is not the leader.
    assigned_from: Option<BTreeMap<String, usize>>,
}

impl Protocol for Driver {
    type Action = Action;

    fn next_deadline(&self) -> Option<Instant> {
        self.member.next_deadline()
    }

    fn tick(&mut self, now: Instant) -> Vec<Action> {
        if self.metadata_changed() {
            self.assigned_from = None;
            return self.member.handle(now, Event::MetadataChanged);
        }
        self.member.tick(now)
    }

    fn request(&mut self, now: Instant, request: Request) -> Vec<Action> {
        match request {
            Request::Polled => self.member.handle(now, Event::Polled),
            Request::Subscribe(topics) => self.member.handle(now, Event::Subscribed(topics)),
            // The consumer only sends patterns to the consumer protocol's
            // driver.
            Request::SubscribeRegex(_) => Vec::new(),
            Request::Close => self.member.handle(now, Event::Close),
        }
    }

    async fn perform(&mut self, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let event = match action {
                Action::FindCoordinator => Some(
                    match self
                        .fx
                        .client
                        .coordinator(CoordinatorKind::Group, &self.fx.group_id)
                        .await
                    {
                        Ok(node) => Event::CoordinatorFound(node),
                        Err(error) => {
                            debug!(%error, "group coordinator not found");
                            Event::CoordinatorNotFound(GroupError::Network)
                        }
                    },
                ),
                Action::JoinGroup {
                    member_id,
                    group_instance_id,
                    session_timeout,
                    rebalance_timeout,
                    subscription,
                    protocols,
                } => {
                    let joined = self
                        .join(
                            member_id,
                            group_instance_id,
                            session_timeout,
                            rebalance_timeout,
                            &subscription,
                            &protocols,
                        )
                        .await;
                    if let Ok(joined) = &joined {
                        self.assigned_from = (joined.leader_id == joined.member_id).then(|| {
                            joined
                                .members
                                .iter()
                                .flat_map(|m| m.topics.iter())
                                .map(|topic| {
                                    let count = joined.partitions_per_topic.get(topic);
                                    let count =
                                        count.map_or(0, |&n| usize::try_from(n).unwrap_or(0));
                                    (topic.clone(), count)
                                })
                                .collect()
                        });
                    }
                    Some(Event::JoinResponse(joined))
                }
                Action::SyncGroup {
                    generation,
                    member_id,
                    group_instance_id,
                    protocol_name,
                    assignments,
                } => Some(Event::SyncResponse(
                    self.sync(
                        generation,
                        member_id,
                        group_instance_id,
                        protocol_name,
                        &assignments,
                    )
                    .await,
                )),
                Action::Heartbeat {
                    generation,
                    member_id,
                    group_instance_id,
                } => Some(Event::HeartbeatResponse(
                    self.heartbeat(generation, member_id, group_instance_id)
                        .await,
                )),
                Action::LeaveGroup { member_id } => {
                    self.leave(member_id).await;
                    Some(Event::LeaveResponse)
                }
                Action::Revoke(partitions) => {
                    self.fx.revoke(partitions).await;
                    None
                }
                Action::Assign(partitions) => {
                    self.fx.assign(partitions);
                    None
                }
                Action::Lose(partitions) => {
                    self.fx.lose(partitions);
                    None
                }
                Action::Fatal(error) => {
                    self.fx.fail(error);
                    None
                }
            };
            if let Some(event) = event {
                queue.extend(self.member.handle(Instant::now(), event));
            }
            self.fx
                .set_identity(self.member.generation(), self.member.member_id());
        }
    }
}

impl Driver {
    /// Whether a topic the leader assigned appeared or changed its
    /// partition count since. A topic still missing keeps the metadata
    /// refreshing, so its creation is noticed.
    fn metadata_changed(&self) -> bool {
        let Some(assigned) = &self.assigned_from else {
            return false;
        };
        if !self.member.is_stable() {
            return false;
        }
        let client = &self.fx.client;
        let mut changed = false;
        for (topic, &count) in assigned {
            let now = client.view(|v| v.topic(topic).map(|t| t.partitions.len()));
            if now.is_none() {
                client.note_error(ErrorCode::UnknownTopicOrPartition);
            }
            if now.unwrap_or(0) != count {
                debug!(
                    topic,
                    was = count,
                    now = now.unwrap_or(0),
                    "subscribed topic changed"
                );
                changed = true;
            }
        }
        changed
    }

    /// The partition count of `topic` for an assignment. A topic the
    /// broker is creating is waited for (a third of the session at most);
    /// one that does not exist is left out after a short wait for the
    /// metadata to reach every broker: when it appears, the change is
    /// noticed and the group assigned anew.
    async fn partition_count(&self, topic: &str, session_timeout: Duration) -> Option<i32> {
        const PROPAGATION: Duration = Duration::from_secs(1);
        let client = &self.fx.client;
        client.add_topics([topic]);
        if client.view(|v| v.topic(topic).is_none()) {
            let _ = client.refresh_metadata().await;
        }
        let missing = client.view(|v| {
            v.topic(topic).is_none()
                && v.topic_error(topic) == Some(ErrorCode::UnknownTopicOrPartition)
        });
        let wait = if missing {
            PROPAGATION
        } else {
            session_timeout / 3
        };
        match tokio::time::timeout(wait, client.topic(topic)).await {
            Ok(Ok(view)) => Some(i32::try_from(view.partitions.len()).unwrap_or(i32::MAX)),
            Ok(Err(error)) => {
                debug!(topic, %error, "subscribed topic left out of the assignment");
                None
            }
            Err(_) => {
                debug!(
                    topic,
                    ?wait,
                    "subscribed topic not there yet; left out of the assignment"
                );
                None
            }
        }
    }

    fn coordinator(&self) -> Result<i32, GroupError> {
        self.member
            .coordinator()
            .ok_or(GroupError::CoordinatorUnavailable)
    }

    /// Maps a failed request to what membership acts on, forgetting the
    /// coordinator when it moved or cannot be reached.
    fn transport_error(&self, error: &TransportError) -> GroupError {
        debug!(%error, "group request failed");
        self.fx
            .client
            .forget_coordinator(CoordinatorKind::Group, &self.fx.group_id);
        GroupError::Network
    }

    fn broker_error(&self, code: i16, member_id: &str) -> Result<(), GroupError> {
        let error = ErrorCode::from_code(code);
        let mapped = match error {
            ErrorCode::None => return Ok(()),
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.fx
                    .client
                    .forget_coordinator(CoordinatorKind::Group, &self.fx.group_id);
                GroupError::CoordinatorUnavailable
            }
            ErrorCode::CoordinatorLoadInProgress => GroupError::CoordinatorLoading,
            ErrorCode::UnknownMemberId => GroupError::UnknownMemberId,
            ErrorCode::IllegalGeneration => GroupError::IllegalGeneration,
            ErrorCode::RebalanceInProgress => GroupError::RebalanceInProgress,
            ErrorCode::MemberIdRequired => GroupError::MemberIdRequired(member_id.to_string()),
            ErrorCode::FencedInstanceId => GroupError::FencedInstanceId,
            ErrorCode::GroupAuthorizationFailed => GroupError::GroupAuthorizationFailed,
            ErrorCode::InconsistentGroupProtocol => GroupError::InconsistentGroupProtocol,
            ErrorCode::GroupMaxSizeReached => GroupError::GroupMaxSizeReached,
            other => GroupError::Other {
                code,
                retriable: other.is_retriable(),
            },
        };
        Err(mapped)
    }

    async fn join(
        &self,
        member_id: String,
        group_instance_id: Option<String>,
        session_timeout: Duration,
        rebalance_timeout: Duration,
        subscription: &Subscription,
        protocols: &[&'static str],
    ) -> Result<Joined, GroupError> {
        let coordinator = self.coordinator()?;
        let metadata = encode_subscription(subscription);
        let millis = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
        let request = |version: i16| JoinGroupRequest {
            group_id: self.fx.group_id.clone(),
            session_timeout_ms: millis(session_timeout),
            rebalance_timeout_ms: if version >= 1 {
                millis(rebalance_timeout)
            } else {
                -1
            },
            member_id: member_id.clone(),
            group_instance_id: if version >= 5 {
                group_instance_id.clone()
            } else {
                None
            },
            protocol_type: PROTOCOL_TYPE.to_string(),
            protocols: protocols
                .iter()
                .map(|name| JoinGroupRequestProtocol {
                    name: (*name).to_string(),
                    metadata: metadata.clone(),
                    ..JoinGroupRequestProtocol::default()
                })
                .collect(),
            ..JoinGroupRequest::default()
        };
        let response = self
            .fx
            .client
            .send_built_within(
                coordinator,
                Lane::Coordination,
                Some(join_timeout(
                    self.fx.client.config().connection.request_timeout,
                    rebalance_timeout,
                )),
                request,
            )
            .await
            .map_err(|e| self.transport_error(&e))?;
        self.broker_error(response.error_code, &response.member_id)?;
        let protocol_name = response.protocol_name.clone().unwrap_or_default();
        let mut members = Vec::new();
        for member in &response.members {
            let mut decoded = decode_subscription(&member.metadata).ok_or(GroupError::Other {
                code: ErrorCode::InconsistentGroupProtocol.code(),
                retriable: false,
            })?;
            decoded.member_id.clone_from(&member.member_id);
            decoded
                .group_instance_id
                .clone_from(&member.group_instance_id);
            members.push(decoded);
        }
        let mut partitions_per_topic = BTreeMap::new();
        let topics: BTreeSet<&String> = members.iter().flat_map(|m| m.topics.iter()).collect();
        for topic in topics {
            if let Some(count) = self.partition_count(topic, session_timeout).await {
                partitions_per_topic.insert(topic.clone(), count);
            }
        }
        Ok(Joined {
            generation: response.generation_id,
            member_id: response.member_id,
            leader_id: response.leader,
            protocol_name,
            members,
            partitions_per_topic,
        })
    }

    async fn sync(
        &self,
        generation: i32,
        member_id: String,
        group_instance_id: Option<String>,
        protocol_name: String,
        assignments: &BTreeMap<String, Vec<TopicPartition>>,
    ) -> Result<Vec<TopicPartition>, GroupError> {
        let coordinator = self.coordinator()?;
        let encoded: Vec<SyncGroupRequestAssignment> = assignments
            .iter()
            .map(|(member, partitions)| SyncGroupRequestAssignment {
                member_id: member.clone(),
                assignment: encode_assignment(partitions),
                ..SyncGroupRequestAssignment::default()
            })
            .collect();
        let request = |version: i16| SyncGroupRequest {
            group_id: self.fx.group_id.clone(),
            generation_id: generation,
            member_id: member_id.clone(),
            group_instance_id: if version >= 3 {
                group_instance_id.clone()
            } else {
                None
            },
            protocol_type: (version >= 5).then(|| PROTOCOL_TYPE.to_string()),
            protocol_name: (version >= 5).then(|| protocol_name.clone()),
            assignments: encoded.clone(),
            ..SyncGroupRequest::default()
        };
        let response = self
            .fx
            .heartbeats
            .time_heartbeat(
                self.fx
                    .client
                    .send_built(coordinator, Lane::Coordination, request),
            )
            .await
            .map_err(|e| self.transport_error(&e))?;
        self.broker_error(response.error_code, &member_id)?;
        decode_assignment(&response.assignment).ok_or(GroupError::Other {
            code: ErrorCode::InconsistentGroupProtocol.code(),
            retriable: false,
        })
    }

    async fn heartbeat(
        &self,
        generation: i32,
        member_id: String,
        group_instance_id: Option<String>,
    ) -> Result<(), GroupError> {
        let coordinator = self.coordinator()?;
        let request = |version: i16| HeartbeatRequest {
            group_id: self.fx.group_id.clone(),
            generation_id: generation,
            member_id: member_id.clone(),
            group_instance_id: if version >= 3 {
                group_instance_id.clone()
            } else {
                None
            },
            ..HeartbeatRequest::default()
        };
        let response = self
            .fx
            .client
            .send_built(coordinator, Lane::Coordination, request)
            .await
            .map_err(|e| self.transport_error(&e))?;
        self.broker_error(response.error_code, &member_id)
    }

    async fn leave(&self, member_id: String) {
        let Ok(coordinator) = self.coordinator() else {
            return;
        };
        let request = |version: i16| {
            if version >= 3 {
                LeaveGroupRequest {
                    group_id: self.fx.group_id.clone(),
                    members: vec![MemberIdentity {
                        member_id: member_id.clone(),
                        reason: (version >= 5).then(|| "the consumer is closing".to_string()),
                        ..MemberIdentity::default()
                    }],
                    ..LeaveGroupRequest::default()
                }
            } else {
                LeaveGroupRequest {
                    group_id: self.fx.group_id.clone(),
                    member_id: member_id.clone(),
                    ..LeaveGroupRequest::default()
                }
            }
        };
        if let Err(error) = self
            .fx
            .client
            .send_built(coordinator, Lane::Coordination, request)
            .await
        {
            debug!(%error, "LeaveGroup failed (best effort)");
        }
    }
}

/// How long a JoinGroup may wait for its answer: the coordinator holds
/// it until every member rejoins, up to the rebalance timeout, so
/// `request_timeout_ms` alone would abandon (and close the connection of)
/// a join the broker is rightly holding. The Java client's
/// `max(request.timeout.ms, rebalance.timeout.ms + 5 s)`.
fn join_timeout(request_timeout: Duration, rebalance_timeout: Duration) -> Duration {
    request_timeout.max(rebalance_timeout.saturating_add(JOIN_GRACE))
}

/// What a JoinGroup waits past the rebalance timeout, for the answer's
/// way back (the Java client's 5 s).
const JOIN_GRACE: Duration = Duration::from_secs(5);

fn with_version(version: i16, body: &impl Message, message_version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    // Encoding our own well-formed values at a version they fit cannot
    // fail; an empty body would make the coordinator refuse the member.
    let _ = body.encode(&mut buf, message_version);
    buf.freeze()
}

fn encode_subscription(subscription: &Subscription) -> Bytes {
    let message = ConsumerProtocolSubscription {
        topics: subscription.topics.clone(),
        user_data: None,
        owned_partitions: partitions_by_topic(&subscription.owned_partitions)
            .into_iter()
            .map(|(topic, partitions)| OwnedTopic {
                topic,
                partitions,
                ..OwnedTopic::default()
            })
            .collect(),
        generation_id: subscription.generation.unwrap_or(-1),
        rack_id: subscription.rack.clone(),
        ..ConsumerProtocolSubscription::default()
    };
    with_version(SUBSCRIPTION_VERSION, &message, SUBSCRIPTION_VERSION)
}

/// A member's subscription as any client wrote it; `None` if unreadable.
fn decode_subscription(metadata: &Bytes) -> Option<Subscription> {
    let (version, body) = split_version(metadata)?;
    let message =
        ConsumerProtocolSubscription::decode(body, version.min(SUBSCRIPTION_VERSION)).ok()?;
    Some(Subscription {
        topics: message.topics,
        owned_partitions: message
            .owned_partitions
            .into_iter()
            .flat_map(|t| partitions_of(t.topic, t.partitions))
            .collect(),
        generation: (message.generation_id >= 0).then_some(message.generation_id),
        rack: message.rack_id,
        ..Subscription::default()
    })
}

fn encode_assignment(partitions: &[TopicPartition]) -> Bytes {
    let message = ConsumerProtocolAssignment {
        assigned_partitions: partitions_by_topic(partitions)
            .into_iter()
            .map(|(topic, partitions)| AssignedTopic {
                topic,
                partitions,
                ..AssignedTopic::default()
            })
            .collect(),
        user_data: None,
        ..ConsumerProtocolAssignment::default()
    };
    with_version(ASSIGNMENT_VERSION, &message, ASSIGNMENT_VERSION)
}

fn decode_assignment(data: &Bytes) -> Option<Vec<TopicPartition>> {
    if data.is_empty() {
        // No assignment at all (a member with nothing to consume).
        return Some(Vec::new());
    }
    let (version, body) = split_version(data)?;
    let message = ConsumerProtocolAssignment::decode(body, version.min(ASSIGNMENT_VERSION)).ok()?;
    Some(
        message
            .assigned_partitions
            .into_iter()
            .flat_map(|t| partitions_of(t.topic, t.partitions))
            .collect(),
    )
}

/// `topic`'s `partitions`, sharing one name: their keys then compare by
/// pointer.
fn partitions_of(topic: String, partitions: Vec<i32>) -> impl Iterator<Item = TopicPartition> {
    let topic: Arc<str> = topic.into();
    partitions
        .into_iter()
        .map(move |p| TopicPartition::new(&topic, p))
}

fn split_version(data: &Bytes) -> Option<(i16, Bytes)> {
    let version = i16::from_be_bytes([*data.first()?, *data.get(1)?]);
    (version >= 0).then(|| (version, data.slice(2..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_waits_out_the_rebalance_timeout_and_five_seconds() {
        let s = Duration::from_secs;
        // The defaults: request_timeout_ms 30 s, max_poll_interval_ms 300 s.
        assert_eq!(join_timeout(s(30), s(300)), s(305));
        // A request timeout already longer is kept.
        assert_eq!(join_timeout(s(400), s(300)), s(400));
        assert_eq!(join_timeout(s(30), Duration::MAX), Duration::MAX);
    }

    #[test]
    fn subscriptions_and_assignments_round_trip() {
        let subscription = Subscription {
            topics: vec!["a".into(), "b".into()],
            owned_partitions: vec![TopicPartition::new("a", 0), TopicPartition::new("a", 2)],
            generation: Some(7),
            rack: Some("r1".into()),
            ..Subscription::default()
        };
        let encoded = encode_subscription(&subscription);
        assert_eq!(&encoded[..2], &[0, 3], "version prefix");
        assert_eq!(decode_subscription(&encoded), Some(subscription));

        let partitions = vec![TopicPartition::new("a", 1), TopicPartition::new("b", 0)];
        assert_eq!(
            decode_assignment(&encode_assignment(&partitions)),
            Some(partitions)
        );
        assert_eq!(decode_assignment(&Bytes::new()), Some(Vec::new()));
        assert_eq!(decode_assignment(&Bytes::from_static(&[0])), None);
        assert_eq!(
            decode_subscription(&Bytes::from_static(&[0, 0, 0xff])),
            None
        );
    }
}
