//! Share-group membership over the wire: the group crate's [`ShareMember`]
//! runs in a task of its own, sending ShareGroupHeartbeats on the
//! coordinator's connection (the coordination lane) and naming assigned
//! topic ids through metadata. The share consumer reads what the member
//! fetches, and the partitions it gave up, from the [`ShareAssignment`]
//! the task keeps current.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_group::member::GroupError;
use ferrokafka_group::share_member::{
    Action, Event, HeartbeatFailure, MemberState, ShareMember, ShareMemberConfig,
};
use ferrokafka_protocol::Uuid;
use ferrokafka_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
use ferrokafka_transport::{Client, CoordinatorKind, Lane};
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::debug;

use crate::consumer_membership::{generate_member_id, heartbeat_outcome, resolve_topic_ids};
use crate::coordinator_metrics::MembershipMetrics;

/// What the membership task tells the share consumer.
#[derive(Debug, Default)]
pub(crate) struct ShareAssignment {
    /// The partitions to fetch, by topic id, with their names.
    pub(crate) partitions: BTreeMap<(Uuid, i32), TopicPartition>,
    /// Partitions given up since the consumer last looked: `true` when lost
    /// (the coordinator fenced the member: its acknowledgements may be
    /// refused and what it held is the broker's again).
    pub(crate) given_up: Vec<((Uuid, i32), bool)>,
    /// An error for the next poll; membership goes on.
    pub(crate) error: Option<GroupError>,
    /// Membership failed for good.
    pub(crate) fatal: Option<GroupError>,
    /// The member id ShareFetch and ShareAcknowledge carry.
    pub(crate) member_id: String,
}

/// The shared assignment and the signal that it changed.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    assignment: Mutex<ShareAssignment>,
    /// Wakes a poll waiting for partitions.
    pub(crate) changed: Notify,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, ShareAssignment> {
        // Nothing panics while holding this lock mid-update.
        self.assignment
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

enum Command {
    Subscribe(Vec<String>),
    Close(oneshot::Sender<()>),
}

/// The handle to the membership task.
#[derive(Debug)]
pub(crate) struct ShareMembership {
    commands: mpsc::UnboundedSender<Command>,
    pub(crate) shared: Arc<Shared>,
}

impl ShareMembership {
    /// Starts the membership task for `group_id`, recording its heartbeats
    /// and rebalances in `metrics`.
    pub(crate) fn start(
        client: Client,
        group_id: &str,
        rack: Option<String>,
        metrics: Arc<MembershipMetrics>,
    ) -> Self {
        let mut config = ShareMemberConfig::new(group_id, generate_member_id());
        config.rack = rack;
        config.retry_backoff = client.config().retry_backoff;
        let shared = Arc::new(Shared::default());
        shared.lock().member_id.clone_from(&config.member_id);
        let (commands, receiver) = mpsc::unbounded_channel();
        let driver = Driver {
            client,
            group_id: group_id.to_string(),
            member: ShareMember::new(config),
            shared: Arc::clone(&shared),
            metrics,
            rebalances_recorded: 0,
        };
        tokio::spawn(driver.run(receiver));
        ShareMembership { commands, shared }
    }

    /// Subscribes to `topics` (empty: leave the group).
    pub(crate) fn subscribe(&self, topics: Vec<String>) {
        // A task that ended has nothing to subscribe.
        let _ = self.commands.send(Command::Subscribe(topics));
    }

    /// Leaves the group, waiting up to `timeout` for the leave heartbeat.
    pub(crate) async fn close(&self, timeout: Duration) {
        let (done, left) = oneshot::channel();
        if self.commands.send(Command::Close(done)).is_ok() {
            // Past the timeout the coordinator's session timeout removes it.
            let _ = tokio::time::timeout(timeout, left).await;
        }
    }
}

struct Driver {
    client: Client,
    group_id: String,
    member: ShareMember,
    shared: Arc<Shared>,
    metrics: Arc<MembershipMetrics>,
    /// The member's rebalance count as last put in the metrics.
    rebalances_recorded: u64,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut closing: Option<oneshot::Sender<()>> = None;
        let mut actions = Vec::new();
        loop {
            self.perform(actions).await;
            if closing.is_some() && self.member.state() != MemberState::Leaving {
                if let Some(done) = closing.take() {
                    let _ = done.send(());
                }
                return;
            }
            let deadline = self.member.next_deadline();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            actions = tokio::select! {
                command = commands.recv() => {
                    let now = Instant::now();
                    match command {
                        Some(Command::Subscribe(topics)) => {
                            self.member.handle(now, Event::Subscribed(topics))
                        }
                        Some(Command::Close(done)) => {
                            closing = Some(done);
                            self.member.handle(now, Event::Close)
                        }
                        // The consumer was dropped without closing: leave.
                        None => {
                            let (done, _) = oneshot::channel();
                            closing = Some(done);
                            self.member.handle(now, Event::Close)
                        }
                    }
                }
                () = sleep => self.member.tick(Instant::now()),
            };
        }
    }

    async fn perform(&mut self, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let event = match action {
                Action::FindCoordinator => Some(
                    match self
                        .client
                        .coordinator(CoordinatorKind::Group, &self.group_id)
                        .await
                    {
                        Ok(node) => Event::CoordinatorFound(node),
                        Err(error) => {
                            debug!(%error, "share group coordinator not found");
                            Event::CoordinatorNotFound
                        }
                    },
                ),
                Action::Heartbeat(request) => {
                    Some(Event::HeartbeatResponse(self.heartbeat(request).await))
                }
                Action::ResolveTopics(ids) => Some(Event::TopicsResolved(
                    resolve_topic_ids(&self.client, &ids).await,
                )),
                Action::Assign(partitions) => {
                    self.assign(partitions);
                    None
                }
                Action::Revoke(partitions) => {
                    self.give_up(&partitions, false);
                    None
                }
                Action::Lose(partitions) => {
                    self.give_up(&partitions, true);
                    None
                }
                Action::Error(error) => {
                    self.shared.lock().error = Some(error);
                    self.shared.changed.notify_waiters();
                    None
                }
                Action::Fatal(error) => {
                    self.shared.lock().fatal = Some(error);
                    self.shared.changed.notify_waiters();
                    None
                }
            };
            if let Some(event) = event {
                let now = Instant::now();
                queue.extend(self.member.handle(now, event));
                // Only an event (a heartbeat's answer, names resolved)
                // completes a rebalance.
                let rebalances = self.member.rebalances();
                self.metrics
                    .record_rebalances(now, rebalances - self.rebalances_recorded);
                self.rebalances_recorded = rebalances;
            }
            let member_id = self.member.member_id();
            let mut shared = self.shared.lock();
            if shared.member_id != member_id {
                shared.member_id = member_id.to_string();
            }
        }
    }

    fn assign(&self, partitions: Vec<TopicPartition>) {
        let mut shared = self.shared.lock();
        for tp in partitions {
            if let Some(id) = self.member.topic_id(&tp.topic) {
                shared.partitions.insert((id, tp.partition), tp);
            }
        }
        drop(shared);
        self.shared.changed.notify_waiters();
    }

    fn give_up(&self, partitions: &[TopicPartition], lost: bool) {
        let mut shared = self.shared.lock();
        let gone: Vec<(Uuid, i32)> = shared
            .partitions
            .iter()
            .filter(|(_, tp)| partitions.contains(tp))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            shared.partitions.remove(&id);
            shared.given_up.push((id, lost));
        }
    }

    async fn heartbeat(
        &self,
        request: ShareGroupHeartbeatRequest,
    ) -> Result<ShareGroupHeartbeatResponse, HeartbeatFailure> {
        let Some(coordinator) = self.member.coordinator() else {
            return Err(HeartbeatFailure::Network);
        };
        let result = self
            .metrics
            .time_heartbeat(
                self.client
                    .send_on(coordinator, Lane::Coordination, &request),
            )
            .await;
        heartbeat_outcome(&self.client, &self.group_id, "share", result, |r| {
            (r.error_code, r.error_message.as_deref())
        })
    }
}
